"""`rm PATHSPEC... [--dry-run] [--interactive] [--older-than AGE] [--keep-last N] [--force]`:
delete runs (their records, logs and cards; blobs are left to `gc`).

A run still going, or one a later run was resumed from (its reused tasks point at
it), is refused with the reason unless `force`."""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from ..datastore import Datastore
from ..datastore.records import run_path
from ..datastore.usage import Usage
from ..datastore.walk import RunEntry, walk_store
from ..errors import UsageError
from .store import open_store, parse_age


@dataclass
class RmResult:
    url: str
    deleted: list[str] = field(default_factory=list)               # run pathspecs
    refused: dict[str, str] = field(default_factory=dict)          # pathspec -> why
    freed_later: int = 0          # bytes of blobs only the deleted runs used (`gc` frees them)
    files: int = 0                # records, logs and cards removed (or that would be)
    dry_run: bool = False


def rm(pathspecs: list[str], *, dry_run: bool = False, interactive: bool = False,
       older_than: str | None = None, keep_last: int | None = None, force: bool = False,
       datastore: str | None = None) -> RmResult:
    if not pathspecs:
        raise UsageError("rm needs at least one FLOW or FLOW/RUN_ID")
    if keep_last is not None and keep_last < 0:
        raise UsageError(f"--keep-last must be 0 or more, got {keep_last}")
    ds = open_store(datastore)
    walk = walk_store(ds)
    chosen = _select(walk, pathspecs, interactive,
                     parse_age(older_than, "--older-than") if older_than else None, keep_last)
    result = RmResult(ds.url, dry_run=dry_run)
    keep = []
    for run in chosen:
        why = None if force else refusal(run, walk.runs.values(), chosen)
        if why:
            result.refused[run.pathspec] = why
        else:
            keep.append(run)
    usage = Usage(walk)
    result.freed_later = usage.runs_size(keep).alone - sum(f.size for r in keep for f in r.files)
    result.files = sum(len(r.files) for r in keep)
    for run in keep:
        if not dry_run:
            delete_run(ds, run)
        result.deleted.append(run.pathspec)
    return result


def _select(walk, pathspecs: list[str], interactive: bool, older_than: float | None,
            keep_last: int | None) -> list[RunEntry]:
    selecting = interactive or older_than is not None or keep_last is not None
    chosen: dict[str, RunEntry] = {}
    for spec in pathspecs:
        parts = [p for p in spec.strip("/").split("/") if p]
        if len(parts) == 2:
            runs = walk.select(*parts)
            if not runs:
                raise UsageError(f"no run {spec} in the datastore")
        elif len(parts) == 1:
            if not selecting:
                raise UsageError(f"'{spec}' names a whole flow; name runs (FLOW/RUN_ID) or select "
                                 "them with --older-than AGE, --keep-last N or --interactive "
                                 "(--keep-last 0 selects every run)")
            runs = _pick(walk.select(parts[0]), interactive, older_than, keep_last)
            if not walk.select(parts[0]):
                raise UsageError(f"no flow '{spec}' in the datastore")
        else:
            raise UsageError(f"rm deletes runs: give FLOW/RUN_ID or FLOW, not '{spec}'")
        chosen.update((r.pathspec, r) for r in runs)
    return list(chosen.values())


def _pick(runs: list[RunEntry], interactive: bool, older_than: float | None,
          keep_last: int | None) -> list[RunEntry]:
    if interactive:
        runs = [r for r in runs if "interactive" in ((r.record or {}).get("sys_tags") or [])]
    runs = sorted(runs, key=lambda r: (r.created_at, r.run_id), reverse=True)
    if keep_last is not None:
        runs = runs[keep_last:]
    if older_than is not None:
        cutoff = time.time() - older_than
        runs = [r for r in runs if r.created_at < cutoff]
    return runs


def refusal(run: RunEntry, every: list[RunEntry], chosen: list[RunEntry]) -> str | None:
    """Why `run` must not be deleted without --force (None: it may)."""
    if run.status == "running":
        rec = run.record or {}
        return (f"run {run.pathspec} is still running (pid {rec.get('pid')} on "
                f"{rec.get('host')}); wait for it to end, or --force")
    gone = {r.pathspec for r in chosen}
    resumed = sorted(r.pathspec for r in every if r.flow == run.flow and r.origin == run.run_id
                     and r.pathspec not in gone)
    if resumed:
        return (f"run {run.pathspec} is the origin of {', '.join(resumed)} (resumed from it: "
                "its reused tasks read their logs here); --force deletes it anyway, and the "
                "resumed runs keep their artifacts")
    return None


def delete_run(ds: Datastore, run: RunEntry) -> None:
    """Out of sight first (a local run folder is renamed away at once; on an object store
    the run record goes last), then every file."""
    if ds.storage.local:
        import os
        import shutil

        hidden = f"{run.flow}/.rm-{run.run_id}-{uuid.uuid4().hex[:8]}"
        try:
            os.rename(ds.storage.full(run.pathspec), ds.storage.full(hidden))
        except FileNotFoundError:
            return
        shutil.rmtree(ds.storage.full(hidden), ignore_errors=True)
        ds.storage.remove_empty_dirs(run.flow)
        return
    record = run_path(run.flow, run.run_id)
    ds.storage.delete_files([f.rel for f in run.files if f.rel != record])
    ds.storage.delete_files([record])
