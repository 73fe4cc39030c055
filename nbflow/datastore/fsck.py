"""Check a whole store: every blob against its name, every task record against the
blobs it references, every run against its tasks. Damage is reported with the runs
it affects; `repair` moves damaged blobs aside (under `.damaged/`, never deleted) so
that a rerun or resume of the runs that need them writes them again."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from . import Datastore, serialize
from .walk import RunEntry, StoreWalk, walk_store

DAMAGED_DIR = ".damaged"

# kinds of findings; the first four are damage (fsck exits 1)
DAMAGED_BLOB = "damaged blob"
MISSING_BLOB = "missing blob"
DAMAGED_RECORD = "damaged record"
INCONSISTENT_RUN = "inconsistent run"
UNREFERENCED_BLOB = "unreferenced blob"
STRAY_FILE = "stray file"
DAMAGE = (DAMAGED_BLOB, MISSING_BLOB, DAMAGED_RECORD, INCONSISTENT_RUN)


@dataclass
class Finding:
    kind: str
    path: str                     # relative to the store's root
    detail: str
    runs: list[str] = field(default_factory=list)   # pathspecs of the runs it affects
    moved_to: str | None = None   # where --repair put it

    @property
    def is_damage(self) -> bool:
        return self.kind in DAMAGE


@dataclass
class FsckReport:
    url: str
    blobs: int = 0
    blob_bytes: int = 0
    records: int = 0
    runs: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def damaged(self) -> bool:
        return any(f.is_damage for f in self.findings)

    def of_kind(self, kind: str) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind]


def fsck(ds: Datastore, repair: bool = False,
         progress: Callable[[str], None] | None = None) -> FsckReport:
    walk = walk_store(ds)
    report = FsckReport(ds.url, blobs=len(walk.blobs), runs=len(walk.runs),
                        records=sum(len(r.tasks) for r in walk.runs.values()))
    referenced = walk.referenced()
    _check_blobs(ds, walk, referenced, report, progress)
    for run in walk.runs.values():
        report.findings += _check_run(run)
    for key, runs in sorted(referenced.items()):
        # not in the listing, yet present now: written by a run that committed during the walk
        if key not in walk.blobs and not ds.blob_exists(key):
            report.findings.append(Finding(MISSING_BLOB, ds.blob_path(key),
                                           "referenced by a task record but not in the store",
                                           sorted(runs)))
    for key, info in sorted(walk.blobs.items()):
        if key not in referenced:
            report.findings.append(Finding(UNREFERENCED_BLOB, info.rel,
                                           f"{info.size} bytes that no record references "
                                           "(`nbflow gc` collects it)"))
    for info in walk.stray:
        report.findings.append(Finding(STRAY_FILE, info.rel, f"{info.size} bytes nbflow did not "
                                       "commit (a write in progress, or one that was killed)"))
    if repair:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        for finding in report.of_kind(DAMAGED_BLOB):
            finding.moved_to = f"{DAMAGED_DIR}/{stamp}/{finding.path}"
            ds.storage.move(finding.path, finding.moved_to)
    return report


def _check_blobs(ds: Datastore, walk: StoreWalk, referenced: dict, report: FsckReport,
                 progress) -> None:
    for i, (key, info) in enumerate(sorted(walk.blobs.items())):
        if progress and i % 100 == 0:
            progress(f"checking blob {i + 1} of {len(walk.blobs)}")
        try:
            with ds.storage.open_for_read(info.rel) as f:
                report.blob_bytes += serialize.verify(f, key)
        except serialize.DamagedBlob as e:
            report.findings.append(Finding(DAMAGED_BLOB, info.rel, str(e),
                                           sorted(referenced.get(key, []))))
        except FileNotFoundError:   # collected or moved while we walked
            continue


def _check_run(run: RunEntry) -> list[Finding]:
    out = []
    if run.error:
        out.append(Finding(DAMAGED_RECORD, f"{run.pathspec}/_run.json", run.error,
                           [run.pathspec]))
    for path, error in run.card_errors.items():
        out.append(Finding(DAMAGED_RECORD, path, error, [run.pathspec]))
    for task in run.tasks:
        if task.error:
            out.append(Finding(DAMAGED_RECORD, task.file.rel, f"task record {task.error}",
                               [run.pathspec]))
            continue
        rec = task.record
        where = (rec.get("flow"), rec.get("run_id"), rec.get("step"), str(rec.get("task_id")),
                 rec.get("attempt"))
        if where != (run.flow, run.run_id, task.step, task.task_id, task.attempt):
            out.append(Finding(DAMAGED_RECORD, task.file.rel,
                               f"the record is of another task ({rec.get('pathspec')})",
                               [run.pathspec]))
    if run.end and run.end.get("successful") and not run.error:
        ends = [t for t in run.tasks if t.step == "end" and t.record and t.record.get("successful")]
        if not ends:
            out.append(Finding(INCONSISTENT_RUN, f"{run.pathspec}/_end.json",
                               "the run is recorded as successful but has no successful "
                               "'end' task", [run.pathspec]))
    out += _missing_parents(run)
    return out


def _missing_parents(run: RunEntry) -> list[Finding]:
    """Every committed successful task's parents in its own run are committed too (a
    kernel's interactive run may take parents from other runs: those may be deleted)."""
    committed = {f"{run.pathspec}/{t.step}/{t.task_id}" for t in run.tasks if t.record}
    out = []
    for task in run.tasks:
        rec = task.record or {}
        if not rec.get("successful"):
            continue
        for parent in rec.get("parents") or []:
            if parent.startswith(run.pathspec + "/") and parent not in committed:
                out.append(Finding(INCONSISTENT_RUN, task.file.rel,
                                   f"its parent task {parent} has no record", [run.pathspec]))
    return out
