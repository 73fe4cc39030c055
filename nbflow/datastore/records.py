"""Run and task records: small JSON documents, one per run and one per task attempt."""
from __future__ import annotations

import json
import os
import random
import re
import time
from dataclasses import replace

from ..records import RunRecord, RunStatus, TaskRecord
from . import Datastore

RUN_ID = re.compile(r"^[0-9A-Za-z_-]+$")


RUN_RECORD = "_run.json"   # <flow>/<run_id>/_run.json: the run as it started
RUN_END = "_end.json"      # <flow>/<run_id>/_end.json: how it ended


def run_path(flow: str, run_id: str, name: str = RUN_RECORD) -> str:
    """Where a run's record (or its end record, its changes log: `name`) is in the store."""
    return f"{flow}/{run_id}/{name}"


def task_path(ds: Datastore, flow: str, run_id: str, step: str, task_id: str,
              attempt: int) -> str:
    """Where a task attempt's record is in the store."""
    return ds.task_prefix(flow, run_id, step, str(task_id), attempt) + ".json"


def run_exists(ds: Datastore, flow: str, run_id: str) -> bool:
    return ds.storage.exists(run_path(flow, run_id))


def new_run_id() -> str:
    """Microseconds since the epoch, like Metaflow's local run ids (sortable by time)."""
    return str(time.time_ns() // 1000)


def create_run(ds: Datastore, record: RunRecord) -> RunRecord:
    """Claim a fresh run id for `record` and write it; two runs started at once never collide.
    Returns the record with its run id."""
    flow = record.flow
    check_flow_name(flow)
    ds.check_shared()
    run_id = new_run_id()
    for _ in range(1000):
        record = replace(record, run_id=run_id)
        try:
            created = ds.storage.create_exclusive(run_path(flow, run_id),
                                                  _dumps(record.to_json()))
        except OSError:
            _remove_empty_run_dir(ds, flow, run_id)   # never a run without a record
            raise
        if created:
            _reserve_run_end(ds, flow, run_id)
            return record
        run_id = str(int(run_id) + 1 + random.randrange(1000))
    raise RuntimeError("could not allocate a run id")


LAYOUT_NAMES = ("blobs",)   # top-level folders of the store that are not flows


def check_flow_name(flow: str) -> None:
    from ..errors import NotebookError

    if flow in LAYOUT_NAMES or flow.startswith("."):
        raise NotebookError(f"flow name '{flow}' is taken by the datastore's layout (its "
                            f"top-level folder '{flow}' holds no runs, so `runs`, the client and "
                            "`resume` would never see this flow's runs); name the flow otherwise "
                            "in its %%flow cell")


def _remove_empty_run_dir(ds: Datastore, flow: str, run_id: str) -> None:
    if ds.storage.local:
        for rel in (f"{flow}/{run_id}", flow):
            try:
                os.rmdir(ds.storage.full(rel))
            except OSError:
                return


def _dumps(record: dict) -> bytes:
    import json

    return json.dumps(record, default=str).encode()


def read_run(ds: Datastore, flow: str, run_id: str) -> RunRecord:
    return RunRecord.from_json(read_run_json(ds, flow, run_id))


def read_run_json(ds: Datastore, flow: str, run_id: str) -> dict:
    """`_run.json` as plain data, with an interactive run's changes log applied."""
    return with_run_log(ds, flow, run_id, ds.get_json(run_path(flow, run_id)))


def with_run_log(ds: Datastore, flow: str, run_id: str, record: dict) -> dict:
    """A run record as read (JSON), with a kernel's run's changes log applied."""
    if isinstance(record, dict) and "interactive" in (record.get("sys_tags") or ()):
        log = read_run_log(ds, flow, run_id)
        if log:
            record = apply_run_log(record, log)
    return record


def rewrite_run_json(ds: Datastore, flow: str, run_id: str, record: dict) -> None:
    ds.put_json(run_path(flow, run_id), record)


def update_run(ds: Datastore, flow: str, run_id: str, **changes) -> None:
    """A kernel's interactive run keeps its record up to date (code, latest tasks)."""
    rec = replace(read_run(ds, flow, run_id), **changes)
    rewrite_run_json(ds, flow, run_id, rec.to_json())
    if ds.storage.local:   # now folded into _run.json
        ds.storage.delete_files([f"{flow}/{run_id}/{RUN_LOG}"])


# -- an interactive run's changes: appended, never rewritten ------------------------------
# A kernel's interactive run changes with every step cell (the cell's code, its latest
# tasks, what is stale). Rewriting the whole `_run.json` each time costs what the notebook
# weighs; instead each cell appends one JSON line of what changed to `_run.log` beside it
# (local stores; an object store has no append: there the record is rewritten). A line is
# {"set": {field: value}, "latest": {step: [task ids]}, "notebook": {"set": {key: value},
# "steps": {name: step}, "order": [names]}}, every part optional; readers apply the lines
# in order (read_run_json, the store walk). A torn last line (a crash while appending) is
# ignored: the record is what the last whole line said.
RUN_LOG = "_run.log"


def append_run_changes(ds: Datastore, flow: str, run_id: str, changes: dict) -> bool:
    """Append one line of changes to the run's log; False when the store cannot append
    (the caller rewrites the record instead)."""
    import json

    if not changes:
        return True
    if not ds.storage.local:
        return False
    line = json.dumps(changes, default=str).encode() + b"\n"
    fd = os.open(ds.storage.full(f"{flow}/{run_id}/{RUN_LOG}"),
                 os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line   # end a line torn by a crash: this one starts on its own
        os.write(fd, line)
    finally:
        os.close(fd)
    return True


def read_run_log(ds: Datastore, flow: str, run_id: str) -> bytes:
    if not ds.storage.local:
        return b""
    try:
        with open(ds.storage.full(f"{flow}/{run_id}/{RUN_LOG}"), "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


def apply_run_log(record: dict, log: bytes) -> dict:
    """`record` (a `_run.json` document) with the log's changes applied, in order."""
    import json

    record = dict(record)
    notebook = dict(record.get("notebook") or {})
    steps = {s["name"]: s for s in notebook.get("steps") or ()}
    order = list(steps)
    for raw in log.split(b"\n"):
        if not raw.strip():
            continue
        try:
            change = json.loads(raw)
        except ValueError:
            continue   # torn by a crash while it was appended
        record.update(change.get("set") or {})
        if change.get("latest"):
            latest = dict(record.get("interactive_latest") or {})
            latest.update(change["latest"])
            record["interactive_latest"] = latest
        nb = change.get("notebook") or {}
        notebook.update(nb.get("set") or {})
        steps.update(nb.get("steps") or {})
        if "order" in nb:
            order = list(nb["order"])
    notebook["steps"] = [steps[n] for n in order if n in steps]
    record["notebook"] = notebook
    return record


def write_run_end(ds: Datastore, flow: str, run_id: str, *, successful: bool, message: str = "",
                  failed_steps: list[str] | None = None, ended: list[str] | None = None) -> dict:
    """`ended`: the pathspecs of tasks that were running when the run stopped, ended by it."""
    rec = {"successful": successful, "finished_at": time.time(), "message": message,
           "failed_steps": failed_steps or [], "ended": ended or []}
    try:
        ds.put_json(run_path(flow, run_id, RUN_END), rec)
    except OSError:
        if not _write_reserved_end(ds, flow, run_id, rec):
            raise
    else:
        ds.storage.delete_files([f"{flow}/{run_id}/{END_RESERVE}"] if ds.storage.local else [])
    return rec


END_RESERVE = "_end.reserve"   # local stores: space set aside for _end.json when the run starts
RESERVE_SIZE = 4096


def _reserve_run_end(ds: Datastore, flow: str, run_id: str) -> None:
    """So that a full disk still lets the run record how it ended (failed, not died)."""
    if not ds.storage.local:
        return
    try:
        with open(ds.storage.full(f"{flow}/{run_id}/{END_RESERVE}"), "wb") as f:
            f.write(b" " * RESERVE_SIZE)
    except OSError:
        pass


def _write_reserved_end(ds: Datastore, flow: str, run_id: str, rec: dict) -> bool:
    """Write the end record into the reserved file and rename it: no new space needed."""
    path = ds.storage.full(f"{flow}/{run_id}/{END_RESERVE}")
    if not ds.storage.local or not os.path.exists(path):
        return False
    data = _dumps(rec)
    if len(data) > RESERVE_SIZE:
        rec = dict(rec, message=rec["message"][:RESERVE_SIZE // 2] + " ...")
        data = _dumps(rec)
    try:
        with open(path, "r+b") as f:
            f.write(data)
            f.truncate(len(data))
        os.replace(path, ds.storage.full(run_path(flow, run_id, RUN_END)))
    except OSError:
        return False
    return True


def read_run_end(ds: Datastore, flow: str, run_id: str) -> dict | None:
    path = run_path(flow, run_id, RUN_END)
    if not ds.storage.exists(path):
        return None
    return ds.get_json(path)


def write_task(ds: Datastore, record: TaskRecord) -> bool:
    """The task attempt's commit: written last, after its blobs, and exclusively: the
    first writer of an attempt's record wins (the task's commit, or the scheduler's note
    that it was killed); False when the record already existed and was left as it is."""
    path = task_path(ds, record.flow, record.run_id, record.step, record.task_id, record.attempt)
    return ds.storage.create_exclusive(path, _dumps(record.to_json()))


def read_task(ds: Datastore, flow: str, run_id: str, step: str, task_id: str,
              attempt: int | None = None) -> TaskRecord | None:
    if attempt is None:
        attempts = list_tasks(ds, flow, run_id, step).get(str(task_id))
        if attempts is None:
            return None
        attempt = attempts
    path = task_path(ds, flow, run_id, step, task_id, attempt)
    try:   # one read, no exists() first: the scheduler reads every task's record once
        data = ds.storage.get_bytes(path)
    except FileNotFoundError:
        return None
    return TaskRecord.from_json(json.loads(data))


def list_runs(ds: Datastore, flow: str) -> list[str]:
    """Run ids of a flow, newest first."""
    ids = [r for r in ds.storage.list(flow) if RUN_ID.match(r) and r != "blobs"]
    return sorted(ids, key=lambda r: (len(r), r), reverse=True)


def list_flows(ds: Datastore) -> list[str]:
    return [f for f in ds.storage.list("") if f != "blobs" and not f.startswith(".")]


def list_steps(ds: Datastore, flow: str, run_id: str) -> list[str]:
    return [s for s in ds.storage.list(f"{flow}/{run_id}") if not s.startswith("_")]


def list_tasks(ds: Datastore, flow: str, run_id: str, step: str) -> dict[str, int]:
    """task id -> latest committed attempt."""
    out: dict[str, int] = {}
    for name in ds.storage.list(f"{flow}/{run_id}/{step}"):
        if not name.endswith(".json"):
            continue
        task_id, _, attempt = name[:-5].rpartition(".")
        if attempt.isdigit():
            out[task_id] = max(out.get(task_id, -1), int(attempt))
    return out


def read_log(ds: Datastore, flow: str, run_id: str, step: str, task_id: str, attempt: int,
             stream: str) -> bytes:
    return _read_log_at(ds, ds.task_prefix(flow, run_id, step, task_id, attempt), stream)


def read_record_log(ds: Datastore, record: TaskRecord, stream: str) -> bytes:
    """A task attempt's log; a task reused by resume reads the origin run's (`log_prefix`)."""
    prefix = record.log_prefix or ds.task_prefix(record.flow, record.run_id, record.step,
                                                 record.task_id, record.attempt)
    return _read_log_at(ds, prefix, stream)


def _read_log_at(ds: Datastore, prefix: str, stream: str) -> bytes:
    path = f"{prefix}.{'out' if stream == 'stdout' else 'err'}"
    if not ds.storage.exists(path):
        return _deleted_origin_note(ds, prefix) if stream == "stderr" else b""
    return ds.storage.get_bytes(path)


def _deleted_origin_note(ds: Datastore, prefix: str) -> bytes:
    """A task reused by resume keeps its log in the origin run: say so once that run is gone."""
    flow, run_id = prefix.split("/")[:2]
    if run_exists(ds, flow, run_id):
        return b""
    return (f"(this task's log was kept in run {flow}/{run_id}, which was deleted; "
            "its artifacts are still here)\n").encode()


def process_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_status(run_record: RunRecord, end_record: dict | None) -> str:
    """'successful' or 'failed' once ended; 'died' when its process is gone (same host
    only); else 'running'."""
    if end_record is not None:
        return RunStatus.SUCCESSFUL if end_record.get("successful") else RunStatus.FAILED
    import socket

    if run_record.host == socket.gethostname() and not process_alive(run_record.pid):
        return RunStatus.DIED
    return RunStatus.RUNNING
