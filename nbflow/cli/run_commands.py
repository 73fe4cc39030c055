"""`nbflow run | resume | show | check`: a notebook's runs and its graph."""
from __future__ import annotations

import argparse
import sys

from ..errors import UsageError


def run_options(p: argparse.ArgumentParser) -> None:
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
    p.add_argument("--datastore-shared", action="store_true",
                   help="a local store path that a remote cluster's workers also see "
                   "(a shared file system)")
    p.add_argument("--datastore", default=None, help="an fsspec URL (default .nbflow/ beside "
                   "the notebook, or NBFLOW_DATASTORE)")
    p.add_argument("--namespace", default=None, help="the run's namespace (default user:<you>)")
    p.add_argument("--no-fork", action="store_true",
                   help="start every task with a fresh interpreter instead of forking")
    p.add_argument("--with", dest="decospecs", action="append", default=[],
                   metavar="OPTION[:ATTR=V,...]", help="a step option for every step, as "
                   "Metaflow's --with: retry, timeout, catch, resources (repeatable)")
    p.add_argument("--quiet", action="store_true", help="print only task output and failures")
    p.add_argument("--cache", action="store_true", default=None,
                   help="reuse earlier tasks whose step code, inputs and parameters are unchanged "
                   "(or NBFLOW_CACHE=1)")
    p.add_argument("--no-cache-step", dest="no_cache_steps", action="append", default=[],
                   metavar="STEP", help="with --cache: always run this step (repeatable)")


def add_commands(sub) -> dict:
    p = sub.add_parser("run", help="run a notebook from start to end as a new run")
    p.add_argument("notebook")
    run_options(p)
    p = sub.add_parser("resume", help="a new run reusing a failed run's successful tasks")
    p.add_argument("notebook")
    p.add_argument("step", nargs="?", default=None,
                   help="run again from this step (default: the failed step)")
    p.add_argument("--origin-run-id", default=None, help="the run to resume (default: the latest)")
    run_options(p)
    p = sub.add_parser("show", help="the graph in text, with docstrings")
    p.add_argument("notebook")
    p.add_argument("--artifacts", action="store_true",
                   help="also list what each step reads (and from which step) and writes")
    p = sub.add_parser("check", help="validate a notebook; exit 1 with the errors")
    p.add_argument("notebook")
    return {"run": cmd_run, "resume": cmd_resume, "show": cmd_show, "check": cmd_check}


def options_from_args(args, extra):
    """The run options of `run`/`resume` (flow parameters stay in `extra` until the notebook
    says which it has)."""
    from ..run.runner import RunOptions

    for name in ("max_workers", "max_num_splits"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    return RunOptions(params=list(extra), max_workers=args.max_workers,
                      max_num_splits=args.max_num_splits, tags=args.tag,
                      executor=args.executor, scheduler=args.scheduler,
                      datastore=args.datastore, datastore_shared=args.datastore_shared,
                      namespace=args.namespace, fork=False if args.no_fork else None,
                      decospecs=args.decospecs, cache=args.cache,
                      no_cache_steps=args.no_cache_steps)


def cmd_run(args, extra) -> int:
    from ..commands import running
    from ..run.runner import make_executor
    from .console import ConsolePrinter

    opts = options_from_args(args, extra)
    executor = make_executor(opts)   # a local zygote warms up while the notebook is read
    try:
        result = running.run(args.notebook, opts, [ConsolePrinter(quiet=args.quiet), CloneLines()],
                             executor)
    finally:
        executor.close()
    return 0 if result.successful else 1


class CloneLines:
    """Prints a line per task that resume reused (the console printer skips them)."""

    def __call__(self, ev) -> None:
        if ev.kind == "task_cloned":   # EventKind.TASK_CLONED (records is not imported here)
            print(f"[{ev.run_id}/{ev.step}/{ev.task_id}] {ev.text}.", flush=True)


def cmd_resume(args, extra) -> int:
    from ..commands import running
    from ..run.runner import make_executor
    from .console import ConsolePrinter

    opts = options_from_args(args, extra)
    executor = make_executor(opts)
    try:
        result = running.resume(args.notebook, opts, args.step, args.origin_run_id,
                                [ConsolePrinter(quiet=args.quiet), CloneLines()], executor)
    finally:
        executor.close()
    return 0 if result.successful else 1


def cmd_show(args, extra) -> int:
    from ..commands.notebook_cmds import show

    report, text = show(args.notebook, artifacts=args.artifacts)
    print(text)
    if not report.ok:
        print("\n" + report.errors_text(), file=sys.stderr)
        return 1
    return 0


def cmd_check(args, extra) -> int:
    from ..commands.notebook_cmds import check

    report = check(args.notebook)
    if not report.ok:
        print(report.errors_text(), file=sys.stderr)
        return 1
    print(report.summary())
    return 0


def help_with_parameters(parser, argv: list[str]) -> int:
    """`nbflow run NOTEBOOK --help`: the run options, then the notebook's own parameters
    (as Metaflow's `run --help` lists a flow's)."""
    from ..commands.notebook_cmds import parameters_text
    from ..notebook.parse import read_notebook

    sub = next(a for a in parser._actions if a.choices and argv[0] in a.choices).choices[argv[0]]
    sub.print_help()
    notebook = next((a for a in argv[1:] if a.endswith(".ipynb")), None)
    if notebook:
        text = parameters_text(read_notebook(notebook))
        print(text.replace("Parameters:", f"parameters of {notebook}:") if text
              else f"\n{notebook} has no parameters")
    return 0
