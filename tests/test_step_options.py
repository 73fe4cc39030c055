"""The %%step options production needs: --retry, --retry-delay, --timeout, --catch, --resources.

Every test is a real run: the CLI in a subprocess, tasks in their own processes, the
store read back from disk."""
from __future__ import annotations

import os
import re
import time

import pytest
from helpers import make_notebook, read_task_json, run_id_of, run_nbflow
from helpers import test_env as env_with  # (not collected as a test)

from nbflow.datastore import records
from nbflow.run.slots import machine_cores


def attempts(store, flow: str, run_id: str, step: str, task_id: str) -> list[dict]:
    """Every committed attempt of one task, in order."""
    out, n = [], 0
    while (rec := read_task_json(store.ds, flow, run_id, step, task_id, n)) is not None:
        out.append(rec)
        n += 1
    return out


def log(store, flow, run_id, step, task_id, attempt, stream="stderr") -> str:
    data = records.read_log(store.ds, flow, run_id, step, task_id, attempt, stream)
    return data.decode()


def test_retry_runs_new_attempts_until_one_succeeds(workdir, store):
    nb = make_notebook(workdir / "flaky.ipynb", [
        "%%step start -> flaky\nself.x = 1",
        ("%%step flaky -> end --retry 2\n"
        "if current.retry_count < 2:\n"
        "    self.half_done = 'from a failed attempt'\n"
        "    raise RuntimeError(f'service down (try {current.retry_count})')\n"
        "self.tries = current.retry_count"),
        "%%step end\nprint('tries', self.tries, hasattr(self, 'half_done'))",
    ])
    res = run_nbflow("run", nb, cwd=workdir)
    assert res.returncode == 0, res.stderr
    run_id = run_id_of(res.stdout)
    (task,) = store.tasks("FlakyFlow", run_id, "flaky")
    tries = attempts(store, "FlakyFlow", run_id, "flaky", task["task_id"])
    assert [t["successful"] for t in tries] == [False, False, True]
    assert [t["attempt"] for t in tries] == [0, 1, 2]
    # each attempt keeps its own log
    assert "service down (try 0)" in log(store, "FlakyFlow", run_id, "flaky", task["task_id"], 0)
    assert "service down (try 1)" in log(store, "FlakyFlow", run_id, "flaky", task["task_id"], 1)
    # the task is its last attempt: nothing a failed attempt set is visible downstream
    assert task["attempt"] == 2 and "half_done" not in task["artifacts"]
    assert "tries 2 False" in res.stdout
    # the client shows the task as its last attempt, and every earlier one on request
    from nbflow import Task

    pathspec = f"FlakyFlow/{run_id}/flaky/{task['task_id']}"
    latest = Task(pathspec)
    assert latest.successful and latest.current_attempt == 2 and latest.data.tries == 2
    assert "half_done" not in [a.id for a in latest]
    assert "service down (try 1)" in Task(pathspec, attempt=1).exception.message
    assert "service down (try 0)" in Task(pathspec, attempt=0).stderr


def test_no_retry_by_default(workdir, store):
    nb = make_notebook(workdir / "once.ipynb", [
        "%%step start -> end\nraise RuntimeError('nope')",
        "%%step end\npass",
    ])
    res = run_nbflow("run", nb, cwd=workdir)
    assert res.returncode == 1
    run_id = run_id_of(res.stdout)
    assert [t["attempt"] for t in attempts(store, "OnceFlow", run_id, "start", "1")] == [0]
    assert "Retrying" not in res.stderr


def test_retry_applies_to_each_foreach_split_on_its_own(workdir, store):
    nb = make_notebook(workdir / "splits.ipynb", [
        "%%step start -> body --foreach items\nself.items = [10, 20, 30]",
        ("%%step body -> join --retry 1 --retry-delay 0.1\n"
        "if self.index == 1 and current.retry_count == 0:\n"
        "    raise ValueError('split 1 fails once')\n"
        "self.out = (self.input, current.retry_count)"),
        "%%step join -> end\nself.outs = [i.out for i in inputs]",
        "%%step end\npass",
    ])
    res = run_nbflow("run", nb, cwd=workdir)
    assert res.returncode == 0, res.stderr
    run_id = run_id_of(res.stdout)
    tries = {t["foreach_stack"][-1]["index"]: attempts(store, "SplitsFlow", run_id, "body", t["task_id"])
             for t in store.tasks("SplitsFlow", run_id, "body")}
    assert {i: len(a) for i, a in tries.items()} == {0: 1, 1: 2, 2: 1}
    assert store.artifacts("SplitsFlow", run_id, "join")["outs"] == [(10, 0), (20, 1), (30, 0)]


def _gone(pid: int) -> bool:
    """True once `pid` has exited (a zombie nobody reaped yet counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def _wait_gone(pid: int, limit: float = 30.0) -> bool:
    end = time.monotonic() + limit  # SIGKILL is delivered at once; this only absorbs a loaded machine
    while not _gone(pid):
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


SLOW_WITH_CHILD = (
    "import subprocess, sys, time\n"
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
    "self.child_pid = child.pid\n"
    "print('child pid', child.pid, flush=True)\n"
)


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_timeout_ends_the_task_and_its_children_and_counts_as_an_attempt(workdir, store):
    nb = make_notebook(workdir / "slow.ipynb", [
        "%%step start -> slow\nself.x = 1",
        "%%step slow -> end --timeout 2 --retry 1\n"
        "if current.retry_count == 0:\n"
        + "".join("    " + line + "\n" for line in SLOW_WITH_CHILD.splitlines())
        + "    time.sleep(600)\n"
        "self.finished_on = current.retry_count",
        "%%step end\npass",
    ])
    res = run_nbflow("run", nb, cwd=workdir)
    assert res.returncode == 0, res.stderr
    assert "timed out after 2 seconds" in res.stderr
    run_id = run_id_of(res.stdout)
    first, second = attempts(store, "SlowFlow", run_id, "slow", "2")
    assert not first["successful"] and first["exception"]["type"] == "TimeoutException"
    assert "timed out after 2 seconds" in first["exception"]["message"]
    child_pid = store.ds.get_object(first["artifacts"]["child_pid"]["key"])
    assert _wait_gone(child_pid), f"the timed-out task's child {child_pid} is still running"
    assert second["successful"]
    assert store.artifacts("SlowFlow", run_id, "end")["finished_on"] == 1


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_a_task_that_ignores_its_timeout_is_killed_and_catch_still_records_it(workdir, store):
    nb = make_notebook(workdir / "stubborn.ipynb", [
        "%%step start -> stubborn\nself.x = 1",
        "%%step stubborn -> end --timeout 1 --catch err\n" + SLOW_WITH_CHILD
        + "try:\n    time.sleep(600)\nexcept BaseException:\n    print('ignoring the timeout')\n"
        "time.sleep(600)",
        "%%step end\nself.seen = (self.err.type, self.err.message, self.x)",
    ])
    res = run_nbflow("run", nb, "--no-fork", cwd=workdir)
    assert res.returncode == 0, res.stderr
    run_id = run_id_of(res.stdout)
    killed, fallback = attempts(store, "StubbornFlow", run_id, "stubborn", "2")
    assert killed["exception"]["type"] == "TimeoutException" and not killed["successful"]
    assert fallback["successful"] and fallback["caught"]["type"] == "TimeoutException"
    kind, message, x = store.artifacts("StubbornFlow", run_id, "end")["seen"]
    assert kind == "TimeoutException" and "timed out after 1 second" in message and x == 1
    # the killed attempt committed nothing, but its log was kept: it names its child
    out = log(store, "StubbornFlow", run_id, "stubborn", "2", 0, "stdout")
    assert "ignoring the timeout" in out
    child_pid = int(re.search(r"child pid (\d+)", out).group(1))
    assert _wait_gone(child_pid), f"the killed task's child {child_pid} is still running"


def test_catch_stores_the_error_and_the_flow_goes_on(workdir, store):
    nb = make_notebook(workdir / "caught.ipynb", [
        "%%step start -> boom\nself.inherited = 'kept'",
        ("%%step boom -> fine --catch err --retry 1\n"
        "self.before_error = current.retry_count\n"
        "raise ValueError('bad value')\n"),
        "%%step fine -> end --catch no_err\nself.y = 1",
        ("%%step end\n"
        "if self.err:\n"
        "    self.report = (self.err.type, self.err.message, 'bad value' in str(self.err),\n"
        "                   self.before_error, self.inherited, self.no_err)"),
    ])
    res = run_nbflow("run", nb, cwd=workdir)
    assert res.returncode == 0, res.stderr
    run_id = run_id_of(res.stdout)
    first, last = attempts(store, "CaughtFlow", run_id, "boom", "2")
    assert not first["successful"] and first["exception"]["type"] == "ValueError"
    assert last["successful"] and last["exception"] is None
    assert store.artifacts("CaughtFlow", run_id, "end")["report"] == \
        ("ValueError", "bad value", True, 1, "kept", None)
    err = store.artifacts("CaughtFlow", run_id, "boom")["err"]
    assert "Traceback" in str(err) and "raise ValueError('bad value')" in str(err)
    assert "caught by --catch err" in res.stderr


def test_catch_without_failure_is_none_and_catch_on_last_attempt_only(workdir, store):
    nb = make_notebook(workdir / "maybe.ipynb", [
        ("%%step start -> end --catch err --retry 1\n"
        "if current.retry_count == 0:\n    raise KeyError('first try')\nself.ok = True"),
        "%%step end\nself.was = self.err",
    ])
    res = run_nbflow("run", nb, cwd=workdir)
    assert res.returncode == 0, res.stderr
    run_id = run_id_of(res.stdout)
    assert store.artifacts("MaybeFlow", run_id, "end")["was"] is None


def test_catch_covers_an_artifact_that_cannot_be_stored(workdir, store):
    nb = make_notebook(workdir / "unpicklable.ipynb", [
        "%%step start -> keep\nself.inherited = [1, 2]",
        "%%step keep -> end --catch err\nimport threading\nself.lock = threading.Lock()",
        "%%step end\nself.report = (self.err.type, self.err.message, self.inherited, hasattr(self, 'lock'))",
    ])
    res = run_nbflow("run", nb, cwd=workdir)
    assert res.returncode == 0, res.stderr
    kind, message, inherited, has_lock = store.artifacts("UnpicklableFlow", run_id_of(res.stdout),
                                                          "end")["report"]
    assert kind == "ArtifactError" and "'lock'" in message and "cannot be pickled" in message
    assert inherited == [1, 2] and not has_lock


@pytest.mark.parametrize("option, complaint", [
    ("--retry -1", "'--retry' must be >= 0"),
    ("--timeout abc", "'--timeout' needs a number, got 'abc'"),
    ("--resources cpu=lots", "'--resources cpu' needs a number, got 'lots'"),
    ("--retry-delay nan", "'--retry-delay' needs a finite number"),
    ("--catch 1x", "'--catch' needs an artifact name"),
])
def test_bad_option_values_are_rejected_before_anything_runs(workdir, option, complaint):
    nb = make_notebook(workdir / "bad.ipynb", [
        "md:# a title",
        "%%step start -> end\nself.x = 1",
        f"%%step end {option}\npass",
    ])
    for command in ("check", "run"):
        res = run_nbflow(command, nb, cwd=workdir)
        assert res.returncode == 1, res.stdout
        assert "cell 3" in res.stderr and "step 'end'" in res.stderr, res.stderr
        assert complaint in res.stderr
    assert not (workdir / ".nbflow").exists()


def test_catch_on_a_foreach_step_is_rejected(workdir):
    nb = make_notebook(workdir / "fe.ipynb", [
        "%%step start -> body --foreach xs --catch err\nself.xs = [1]",
        "%%step body -> join\npass",
        "%%step join -> end\npass",
        "%%step end\npass",
    ])
    res = run_nbflow("check", nb, cwd=workdir)
    assert res.returncode == 1
    assert "cell 1" in res.stderr and "'--catch' cannot be used on a '--foreach' step" in res.stderr


def test_resources_are_recorded_and_memory_is_enforced(workdir, store):
    nb = make_notebook(workdir / "res.ipynb", [
        "%%step start -> big --resources cpu=1,memory=2000,gpu=0\nself.x = bytearray(10 * 2**20)",
        ("%%step big -> end --resources memory=300 --catch oom\n"
        "self.small = 1\nhuge = bytearray(2 * 2**30)"),
        "%%step end\nself.oom_message = self.oom.message if self.oom else None",
    ])
    res = run_nbflow("run", nb, cwd=workdir)
    assert res.returncode == 0, res.stderr
    run_id = run_id_of(res.stdout)
    (start,) = store.tasks("ResFlow", run_id, "start")
    assert start["resources"] == {"cpu": 1, "memory": 2000, "gpu": 0}
    (big,) = store.tasks("ResFlow", run_id, "big")
    assert big["caught"]["type"] == "MemoryError"
    message = store.artifacts("ResFlow", run_id, "end")["oom_message"]
    assert "limited to 300 MB" in message and "--resources memory=300" in message


CONCURRENCY_PROBE = (
    "import os, time\n"
    "probe, me = os.environ['PROBE_DIR'], str(self.index)\n"
    "open(os.path.join(probe, 'started-' + me), 'w').close()\n"
    "def others():\n"
    "    names = os.listdir(probe)\n"
    "    started = {n[8:] for n in names if n.startswith('started-')} - {me}\n"
    "    done = {n[5:] for n in names if n.startswith('done-')}\n"
    "    return started if os.environ['PROBE_COUNT_DONE'] == '1' else started - done\n"
    "end = time.monotonic() + float(os.environ['PROBE_WAIT'])\n"
    "while not others() and time.monotonic() < end:\n"
    "    time.sleep(0.05)\n"
    "self.saw_other = bool(others())\n"
    "open(os.path.join(probe, 'done-' + me), 'w').close()\n"
)


def _cpu_notebook(workdir, cores: int):
    return make_notebook(workdir / "cpu.ipynb", [
        "%%step start -> work --foreach xs\nself.xs = [0, 1]",
        f"%%step work -> join --resources cpu={cores}\n" + CONCURRENCY_PROBE,
        "%%step join -> end\nself.saw = [i.saw_other for i in inputs]",
        "%%step end\npass",
    ])


def test_cpu_claims_keep_tasks_within_the_machines_cores(workdir, store):
    probe = workdir / "probe"
    probe.mkdir()
    nb = _cpu_notebook(workdir, machine_cores())
    # each task waits a while for the other to be running beside it: it must not be, the
    # cores are taken
    res = run_nbflow("run", nb, cwd=workdir, env=env_with(PROBE_DIR=probe, PROBE_WAIT=1.5,
                                                            PROBE_COUNT_DONE=0))
    assert res.returncode == 0, res.stderr
    assert store.artifacts("CpuFlow", run_id_of(res.stdout), "join")["saw"] == [False, False]


def test_explicit_max_workers_turns_cpu_accounting_off(workdir, store):
    probe = workdir / "probe"
    probe.mkdir()
    nb = _cpu_notebook(workdir, machine_cores())
    # both tasks start at once, so each one sees the other start (waiting as long as it takes)
    res = run_nbflow("run", nb, "--max-workers", "2", cwd=workdir,
                     env=env_with(PROBE_DIR=probe, PROBE_WAIT=120, PROBE_COUNT_DONE=1))
    assert res.returncode == 0, res.stderr
    assert store.artifacts("CpuFlow", run_id_of(res.stdout), "join")["saw"] == [True, True]
