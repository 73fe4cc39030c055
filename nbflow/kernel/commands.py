"""`%nbflow CMD ...`: the commands of nbflow/commands/ in the kernel, acting on this kernel's
notebook when none is named. Arguments are parsed once, by the CLI's own option grammar
(`nbflow.cli.main.build_parser`); results are rendered into the cell. `run` and `resume`
use the kernel's warm executor and live widgets; `params` and `inspect` are the kernel's own."""
from __future__ import annotations

import functools
import os
import shlex
import sys

from ..errors import NbflowError, ParameterError, UsageError
from ..notebook.spec import NotebookSpec
from .args import parse, qualify
from .cellerror import cell_error, in_cell
from .session import KernelSession

USAGE = ("usage: %nbflow run|show|check|resume|logs|dump|runs|compare|diff|env|export|import|"
         "params|inspect|card|tag|fsck|du|rm|gc [ARGS]\n  (the same options as the `nbflow` "
         "command; the notebook defaults to this one)")


def dispatch(session: KernelSession, shell, line: str):
    try:
        argv = shlex.split(line)
    except ValueError as e:
        raise cell_error(UsageError, f"%nbflow: {e}") from None
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return None
    cmd, rest = argv[0], argv[1:]
    handler = COMMANDS.get(cmd)
    if handler is None:
        print(f"%nbflow: unknown command '{cmd}'\n{USAGE}", file=sys.stderr)
        raise cell_error(UsageError, f"%nbflow {cmd}: bad usage (see the message above)")
    try:
        return handler(session, shell, rest)
    except NbflowError as e:
        raise in_cell(e) from None
    except SystemExit:   # argparse after printing --help: the kernel goes on
        return None
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def _names_notebook(args: list[str]) -> bool:
    return any(a.endswith(".ipynb") for a in args if not a.startswith("-"))


def _with_notebook(rest: list[str]) -> list[str]:
    """`show`, `check`, `export` without a notebook: this kernel's (a placeholder for now)."""
    return rest if _names_notebook(rest) else ["-", *rest]


def this_notebook(session: KernelSession, given: str, cmd: str,
                  verb: str = "using") -> NotebookSpec | str:
    """The notebook named, else this kernel's notebook as saved; without a file, the step
    cells run in this kernel (the user is told so)."""
    if given != "-":
        return given
    path = session.path
    if path:
        if not os.path.exists(path):
            raise UsageError(f"the notebook {path} is not saved yet: save it, or name a notebook")
        return path
    notebook = session.kernel_spec()
    if not notebook.steps:
        raise UsageError("this kernel does not know its notebook file and no %%step cell has "
                         f"run yet: name a notebook (%nbflow {cmd} my_flow.ipynb)")
    print(f"(this kernel does not know its notebook file: {verb} the {len(notebook.steps)} "
          "step cell(s) run in this kernel)")
    return notebook


def cmd_show(session: KernelSession, shell, rest: list[str]):
    """%nbflow show [NOTEBOOK] [--artifacts]: the graph drawn, coloured by the interactive
    run; with --artifacts, what each step reads and writes, as text."""
    from ..commands.notebook_cmds import show
    from .widgets.graph import show_graph

    args, _ = parse("show", _with_notebook(rest))
    report, text = show(this_notebook(session, args.notebook, "show"), artifacts=args.artifacts)
    if args.artifacts:   # the reads and writes are text
        print(text)
    else:
        show_graph(session, report.graph, text)
    if not report.ok:
        print("\n" + report.errors_text(), file=sys.stderr)


def cmd_check(session: KernelSession, shell, rest: list[str]):
    from ..commands.notebook_cmds import check

    args, _ = parse("check", _with_notebook(rest))
    report = check(this_notebook(session, args.notebook, "check"))
    if report.ok:
        print(report.summary())
    else:
        print(report.errors_text(), file=sys.stderr)


def cmd_export(session: KernelSession, shell, rest: list[str]):
    from ..cli.convert_commands import warn
    from ..commands.convert import export

    args, _ = parse("export", _with_notebook(rest))
    exported = export(this_notebook(session, args.notebook, "export"), args.output,
                      force=args.force)
    warn(exported.warnings)
    if args.output is None:
        sys.stdout.write(exported.text)
    else:
        print(f"Wrote {args.output}: run it with `python {args.output} run`", file=sys.stderr)


def cmd_import(session: KernelSession, shell, rest: list[str]):
    from ..cli.convert_commands import cmd_import as render_import

    args, extra = parse("import", rest)
    render_import(args, extra)


def cmd_logs(session: KernelSession, shell, rest: list[str]):
    from ..commands.inspect import logs

    args, _ = parse("logs", [qualify(session, a) for a in rest])
    found = logs(args.target, args.pathspec, datastore=args.datastore, attempt=args.attempt)
    streams = [s for s in ("stdout", "stderr") if getattr(args, s)] or ["stdout", "stderr"]
    for task in found:
        if len(found) > 1:
            print(f"=== {task.pathspec} ===")
        for stream in streams:
            (sys.stderr if stream == "stderr" else sys.stdout).write(getattr(task, stream))
            sys.stdout.flush()
            sys.stderr.flush()
        if not any(getattr(task, s) for s in streams):
            print(f"({task.pathspec} printed nothing to {' or '.join(streams)})")


def cmd_dump(session: KernelSession, shell, rest: list[str]):
    from ..commands.inspect import dump
    from ..commands.text import dump_text

    args, _ = parse("dump", [qualify(session, a) for a in rest])
    found = dump(args.target, args.pathspec, datastore=args.datastore, name=args.name)
    print(dump_text(found))
    for error in (e for task in found for e in task.damaged):
        print(f"error: {error}", file=sys.stderr)


def cmd_runs(session: KernelSession, shell, rest: list[str]):
    from ..commands.inspect import runs
    from ..commands.text import no_runs_text, runs_text

    if not [a for a in rest if not a.startswith("-")]:
        rest = [session.flow_name(), *rest]
    args, _ = parse("runs", rest)
    listing = runs(args.flow, datastore=args.datastore, namespace=args.namespace,
                   all_namespaces=args.all, tags=tuple(args.tag))
    print(runs_text(listing) if listing.rows else no_runs_text(listing))


def cmd_diff(session: KernelSession, shell, rest: list[str]):
    from ..cli.compare_commands import render_diff
    from ..commands.diff import diff

    args, _ = parse("diff", rest)
    if len(args.runs) not in (2, 3):
        raise UsageError("%nbflow diff RUN_A RUN_B (Flow/run_id, or run ids of this notebook's "
                         "flow), or FLOW|NOTEBOOK RUN_A RUN_B")
    where = args.runs[0] if len(args.runs) == 3 else None
    run_a, run_b = args.runs[-2:]
    if where is None and "/" not in run_a:
        where = this_notebook(session, "-", "diff")
        where = where if isinstance(where, str) else where.flow_name
    print(render_diff(diff(run_a, run_b, where, datastore=args.datastore)), end="")


def cmd_env(session: KernelSession, shell, rest: list[str]):
    from ..cli.env_commands import diff_lines, env_runs, environment_lines
    from ..commands.env import env

    args, _ = parse("env", [qualify(session, a) for a in rest])
    target, rest_, other = env_runs(args)
    if target.split("/")[0].isdigit():   # a run id (or run_id/step) of this notebook's flow
        target = f"{session.flow_name()}/{target}"
    report = env(target, rest_, other, datastore=args.datastore)
    lines = diff_lines(report) if report.other else environment_lines(report.pathspec,
                                                                      report.environment)
    print("\n".join(lines))


def cmd_store(session: KernelSession, shell, rest: list[str], cmd: str = "du"):
    """fsck, du, rm, gc: this notebook's store unless --datastore; `du` of this flow by
    default. The same command functions and the same lines as the CLI's."""
    from ..cli import store_commands

    if cmd == "du" and not [a for a in rest if not a.startswith("-")]:
        rest = [session.flow_name(), *rest]
    args, extra = parse(cmd, rest)
    if args.datastore is None:
        args.datastore = _kernel_store(session)
    getattr(store_commands, f"cmd_{cmd}")(args, extra)


def _kernel_store(session: KernelSession) -> str:
    from ..commands.locate import notebook_store

    if session.run is not None:
        return session.run.datastore.url
    return notebook_store(session.known_spec(session.saved_notebook())).url


def cmd_tag(session: KernelSession, shell, rest: list[str]):
    from ..commands.tag import tag
    from ..commands.text import tag_text

    args, _ = parse("tag", rest)
    pathspec = args.pathspec if "/" in args.pathspec else f"{session.flow_name()}/{args.pathspec}"
    datastore = args.datastore or _kernel_store(session)
    print(tag_text(tag(args.action, pathspec, args.tags, datastore=datastore)))


def cmd_run(session: KernelSession, shell, rest: list[str]):
    """%nbflow run [NOTEBOOK] [--PARAM VALUE ...] [run options]: a new run, shown live."""
    from ..commands import running

    def start(notebook, args, opts, listeners, executor):
        return running.run(notebook, opts, listeners, executor)

    return _live_run(session, "run", rest, start)


def cmd_resume(session: KernelSession, shell, rest: list[str]):
    """%nbflow resume [NOTEBOOK] [STEP] [--origin-run-id ID] [run options], shown live."""
    from ..commands import running

    def start(notebook, args, opts, listeners, executor):
        return running.resume(notebook, opts, args.step, args.origin_run_id, listeners, executor)

    return _live_run(session, "resume", rest, start)


def _live_run(session: KernelSession, cmd: str, rest: list[str], start):
    """The CLI's options, with the kernel's notebook, warm executor and live widgets."""
    from ..cli.run_commands import options_from_args
    from ..commands.locate import as_notebook
    from .widgets import live_display

    args, extra = parse(cmd, _with_notebook(rest[:1]) + rest[1:] if rest else ["-"])
    opts = options_from_args(args, extra)
    notebook = as_notebook(this_notebook(session, args.notebook, cmd, "running"))
    borrow = opts.executor == "local" and opts.fork is None
    # lent, not given: the command closes only executors it made itself
    executor = session.executor() if borrow else None
    result = start(notebook, args, opts, live_display(), executor)
    _store_notice(notebook, opts)
    return _run_object(notebook, opts, result)


def _store_notice(notebook: NotebookSpec, opts) -> None:
    """A line when the store has grown past NBFLOW_STORE_WARN (default 10 GiB)."""
    from ..client.summary import human_size
    from ..commands.locate import notebook_store
    from ..datastore.usage import store_over_limit

    try:
        ds = notebook_store(notebook, opts.datastore)
        over = store_over_limit(ds)
    except OSError:   # a store that cannot be listed now: no notice, not an error
        return
    if over:
        print(f"nbflow: the store {ds.url} holds {human_size(over[0])} (over NBFLOW_STORE_WARN, "
              f"{human_size(over[1])}): `%nbflow du` shows what; `%nbflow rm` and `%nbflow gc` "
              "free space")


def _run_object(notebook: NotebookSpec, opts, result):
    """The client's Run of what ran (read from the run's own store); if the client cannot
    read it, the scheduler's result."""
    from ..client.core import Run
    from ..commands.locate import context, notebook_store

    try:
        ctx = context(notebook_store(notebook, opts.datastore))
        return Run(f"{notebook.flow_name}/{result.run_id}", _context=ctx)
    except NbflowError:
        return result


def cmd_params(session: KernelSession, shell, rest: list[str]):
    """%nbflow params [--NAME VALUE ...]: values for the kernel's step cells (kept for the
    session); bare: show them."""
    from ..notebook.params import parse_param_args
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
            value = decl.convert(session.params[p.option], f"--{p.option}")
            origin = "%nbflow params"
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
    from ..run.runner import datastore_for
    from .widgets.browser import open_browser

    if len(rest) > 1:
        raise UsageError("%nbflow inspect takes at most one pathspec (Flow/run_id/step/task_id)")
    where = qualify(session, rest[0]) if rest else None
    if where is None and session.run is not None:
        where = session.run.flow
    ds = session.run.datastore if session.run is not None else \
        datastore_for(session.known_spec(session.saved_notebook()), None)
    open_browser(shell, where, ds)


from .card import cmd_card  # noqa: E402  (its own module: IPython.display stays lazy)
from .compare import cmd_compare  # noqa: E402

COMMANDS = {"run": cmd_run, "resume": cmd_resume, "show": cmd_show, "check": cmd_check,
            "export": cmd_export, "import": cmd_import, "logs": cmd_logs, "dump": cmd_dump,
            "runs": cmd_runs, "params": cmd_params, "inspect": cmd_inspect, "card": cmd_card,
            "compare": cmd_compare, "diff": cmd_diff, "env": cmd_env, "tag": cmd_tag,
            **{c: functools.partial(cmd_store, cmd=c) for c in ("fsck", "du", "rm", "gc")}}
