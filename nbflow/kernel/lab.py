"""What the JupyterLab extension calls in the notebook's kernel (a silent execute): plain
functions over nbflow/commands/, returning JSON-able data; errors come back as NbflowError
text. The extension never runs the CLI."""
from __future__ import annotations

import os

from ..errors import NbflowError


def export(notebook_path: str, output: str, force: bool = False) -> dict:
    """Export beside the notebook: {"ok": bool, "message": str, "warnings": [...]}"""
    from ..commands.convert import export as export_notebook

    output = output if os.path.isabs(output) else \
        os.path.join(os.path.dirname(os.path.abspath(notebook_path)), output)
    try:
        exported = export_notebook(notebook_path, output, force=force)
    except NbflowError as e:
        return {"ok": False, "message": e.render(), "warnings": []}
    return {"ok": True, "message": f"Wrote {output}", "warnings": list(exported.warnings)}
