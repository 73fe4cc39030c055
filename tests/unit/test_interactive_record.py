"""A kernel's interactive run record: each step cell appends what it changed to `_run.log`
(nothing rewritten), and every reader (records.read_run, the client, the store walk of
fsck/gc/du) sees the record the cells made, the same as if it had been rewritten whole.
An old interactive record (no log) reads as before; a line torn by a crash is ignored."""
import json
from dataclasses import replace

from nbflow.datastore import Datastore, records
from nbflow.datastore.walk import references, walk_store
from nbflow.kernel.interactive import RecordLog
from nbflow.kernel.session import InteractiveRun
from nbflow.notebook.parse import parse_cells
from nbflow.records import RunRecord

CELLS = ["%%flow LogFlow\nalpha = Parameter('alpha', default=1)",
         "%%step start -> mid\nself.x = 1", "%%step mid -> end\nself.y = 2", "%%step end"]


def _notebook(cells, path="/nb/log.ipynb"):
    return parse_cells([("code", c) for c in cells], flow_name="LogFlow", path=path)


def _start(tmp_path, known, refs):
    ds = Datastore(str(tmp_path / "store"))
    rec = RunRecord(flow="LogFlow", run_id="", created_at=1.0, user="me", namespace="user:me",
                    notebook=known.to_dict(), params=refs, sys_tags=("user:me", "interactive"))
    rec = records.create_run(ds, rec)
    run = InteractiveRun("LogFlow", rec.run_id, ds, "me")
    RecordLog.started(run, known, refs)
    return ds, run, rec


def _full(rec: RunRecord, known, refs, latest, stale, **more) -> dict:
    """The record as the kernel rewrote it whole before (records.update_run)."""
    return replace(rec, notebook=known.to_dict(), params=refs, interactive_latest=latest,
                   stale=tuple(stale), **more).to_json()


def test_cells_append_and_every_reader_sees_the_whole_record(tmp_path):
    known = _notebook(CELLS)
    refs = {"alpha": {"key": "a" * 32, "size": 1, "type": "int"}}
    ds, run, rec = _start(tmp_path, known, refs)
    before = (tmp_path / "store" / "LogFlow" / rec.run_id / "_run.json").read_bytes()
    steps = [  # (the notebook the kernel knows, params, latest, stale) after each cell
        (known, refs, {"start": ["1"]}, []),
        (known, refs, {"start": ["1"], "mid": ["2"]}, []),
        # the start cell edited and run again: mid is stale
        (_notebook([CELLS[0], "%%step start -> mid\nself.x = 3", *CELLS[2:]]), refs,
         {"start": ["3"], "mid": ["2"]}, [f"LogFlow/{rec.run_id}/mid/2"]),
        # a step added and renamed in place; a new parameter value
        (_notebook([CELLS[0], "%%step start -> mid\nself.x = 3", "%%step mid -> more",
                    "%%step more -> end", "%%step end"]),
         {"alpha": {"key": "b" * 32, "size": 1, "type": "int"}},
         {"start": ["3"], "mid": ["4"]}, []),
        (_notebook([CELLS[0], "%%step start -> mid\nself.x = 3", "%%step mid -> extra",
                    "%%step extra -> end", "%%step end"], path="/nb/moved.ipynb"),
         {"alpha": {"key": "b" * 32, "size": 1, "type": "int"}},
         {"start": ["3"], "mid": ["4"], "extra": ["5"]}, []),
    ]
    for known, refs, latest, stale in steps:
        RecordLog.update(run, known, refs, latest, stale)
        expected = _full(rec, known, refs, latest, stale)
        assert records.read_run(ds, "LogFlow", rec.run_id).to_json() == expected
    # nothing rewritten: _run.json is as created, the changes are lines of the log
    run_dir = tmp_path / "store" / "LogFlow" / rec.run_id
    assert (run_dir / "_run.json").read_bytes() == before
    assert len((run_dir / records.RUN_LOG).read_bytes().splitlines()) == len(steps)
    # the client
    from nbflow.client import Run

    client = Run(f"LogFlow/{rec.run_id}", _datastore=ds, _check=False)
    assert client.record.to_json() == expected
    # the store walk (fsck, gc, du): the run's record with the log applied, so the blobs it
    # references now (the new parameter value) are referenced
    walk = walk_store(ds)
    [entry] = walk.runs.values()
    assert RunRecord.from_json(entry.record).to_json() == expected
    assert "b" * 32 in references(entry.record)
    # pinned environments (--pypi steps) are appended too
    RecordLog.write(run, {"set": {"pinned_environments": {"mid": {"hash": "h"}}}})
    assert records.read_run(ds, "LogFlow", rec.run_id).pinned_environments == \
        {"mid": {"hash": "h"}}


def test_a_cell_that_changes_nothing_writes_nothing(tmp_path):
    known = _notebook(CELLS)
    ds, run, rec = _start(tmp_path, known, {})
    RecordLog.update(run, known, {}, {"start": ["1"]}, [])
    log = tmp_path / "store" / "LogFlow" / rec.run_id / records.RUN_LOG
    size = log.stat().st_size
    RecordLog.update(run, _notebook(CELLS), {}, {"start": ["1"]}, [])   # equal, not the same
    assert log.stat().st_size == size


def test_a_torn_last_line_is_ignored_and_the_next_starts_clean(tmp_path):
    known = _notebook(CELLS)
    ds, run, rec = _start(tmp_path, known, {})
    RecordLog.update(run, known, {}, {"start": ["1"]}, [])
    log = tmp_path / "store" / "LogFlow" / rec.run_id / records.RUN_LOG
    with open(log, "ab") as f:
        f.write(b'{"latest": {"mid": ["9"')          # a crash while appending
    assert records.read_run(ds, "LogFlow", rec.run_id).interactive_latest == {"start": ["1"]}
    RecordLog.update(run, known, {}, {"start": ["1"], "mid": ["2"]}, [])
    assert records.read_run(ds, "LogFlow", rec.run_id).interactive_latest == \
        {"start": ["1"], "mid": ["2"]}


def test_an_old_interactive_record_without_a_log_reads_as_before(tmp_path):
    ds = Datastore(str(tmp_path / "store"))
    known = _notebook(CELLS)
    rec = records.create_run(ds, RunRecord(
        flow="LogFlow", run_id="", created_at=1.0, user="me", namespace="user:me",
        notebook=known.to_dict(), sys_tags=("user:me", "interactive"),
        interactive_latest={"start": ["1"]}, stale=("LogFlow/1/mid/2",)))
    stored = json.loads((tmp_path / "store" / "LogFlow" / rec.run_id / "_run.json").read_text())
    assert records.read_run(ds, "LogFlow", rec.run_id).to_json() == \
        RunRecord.from_json(stored).to_json()
    # update_run (an object store's way) folds a log into the record and removes it
    run = InteractiveRun("LogFlow", rec.run_id, ds, "me")
    RecordLog.started(run, known, {})
    RecordLog.update(run, known, {}, {"start": ["1"], "mid": ["3"]}, [])
    records.update_run(ds, "LogFlow", rec.run_id, tags=("t",))
    assert not (tmp_path / "store" / "LogFlow" / rec.run_id / records.RUN_LOG).exists()
    got = records.read_run(ds, "LogFlow", rec.run_id)
    assert got.interactive_latest == {"start": ["1"], "mid": ["3"]} and got.tags == ("t",)


def test_the_log_is_folded_into_the_record_when_the_run_ends(tmp_path):
    from nbflow.kernel.interactive import end_interactive_run
    from nbflow.kernel.session import KernelSession

    known = _notebook(CELLS)
    ds, run, rec = _start(tmp_path, known, {})
    RecordLog.update(run, known, {}, {"start": ["1"], "mid": ["2"]}, [])
    made = records.read_run(ds, "LogFlow", rec.run_id).to_json()
    session = KernelSession({})
    session.run = run
    end_interactive_run(session)
    run_dir = tmp_path / "store" / "LogFlow" / rec.run_id
    assert not (run_dir / records.RUN_LOG).exists()
    assert RunRecord.from_json(json.loads((run_dir / "_run.json").read_text())).to_json() == made
    assert records.read_run_end(ds, "LogFlow", rec.run_id)["successful"]
