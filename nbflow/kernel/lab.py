"""What the JupyterLab extension asks the notebook's kernel, outside any cell.

The extension sends one silent call (`import nbflow.kernel.lab as L; L.run_as_flow(...)`)
or a user expression (`L.cells_info(...)`), never edits the notebook, and never parses
a header itself: the kernel's parser answers. Paths come from the front end as the
server root plus the notebook's path, so they hold whatever the kernel's working
directory is."""
from __future__ import annotations

import json
import os
import shlex

from ..errors import TaskFailed, UsageError
from ..notebook.parse import cell_kind, parse_header, read_notebook, split_cell
from .cellerror import cell_error
from .session import KernelSession


def _shell():
    from IPython import get_ipython

    return get_ipython()


def session() -> KernelSession:
    """This kernel's session, loading the extension when the notebook has not."""
    from . import AUTOLOADED, load_ipython_extension, session_of

    shell = _shell()
    if session_of(shell) is None:
        load_ipython_extension(shell)
        AUTOLOADED.add(id(shell))
    return session_of(shell)


def autoload() -> bool:
    """Asked just before a `%%step`, `%%flow` or `%nbflow` cell runs: nbflow is loaded now
    if it was not; True when no `%load_ext nbflow` loaded it in this kernel (the front end
    then says to add that cell, so the notebook runs where this extension is absent)."""
    from . import AUTOLOADED

    session()
    return id(_shell()) in AUTOLOADED


def resolve(path: str | None) -> str | None:
    """The notebook's file: the front end's path when it exists here, else the kernel's."""
    if path:
        full = os.path.abspath(os.path.expanduser(path))
        if os.path.exists(full):
            return full
    return session().path


class _JSONText(str):
    """A user expression's value is its repr: this one's is the JSON itself."""

    def __repr__(self) -> str:
        return str(self)


def cells_info(sources: list[str] | str) -> str:
    """JSON, one entry per cell source (a list, or its JSON): {"kind": "step"|"flow"|null,
    "name", "targets", "foreach", "state"}, or {"kind", "error"} for a header in error."""
    if isinstance(sources, str):
        sources = json.loads(sources)
    states = session().step_states() if sources else {}
    out = []
    for i, source in enumerate(sources, 1):
        info = _HEADERS.get(source)
        if info is None:
            info = _header_info(source, i)
        if info.get("kind") == "step" and "error" not in info:
            info = {**info, "state": states.get(info["name"], "never run")}
        out.append(info)
    return _JSONText(json.dumps(out))


_HEADERS: dict[str, dict] = {}   # a cell's source -> its header's info (asked after every
                                 # cell: a big notebook's headers are parsed once each)


def _header_info(source: str, cell: int) -> dict:
    kind = cell_kind(source)
    if kind is None:
        info = {"kind": None}
    else:
        try:
            h = parse_header(split_cell(source)[0], cell)
        except Exception as e:  # noqa: BLE001 - shown on the badge; the cell shows it when run
            return {"kind": kind, "error": str(e)}   # names the cell: not kept
        info = {"kind": kind, "name": h.name, "targets": list(h.targets),
                "foreach": h.options.foreach if kind == "step" else None, "state": None}
    if len(_HEADERS) >= 4096:
        _HEADERS.clear()
    _HEADERS[source] = info
    return info


def run_as_flow(path: str | None = None, args: str = "") -> None:
    """`%nbflow run` of the saved notebook, its live graph shown where this call's output
    goes (the extension's run panel); the Run it returns is displayed at the end."""
    from IPython.display import display

    from .commands import dispatch

    notebook = resolve(path)
    line = "run" + (f" {_quote(notebook)}" if notebook else "") + (f" {args}" if args else "")
    result = dispatch(session(), _shell(), line)
    if result is None:
        return
    display(result)
    if getattr(result, "successful", True) is False:
        run = getattr(result, "pathspec", None) or getattr(result, "run_id", "")
        raise cell_error(TaskFailed, f"the run {run} failed: its failed tasks are drawn above")


def show_graph(path: str | None = None) -> None:
    """The notebook's graph drawn, coloured by the interactive run's states."""
    from .commands import dispatch

    notebook = resolve(path)
    dispatch(session(), _shell(), "show" + (f" {_quote(notebook)}" if notebook else ""))


def export_flow(path: str | None = None, force: bool = False) -> str:
    """`<notebook>_flow.py` written beside the notebook (wherever the kernel runs);
    returns its path."""
    from .commands import dispatch

    notebook = resolve(path)
    if not notebook:
        raise UsageError("save the notebook first: nbflow exports the saved file")
    target = os.path.splitext(notebook)[0] + "_flow.py"
    dispatch(session(), _shell(), f"export {_quote(notebook)} -o {_quote(target)}"
             + (" --force" if force else ""))
    return target


def inspect(path: str | None = None) -> None:
    """The artifact browser, opened at this notebook's flow."""
    from .commands import dispatch

    s, flow = session(), _flow_of(resolve(path))
    try:
        dispatch(s, _shell(), "inspect " + _quote(flow))
    except UsageError:   # the flow has no run in the store yet: the browser from the top
        print(f"(no run of {flow} stored yet)")
        dispatch(s, _shell(), "inspect")


def inspect_at(pathspec: str) -> None:
    """The artifact browser opened at a run's step or task (a click on a drawn step)."""
    from .commands import dispatch

    dispatch(session(), _shell(), "inspect " + _quote(pathspec))


def recent_runs(path: str | None = None, count: int = 5) -> str:
    """JSON: the newest `count` runs of the notebook's flow in its store, for the run
    panel's list (each a link into the artifact browser): [{"pathspec", "status",
    "started"}]; [] before the first run."""
    from ..commands.inspect import runs
    from ..errors import NbflowError
    from ..run.runner import datastore_for

    s, notebook = session(), resolve(path)
    spec = read_notebook(notebook) if notebook else s.saved_notebook()
    flow = s.flow_name(spec)
    if spec is not None:   # the notebook's store (beside it), as `run` of it uses
        ds = datastore_for(spec, None)
    else:
        ds = s.run.datastore if s.run is not None else datastore_for(s.known_spec(), None)
    try:
        listing = runs(flow, datastore=ds.url)
    except (NbflowError, KeyError):   # no run of this flow stored yet
        return _JSONText("[]")
    return _JSONText(json.dumps([{"pathspec": f"{flow}/{r.run_id}", "status": str(r.status),
                                  "started": r.started} for r in listing.rows[:count]]))


def _flow_of(notebook: str | None) -> str:
    return session().flow_name(read_notebook(notebook) if notebook else None)


def _quote(text: str) -> str:
    return shlex.quote(text)
