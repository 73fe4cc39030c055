"""SIGKILL at every stage of a task's life, of the task, of the zygote and of the CLI
(NBFLOW_FAULT, see nbflow/faults.py: deterministic hooks, no sleeps). After each: every
committed task loads, no record names a missing or partial blob, nothing is still
running, the run is reported failed (or died, or successful when the task had committed
and the run could go on), and `nbflow resume` completes it with the same end artifacts
as an uninterrupted run."""
from __future__ import annotations

import pytest
from faultkit import Marked, assert_fsck_clean, assert_store_consistent, latest_run, start
from helpers import make_notebook, read_task_json, run_nbflow

from nbflow import client
from nbflow.datastore import Datastore, records

CELLS = [
    "%%flow FaultFlow\nfrom nbflow.task.faults import point",
    "%%step start -> work\nself.x = 3",
    ("%%step work -> end\nself.a = list(range(50_000))\npoint('running')\n"
     "self.b = {'x': self.x * 2}\nprint('work done')"),
    "%%step end\nself.c = sum(self.a) + self.b['x']",
]
EXPECTED_C = sum(range(50_000)) + 6
STAGES = ["start", "running", "blob", "between", "record", "committed"]
TARGETS = ["task", "zygote", "scheduler"]


def expected_status(stage: str, target: str) -> str:
    if target == "scheduler":
        return "died"          # nothing is left to write the run's end
    if stage == "committed":
        return "successful"    # the record is the commit: the run goes on
    return "failed"


def run_status(workdir, run_id: str) -> str:
    client.context.reset_defaults()
    try:
        client.namespace(None)
        return client.Flow("FaultFlow")[run_id].status
    finally:
        client.context.reset_defaults()


def end_c(ds: Datastore, run_id: str) -> int:
    (task_id, attempt), = records.list_tasks(ds, "FaultFlow", run_id, "end").items()
    rec = read_task_json(ds, "FaultFlow", run_id, "end", task_id, attempt)
    return ds.get_object(rec["artifacts"]["c"]["key"])


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("stage", STAGES)
def test_sigkill_at_a_stage_of_a_task(workdir, stage, target):
    nb = make_notebook(workdir / "fault.ipynb", CELLS)
    marked = Marked()
    proc = start("run", nb, workdir, env=marked.env(NBFLOW_FAULT=f"{stage}:{target}:work"))
    try:
        out, err = proc.communicate(timeout=180)
        marked.assert_none_alive()
    finally:
        marked.kill_all()
    want = expected_status(stage, target)
    assert proc.returncode == (0 if want == "successful" else 1 if want == "failed" else -9), \
        out + err
    ds = Datastore(str(workdir / ".nbflow"))
    run_id = latest_run(ds, "FaultFlow")
    assert run_status(workdir, run_id) == want
    work = read_task_json(ds, "FaultFlow", run_id, "work", "2")
    if stage == "committed":
        assert work["successful"] is True
    elif work is not None:   # recorded by the scheduler: killed, nothing stored
        assert work["successful"] is False and work["artifacts"] == {}
    assert_store_consistent(workdir / ".nbflow")
    if want == "successful":
        assert end_c(ds, run_id) == EXPECTED_C
        return
    res = run_nbflow("resume", nb, "--origin-run-id", run_id, cwd=workdir)
    assert res.returncode == 0, res.stdout + res.stderr
    resumed = latest_run(ds, "FaultFlow")
    assert resumed != run_id
    assert end_c(ds, resumed) == EXPECTED_C
    assert_store_consistent(workdir / ".nbflow")
    assert_fsck_clean(workdir)


@pytest.mark.parametrize("stage", ["running", "blob", "committed"])
def test_sigkill_of_the_cli_without_fork(workdir, stage):
    nb = make_notebook(workdir / "fault.ipynb", CELLS)
    marked = Marked()
    proc = start("run", nb, workdir, "--no-fork",
                 env=marked.env(NBFLOW_FAULT=f"{stage}:scheduler:work"))
    try:
        proc.communicate(timeout=180)
        marked.assert_none_alive()
    finally:
        marked.kill_all()
    ds = Datastore(str(workdir / ".nbflow"))
    run_id = latest_run(ds, "FaultFlow")
    assert run_status(workdir, run_id) == "died"
    assert_store_consistent(workdir / ".nbflow")
    res = run_nbflow("resume", nb, "--origin-run-id", run_id, "--no-fork", cwd=workdir)
    assert res.returncode == 0, res.stdout + res.stderr
    assert end_c(ds, latest_run(ds, "FaultFlow")) == EXPECTED_C
