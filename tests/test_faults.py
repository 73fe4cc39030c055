"""Faults: tasks killed at any moment, runs interrupted, runs started at the same moment."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from helpers import (
    assert_store_consistent,
    cli_env,
    make_notebook,
    read_task_json,
    run_id_of,
    run_nbflow,
)

from nbflow.datastore import Datastore, records


def wait_for_file(path, proc: subprocess.Popen, limit: float = 120) -> str:
    """The contents of `path` once a task wrote it (fails if the run ended first)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


def start_run(nb, workdir, *args, **env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nbflow", "run", str(nb), *args], cwd=workdir,
                            env=cli_env(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


KILLED_FLOW = [
    "%%step start -> work\nself.small = 1",
    ("%%step work -> end\nimport os, pathlib\n"
    "pathlib.Path(os.environ['PID_FILE']).write_text(str(os.getpid()))\n"
    "import time\ntime.sleep(120)\nself.never = 1"),
    "%%step end",
]


def test_task_killed_from_outside_fails_the_run(workdir):
    nb = make_notebook(workdir / "killed.ipynb", KILLED_FLOW)
    pid_file = workdir / "pid"
    proc = start_run(nb, workdir, PID_FILE=pid_file)
    os.kill(int(wait_for_file(pid_file, proc)), signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, out + err
    run_id = run_id_of(out)
    assert "the task process killed by signal 9 (SIGKILL) before it finished" in err
    ds = Datastore(str(workdir / ".nbflow"))
    rec = read_task_json(ds, "KilledFlow", run_id, "work", "2")
    assert rec["successful"] is False and rec["artifacts"] == {}
    assert rec["exception"]["type"] == "TaskKilled"
    assert records.read_run_end(ds, "KilledFlow", run_id)["successful"] is False
    assert records.list_tasks(ds, "KilledFlow", run_id, "end") == {}
    assert_store_consistent(workdir / ".nbflow")


def selfkill_notebook(workdir, kill_code: str):
    return make_notebook(workdir / "selfkill.ipynb", [
        ("%%flow SelfkillFlow\nimport numpy as np\nimport os, signal, threading\n"
        "class Bomb:\n    def __reduce__(self):\n        os.kill(os.getpid(), signal.SIGKILL)"),
        "%%step start -> end\n"
        "self.blobs = [np.random.default_rng(i).random(2_000_000) for i in range(5)]\n" + kill_code,
        "%%step end\nself.done = True"])


def test_task_killed_while_storing_artifacts_fails_cleanly(workdir):
    """Killed after some blobs were written, before its commit: nothing refers to them."""
    nb = selfkill_notebook(workdir, "self.bomb = Bomb()")
    res = run_nbflow("run", nb, cwd=workdir)
    assert res.returncode == 1, res.stdout + res.stderr
    run_id = run_id_of(res.stdout)
    ds = Datastore(str(workdir / ".nbflow"))
    rec = read_task_json(ds, "SelfkillFlow", run_id, "start", "1")
    assert rec["successful"] is False and rec["artifacts"] == {}
    assert records.read_run_end(ds, "SelfkillFlow", run_id)["successful"] is False
    assert records.list_tasks(ds, "SelfkillFlow", run_id, "end") == {}
    assert_store_consistent(workdir / ".nbflow")
    shutil.rmtree(workdir / ".nbflow")


@pytest.mark.parametrize("stage", ["blob", "between", "record", "committed"])
def test_task_killed_at_any_moment_leaves_no_partial_blob(workdir, stage):
    """The task is SIGKILLed at a named moment of storing ~80 MB (NBFLOW_FAULT, see
    nbflow/task/faults.py: part of a blob written, one artifact stored and the next not,
    part of the record written, the record written): the run succeeds exactly when the
    record was committed, and the store holds no partial blob that anything names."""
    nb = selfkill_notebook(workdir, "self.more = np.arange(10)")   # two artifacts: "between"
    res = run_nbflow("run", nb, cwd=workdir, env=cli_env(NBFLOW_FAULT=f"{stage}:task:start"))
    committed = stage == "committed"
    assert res.returncode == (0 if committed else 1), res.stdout + res.stderr
    run_id = run_id_of(res.stdout)
    ds = Datastore(str(workdir / ".nbflow"))
    rec = read_task_json(ds, "SelfkillFlow", run_id, "start", "1")
    assert records.read_run_end(ds, "SelfkillFlow", run_id)["successful"] is committed
    assert rec["successful"] is committed
    assert (rec["artifacts"] == {}) is not committed
    if not committed:
        assert rec["exception"]["type"] == "TaskKilled"
    assert_store_consistent(workdir / ".nbflow")
    shutil.rmtree(workdir / ".nbflow")   # 80 MB of random numbers: do not keep them around


def test_interrupted_run_is_marked_failed_and_ends_its_tasks(workdir):
    nb = make_notebook(workdir / "interrupt.ipynb", KILLED_FLOW)
    pid_file = workdir / "pid"
    proc = start_run(nb, workdir, PID_FILE=pid_file)
    task_pid = int(wait_for_file(pid_file, proc))
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, out + err
    assert "the run was interrupted" in err
    assert "Traceback" not in err
    run_id = run_id_of(out)
    ds = Datastore(str(workdir / ".nbflow"))
    assert records.read_run_end(ds, "InterruptFlow", run_id)["successful"] is False
    assert read_task_json(ds, "InterruptFlow", run_id, "work", "2")["successful"] is False
    with pytest.raises(ProcessLookupError):   # the task did not outlive its run
        for _ in range(100):
            os.kill(task_pid, 0)
            time.sleep(0.1)


def test_two_runs_of_one_notebook_at_once(workdir):
    nb = make_notebook(workdir / "twice.ipynb", [
        "%%flow TwiceFlow\nlabel = Parameter('label', default='x')",
        "%%step start -> body --foreach xs\nself.xs = list(range(4))",
        "%%step body -> join\nself.v = f'{self.label}{self.input}'",
        "%%step join -> end\nself.vs = [i.v for i in inputs]", "%%step end"])
    procs = [start_run(nb, workdir, "--label", f"r{i}") for i in range(2)]
    outs = [p.communicate(timeout=240) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, out + err
    ids = [run_id_of(out) for out, _ in outs]
    assert ids[0] != ids[1]
    ds = Datastore(str(workdir / ".nbflow"))
    assert sorted(records.list_runs(ds, "TwiceFlow")) == sorted(ids)
    for i, run_id in enumerate(ids):
        end = read_task_json(ds, "TwiceFlow", run_id, "end", "7")
        assert ds.get_object(end["artifacts"]["vs"]["key"]) == [f"r{i}{k}" for k in range(4)]
        run = json.loads((workdir / ".nbflow" / "TwiceFlow" / run_id / "_run.json").read_text())
        assert run["run_id"] == run_id
    assert_store_consistent(workdir / ".nbflow")
