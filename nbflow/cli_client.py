"""`nbflow logs | dump | runs | resume`: look into past runs, and resume one.

A pathspec is Flow/run_id/step/task_id; after a notebook, run_id/step/task_id (the
flow's name and its `.nbflow/` store come from the notebook). Without a notebook or
--datastore the store is NBFLOW_DATASTORE, else the nearest `.nbflow/` upward.
An explicit pathspec is read whatever its namespace; `runs` lists the current
user's namespace unless --namespace or --all is given.
"""
from __future__ import annotations

import functools
import sys
import warnings

from .errors import DatastoreError, UsageError
from .summary import describe, human_size, short_repr

LOAD_LIMIT = 64 << 20   # dump's listing does not load bigger artifacts (use --name)


class _LazyModule:
    """nbflow.client, imported on first use: `nbflow run` builds this parser too,
    and should not pay for importing the client."""

    def __getattr__(self, name):
        from . import client as module

        return getattr(module, name)

    def __setattr__(self, name, value):
        from . import client as module

        setattr(module, name, value)


client = _LazyModule()


def add_commands(sub, run_options) -> dict:
    p = sub.add_parser("logs", help="a task's output")
    _target(p)
    p.add_argument("--stdout", action="store_true", help="only its standard output")
    p.add_argument("--stderr", action="store_true", help="only its standard error")
    p.add_argument("--attempt", type=int, default=None, help="an earlier attempt (default: last)")
    p = sub.add_parser("dump", help="a task's artifacts: type, size and a short repr")
    _target(p)
    p.add_argument("--name", default=None, help="one artifact, described in more detail")
    p = sub.add_parser("runs", help="a flow's runs: id, status, start, duration, tags")
    p.add_argument("flow", help="a flow name, or a notebook (its flow)")
    p.add_argument("--datastore", default=None, help="an fsspec URL (default: nearest .nbflow/)")
    p.add_argument("--namespace", default=None, help="list this namespace (default user:<you>)")
    p.add_argument("--all", action="store_true", help="list the runs of every namespace")
    p.add_argument("--tag", action="append", default=[], help="only runs with this tag")
    p = sub.add_parser("resume", help="a new run reusing a failed run's successful tasks")
    p.add_argument("notebook")
    p.add_argument("step", nargs="?", default=None,
                   help="run again from this step (default: the failed step)")
    p.add_argument("--origin-run-id", default=None, help="the run to resume (default: the latest)")
    run_options(p)
    return {"logs": cmd_logs, "dump": cmd_dump, "runs": cmd_runs, "resume": cmd_resume}


def _target(p) -> None:
    p.add_argument("target", help="PATHSPEC (Flow/run_id/step[/task_id]), or a NOTEBOOK")
    p.add_argument("pathspec", nargs="?", default=None,
                   help="after a NOTEBOOK: run_id/step[/task_id]")
    p.add_argument("--datastore", default=None, help="an fsspec URL (default: nearest .nbflow/)")


def _command(fn):
    """A malformed pathspec is bad usage (exit 2). The client's namespace and datastore
    are put back afterwards: `%nbflow logs ...` runs in the user's kernel."""
    @functools.wraps(fn)
    def wrapper(args, extra) -> int:
        saved = client._namespace, client._datastore_url
        try:
            return fn(args, extra)
        except client.PathspecError as e:
            raise UsageError(e.message) from None
        finally:
            client._namespace, client._datastore_url = saved
    return wrapper


def _resolve(args) -> str:
    """Choose the store (and namespace) and return the full pathspec."""
    client.namespace(None)
    target = args.target
    if target.endswith(".ipynb"):
        if not args.pathspec:
            raise UsageError(f"after the notebook '{target}' give run_id/step[/task_id]")
        return f"{_use_notebook(target, args.datastore)}/{args.pathspec.strip('/')}"
    if args.pathspec:
        raise UsageError(f"'{target}' is not a notebook (.ipynb); give one pathspec: "
                         "Flow/run_id/step[/task_id]")
    client.set_datastore(args.datastore)
    return target


def _use_notebook(path: str, datastore: str | None) -> str:
    """Read the notebook's store (its `.nbflow/` unless `datastore`); return its flow's name."""
    from .parse import read_notebook
    from .runner import datastore_for

    notebook = read_notebook(path)
    client.set_datastore(datastore_for(notebook, datastore).url)
    return notebook.flow_name


def _tasks(pathspec: str, attempt: int | None = None) -> list[client.Task]:
    """The task named, or every task of the step named."""
    parts = client.parse_pathspec(pathspec)
    if len(parts) == 4:
        return [client.Task(pathspec, attempt)]
    if len(parts) == 3:
        if attempt is not None:
            raise UsageError("--attempt needs a task's pathspec (Flow/run_id/step/task_id)")
        return list(client.Step(pathspec))
    raise client.PathspecError(f"'{pathspec}' names a {['flow', 'run'][len(parts) - 1]}; give a step "
                               "or a task: Flow/run_id/step[/task_id]")


@_command
def cmd_logs(args, extra) -> int:
    tasks = _tasks(_resolve(args), args.attempt)
    streams = [s for s in ("stdout", "stderr") if getattr(args, s)] or ["stdout", "stderr"]
    for task in tasks:
        if len(tasks) > 1:
            print(f"=== {task.pathspec} ===", flush=True)
        for stream in streams:
            text = getattr(task, stream)
            out = sys.stderr if stream == "stderr" and len(streams) == 2 else sys.stdout
            out.write(text)
            out.flush()
        if not any(getattr(task, s) for s in streams):
            print(f"({task.pathspec} printed nothing to {' or '.join(streams)})", file=sys.stderr)
    return 0


@_command
def cmd_dump(args, extra) -> int:
    tasks = _tasks(_resolve(args))
    damaged: list = []
    for task in tasks:
        if len(tasks) > 1 or not task.successful:
            state = "" if task.successful else "  (failed)"
            print(f"=== {task.pathspec}{state} ===")
        if args.name:
            art = task[args.name]
            print(f"{art.id}: {art.type}, {human_size(art.size)}, sha {art.sha[:12]}")
            print(describe(art.data))
        else:
            damaged += _artifact_table(task)
        if task.exception is not None:
            print(f"error: {task.exception.type}: {task.exception.message}")
    for error in damaged:
        print(f"error: {error.render()}", file=sys.stderr)
    return 1 if damaged else 0


def _artifact_table(task: client.Task) -> list:
    """Print the task's artifacts; return the DatastoreErrors of damaged or missing blobs."""
    rows, damaged = [], []
    for art in task:
        if (art.size or 0) > LOAD_LIMIT:
            value = f"(not loaded: {human_size(art.size)}; dump --name {art.id} describes it)"
        else:
            try:
                value = short_repr(art.data)
            except DatastoreError as e:
                damaged.append(e)
                value = "(DAMAGED: not loaded, see below)"
            except Exception as e:  # noqa: BLE001 - a value that cannot be unpickled here
                value = f"(cannot be loaded here: {type(e).__name__}: {e})"
        rows.append((art.id, art.type or "?", human_size(art.size), value))
    if not rows:
        print("(no artifacts)")
        return damaged
    _table(["NAME", "TYPE", "SIZE", "VALUE"], rows)
    return damaged


def _table(headers: list[str], rows: list[tuple]) -> None:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers) - 1)]
    for row in [headers, *rows]:
        cells = [str(c).ljust(w) for c, w in zip(row, widths)] + [str(row[-1])]
        print("  ".join(cells).rstrip())


@_command
def cmd_runs(args, extra) -> int:
    flow = args.flow
    if flow.endswith(".ipynb"):
        flow = _use_notebook(flow, args.datastore)
    else:
        client.set_datastore(args.datastore)
    ns = None if args.all else (args.namespace or client.default_namespace())
    client.namespace(None)
    every = client.Flow(flow)   # raises NotFound naming the flows there
    client.namespace(ns)        # runs() lists this namespace's runs
    with warnings.catch_warnings():   # damaged runs get a row of their own below
        warnings.simplefilter("ignore")
        runs = list(every.runs(*args.tag))
    damaged = client.damaged_runs(flow)
    rows = [_run_row(r) for r in runs] + [(rid, "damaged", "", "", why) for rid, why in damaged.items()]
    if not rows:
        where = f" in namespace '{ns}'" if ns else ""
        tags = f" with tags {', '.join(args.tag)}" if args.tag else ""
        print(f"no runs of {flow}{where}{tags}; --all lists every namespace", file=sys.stderr)
        return 0
    rows.sort(key=lambda r: (len(r[0]), r[0]), reverse=True)
    _table(["RUN ID", "STATUS", "STARTED", "DURATION", "TAGS"], rows)
    return 0


def _run_row(run: client.Run) -> tuple:
    seconds = client.elapsed(run)
    tags = sorted(run.tags)
    if run.origin_run_id:
        tags.append(f"(resumed from {run.origin_run_id})")
    return (run.id, run.status, run.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            _duration(seconds) if seconds is not None else "-", " ".join(tags))


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


class CloneLines:
    """Prints a line per task that resume reused (the console printer skips them)."""

    def __call__(self, ev) -> None:
        if ev.kind == "task_cloned":
            print(f"[{ev.run_id}/{ev.step}/{ev.task_id}] {ev.text}.", flush=True)


def cmd_resume(args, extra) -> int:
    from .cli import options_from_args
    from .console import ConsolePrinter
    from .parse import read_notebook
    from .resume import resume_notebook
    from .runner import make_executor

    opts = options_from_args(args, extra)
    executor = make_executor(opts)   # a local zygote warms up while the notebook is read
    try:
        notebook = read_notebook(args.notebook)
        result = resume_notebook(notebook, opts, args.step, args.origin_run_id,
                                 [ConsolePrinter(quiet=args.quiet), CloneLines()], executor)
    finally:
        executor.close()
    return 0 if result.successful else 1

