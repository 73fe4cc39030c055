"""What resume reads of its origin run, straight from the store's records (run/resume.py's
Origin: the run layer does not go through the client). No process is started: the runs are
records written here."""
import os
import socket
import time

import pytest
from helpers import create_run_json

from nbflow.datastore import Datastore, records
from nbflow.datastore import tags as tagstore
from nbflow.graph import FlowGraph
from nbflow.notebook.parse import parse_cells
from nbflow.records import RunStatus, TaskRecord, TaskRequest
from nbflow.run.resume import Origin, ResumeError, plan_resume, with_origin_tags
from nbflow.run.runner import RunOptions

CELLS = ["%%flow OriginFlow", "%%step start -> a", "%%step a -> end", "%%step end"]
GRAPH = FlowGraph(parse_cells([("code", c) for c in CELLS]))


@pytest.fixture
def ds(tmp_path):
    return Datastore(str(tmp_path / "store"))


def a_run(ds, **fields) -> str:
    return create_run_json(ds, "OriginFlow", {"created_at": time.time(), "user": "tester",
                                              "host": socket.gethostname(), "pid": None,
                                              "notebook": GRAPH.notebook.to_dict(), **fields})


def a_task(ds, run_id: str, step: str, task_id: str, error: str | None) -> None:
    req = TaskRequest(datastore=ds.url, flow="OriginFlow", run_id=run_id, step=step,
                      task_id=task_id, attempt=0, parents=(), params={}, foreach_stack=(),
                      step_cell={})
    exception = {"type": error, "message": "m", "traceback": ""} if error else None
    records.write_task(ds, TaskRecord.of_attempt(req, started_at=1.0, pid=1,
                                                 successful=error is None, exception=exception))


def test_an_unknown_run_or_flow_names_what_is_there(ds):
    with pytest.raises(ResumeError, match="cannot resume: no flow 'OriginFlow' in datastore"):
        plan_resume(GRAPH, ds, "17", None)
    run_id = a_run(ds)
    with pytest.raises(ResumeError, match=f"no run '17' in flow 'OriginFlow'; runs there: {run_id}"):
        plan_resume(GRAPH, ds, "17", None)


def test_an_interactive_a_running_or_a_damaged_origin_is_refused(ds):
    kernel = a_run(ds, sys_tags=["user:tester", "interactive"])
    with pytest.raises(ResumeError, match="is an interactive \\(kernel\\) run"):
        plan_resume(GRAPH, ds, kernel, "a")
    running = a_run(ds, pid=os.getpid())
    assert Origin.read(ds, "OriginFlow", running).status == RunStatus.RUNNING
    with pytest.raises(ResumeError, match=f"is still running \\(pid {os.getpid()}"):
        plan_resume(GRAPH, ds, running, "a")
    damaged = a_run(ds)
    with open(ds.storage.full(f"OriginFlow/{damaged}/_run.json"), "w") as f:
        f.write("{not json")
    with pytest.raises(ResumeError, match=f"run OriginFlow/{damaged} is damaged"):
        plan_resume(GRAPH, ds, damaged, "a")


def test_the_failed_steps_are_the_resume_point_and_ended_tasks_are_not(ds):
    run_id = a_run(ds)
    a_task(ds, run_id, "start", "1", None)
    a_task(ds, run_id, "a", "2", "ValueError")
    a_task(ds, run_id, "end", "3", "TaskKilled")   # ended by the run after a failed: collateral
    records.write_run_end(ds, "OriginFlow", run_id, successful=False,
                          failed_steps=[f"OriginFlow/{run_id}/a/2", f"OriginFlow/{run_id}/end/3"])
    plan = plan_resume(GRAPH, ds, run_id, None)
    assert plan.rerun_from == ["a"] and [t.step for t in plan.reused] == ["start"]
    assert plan.origin.run_id == run_id


def test_the_origin_tags_are_its_tags_as_they_are_now(ds):
    run_id = a_run(ds, tags=["first"])
    tagstore.mutate(ds, "OriginFlow", run_id, ["first"], ["user:tester"], add=["later"])
    opts = with_origin_tags(RunOptions(tags=["given"]), ds, "OriginFlow", run_id)
    assert opts.tags == ["first", "later", "given"]
