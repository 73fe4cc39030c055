"""Fault injection, for the fault suite (tests/faults/): kill a process at a chosen moment
of a task's life, deterministically.

    NBFLOW_FAULT=STAGE:TARGET[:STEP]

When a task (of STEP, if given; first attempt only) reaches STAGE, TARGET is sent SIGKILL.
STAGE:  start      before any user code runs
        running    when the step body calls nbflow.task.faults.point("running")
        blob       while a blob is written: part of its bytes are in its temporary file
        between    one artifact is stored, the next one not yet
        record     while the task record is written: part of it is in a temporary file
        committed  the record is written; the process has not exited
TARGET: task (the process running the step), keeper (its keeper, see keeper.py: spawned
        tasks only), zygote (the task's parent under the local executor), scheduler (the process
        running the scheduler: `nbflow run` / `resume`).
A task that kills another process than its own waits up to a minute to be killed in turn
(as it should be), then carries on: a task that outlives its run shows in the store.
Without NBFLOW_FAULT nothing here runs.
"""
from __future__ import annotations

import os
import signal
import time
import uuid

ENV = "NBFLOW_FAULT"
STAGES = ("start", "running", "blob", "between", "record", "committed")
_armed: dict = {}


def arm(ds, req) -> None:
    """Called by the task runtime before user code, when NBFLOW_FAULT is set."""
    stage, _, rest = os.environ.get(ENV, "").partition(":")
    target, _, step = rest.partition(":")
    if stage not in STAGES or (step and step != req.step) or req.attempt:
        return
    _armed.update(stage=stage, target=target, scheduler=req.scheduler_pid)
    if stage == "start":
        point("start")
    elif stage == "blob":
        _wrap_blob_writes(ds)
    elif stage == "between":
        _wrap_between(ds)
    elif stage in ("record", "committed"):
        _wrap_record(ds, stage)


def point(stage: str) -> None:
    """Fire the fault if it is armed for `stage`."""
    if _armed.get("stage") != stage:
        return
    target, scheduler = _armed["target"], _armed.get("scheduler")
    _armed.clear()
    me = os.getpid()
    from .keeper import pids

    if "keeper" in pids:   # a spawned task: the keeper is its parent, the zygote none
        parents = {"keeper": pids["keeper"], "zygote": _parent(pids["keeper"])}
    else:                  # forked by the zygote, no keeper process (keeper.keep_in_process)
        parents = {"zygote": pids.get("zygote", os.getppid())}
    pid = dict(parents, task=me, scheduler=scheduler).get(target)
    if pid:
        os.kill(pid, signal.SIGKILL)
    if pid != me:
        time.sleep(60)


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rpartition(b")")[2].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _wrap_blob_writes(ds) -> None:
    storage = ds.storage
    original = storage.open_for_write

    def open_for_write(rel: str, *args, **kwargs):
        cm = original(rel, *args, **kwargs)
        if not rel.startswith("blobs/"):
            return cm
        return _HalfWritten(cm)

    storage.open_for_write = open_for_write


class _HalfWritten:
    """A blob's file: the fault fires once part of the bytes are written."""

    def __init__(self, cm):
        self.cm = cm

    def __enter__(self):
        f = self.cm.__enter__()

        class Writer:
            def write(self, data):
                n = f.write(data[: max(1, len(data) // 2)])
                f.flush()
                point("blob")
                return n + f.write(data[max(1, len(data) // 2):])

            def __getattr__(self, name):
                return getattr(f, name)

        return Writer()

    def __exit__(self, *exc):
        return self.cm.__exit__(*exc)


def _wrap_between(ds) -> None:
    original = ds.put_encoded
    calls = []

    def put_encoded(encoded, *args, **kwargs):
        if calls:
            point("between")
        calls.append(1)
        return original(encoded, *args, **kwargs)

    ds.put_encoded = put_encoded


def _wrap_record(ds, stage: str) -> None:
    storage = ds.storage
    original = storage.create_exclusive

    def create_exclusive(rel: str, data: bytes) -> bool:
        if not rel.endswith(".json"):
            return original(rel, data)
        if stage == "record":
            full = storage.full(rel)
            if storage.local:
                # the task's folder may not exist yet (its log is written beside it later)
                os.makedirs(os.path.dirname(full), exist_ok=True)
                with open(f"{full}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}", "wb") as f:
                    f.write(data[: len(data) // 2])
            point("record")
            return original(rel, data)
        written = original(rel, data)
        point("committed")
        return written

    storage.create_exclusive = create_exclusive
