"""No task outlives its run: whatever ends the run (the zygote killed, the CLI killed, with
or without fork, on Dask), no task process, nor anything it started, keeps running; a
task record is written once, so a late commit cannot overwrite what the run recorded."""
from __future__ import annotations

import psutil
import pytest
from faultkit import Marked, assert_store_consistent, sigkill, start, task_records, wait_for
from helpers import make_notebook, run_id_of

from nbflow import client
from nbflow.datastore import Datastore, records

FAN = 20


def fan_notebook(workdir, name="fan.ipynb", wait="time.sleep(120)"):
    """A 20-way foreach whose tasks each start a child in a session of its own, write
    their pid into pids/, then wait."""
    (workdir / "pids").mkdir(exist_ok=True)
    return make_notebook(workdir / name, [
        "%%flow FanFlow",
        f"%%step start -> body --foreach xs\nself.xs = list(range({FAN}))",
        ("%%step body -> join\nimport os, pathlib, subprocess, time\n"
         "child = subprocess.Popen(['sleep', '300'], start_new_session=True)\n"
         "pathlib.Path('pids', str(os.getpid())).write_text(str(child.pid))\n"
         f"{wait}\nself.v = self.input"),
        "%%step join -> end\nself.vs = [i.v for i in inputs]",
        "%%step end",
    ])


def running_tasks(workdir) -> list[int]:
    return [int(p.name) for p in (workdir / "pids").iterdir()]


def test_killing_the_zygote_ends_every_task_of_a_20_way_foreach(workdir):
    marked = Marked()
    nb = fan_notebook(workdir)
    proc = start("run", nb, workdir, "--max-workers", FAN, env=marked.env())
    try:
        tasks = wait_for(lambda: len(running_tasks(workdir)) >= FAN and running_tasks(workdir),
                         proc)
        zygote = psutil.Process(tasks[0]).ppid()   # forked tasks keep themselves (no keeper)
        assert zygote != proc.pid   # forked from the CLI, not the CLI itself
        sigkill(zygote)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 1, out + err
        marked.assert_none_alive()
    finally:
        marked.kill_all()
    ds = Datastore(str(workdir / ".nbflow"))
    run_id = run_id_of(out)
    body = [r for r in task_records(ds, "FanFlow", run_id) if r["step"] == "body"]
    assert len(body) == FAN
    assert not any(r["successful"] for r in body)
    assert "the zygote process that started it ended" in err
    assert records.read_run_end(ds, "FanFlow", run_id)["successful"] is False
    assert_store_consistent(workdir / ".nbflow")


@pytest.mark.parametrize("mode", ["fork", "no-fork", "dask"])
def test_killing_the_cli_ends_its_tasks(workdir, mode):
    if mode == "dask":
        pytest.importorskip("distributed")
    marked = Marked()
    nb = fan_notebook(workdir)
    args = {"fork": [], "no-fork": ["--no-fork"], "dask": ["--executor", "dask"]}[mode]
    want = 2 if mode == "dask" else FAN   # dask: one worker per core
    proc = start("run", nb, workdir, "--max-workers", FAN, *args, env=marked.env())
    try:
        wait_for(lambda: len(running_tasks(workdir)) >= want, proc, limit=180)
        sigkill(proc.pid)
        proc.communicate(timeout=60)
        marked.assert_none_alive(within=60)
    finally:
        marked.kill_all()
    ds = Datastore(str(workdir / ".nbflow"))
    run_id = records.list_runs(ds, "FanFlow")[0]
    assert not any(r["successful"] for r in task_records(ds, "FanFlow", run_id)
                   if r["step"] == "body")
    assert_store_consistent(workdir / ".nbflow")


def test_a_late_commit_is_refused(workdir):
    """Without keepers (NBFLOW_KEEPER=0: as on a platform without them) the tasks outlive a
    killed zygote; the run records them killed, and their later commits are refused."""
    marked = Marked()
    nb = fan_notebook(workdir, wait="while not os.path.exists('go'):\n    time.sleep(0.05)")
    proc = start("run", nb, workdir, "--max-workers", FAN, env=marked.env(NBFLOW_KEEPER="0"))
    try:
        tasks = wait_for(lambda: len(running_tasks(workdir)) >= FAN and running_tasks(workdir),
                         proc)
        sigkill(psutil.Process(tasks[0]).ppid())   # the zygote (no keeper in between)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 1, out + err
        orphans = [psutil.Process(t) for t in tasks if psutil.pid_exists(t)]
        assert orphans   # the point of this test: they survived the zygote
        (workdir / "go").write_text("")
        psutil.wait_procs(orphans, timeout=60)
    finally:
        marked.kill_all()
    ds = Datastore(str(workdir / ".nbflow"))
    run_id = run_id_of(out)
    body = [r for r in task_records(ds, "FanFlow", run_id) if r["step"] == "body"]
    assert len(body) == FAN
    assert all(r["exception"]["type"] == "TaskKilled" for r in body), body
    assert records.read_run_end(ds, "FanFlow", run_id)["successful"] is False
    assert_store_consistent(workdir / ".nbflow")


LEFTOVERS = [
    "%%flow LeftFlow",
    ("%%step start -> end\nimport os, pathlib, subprocess\n"
     "a = subprocess.Popen(['sleep', '300'])\n"
     "b = subprocess.Popen(['sleep', '301'], start_new_session=True)\n"
     "pathlib.Path('children').write_text(f'{a.pid} {b.pid}')\nprint('started')"),
    "%%step end\nprint('end')",
]


@pytest.mark.parametrize("mode", ["fork", "no-fork", "dask"])
def test_a_finished_task_leaves_nothing_running(workdir, mode):
    if mode == "dask":
        pytest.importorskip("distributed")
    marked = Marked()
    nb = make_notebook(workdir / "left.ipynb", LEFTOVERS)
    args = {"fork": [], "no-fork": ["--no-fork"], "dask": ["--executor", "dask"]}[mode]
    proc = start("run", nb, workdir, *args, env=marked.env())
    try:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, out + err
        assert "Done!" in out
        marked.assert_none_alive()
    finally:
        marked.kill_all()


def test_timeout_ends_a_child_in_its_own_session(workdir):
    marked = Marked()
    nb = make_notebook(workdir / "slow.ipynb", [
        "%%flow SlowFlow",
        ("%%step start -> end --timeout 1\nimport subprocess, time, signal\n"
         "subprocess.Popen(['sleep', '300'], start_new_session=True)\n"
         "signal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
         "while True:\n    try:\n        time.sleep(30)\n    except BaseException:\n        pass"),
        "%%step end",
    ])
    proc = start("run", nb, workdir, env=marked.env())
    try:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 1, out + err
        assert "timed out" in err
        marked.assert_none_alive()
    finally:
        marked.kill_all()


def test_the_summary_tells_the_failed_task_from_the_ones_the_run_ended(workdir):
    nb = make_notebook(workdir / "ends.ipynb", [
        "%%flow EndsFlow",
        "%%step start -> slow, bad",
        "%%step slow -> join\nimport time\ntime.sleep(120)",
        "%%step bad -> join\nimport time\ntime.sleep(1)\nraise ValueError('boom')",
        "%%step join -> end",
        "%%step end",
    ])
    marked = Marked()
    proc = start("run", nb, workdir, env=marked.env())
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    run_id = run_id_of(out)
    bad = f"EndsFlow/{run_id}/bad/3"
    assert f"Task ended: the run stopped after {bad} failed." in err
    assert "killed by signal" not in err
    assert f"Workflow failed: task(s) failed: {bad}" in err
    client.context.reset_defaults()
    try:
        client.namespace(None)
        run = client.Flow("EndsFlow")[run_id]
        assert run["bad"].task.exception.type == "ValueError"
        ended = run["slow"].task.exception
        assert ended.type == "TaskEnded"
        assert ended.message == f"ended: the run stopped after {bad} failed"
    finally:
        client.context.reset_defaults()


def test_the_run_widget_shows_ended_steps_apart_from_failed_ones():
    from nbflow.kernel.widgets.model import RunModel
    from nbflow.records import RunEvent

    m = RunModel()
    m(RunEvent("run_started", "7", info={"flow": "EndsFlow", "steps": ["slow", "bad"]}))
    for step, tid in (("slow", "2"), ("bad", "3")):
        m(RunEvent("task_started", "7", step, tid))
    m(RunEvent("task_finished", "7", "bad", "3", successful=False, text="boom"))
    m(RunEvent("task_finished", "7", "slow", "2", successful=False,
               text="ended: the run stopped after EndsFlow/7/bad/3 failed", info={"ended": True}))
    m(RunEvent("run_finished", "7", successful=False, text="task(s) failed: EndsFlow/7/bad/3"))
    assert m.steps["bad"].status == "failed" and m.steps["bad"].failed == 1
    assert m.steps["slow"].status == "ended" and m.steps["slow"].failed == 0
    assert [p for s in m.steps.values() for p, _ in s.errors] == ["EndsFlow/7/bad/3"]
