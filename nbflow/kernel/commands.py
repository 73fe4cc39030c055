"""`%nbflow CMD ...`: the CLI's commands in the kernel, acting on this kernel's notebook
when none is named. Commands the CLI has run in-process through `nbflow.cli.main`, so
both stay one implementation. `run` and `resume` use the CLI's options and code path with
the kernel's warm executor and live widgets; `params` and `inspect` are the kernel's own."""
from __future__ import annotations

import os
import shlex
import sys
import tempfile

from .. import cli
from ..errors import NbflowError, ParameterError, UsageError, ValidationErrors
from ..spec import NotebookSpec
from .cellerror import cell_error, in_cell
from .session import KernelSession

USAGE = ("usage: %nbflow run|show|check|resume|logs|dump|runs|compare|diff|export|params|inspect"
         "|card|fsck|du|rm|gc [ARGS]\n"
         "  (the same options as the `nbflow` command; the notebook defaults to this one)")
NOTEBOOK_COMMANDS = ("show", "check", "export")
PATHSPEC_COMMANDS = ("logs", "dump")


def dispatch(session: KernelSession, shell, line: str):
    try:
        argv = shlex.split(line)
    except ValueError as e:
        raise cell_error(UsageError, f"%nbflow: {e}") from None
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return None
    cmd, rest = argv[0], argv[1:]
    from .card import cmd_card
    from .compare import cmd_compare

    own = {"run": cmd_run, "resume": cmd_resume, "params": cmd_params, "inspect": cmd_inspect,
           "card": cmd_card, "compare": cmd_compare, "show": cmd_show}
    try:
        if cmd in own:
            return own[cmd](session, shell, rest)
        return run_cli(session, cmd, rest)
    except NbflowError as e:
        raise in_cell(e) from None
    except SystemExit:   # argparse after printing --help: the kernel goes on
        return None


def run_cli(session: KernelSession, cmd: str, rest: list[str]) -> None:
    """The CLI's implementation, in this process; its output lands in the cell."""
    if cmd in NOTEBOOK_COMMANDS and not _names_notebook(rest):
        rest = [notebook_file(session, cmd)] + rest
    elif cmd in PATHSPEC_COMMANDS:
        rest = [_qualify(session, a) for a in rest]
    elif cmd in ("runs", "du") and not [a for a in rest if not a.startswith("-")]:
        rest = [session.flow_name()] + rest
    elif cmd == "diff" and len([a for a in rest if not a.startswith("-")]) == 2 \
            and not any("/" in a for a in rest):   # two run ids of this notebook's flow
        rest = [session.path or session.flow_name()] + rest
    code = cli.main([cmd, *rest])
    sys.stdout.flush()
    sys.stderr.flush()
    if code == 2:
        raise cell_error(UsageError, f"%nbflow {cmd}: bad usage (see the message above)")


def _names_notebook(args: list[str]) -> bool:
    return any(a.endswith(".ipynb") for a in args if not a.startswith("-"))


def _qualify(session: KernelSession, arg: str) -> str:
    """`run_id/step/task_id` (run ids are numbers) is relative to this notebook's flow."""
    if not arg.startswith("-") and arg.count("/") == 2 and arg.split("/")[0].isdigit():
        return f"{session.flow_name()}/{arg}"
    return arg


def notebook_file(session: KernelSession, cmd: str) -> str:
    """This kernel's notebook as saved; without one, the step cells run in this kernel
    written to a temporary notebook (and the user is told so)."""
    path = session.path
    cells = _kernel_cells(session, path, cmd, "using")
    return path if cells is None else _write_cells(cells)


def _kernel_cells(session: KernelSession, path: str | None, cmd: str,
                  verb: str) -> NotebookSpec | None:
    """None when `path` names a saved notebook; without a path, the step cells run in
    this kernel (the user is told so)."""
    if path:
        if not os.path.exists(path):
            raise UsageError(f"the notebook {path} is not saved yet: save it, or name a notebook")
        return None
    notebook = session.kernel_spec()
    if not notebook.steps:
        raise UsageError("this kernel does not know its notebook file and no %%step cell has "
                         f"run yet: name a notebook (%nbflow {cmd} my_flow.ipynb)")
    print(f"(this kernel does not know its notebook file: {verb} the {len(notebook.steps)} "
          "step cell(s) run in this kernel)")
    return notebook


def _write_cells(notebook: NotebookSpec) -> str:
    import nbformat

    nb = nbformat.v4.new_notebook()
    fc = notebook.flow_cell
    if fc is not None:
        nb.cells.append(nbformat.v4.new_code_cell(f"%%flow {fc.name or ''}".rstrip() + "\n"
                                                  + fc.code))
    for s in notebook.steps:
        nb.cells.append(nbformat.v4.new_code_cell(s.header + "\n" + s.body))
    folder = tempfile.mkdtemp(prefix="nbflow-kernel-")
    path = os.path.join(folder, "notebook.ipynb")   # -> NotebookFlow, as without a file
    nbformat.write(nb, path)
    return path


def cmd_run(session: KernelSession, shell, rest: list[str]):
    """%nbflow run [NOTEBOOK] [--PARAM VALUE ...] [run options]: a new run, shown live."""
    from ..runner import run_notebook

    def start(notebook, args, opts, listeners, executor):
        return run_notebook(notebook, opts, listeners, executor)

    return _live_run(session, "run", rest, start)


def cmd_resume(session: KernelSession, shell, rest: list[str]):
    """%nbflow resume [NOTEBOOK] [STEP] [--origin-run-id ID] [run options], shown live."""
    from ..resume import resume_notebook

    def start(notebook, args, opts, listeners, executor):
        return resume_notebook(notebook, opts, args.step, args.origin_run_id, listeners, executor)

    return _live_run(session, "resume", rest, start)


def _live_run(session: KernelSession, cmd: str, rest: list[str], start):
    """The CLI's options and code path, with the kernel's notebook, warm executor and widgets."""
    from .widgets import live_display

    named = _names_notebook(rest[:1])
    path = rest[0] if named else session.path
    args, extra = cli.build_parser().parse_known_args([cmd, path or "-", *rest[named:]])
    opts = cli.options_from_args(args, extra)
    notebook = _notebook_to_run(session, path, cmd)
    borrow = opts.executor == "local" and opts.fork is None
    # lent, not given: runner.execute closes only executors it made itself
    executor = session.executor() if borrow else None
    result = start(notebook, args, opts, live_display(), executor)
    _store_notice(notebook, opts)
    return _run_object(notebook.flow_name, result)


def _store_notice(notebook: NotebookSpec, opts) -> None:
    """A line when the store has grown past NBFLOW_STORE_WARN (default 10 GiB)."""
    from ..datastore.usage import store_notice
    from ..runner import datastore_for

    try:
        notice = store_notice(datastore_for(notebook, opts.datastore))
    except OSError:   # a store that cannot be listed now: no notice, not an error
        return
    if notice:
        print(notice)


def _notebook_to_run(session: KernelSession, path: str | None, cmd: str) -> NotebookSpec:
    from ..parse import read_notebook

    cells = _kernel_cells(session, path, cmd, "running")
    return read_notebook(path) if cells is None else cells


def _run_object(flow: str, result):
    """The client's Run of what ran, when the client can see it; else the scheduler's result."""
    try:
        from ..client import Run

        return Run(f"{flow}/{result.run_id}")
    except Exception:  # noqa: BLE001 - another store or namespace than the client's default
        return result


def cmd_show(session: KernelSession, shell, rest: list[str]) -> None:
    """%nbflow show [NOTEBOOK]: the graph drawn, coloured by the interactive run."""
    from ..graph import FlowGraph, validate
    from ..show import render_graph
    from .widgets.graph import show_graph

    if len(rest) > 1 or (rest and not _names_notebook(rest)):
        raise UsageError("%nbflow show takes at most one notebook (my_flow.ipynb)")
    from ..parse import read_notebook

    path = rest[0] if rest else session.path
    cells = _kernel_cells(session, path, "show", "using")
    graph = FlowGraph(read_notebook(path) if cells is None else cells)
    errors = validate(graph)
    show_graph(session, graph, render_graph(graph))
    if errors:
        print("\n" + ValidationErrors(errors).render(), file=sys.stderr)


def cmd_params(session: KernelSession, shell, rest: list[str]):
    """%nbflow params [--NAME VALUE ...]: values for the kernel's step cells (kept for the
    session); bare: show them."""
    from ..params import parse_param_args
    from .interactive import flow_parameters

    rest = list(rest)
    if "--max-num-splits" in rest:
        i = rest.index("--max-num-splits")
        try:
            session.max_num_splits = int(rest[i + 1])
        except (IndexError, ValueError):
            raise ParameterError("--max-num-splits needs a whole number") from None
        del rest[i:i + 2]
    params = flow_parameters(session.known_spec(session.saved_notebook()))
    given = parse_param_args(rest, params)
    by_option = {p.option: p for p in params}
    for option, raw in given.items():
        by_option[option].param.convert(raw, f"--{option}")   # a bad value fails now
    session.params.update(given)
    _show_params(session, params)


def _show_params(session: KernelSession, params) -> None:
    if not params:
        print("this flow has no parameters")
    for p in params:
        decl = p.param
        if p.option in session.params:
            value, origin = session.params[p.option], "%nbflow params"
        elif decl.env_var in os.environ:
            value, origin = os.environ[decl.env_var], decl.env_var
        elif decl.default is not None:
            value, origin = decl.default, "default"
        else:
            value, origin = None, "required, not set" if decl.required else "no default"
        print(f"--{p.option} = {value!r}  ({origin}; self.{p.artifact})")
    if session.max_num_splits != 100:
        print(f"--max-num-splits = {session.max_num_splits}")


def cmd_inspect(session: KernelSession, shell, rest: list[str]):
    """%nbflow inspect [PATHSPEC]: the artifact browser, opened at PATHSPEC."""
    from ..runner import datastore_for
    from .widgets.browser import open_browser

    if len(rest) > 1:
        raise UsageError("%nbflow inspect takes at most one pathspec (Flow/run_id/step/task_id)")
    where = _qualify(session, rest[0]) if rest else None
    if where is None and session.run is not None:
        where = session.run.flow
    ds = session.run.datastore if session.run is not None else \
        datastore_for(session.known_spec(session.saved_notebook()), None)
    open_browser(shell, where, ds)
