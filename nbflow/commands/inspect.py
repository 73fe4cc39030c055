"""`logs`, `dump` and `runs`: what past runs left in the store, as data."""
from __future__ import annotations

import warnings
from dataclasses import dataclass

from ..client.core import ClientContext, Flow, PathspecError, Run, Step, Task, damaged_runs, elapsed
from ..errors import DatastoreError, UsageError
from ..records import RunStatus
from .locate import context, resolve_flow, resolve_target

LOAD_LIMIT = 64 << 20   # dump's listing does not load bigger artifacts (use name=)


def tasks_at(target: str, rest: str | None = None, datastore: str | None = None,
             attempt: int | None = None) -> list[Task]:
    """The task named, or every task of the step named (a bad pathspec is bad usage)."""
    ctx, pathspec = resolve_target(target, rest, datastore)
    return _tasks(ctx, pathspec, attempt)


def _tasks(ctx: ClientContext, pathspec: str, attempt: int | None) -> list[Task]:
    from ..client.core import parse_pathspec

    parts = parse_pathspec(pathspec)
    if len(parts) == 4:
        return [Task(pathspec, attempt, _context=ctx)]
    if len(parts) == 3:
        if attempt is not None:
            raise UsageError("--attempt needs a task's pathspec (Flow/run_id/step/task_id)")
        return list(Step(pathspec, _context=ctx))
    if len(parts) == 5:
        raise PathspecError(f"'{pathspec}' names an artifact; give a step or a task: "
                            f"{'/'.join(parts[:4])} (`dump --name {parts[4]}` shows one artifact)")
    raise PathspecError(f"'{pathspec}' names a {['flow', 'run'][len(parts) - 1]}; give a step "
                        "or a task: Flow/run_id/step[/task_id]")


@dataclass(frozen=True)
class TaskLogs:
    pathspec: str
    stdout: str
    stderr: str


def logs(target: str, rest: str | None = None, *, datastore: str | None = None,
         attempt: int | None = None) -> list[TaskLogs]:
    """Each task's output (every task of a step, in foreach order)."""
    return [TaskLogs(t.pathspec, t.stdout, t.stderr)
            for t in tasks_at(target, rest, datastore, attempt)]


@dataclass(frozen=True)
class ArtifactRow:
    name: str
    type: str
    size: int | None
    value: str            # a short repr, or why it was not loaded


@dataclass(frozen=True)
class TaskDump:
    pathspec: str
    successful: bool
    artifacts: tuple[ArtifactRow, ...]
    error: str | None     # a failed task's `type: message`
    detail: str | None = None   # name=: the one artifact described at length
    damaged: tuple[str, ...] = ()   # DatastoreErrors of blobs that failed their check


def dump(target: str, rest: str | None = None, *, datastore: str | None = None,
         name: str | None = None) -> list[TaskDump]:
    """Each task's artifacts: name, type, size and a short repr (name=: one, at length)."""
    from ..client.summary import describe

    out = []
    for task in tasks_at(target, rest, datastore):
        exc = task.exception
        error = f"{exc.type}: {exc.message}" if exc is not None else None
        if name:
            art = task[name]
            row = ArtifactRow(art.id, art.type or "?", art.size, f"sha {art.sha[:12]}")
            out.append(TaskDump(task.pathspec, task.successful, (row,), error, describe(art.data)))
        else:
            rows, damaged = _rows(task)
            out.append(TaskDump(task.pathspec, task.successful, rows, error, damaged=damaged))
    return out


def _rows(task: Task) -> tuple[tuple[ArtifactRow, ...], tuple[str, ...]]:
    """The artifact rows, and the errors of damaged or missing blobs (never their values)."""
    from ..client.summary import human_size, short_repr

    rows, damaged = [], []
    for art in task:
        if (art.size or 0) > LOAD_LIMIT:
            value = f"(not loaded: {human_size(art.size)}; dump --name {art.id} describes it)"
        else:
            try:
                value = short_repr(art.data)
            except DatastoreError as e:
                damaged.append(e.render())
                value = "(DAMAGED: not loaded, see below)"
            except Exception as e:  # noqa: BLE001 - a value that cannot be unpickled here
                value = f"(cannot be loaded here: {type(e).__name__}: {e})"
        rows.append(ArtifactRow(art.id, art.type or "?", art.size, value))
    return tuple(rows), tuple(damaged)


@dataclass(frozen=True)
class RunRow:
    run_id: str
    status: str
    started: str
    duration: float | None
    tags: tuple[str, ...]
    origin_run_id: str | None = None
    problem: str = ""          # a damaged run: what is wrong with its records


@dataclass(frozen=True)
class RunList:
    flow: str
    namespace: str | None
    tags: tuple[str, ...]
    rows: tuple[RunRow, ...]


def runs(flow: str, *, datastore: str | None = None, namespace: str | None = None,
         all_namespaces: bool = False, tags: tuple[str, ...] = ()) -> RunList:
    """A flow's runs (newest first) in `namespace` (default: the user's), damaged ones too."""
    from ..user import username

    ds, flow = resolve_flow(flow, datastore)
    ns = None if all_namespaces else (namespace or f"user:{username()}")
    Flow(flow, _context=context(ds, None))   # raises NotFound naming the flows there
    with warnings.catch_warnings():   # damaged runs get a row of their own below
        warnings.simplefilter("ignore")
        found = list(Flow(flow, _context=context(ds, ns), _check=False).runs(*tags))
    rows = [_run_row(r) for r in found] + \
        [RunRow(rid, RunStatus.DAMAGED, "", None, (), problem=why)
         for rid, why in damaged_runs(flow, ds).items()]
    rows.sort(key=lambda r: (len(r.run_id), r.run_id), reverse=True)
    return RunList(flow, ns, tuple(tags), tuple(rows))


def _run_row(run: Run) -> RunRow:
    return RunRow(run.id, run.status, run.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                  elapsed(run), tuple(sorted(run.tags)), run.origin_run_id)
