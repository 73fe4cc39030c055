"""The experiment table: `compare("TrainFlow", artifacts=["accuracy"])` -> a DataFrame,
one row per run (newest first): run id, status, started, duration, tags, every
parameter, and the requested artifacts of one step's task.

Only the client's records are read, and a blob only when its value fills a cell: an
artifact bigger than `load_limit` bytes is summarized from its record (type and size),
never loaded. An artifact (or attribute) a run lacks is NaN; a run still going shows
its status and whatever it has committed, and is never waited for. Where the store is
remote the rows are read in parallel.
"""
from __future__ import annotations

import difflib
import functools
import math
import warnings
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..datastore import records
from . import core as client
from .summary import human_size

LOAD_LIMIT = 8 << 20          # bytes: bigger artifacts are summarized, not loaded
FIXED = ("run_id", "status", "started", "duration", "tags")
REMOTE_THREADS = 32
NaN = math.nan


class Big:
    """A cell standing for an artifact too big to load: its type and size from the store."""

    def __init__(self, type_name: str | None, size: int | None):
        self.type, self.size = type_name, size

    def __repr__(self):
        return f"<{self.type or '?'}, {human_size(self.size)}>"

    __str__ = __repr__

    def __eq__(self, other):
        return isinstance(other, Big) and (other.type, other.size) == (self.type, self.size)

    def __hash__(self):
        return hash((self.type, self.size))


def compare(flow: str, artifacts: Iterable[str] = (), step: str = "end", last: int | None = 50,
            tags: Iterable[str] = (), status: str | Iterable[str] | None = None, *,
            load_limit: int = LOAD_LIMIT):
    """The runs of `flow` in the current namespace (of the client's current store) as a
    pandas DataFrame, newest first.

    artifacts: names of artifacts of `step`'s task; a dotted name reads attributes
    (`"model.n_features_in_"`). tags: only runs having every tag. status: only runs in
    this status ('successful', 'failed', 'running', 'died') or these statuses.
    last: at most this many runs (None: all)."""
    import pandas as pd

    rows, names = compare_rows(flow, artifacts, step, last, tags, status, load_limit=load_limit)
    return pd.DataFrame(rows, columns=names)


def compare_rows(flow: str, artifacts: Iterable[str] = (), step: str = "end",
                 last: int | None = 50, tags: Iterable[str] = (),
                 status: str | Iterable[str] | None = None, *,
                 load_limit: int = LOAD_LIMIT,
                 context: client.ClientContext | None = None) -> tuple[list[dict], list[str]]:
    """The rows (dicts) and the column names of the table, without pandas; `context`: the
    store and namespace to read (default: the client's)."""
    ctx = context or client.default_context()
    if last is not None and last < 1:
        raise client.ClientError(f"last must be at least 1 (or None: every run), got {last}")
    wanted = [a.strip() for a in artifacts]
    for name in wanted:
        if not name or not all(p.isidentifier() for p in name.split(".")):
            raise client.ClientError(f"'{name}' is not an artifact name (a dotted path such as "
                                     "model.n_features_in_ reads an attribute)")
    ds = ctx.datastore
    pool = None if ds.storage.local else ThreadPoolExecutor(REMOTE_THREADS)
    try:
        runs = _select_runs(ctx, flow, tuple(tags), _statuses(status), last, pool)
        read = functools.partial(_row, wanted=wanted, step=step, load_limit=load_limit,
                                 cache={})
        results = list(pool.map(read, runs) if pool else map(read, runs))
    finally:
        if pool:
            pool.shutdown()
    rows = [r for r, _ in results]
    _warn_unknown(wanted, step, runs, [names for _, names in results])
    params = []
    for row in rows:
        params += [p for p in row["__params"] if p not in params]
    columns = list(FIXED) + [_param_column(p, wanted) for p in params] + wanted
    for row in rows:
        for p in params:
            row[_param_column(p, wanted)] = row["__params"].get(p, NaN)
        del row["__params"]
    return rows, columns


def _param_column(name: str, wanted: list[str]) -> str:
    """A parameter's column is its name, unless a fixed or requested column has it."""
    return f"param:{name}" if name in FIXED or name in wanted else name


def _statuses(status) -> frozenset | None:
    if status is None:
        return None
    given = frozenset([status] if isinstance(status, str) else status)
    unknown = given - {"successful", "failed", "running", "died"}
    if unknown:
        raise client.ClientError(f"unknown run status {sorted(unknown)}: choose among successful, "
                                 "failed, running, died")
    return given


def _select_runs(ctx: client.ClientContext, flow: str, tags: tuple, statuses: frozenset | None,
                 last: int | None,
                 pool: ThreadPoolExecutor | None) -> list[client.Run]:
    """The newest `last` runs of the namespace with `tags` and a status in `statuses`;
    with a pool, run records are read a chunk at a time in parallel."""
    client.Flow(flow, _context=ctx)   # NotFound / NamespaceMismatch as the client says them
    ids = records.list_runs(ctx.datastore, flow)
    chunk = max(last or 0, 32) if pool else max(len(ids), 1)
    load = functools.partial(_load_run, flow, ctx)
    out: list[client.Run] = []
    for start in range(0, len(ids), chunk):
        part = ids[start:start + chunk]
        for run in (pool.map(load, part) if pool else map(load, part)):
            if run is None or not run._visible() or not all(t in run.tags for t in tags):
                continue
            if statuses is None or run.status in statuses:
                out.append(run)
                if last is not None and len(out) >= last:
                    return out
    return out


def _load_run(flow: str, ctx: client.ClientContext, run_id: str) -> client.Run | None:
    """A run with its end record read; None (and a warning) for a damaged one, as Flow.runs."""
    try:
        run = client.Run(f"{flow}/{run_id}", _context=ctx, _check=False)
        run._end_record()
        return run
    except (client.DamagedRecord, client.NotFound) as e:
        warnings.warn(f"skipping run {flow}/{run_id}: {e}", stacklevel=2)
        return None


def _row(run: client.Run, wanted: list[str], step: str, load_limit: int,
         cache: dict) -> tuple[dict, set | None]:
    """One run's row, and the names of the artifacts its task has (for "did you mean";
    None when the run has no task of `step`). `cache`: immutable values by blob key, so a
    value many runs share (a parameter's default) is read once."""
    seconds = client.elapsed(run)
    row: dict[str, Any] = {
        "run_id": run.id, "status": run.status, "started": run.created_at,
        "duration": NaN if seconds is None else seconds,
        "tags": " ".join(sorted(run.user_tags)),
        "__params": {name: _value(run._ds, ref, (), load_limit, cache)
                     for name, ref in run.record.params.items()},
    }
    task = _task(run, step)
    refs = task._refs() if task is not None else {}
    for name in wanted:
        top, *attrs = name.split(".")
        row[name] = _value(run._ds, refs[top], attrs, load_limit, cache) if top in refs else NaN
    return row, None if task is None else set(refs)


def _task(run: client.Run, step: str) -> client.Task | None:
    """The step's task (a foreach step's first; None while the step has not committed one)."""
    try:
        return run[step].task
    except client.NotFound:
        return None


_IMMUTABLE = (int, float, complex, str, bytes, bool, type(None), frozenset)


def _value(ds, ref: dict, attrs: list[str] | tuple, load_limit: int, cache: dict) -> Any:
    if (ref.get("size") or 0) > load_limit:
        return Big(ref.get("type"), ref.get("size"))
    try:
        value = cache[ref["key"]] if ref["key"] in cache else ds.get_object(ref["key"])
        if isinstance(value, _IMMUTABLE):   # a mutable value is never shared between cells
            cache[ref["key"]] = value
    except Exception as e:  # noqa: BLE001 - one unreadable blob must not sink the table
        warnings.warn(f"cannot load blob {ref.get('key')}: {type(e).__name__}: {e}", stacklevel=4)
        return NaN
    for attr in attrs:
        try:
            value = getattr(value, attr)
        except Exception:  # noqa: BLE001 - a missing attribute is NaN, never an error
            return NaN
    return value


def _warn_unknown(wanted: list[str], step: str, runs: list[client.Run],
                  present: list[set | None]) -> None:
    """One warning per requested artifact that no run has: the runs with a similar name;
    one warning in all when no run has the step."""
    if wanted and runs and all(names is None for names in present):
        newest = runs[0]
        steps = sorted(records.list_steps(newest._ds, newest.flow_name, newest.id))
        close = difflib.get_close_matches(step, steps, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        warnings.warn(f"no run of {newest.flow_name} has a task of step '{step}'{hint}; the "
                      f"artifact columns are NaN; steps of run {newest.id}: {', '.join(steps)}",
                      stacklevel=4)
        return
    for name in wanted:
        top = name.split(".")[0]
        if not runs or any(top in names for names in present if names is not None):
            continue
        similar: dict[str, list[str]] = {}
        for run, names in zip(runs, present):
            if names is None:
                continue
            for close in difflib.get_close_matches(top, sorted(names), n=2, cutoff=0.6):
                similar.setdefault(close, []).append(run.id)
        hint = "; ".join(f"did you mean '{c}' (runs {_some(ids)})?" for c, ids in similar.items())
        warnings.warn(f"no run of {runs[0].flow_name} has an artifact '{top}' in step '{step}'; "
                      f"its column is NaN" + (f"; {hint}" if hint else ""), stacklevel=4)


def _some(ids: list[str], n: int = 5) -> str:
    return ", ".join(ids[:n]) + (f" and {len(ids) - n} more" if len(ids) > n else "")
