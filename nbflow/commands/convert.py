"""`export` and `import`: a notebook as a Metaflow flow.py, and back."""
from __future__ import annotations

from ..convert import Exported, Imported
from ..notebook.spec import NotebookSpec


def export(notebook: NotebookSpec | str, output: str | None = None, *,
           force: bool = False) -> Exported:
    """The notebook (a saved .ipynb, or kernel cells) as a Metaflow flow.py; written to
    `output` when given (never over an existing file unless `force`)."""
    from ..convert import export_file

    return export_file(notebook, output, force=force)


def import_flow(flow_path: str, output: str | None = None, *,
                force: bool = False) -> tuple[Imported, str]:
    """A Metaflow flow.py as a notebook (its .ipynb text); written to `output` when given."""
    from ..convert import import_file

    return import_file(flow_path, output, force=force)
