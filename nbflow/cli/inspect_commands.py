"""`nbflow logs | dump | runs`: print what past runs left in the store.

A pathspec is Flow/run_id/step/task_id; after a notebook, run_id/step/task_id (the flow's
name and its `.nbflow/` store come from the notebook). Without a notebook or --datastore
the store is NBFLOW_DATASTORE, else the nearest `.nbflow/` upward. An explicit pathspec is
read whatever its namespace; `runs` lists the current user's namespace unless --namespace
or --all is given."""
from __future__ import annotations

import sys


def add_commands(sub) -> dict:
    p = sub.add_parser("logs", help="a task's output")
    target_arguments(p)
    p.add_argument("--stdout", action="store_true", help="only its standard output")
    p.add_argument("--stderr", action="store_true", help="only its standard error")
    p.add_argument("--attempt", type=int, default=None, help="an earlier attempt (default: last)")
    p = sub.add_parser("dump", help="a task's artifacts: type, size and a short repr")
    target_arguments(p)
    p.add_argument("--name", default=None, help="one artifact, described in more detail")
    p = sub.add_parser("runs", help="a flow's runs: id, status, start, duration, tags")
    p.add_argument("flow", help="a flow name, or a notebook (its flow)")
    p.add_argument("--datastore", default=None, help="an fsspec URL (default: nearest .nbflow/)")
    p.add_argument("--namespace", default=None, help="list this namespace (default user:<you>)")
    p.add_argument("--all", action="store_true", help="list the runs of every namespace")
    p.add_argument("--tag", action="append", default=[], help="only runs with this tag")
    return {"logs": cmd_logs, "dump": cmd_dump, "runs": cmd_runs}


def target_arguments(p) -> None:
    p.add_argument("target", help="PATHSPEC (Flow/run_id/step[/task_id]), or a NOTEBOOK")
    p.add_argument("pathspec", nargs="?", default=None,
                   help="after a NOTEBOOK: run_id/step[/task_id]")
    p.add_argument("--datastore", default=None, help="an fsspec URL (default: nearest .nbflow/)")


def cmd_logs(args, extra) -> int:
    from ..commands.inspect import logs

    found = logs(args.target, args.pathspec, datastore=args.datastore, attempt=args.attempt)
    streams = [s for s in ("stdout", "stderr") if getattr(args, s)] or ["stdout", "stderr"]
    for task in found:
        if len(found) > 1:
            print(f"=== {task.pathspec} ===", flush=True)
        for stream in streams:
            out = sys.stderr if stream == "stderr" and len(streams) == 2 else sys.stdout
            out.write(getattr(task, stream))
            out.flush()
        if not any(getattr(task, s) for s in streams):
            print(f"({task.pathspec} printed nothing to {' or '.join(streams)})", file=sys.stderr)
    return 0


def cmd_dump(args, extra) -> int:
    from ..commands.inspect import dump
    from ..commands.text import dump_text

    found = dump(args.target, args.pathspec, datastore=args.datastore, name=args.name)
    print(dump_text(found))
    damaged = [error for task in found for error in task.damaged]
    for error in damaged:
        print(f"error: {error}", file=sys.stderr)
    return 1 if damaged else 0


def cmd_runs(args, extra) -> int:
    from ..commands.inspect import runs
    from ..commands.text import no_runs_text, runs_text

    listing = runs(args.flow, datastore=args.datastore, namespace=args.namespace,
                   all_namespaces=args.all, tags=tuple(args.tag))
    if listing.rows:
        print(runs_text(listing))
    else:
        print(no_runs_text(listing), file=sys.stderr)
    return 0
