"""Notebook <-> Metaflow flow.py. One implementation for the CLI (`nbflow export`,
`nbflow import`), the `%nbflow export` magic and the JupyterLab command."""
from __future__ import annotations

from .files import export_file, import_file, write_output
from .from_metaflow import Imported, import_flow
from .to_metaflow import Exported, export_notebook

__all__ = ["Exported", "Imported", "export_file", "export_notebook", "import_file",
           "import_flow", "write_output"]
