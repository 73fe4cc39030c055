"""`nbflow CMD ...`: thin; parses options and calls the layers below.

Exit codes: 0 done, 1 the flow or a task failed (or `check` found errors), 2 bad usage."""
from __future__ import annotations

import argparse
import sys

from .errors import NbflowError, NotebookError, ParameterError, UsageError, ValidationErrors


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        # no prefix matching: a flow parameter --names must not be taken for --namespace
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message):
        raise UsageError(f"{self.prog}: {message}")


def _run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-workers", type=int, default=None,
                   help="tasks running at once (default 16)")
    p.add_argument("--max-num-splits", type=int, default=100,
                   help="most tasks one foreach may start (default 100)")
    p.add_argument("--tag", action="append", default=[], help="a tag for the run (repeatable)")
    p.add_argument("--executor", default=None,
                   help="local (default, or NBFLOW_EXECUTOR) or dask")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="a running Dask scheduler, e.g. tcp://host:8786 (or NBFLOW_DASK_SCHEDULER; "
                   "implies --executor dask); without it, dask starts a local cluster")
    p.add_argument("--datastore", default=None, help="an fsspec URL (default .nbflow/ beside "
                   "the notebook, or NBFLOW_DATASTORE)")
    p.add_argument("--datastore-shared", action="store_true",
                   help="a local store path that a remote cluster's workers also see "
                   "(a shared file system)")
    p.add_argument("--namespace", default=None, help="the run's namespace (default user:<you>)")
    p.add_argument("--no-fork", action="store_true",
                   help="start every task with a fresh interpreter instead of forking")
    p.add_argument("--with", dest="decospecs", action="append", default=[],
                   metavar="OPTION[:ATTR=V,...]", help="a step option for every step, as "
                   "Metaflow's --with: retry, timeout, catch, resources (repeatable)")
    p.add_argument("--quiet", action="store_true", help="print only task output and failures")


COMMANDS: dict = {}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nbflow", description="Run Jupyter notebooks as Metaflow-style flows.")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    p = sub.add_parser("run", help="run a notebook from start to end as a new run")
    p.add_argument("notebook")
    _run_options(p)
    p = sub.add_parser("show", help="the graph in text, with docstrings")
    p.add_argument("notebook")
    p = sub.add_parser("check", help="validate a notebook; exit 1 with the errors")
    p.add_argument("notebook")
    from . import cli_more

    COMMANDS.update(cli_more.add_commands(sub, _run_options))
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        if extra and args.command not in ("run", "resume"):
            raise UsageError(f"unrecognized arguments: {' '.join(extra)}")
        return COMMANDS[args.command](args, extra)
    except ValidationErrors as e:
        print(e.render(), file=sys.stderr)
        return 1
    except (UsageError, ParameterError) as e:
        print(f"error: {e.render()}", file=sys.stderr)
        return 2
    except NotebookError as e:
        print(f"error: {e.render()}", file=sys.stderr)
        return 1 if e.cell is not None else 2
    except NbflowError as e:
        print(f"error: {e.render()}", file=sys.stderr)
        return 1


def cmd_run(args, extra) -> int:
    from .console import ConsolePrinter
    from .parse import read_notebook
    from .runner import make_executor, run_notebook

    opts = options_from_args(args, extra)
    executor = make_executor(opts)
    try:
        notebook = read_notebook(args.notebook)
        result = run_notebook(notebook, opts, [ConsolePrinter(quiet=args.quiet)], executor)
    finally:
        executor.close()
    return 0 if result.successful else 1


def options_from_args(args, extra):
    from .runner import RunOptions

    for name in ("max_workers", "max_num_splits"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    return RunOptions(params=list(extra), max_workers=args.max_workers,
                      max_num_splits=args.max_num_splits, tags=args.tag,
                      executor=args.executor, scheduler=args.scheduler,
                      datastore=args.datastore, datastore_shared=args.datastore_shared,
                      namespace=args.namespace, fork=False if args.no_fork else None,
                      decospecs=args.decospecs)


def cmd_show(args, extra) -> int:
    from .graph import FlowGraph, validate
    from .parse import read_notebook
    from .show import render_graph

    notebook = read_notebook(args.notebook)
    graph = FlowGraph(notebook)
    errors = validate(graph)
    print(render_graph(graph))
    if errors:
        print("\n" + ValidationErrors(errors).render(), file=sys.stderr)
        return 1
    return 0


def cmd_check(args, extra) -> int:
    from .graph import FlowGraph, validate
    from .parse import read_notebook

    notebook = read_notebook(args.notebook)
    graph = FlowGraph(notebook)
    errors = validate(graph)
    if errors:
        print(ValidationErrors(errors).render(), file=sys.stderr)
        return 1
    print(f"{notebook.flow_name}: {len(graph.nodes)} steps, a valid flow.")
    return 0




COMMANDS.update({"run": cmd_run, "show": cmd_show, "check": cmd_check})


def entry() -> None:
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:  # `nbflow show nb.ipynb | head`: the reader left, not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    sys.exit(code)


if __name__ == "__main__":
    entry()
