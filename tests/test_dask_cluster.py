"""`--executor dask` against real clusters on 127.0.0.1: the TLS LocalCluster nbflow starts,
and a running cluster (started here, with its own throwaway credentials) named by
--scheduler / NBFLOW_DASK_SCHEDULER: security, live output, stopping, lost workers."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from helpers import cli_env, make_notebook, read_task_json, run_id_of, run_nbflow

pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")


@pytest.fixture(scope="module")
def cluster():
    """A running 2-worker cluster speaking TLS, as a platform team would run one."""
    from distributed import Client, LocalCluster
    from distributed.security import Security

    sec = Security.temporary()
    with LocalCluster(n_workers=2, threads_per_worker=2, processes=True, host="127.0.0.1",
                      dashboard_address=None, security=sec,
                      resources={"cpu": 2, "memory": 2000}) as c, Client(c, security=sec) as client:
        c.env = cli_env(NBFLOW_DASK_SECURITY=json.dumps({
            "require_encryption": True, "tls_ca_file": sec.tls_ca_file,
            "tls_client_cert": sec.tls_client_cert, "tls_client_key": sec.tls_client_key}))
        c.client = client
        yield c


# in a task: the pid of the Dask worker running it (above the worker's zygote, or the task's
# keeper: processes running nbflow's own modules)
WORKER_PID = ("next(p.pid for p in psutil.Process().parents() if not "
              "{'nbflow.executors.zygote', 'nbflow.task'} & set(p.cmdline()))")


def wait_for(path, proc=None, timeout=120):
    end = time.time() + timeout
    while not os.path.exists(path):
        assert time.time() < end, f"{path} never appeared"
        assert proc is None or proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    time.sleep(0.1)  # written whole
    return open(path).read().split()


def test_a_cluster_nbflow_starts_refuses_unauthenticated_clients():
    """Another local user's client (another process, without the run's credentials) gets
    no answer from the scheduler, over TLS or plain TCP."""
    from nbflow.executors.dask import DaskExecutor

    with DaskExecutor(n_workers=1) as ex:
        address = ex.cluster.scheduler_address
        assert address.startswith("tls://127.0.0.1:")
        assert ex.client.submit(os.getuid).result() == os.getuid()  # its owner is served
        for attempt in (address, address.replace("tls://", "tcp://")):
            intruder = subprocess.run(
                [sys.executable, "-c", "import os, sys\nfrom distributed import Client\n"
                 f"c = Client({attempt!r}, timeout=10)\nprint('ran as', c.submit(os.getuid).result())"],
                capture_output=True, text=True, timeout=120)
            assert intruder.returncode != 0 and "ran as" not in intruder.stdout


STEPS = [
    "%%flow WhereFlow",
    "%%step start -> end\nimport os, psutil\nself.worker_pid = " + WORKER_PID,
    "%%step end\npass",
]


def test_scheduler_option_and_variable_run_on_that_cluster(workdir, store, cluster):
    nb = make_notebook(workdir / "where.ipynb", STEPS)
    workers = set(cluster.client.run(os.getpid).values())
    res = run_nbflow("run", nb, "--scheduler", cluster.scheduler_address, "--datastore-shared",
                     cwd=workdir, env=cluster.env)
    assert res.returncode == 0, res.stderr
    assert store.artifacts("WhereFlow", run_id_of(res.stdout), "start")["worker_pid"] in workers

    env = dict(cluster.env, NBFLOW_EXECUTOR="dask",
               NBFLOW_DASK_SCHEDULER=cluster.scheduler_address)
    res = run_nbflow("run", nb, "--datastore-shared", cwd=workdir, env=env)
    assert res.returncode == 0, res.stderr
    assert store.artifacts("WhereFlow", run_id_of(res.stdout), "start")["worker_pid"] in workers


def test_a_local_store_with_a_remote_scheduler_is_refused(workdir, cluster):
    nb = make_notebook(workdir / "where.ipynb", STEPS)
    res = run_nbflow("run", nb, "--scheduler", cluster.scheduler_address, cwd=workdir,
                     env=cluster.env)
    assert res.returncode == 2
    assert "is a local folder" in res.stderr and "--datastore-shared" in res.stderr
    res = run_nbflow("run", nb, "--executor", "local", "--scheduler", "tcp://127.0.0.1:1",
                     cwd=workdir)
    assert res.returncode == 2 and "--executor dask" in res.stderr


def test_without_credentials_the_cluster_is_not_reached(workdir, cluster):
    nb = make_notebook(workdir / "where.ipynb", STEPS)
    res = run_nbflow("run", nb, "--scheduler", cluster.scheduler_address, "--datastore-shared",
                     cwd=workdir, timeout=120)
    assert res.returncode != 0
    assert "cannot connect to the Dask scheduler" in res.stderr


def test_output_is_live_while_the_task_runs(workdir, cluster):
    """The task waits for a file that the test creates only once it has read the task's
    first line: the run can only succeed if that line arrived before the task ended."""
    go = workdir / "go"
    nb = make_notebook(workdir / "live.ipynb", [
        "%%flow LiveFlow",
        "%%step start -> end\nimport os, time\nprint('waiting for go', flush=True)\n"
        f"for _ in range(1200):\n    if os.path.exists({str(go)!r}):\n        break\n    time.sleep(0.1)\n"
        "else:\n    raise RuntimeError('no go: the output was not live')\nprint('went')",
        "%%step end\npass",
    ])
    proc = subprocess.Popen([sys.executable, "-m", "nbflow", "run", str(nb), "--scheduler",
                             cluster.scheduler_address, "--datastore-shared"], cwd=workdir,
                            env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "waiting for go" in line:
            go.touch()
            break
    rest, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    assert "went" in rest and "no go" not in rest + err


STOP_CELLS = [
    "%%flow StopFlow",
    "%%step start -> hold, boom\nself.xs = [0, 1]",
    "%%step hold -> fan --foreach xs\npass",
    "%%step fan -> gather\nimport os, subprocess, time\nchild = subprocess.Popen(['sleep', '300'])\n"
    "tmp = os.path.join(DIR, f'pids{self.index}.tmp')\nopen(tmp, 'w').write(f'{os.getpid()} {child.pid}')\n"
    "os.replace(tmp, os.path.join(DIR, f'pids{self.index}'))\ntime.sleep(300)",
    "%%step gather -> join\npass",
    "%%step boom -> join\nimport os, time\nwhile not all(os.path.exists(os.path.join(DIR, f'pids{i}')) for i in (0, 1)):\n"
    "    time.sleep(0.1)\nif FAIL:\n    raise RuntimeError('boom')\ntime.sleep(300)",
    "%%step join -> end\npass",
    "%%step end\npass",
]


def _stop_notebook(workdir, fail: bool):
    cells = list(STOP_CELLS)
    cells[0] += f"\nDIR = {str(workdir)!r}\nFAIL = {fail}"
    return make_notebook(workdir / "stop.ipynb", cells)


def _assert_all_gone(pids):
    end = time.time() + 30
    while any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
              for p in pids):
        assert time.time() < end, [p for p in pids if psutil.pid_exists(p)]
        time.sleep(0.2)


def test_a_failed_run_ends_its_tasks_on_the_workers(workdir, store, cluster):
    nb = _stop_notebook(workdir, fail=True)
    res = run_nbflow("run", nb, "--scheduler", cluster.scheduler_address, "--datastore-shared",
                     cwd=workdir, env=cluster.env)
    assert res.returncode == 1 and "boom" in res.stderr
    pids = [int(p) for i in (0, 1) for p in (workdir / f"pids{i}").read_text().split()]
    _assert_all_gone(pids)
    end = store.run_end("StopFlow", run_id_of(res.stdout))
    assert sorted(p.split("/")[2] for p in end["ended"]) == ["fan", "fan"]


def test_ctrl_c_ends_the_tasks_on_the_workers(workdir, store, cluster):
    nb = _stop_notebook(workdir, fail=False)
    proc = subprocess.Popen([sys.executable, "-m", "nbflow", "run", str(nb), "--scheduler",
                             cluster.scheduler_address, "--datastore-shared"], cwd=workdir,
                            env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    pids = [int(p) for i in (0, 1) for p in wait_for(workdir / f"pids{i}", proc)]
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    _assert_all_gone(pids)
    end = store.run_end("StopFlow", run_id_of(out))
    assert "interrupted" in end["message"]
    assert sorted(p.split("/")[2] for p in end["ended"]) == ["boom", "fan", "fan"]


def test_resources_beyond_every_worker_are_refused(workdir, store, cluster):
    nb = make_notebook(workdir / "res.ipynb", [
        "%%flow ResFlow",
        "%%step start -> big --resources cpu=2,memory=1000\nprint('fits')",
        "%%step big -> end --resources memory=64000\npass",
        "%%step end\npass",
    ])
    res = run_nbflow("run", nb, "--scheduler", cluster.scheduler_address, "--datastore-shared",
                     cwd=workdir, env=cluster.env, timeout=120)
    assert res.returncode == 2
    assert "step 'big' asks for --resources memory=64000" in res.stderr
    assert "fits" not in res.stdout  # refused before any task ran


def test_a_task_whose_worker_dies_is_run_again_elsewhere(workdir, store):
    """The worker running the task is killed mid-task (the task's keeper is a child of the
    worker's zygote): the run retries the task (a new attempt, on a live worker; once by default) and
    finishes; the lost attempt is recorded and its process ended with its worker."""
    nb = make_notebook(workdir / "lost.ipynb", [
        "%%flow LostFlow",
        "%%step start -> end\nimport os, time\nif current.retry_count == 0:\n"
        f"    tmp = os.path.join({str(workdir)!r}, 'worker.tmp')\n"
        "    import psutil\n    worker = " + WORKER_PID + "\n    open(tmp, 'w').write(f'{worker} {os.getpid()}')\n"
        f"    os.replace(tmp, os.path.join({str(workdir)!r}, 'worker'))\n    time.sleep(300)\n"
        "import psutil\nself.survived = " + WORKER_PID,
        "%%step end\nprint('survived on', self.survived)",
    ])
    proc = subprocess.Popen([sys.executable, "-m", "nbflow", "run", str(nb), "--executor", "dask"],
                            cwd=workdir, env=cli_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    worker, task = (int(p) for p in wait_for(workdir / "worker", proc))
    os.kill(worker, signal.SIGKILL)
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    _assert_all_gone([task])  # the lost attempt died with its worker
    assert "worker running the task was lost" in err
    run_id = run_id_of(out)

    (last,) = store.tasks("LostFlow", run_id, "start")
    assert last["successful"] and last["attempt"] == 1
    lost = read_task_json(store.ds, "LostFlow", run_id, "start", last["task_id"], 0)
    assert lost["exception"]["type"] == "WorkerLost" and not lost["successful"]
    assert store.artifacts("LostFlow", run_id, "start")["survived"] != worker


def test_a_task_whose_worker_dies_on_every_attempt_fails_saying_so(workdir, store):
    """Without --retry a lost worker earns the task one more attempt; when that worker is
    lost too, the run fails and says the worker was lost (both attempts: WorkerLost)."""
    nb = make_notebook(workdir / "lost.ipynb", [
        "%%flow LostAgainFlow",
        "%%step start -> end\nimport os, time, psutil\n"
        f"tmp = os.path.join({str(workdir)!r}, 'worker.tmp')\n"
        "open(tmp, 'w').write(str(" + WORKER_PID + "))\n"
        f"os.replace(tmp, os.path.join({str(workdir)!r}, f'worker{{current.retry_count}}'))\n"
        "time.sleep(300)",
        "%%step end\npass",
    ])
    proc = subprocess.Popen([sys.executable, "-m", "nbflow", "run", str(nb), "--executor", "dask"],
                            cwd=workdir, env=cli_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    for attempt in (0, 1):
        (worker,) = (int(p) for p in wait_for(workdir / f"worker{attempt}", proc))
        os.kill(worker, signal.SIGKILL)
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 1, out + err
    assert "the Dask worker running the task was lost" in err
    assert not (workdir / "worker2").exists()
    run_id = run_id_of(out)
    (last,) = store.tasks("LostAgainFlow", run_id, "start")
    assert last["attempt"] == 1
    task_id = last["task_id"]
    for attempt in (0, 1):
        rec = read_task_json(store.ds, "LostAgainFlow", run_id, "start", task_id, attempt)
        assert rec["exception"]["type"] == "WorkerLost" and not rec["successful"]
    assert store.run_end("LostAgainFlow", run_id)["successful"] is False


def test_in_a_kernel_output_is_live_and_the_stop_button_ends_the_task(workdir, store):
    """`%nbflow run --executor dask` in a real kernel: the task's line reaches the cell while
    the task runs (it never ends by itself); interrupting the kernel ends it on its worker."""
    from test_kernel_interactive import KernelDriver

    pid_file = workdir / "pid"
    path = make_notebook(workdir / "slow.ipynb", [
        "%load_ext nbflow", "%%flow SlowDaskFlow",
        f"%%step start -> end\nimport os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "print('started', flush=True)\nwhile True: time.sleep(0.05)",
        "%%step end"])
    with KernelDriver(workdir, path, NBFLOW_NO_WIDGETS="1") as k:
        msg_id = k.send("run = %nbflow run --executor dask")
        k.collect(msg_id, until=lambda res: "started" in res.stdout)
        pid = int(pid_file.read_text())
        k.km.interrupt_kernel()
        k.collect(msg_id)
        r = k.run("print(run.successful, run.finished)")
        assert r.stdout.split() == ["False", "True"]
    _assert_all_gone([pid])
    from nbflow.datastore import records

    (run_id,) = records.list_runs(store.ds, "SlowDaskFlow")
    end = store.run_end("SlowDaskFlow", run_id)
    assert "interrupted" in end["message"] and [p.split("/")[2] for p in end["ended"]] == ["start"]


def test_on_a_running_cluster_a_rerun_dask_makes_itself_is_reported(workdir, store, cluster):
    """A running cluster with Dask's default allowed-failures reruns a task whose worker
    died by itself: the run goes on, says so, and the task's line is shown from the rerun."""
    marker = workdir / "worker"
    nb = make_notebook(workdir / "rerun.ipynb", [
        "%%flow RerunFlow",
        f"%%step start -> end\nimport os, time, psutil\nfirst = not os.path.exists({str(marker)!r})\n"
        f"if first:\n    tmp = {str(marker)!r} + '.tmp'\n"
        "    open(tmp, 'w').write(str(" + WORKER_PID + "))\n"
        f"    os.replace(tmp, {str(marker)!r})\n    time.sleep(300)\nprint('finished on the rerun')",
        "%%step end\npass",
    ])
    proc = subprocess.Popen([sys.executable, "-m", "nbflow", "run", str(nb), "--scheduler",
                             cluster.scheduler_address, "--datastore-shared"], cwd=workdir,
                            env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    (worker,) = (int(p) for p in wait_for(marker, proc))
    os.kill(worker, signal.SIGKILL)
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    assert "running this task was lost; Dask reran it on" in err
    assert "finished on the rerun" in out


def test_a_step_asking_for_a_gpu_runs_on_the_worker_that_declares_one(workdir, store):
    """Two workers, one declaring gpu=1: all six tasks of the step with --resources gpu=1
    are placed there (steps without it may run on either)."""
    from distributed import Client, Nanny, Scheduler, SpecCluster
    from distributed.security import Security

    sec = Security.temporary()
    workers = {"plain": {"cls": Nanny, "options": {"nthreads": 1, "security": sec,
                                                   "host": "127.0.0.1"}},
               "gpu": {"cls": Nanny, "options": {"nthreads": 1, "security": sec, "host": "127.0.0.1",
                                                 "resources": {"gpu": 1}}}}
    scheduler = {"cls": Scheduler, "options": {"security": sec, "host": "127.0.0.1",
                                               "dashboard_address": None}}
    nb = make_notebook(workdir / "gpu.ipynb", [
        "%%flow GpuFlow",
        "%%step start -> train --foreach xs\nself.xs = list(range(6))",
        "%%step train -> join --resources gpu=1\nimport os, psutil\n"
        "self.worker_pid = " + WORKER_PID,
        "%%step join -> end\nself.pids = {i.worker_pid for i in inputs}",
        "%%step end\npass",
    ])
    with SpecCluster(workers=workers, scheduler=scheduler, security=sec) as c, \
            Client(c, security=sec) as client:
        client.wait_for_workers(2)
        gpu_worker = next(addr for addr, w in client.scheduler_info()["workers"].items()
                          if w.get("resources"))
        gpu_pid = client.run(os.getpid, workers=[gpu_worker])[gpu_worker]
        env = cli_env(NBFLOW_DASK_SECURITY=json.dumps({
            "require_encryption": True, "tls_ca_file": sec.tls_ca_file,
            "tls_client_cert": sec.tls_client_cert, "tls_client_key": sec.tls_client_key}))
        res = run_nbflow("run", nb, "--scheduler", c.scheduler_address, "--datastore-shared",
                         cwd=workdir, env=env)
    assert res.returncode == 0, res.stderr
    assert store.artifacts("GpuFlow", run_id_of(res.stdout), "join")["pids"] == {gpu_pid}
