"""A damaged store, as a user meets it: `dump`, the client and a new run never show a
wrong value, and a new run storing the same value repairs the blob."""
import os

import pytest
from helpers import make_notebook, read_task_json, run_id_of, run_nbflow

from nbflow.datastore import Datastore

CELLS = [
    "%%flow DamageFlow",
    "%%step start -> end\nself.x = 12345\nself.other = 'kept'",
    "%%step end\nprint('x is', self.x)",
]


def _x_blob(workdir, run_id: str) -> str:
    ds = Datastore(str(workdir / ".nbflow"))
    rec = read_task_json(ds, "DamageFlow", run_id, "start", "1")
    return str(workdir / ".nbflow" / ds.blob_path(rec["artifacts"]["x"]["key"]))


def _flip_12345_to_12344(path: str) -> None:
    data = open(path, "rb").read()
    assert data.endswith(b"M90.")            # pickle: BININT2 0x3039 then STOP
    open(path, "wb").write(data[:-3] + b"8" + data[-2:])


def _truncate(path: str) -> None:
    os.truncate(path, os.path.getsize(path) - 3)


DAMAGE = {"flipped": _flip_12345_to_12344, "truncated": _truncate, "deleted": os.unlink}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_blob_is_an_error_everywhere_and_a_new_run_repairs_it(workdir, damage):
    nb = make_notebook(workdir / "damage.ipynb", CELLS)
    first = run_nbflow("run", nb, cwd=workdir)
    assert first.returncode == 0, first.stderr
    run_id = run_id_of(first.stdout)
    blob = _x_blob(workdir, run_id)
    key = os.path.basename(blob)
    DAMAGE[damage](blob)

    dump = run_nbflow("dump", f"DamageFlow/{run_id}/start/1", cwd=workdir)
    assert dump.returncode == 1
    assert "12344" not in dump.stdout and "12345" not in dump.stdout
    assert "'kept'" in dump.stdout                      # the sound artifact still shows
    state = "is missing" if damage == "deleted" else "is damaged"
    assert f"artifact 'x' of task DamageFlow/{run_id}/start/1: blob {key}" in dump.stderr
    assert state in dump.stderr and "Traceback" not in dump.stderr

    from nbflow.client import Task
    from nbflow.errors import DatastoreError

    with pytest.raises(DatastoreError, match=f"artifact .x. of task .*blob {key} .*{state}"):
        _ = Task(f"DamageFlow/{run_id}/start/1").data.x

    fsck = run_nbflow("fsck", cwd=workdir)
    assert fsck.returncode == 1
    kind = "MISSING BLOB" if damage == "deleted" else "DAMAGED BLOB"
    assert f"{kind} blobs/{key[:2]}/{key}" in fsck.stdout and f"DamageFlow/{run_id}" in fsck.stdout

    second = run_nbflow("run", nb, cwd=workdir)        # stores the same value again
    assert second.returncode == 0, second.stderr
    assert "x is 12345" in second.stdout
    again = run_nbflow("dump", f"DamageFlow/{run_id}/start/1", cwd=workdir)
    assert again.returncode == 0, again.stderr
    assert "12345" in again.stdout                      # the first run reads it again
    fsck = run_nbflow("fsck", cwd=workdir)
    assert fsck.returncode == 0 and "no damage found" in fsck.stdout, fsck.stdout


RECORD_DAMAGE = {
    "truncated": lambda p: os.truncate(p, os.path.getsize(p) // 2),
    "flipped": lambda p: open(p, "r+b").write(b"["),      # the '{' that opens it
    "deleted": os.unlink,
}


@pytest.mark.parametrize("damage", list(RECORD_DAMAGE))
def test_a_damaged_task_record_is_reported_by_dump_and_fsck(workdir, damage):
    nb = make_notebook(workdir / "damage.ipynb", CELLS)
    first = run_nbflow("run", nb, cwd=workdir)
    assert first.returncode == 0, first.stderr
    run_id = run_id_of(first.stdout)
    record = workdir / ".nbflow" / "DamageFlow" / run_id / "start" / "1.0.json"
    RECORD_DAMAGE[damage](str(record))
    dump = run_nbflow("dump", f"DamageFlow/{run_id}/start/1", cwd=workdir)
    assert dump.returncode != 0 and "Traceback" not in dump.stderr
    assert "12345" not in dump.stdout
    assert (f"task DamageFlow/{run_id}/start/1 is damaged" in dump.stderr if damage != "deleted"
            else "start" in dump.stderr)
    fsck = run_nbflow("fsck", cwd=workdir)
    assert fsck.returncode == 1
    if damage == "deleted":   # its child says so
        assert f"its parent task DamageFlow/{run_id}/start/1 has no record" in fsck.stdout
    else:
        assert f"DAMAGED RECORD DamageFlow/{run_id}/start/1.0.json" in fsck.stdout
