"""Files in and out: read a notebook or a flow.py, write the result without ever
overwriting an existing file unless asked to (`--force`)."""
from __future__ import annotations

import os
import tempfile

from ..errors import UsageError
from .from_metaflow import Imported, import_flow
from .to_metaflow import Exported, export_notebook


def export_file(notebook, output: str | None = None, *, force: bool = False) -> Exported:
    """Export a notebook (as saved on disk, or a NotebookSpec of kernel cells); write it to
    `output` when given."""
    from ..notebook.parse import read_notebook

    if output is not None:
        _refuse_overwrite(output, force)
    exported = export_notebook(read_notebook(notebook) if isinstance(notebook, str) else notebook)
    if output is not None:
        write_output(exported.text, output, force=force)
    return exported


def import_file(flow_path: str, output: str | None = None, *,
                force: bool = False) -> tuple[Imported, str]:
    """(the import, the notebook as .ipynb text); written to `output` when given."""
    if output is not None:
        _refuse_overwrite(output, force)
    try:
        with open(flow_path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise UsageError(f"cannot read '{flow_path}': {e.strerror}") from None
    imported = import_flow(text, os.path.basename(flow_path))
    notebook = notebook_text(imported.cells)
    if output is not None:
        write_output(notebook, output, force=force)
    return imported, notebook


def notebook_text(cells: list[tuple[str, str]]) -> str:
    """An .ipynb (v4) holding the cells; cell ids are stable so the bytes are too."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for i, (kind, text) in enumerate(cells, start=1):
        cell = (nbformat.v4.new_markdown_cell(text) if kind == "markdown"
                else nbformat.v4.new_code_cell(text))
        cell["id"] = f"cell-{i}"
        nb.cells.append(cell)
    return nbformat.writes(nb) + "\n"


def _refuse_overwrite(path: str, force: bool) -> None:
    if os.path.exists(path) and not force:
        raise UsageError(f"'{path}' exists; give --force to overwrite it")


def write_output(text: str, path: str, *, force: bool = False) -> None:
    """Write atomically: a reader never sees half a file."""
    _refuse_overwrite(path, force)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise UsageError(f"cannot write '{path}': directory '{directory}' does not exist")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".nbflow-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a flow.py is an ordinary file
        if force:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails if the file appeared meanwhile: never overwrite
            os.unlink(tmp)
    except FileExistsError:
        os.unlink(tmp)
        raise UsageError(f"'{path}' exists; give --force to overwrite it") from None
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
