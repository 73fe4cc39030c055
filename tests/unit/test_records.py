"""The typed records: one to_json/from_json each, round trips exact, the store's JSON format
kept (keys this version does not know survive), old pickles of moved classes load."""
import io
import json
import sys
import types

from nbflow.datastore import serialize
from nbflow.records import (
    EventKind,
    ForeachFrame,
    ParentRef,
    RunContext,
    RunEvent,
    RunRecord,
    TaskRecord,
    TaskRequest,
)

FRAME = ForeachFrame("start", "items", 2, 3, "abc")
REQUEST = TaskRequest(
    datastore="/tmp/s", flow="F", run_id="7", step="each", task_id="4", attempt=1,
    parents=(ParentRef("F/7/start/1", "start", {"items": {"key": "k", "size": 3, "type": "list"}}),),
    params={"alpha": {"key": "p"}}, foreach_stack=(FRAME,),
    step_cell={"name": "each", "targets": ["end"], "body": "x", "cell": 3, "header": "%%step each",
               "body_line": 2, "docstring": None, "options": {}},
    flow_cell=None, notebook_path="nb.ipynb", max_attempts=3, timeout=5.0,
    resources={"cpu": 2.0}, scheduler_pid=11,
    context=RunContext("user:me", "me", ("t1",), False, None, {"project_name": "p"}, True))


def test_request_round_trip_is_exact_and_flat():
    d = REQUEST.to_json()
    assert d["namespace"] == "user:me" and d["tags"] == ["t1"] and d["card_stream"] is True
    assert d["foreach_stack"] == [FRAME.to_json()]
    back = TaskRequest.from_json(json.loads(json.dumps(d)))
    assert back == REQUEST
    assert back.pathspec == "F/7/each/4" and not back.is_last_attempt


def test_record_of_attempt_and_round_trip():
    rec = TaskRecord.of_attempt(REQUEST, started_at=1.0, pid=5, successful=True,
                                artifacts={"x": {"key": "k2", "size": 1, "type": "int"}},
                                foreach={"var": "v", "num_splits": 2, "key": None})
    assert rec.parents == ("F/7/start/1",) and rec.index == 2 and rec.finished_at >= 1.0
    d = rec.to_json()
    assert "origin" not in d and "card" not in d   # optional keys absent, as before
    assert TaskRecord.from_json(json.loads(json.dumps(d))) == rec


def test_unknown_keys_survive_a_read_and_a_write():
    d = TaskRecord.of_attempt(REQUEST, started_at=1.0, pid=5, successful=False).to_json()
    d["written_by_a_newer_version"] = {"a": 1}
    rec = TaskRecord.from_json(d)
    assert rec.extra == {"written_by_a_newer_version": {"a": 1}}
    assert rec.to_json()["written_by_a_newer_version"] == {"a": 1}


def test_a_clone_points_at_its_origin():
    rec = TaskRecord.of_attempt(REQUEST, started_at=1.0, pid=5, successful=True)
    clone = rec.cloned_into("9", "F/7/each/4.1")
    assert clone.pathspec == "F/9/each/4" and clone.parents == ("F/9/start/1",)
    assert clone.origin == "F/7/each/4" and clone.origin_attempt == 1 and clone.attempt == 0


def test_an_attempt_without_a_record_is_built_in_one_place():
    rec = TaskRecord.uncommitted("F", "7", "each", "4", 1, ("F/7/start/1",))
    assert rec.pathspec == "F/7/each/4" and rec.parents == ("F/7/start/1",)
    assert not rec.successful and rec.artifacts == {} and rec.index is None
    assert TaskRecord.from_json(json.loads(json.dumps(rec.to_json()))) == rec


def test_run_events_round_trip_and_their_kinds_are_named():
    kinds = {v for k, v in vars(EventKind).items() if k.isupper()}
    assert {"run_started", "task_cloned", "task_display", "run_finished"} <= kinds
    for kind in sorted(kinds):
        ev = RunEvent(kind, "7", "each", "4", 11, 1, "stdout", "a line", True, {"card": 2})
        assert RunEvent.from_json(json.loads(json.dumps(ev.to_json()))) == ev
    assert RunEvent.from_json({"kind": EventKind.RUN_STARTED, "run_id": "7", "new": 1}) == \
        RunEvent(EventKind.RUN_STARTED, "7")


def test_run_records_round_trip():
    run = RunRecord(flow="F", run_id="7", created_at=1.0, user="me", namespace="user:me",
                    notebook={"flow_name": "F", "steps": []}, tags=("a",),
                    environment={"key": "e"}, extra={"written_later": 1})
    assert RunRecord.from_json(json.loads(json.dumps(run.to_json()))) == run
    assert run.to_json()["environment"] == {"key": "e"} and run.namespace_or_user == "user:me"


def test_a_pickle_of_a_class_whose_module_moved_still_loads():
    import nbflow.task.failure as real

    fake = types.ModuleType("nbflow.failure")

    class StepException(real.StepException):
        pass

    StepException.__module__ = "nbflow.failure"
    StepException.__qualname__ = "StepException"   # importable there: pickled by reference
    fake.StepException = StepException
    sys.modules["nbflow.failure"] = fake
    try:
        encoded = serialize.encode(StepException("ValueError", "m", "tb"))
    finally:
        del sys.modules["nbflow.failure"]
    buf = io.BytesIO()
    serialize.write(buf, encoded)
    buf.seek(0)
    value = serialize.read(buf, encoded.key)
    assert type(value) is real.StepException and value.message == "m"
