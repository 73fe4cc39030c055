"""One walk of a whole store, shared by fsck, du, rm and gc.

Every file is listed once (one recursive listing: a few requests on S3) and sorted
into blobs, runs with their task records and logs, and strays (temporary files of
writes in progress or killed, files nbflow did not write). Records are then read
(concurrently on object stores) and every blob key they reference collected.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field

from . import Datastore
from .records import RUN_LOG, apply_run_log
from .storage import FileInfo

BLOB_KEY = re.compile(r"^[0-9a-f]{32}$")
TASK_FILE = re.compile(r"^(?P<task>.+)\.(?P<attempt>\d+)\.(?P<kind>json|out|err|card)$")


@dataclass
class TaskEntry:
    step: str
    task_id: str
    attempt: int
    file: FileInfo
    record: dict | None = None
    error: str | None = None          # why the record cannot be read
    keys: set[str] = field(default_factory=set)


@dataclass
class RunEntry:
    flow: str
    run_id: str
    files: list[FileInfo] = field(default_factory=list)   # every file of the run
    tasks: list[TaskEntry] = field(default_factory=list)  # every attempt's record
    cards: list[FileInfo] = field(default_factory=list)   # cards name blobs too
    card_keys: set[str] = field(default_factory=set)
    card_errors: dict[str, str] = field(default_factory=dict)   # path -> why unreadable
    record: dict | None = None
    end: dict | None = None
    error: str | None = None          # why the run cannot be read (damaged, missing)

    @property
    def pathspec(self) -> str:
        return f"{self.flow}/{self.run_id}"

    @property
    def keys(self) -> set[str]:
        """Every blob the run references: its tasks' artifacts and its parameters."""
        out = references(self.record or {}) | self.card_keys
        for t in self.tasks:
            out |= t.keys
        return out

    @property
    def status(self) -> str:
        from ..records import RunRecord, RunStatus
        from .records import run_status

        if self.error:
            return RunStatus.DAMAGED
        record = RunRecord.from_json({"flow": self.flow, "run_id": self.run_id,
                                      **(self.record or {})})
        return run_status(record, self.end)

    @property
    def created_at(self) -> float:
        return float((self.record or {}).get("created_at") or 0)

    @property
    def origin(self) -> str | None:
        """The run this one was resumed from."""
        return (self.record or {}).get("origin_run_id")


@dataclass
class StoreWalk:
    started_at: float
    blobs: dict[str, FileInfo] = field(default_factory=dict)
    runs: dict[tuple[str, str], RunEntry] = field(default_factory=dict)
    stray: list[FileInfo] = field(default_factory=list)

    def referenced(self) -> dict[str, list[str]]:
        """blob key -> pathspecs of the runs referencing it."""
        out: dict[str, list[str]] = {}
        for run in self.runs.values():
            for key in run.keys:
                out.setdefault(key, []).append(run.pathspec)
        return out

    def select(self, flow: str | None = None, run_id: str | None = None) -> list[RunEntry]:
        return [r for r in self.runs.values()
                if (flow is None or r.flow == flow) and (run_id is None or r.run_id == run_id)]


def references(record: dict) -> set[str]:
    """Every blob key a record names: each {"key": <32 hex>} anywhere inside it
    (artifacts, parameters, foreach frames, and whatever later records add)."""
    out: set[str] = set()
    stack: list = [record]
    while stack:
        obj = stack.pop()
        if isinstance(obj, dict):
            key = obj.get("key")
            if isinstance(key, str) and BLOB_KEY.match(key):
                out.add(key)
            stack.extend(v for v in obj.values() if isinstance(v, (dict, list)))
        elif isinstance(obj, list):
            stack.extend(v for v in obj if isinstance(v, (dict, list)))
    return out


def walk_store(ds: Datastore, *, read_records: bool = True) -> StoreWalk:
    walk = StoreWalk(started_at=time.time())
    for info in ds.storage.walk():
        _classify(walk, info)
    if read_records:
        read_run_records(ds, list(walk.runs.values()))
    return walk


def _classify(walk: StoreWalk, info: FileInfo) -> None:
    parts = info.rel.split("/")
    if parts[0].startswith("."):          # put-aside damage (.damaged/) and other hidden files
        return
    if parts[0] == "blobs":
        if len(parts) == 3 and BLOB_KEY.match(parts[2]) and parts[1] == parts[2][:2]:
            walk.blobs[parts[2]] = info
        else:
            walk.stray.append(info)
        return
    if len(parts) < 3 or ".tmp-" in parts[-1]:
        walk.stray.append(info)
        return
    run = walk.runs.setdefault((parts[0], parts[1]), RunEntry(parts[0], parts[1]))
    run.files.append(info)
    m = TASK_FILE.match(parts[3]) if len(parts) == 4 else None
    if m and m["kind"] == "json":
        run.tasks.append(TaskEntry(parts[2], m["task"], int(m["attempt"]), info))
    elif m and m["kind"] == "card":
        run.cards.append(info)


def read_run_records(ds: Datastore, runs: list[RunEntry]) -> None:
    """Read every run's _run.json, _end.json and task records (in one batch)."""
    wanted: list[str] = []
    for run in runs:
        names = {f.rel.rsplit("/", 1)[-1] for f in run.files if f.rel.count("/") == 2}
        wanted += [f"{run.pathspec}/{n}" for n in ("_run.json", "_end.json", RUN_LOG)
                   if n in names]
        wanted += [t.file.rel for t in run.tasks] + [c.rel for c in run.cards]
    got = ds.storage.get_many(wanted)
    for run in runs:
        run.record, error = _parse(got.get(f"{run.pathspec}/_run.json"))
        if run.record is None:
            run.error = f"its run record (_run.json) {error}"
        elif isinstance(got.get(f"{run.pathspec}/{RUN_LOG}"), bytes):   # a kernel's changes
            run.record = apply_run_log(run.record, got[f"{run.pathspec}/{RUN_LOG}"])
        end_path = f"{run.pathspec}/_end.json"
        if end_path in got:
            run.end, error = _parse(got[end_path])
            if run.end is None:
                run.error = run.error or f"its end record (_end.json) {error}"
        for task in run.tasks:
            task.record, task.error = _parse(got.get(task.file.rel))
            if task.record is not None:
                task.keys = references(task.record)
        for card in run.cards:
            doc, error = _parse(got.get(card.rel))
            if doc is None:
                run.card_errors[card.rel] = f"card {error}"
            run.card_keys |= references(doc or {})


def _parse(data: bytes | Exception | None) -> tuple[dict | None, str | None]:
    if data is None or isinstance(data, FileNotFoundError):
        return None, "is missing"
    if isinstance(data, Exception):
        return None, f"cannot be read ({type(data).__name__}: {data})"
    try:
        record = json.loads(data)
    except ValueError as e:
        return None, f"is damaged (not JSON: {e})"
    if not isinstance(record, dict):
        return None, "is damaged (not a JSON object)"
    return record, None
