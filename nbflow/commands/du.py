"""`du [FLOW[/RUN]]`: what a store holds, per flow, run and step."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..datastore.usage import Size, Usage
from ..datastore.walk import walk_store
from ..errors import ClientError
from .store import open_store


@dataclass
class DuRow:
    name: str            # a flow, a run id, or a step
    count: int           # runs of a flow, tasks of a step
    size: Size
    status: str = ""     # a run's status


@dataclass
class DuReport:
    url: str
    target: str                               # "" (the store), FLOW, or FLOW/RUN
    rows: list[DuRow] = field(default_factory=list)
    total: Size | None = None                 # the target's own total (a flow or a run)
    unreferenced: tuple[int, int] = (0, 0)    # blobs, bytes no run references
    store_bytes: int = 0


def du(target: str = "", datastore: str | None = None) -> DuReport:
    ds = open_store(datastore)
    usage = Usage(walk_store(ds))
    report = DuReport(ds.url, target.strip("/"), unreferenced=usage.unreferenced(),
                      store_bytes=usage.store_total())
    parts = [p for p in report.target.split("/") if p]
    if len(parts) > 2:
        raise ClientError(f"du takes FLOW or FLOW/RUN, not '{target}'")
    if not parts:
        flows = sorted({r.flow for r in usage.walk.runs.values()})
        report.rows = [DuRow(f, len(usage.walk.select(f)), usage.flow_size(f)) for f in flows]
        return report
    runs = usage.walk.select(*parts)
    if not runs:
        what = f"run '{parts[1]}' of flow '{parts[0]}'" if len(parts) == 2 else f"flow '{parts[0]}'"
        raise ClientError(f"no {what} in datastore {ds.url}")
    if len(parts) == 1:
        runs.sort(key=lambda r: (len(r.run_id), r.run_id), reverse=True)
        report.rows = [DuRow(r.run_id, len(r.tasks), usage.run_size(r), r.status) for r in runs]
        report.total = usage.flow_size(parts[0])
        return report
    (run,) = runs
    report.rows = [DuRow(step, tasks, Size(size, size))
                   for step, (tasks, size) in usage.step_sizes(run).items()]
    report.total = usage.run_size(run)
    return report
