"""`gc [--grace AGE] [--dry-run]`: remove the blobs no record references.

Safe while runs write: a blob younger than the grace period (by its modification
time; a local blob reused by a new task is freshened) is never collected, and just
before deleting, the records written since the walk began are read too, so a blob is
collected only when no record references it at the end of the walk. A store with a
damaged record is refused: what it references cannot be known."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..datastore import Datastore
from ..datastore.records import RUN_LOG, RUN_RECORD, apply_run_log, run_path
from ..datastore.walk import TASK_FILE, StoreWalk, references, walk_store
from ..errors import DatastoreError
from .store import open_store, parse_age

DEFAULT_GRACE = "1d"
BATCH = 1000


@dataclass
class GcResult:
    url: str
    grace_seconds: float
    collected: list[str] = field(default_factory=list)   # blob keys (and stray temp files)
    freed: int = 0
    kept_young: int = 0          # unreferenced, but younger than the grace period
    dry_run: bool = False


def gc(grace: str = DEFAULT_GRACE, dry_run: bool = False,
       datastore: str | None = None) -> GcResult:
    ds = open_store(datastore)
    seconds = parse_age(grace, "--grace")
    walk = walk_store(ds)
    _refuse_damaged(walk)
    cutoff = walk.started_at - seconds
    referenced = set().union(*(r.keys for r in walk.runs.values())) if walk.runs else set()
    result = GcResult(ds.url, seconds, dry_run=dry_run)
    candidates = {}
    for key, info in walk.blobs.items():
        if key in referenced:
            continue
        if info.mtime < cutoff:
            candidates[key] = info
        else:
            result.kept_young += 1
    for key in _referenced_since(ds, walk):
        candidates.pop(key, None)
    strays = [f for f in walk.stray if ".tmp-" in f.rel and f.mtime < cutoff]
    paths = [i.rel for i in candidates.values()] + [f.rel for f in strays]
    result.collected = sorted(candidates) + [f.rel for f in strays]
    result.freed = sum(i.size for i in candidates.values()) + sum(f.size for f in strays)
    if not dry_run:
        for start in range(0, len(paths), BATCH):
            ds.storage.delete_files(_still_old(ds, paths[start:start + BATCH], cutoff))
        ds.storage.remove_empty_dirs("blobs")
    return result


def _still_old(ds: Datastore, paths: list[str], cutoff: float) -> list[str]:
    """Local blobs are looked at once more just before deletion: one a task reused since
    the walk began has been freshened, and is kept."""
    if not ds.storage.local:
        return paths
    import os

    out = []
    for rel in paths:
        try:
            if os.stat(ds.storage.full(rel)).st_mtime < cutoff:
                out.append(rel)
        except FileNotFoundError:
            continue
    return out


def _refuse_damaged(walk: StoreWalk) -> None:
    for run in walk.runs.values():
        bad = ([run_path(run.flow, run.run_id)] if run.error else []) + \
              [t.file.rel for t in run.tasks if t.error] + list(run.card_errors)
        if bad:
            raise DatastoreError(f"gc cannot tell which blobs {bad[0]} references (it is damaged)"
                                 f"; nothing was collected. See `nbflow fsck`, and delete that "
                                 f"run with `nbflow rm {run.pathspec} --force` if it is lost")


def _referenced_since(ds: Datastore, walk: StoreWalk) -> set[str]:
    """Blob keys named by records (and cards) written or rewritten since the walk began."""
    seen = {f.rel: f.mtime for r in walk.runs.values() for f in r.files}
    fresh = []
    for info in ds.storage.walk():
        parts = info.rel.split("/")
        if parts[0] == "blobs" or parts[0].startswith(".") or len(parts) < 3:
            continue
        name = parts[-1]
        m = TASK_FILE.match(name)
        is_record = name in (RUN_RECORD, RUN_LOG) or (m and m["kind"] in ("json", "card"))
        if is_record and seen.get(info.rel) != info.mtime:
            fresh.append(info.rel)
    out: set[str] = set()
    for rel, data in ds.storage.get_many(fresh).items():
        if isinstance(data, Exception):
            continue
        try:
            import json

            out |= references(apply_run_log({}, data) if rel.endswith("/" + RUN_LOG)
                              else json.loads(data))
        except ValueError:
            raise DatastoreError(f"gc cannot read {rel}, written while it ran; nothing was "
                                 "collected; run gc again") from None
    return out
