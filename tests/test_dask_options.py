"""The ways to name a running Dask cluster besides the CLI (the `Runner` API and
`%nbflow run` in a kernel), and `--resources memory` on a worker: the restriction places
the task, and the cap still applies inside it. Against the running TLS cluster of
test_dask_cluster (2 workers declaring cpu=2, memory=2000)."""
from __future__ import annotations

import os

import pytest
from helpers import make_notebook
from test_dask_cluster import STEPS, cluster  # noqa: F401 - the running cluster fixture

pytest.importorskip("distributed")


def test_runner_scheduler_option_runs_on_that_cluster(workdir, store, cluster):  # noqa: F811
    from nbflow import Runner

    nb = make_notebook(workdir / "where.ipynb", STEPS)
    workers = set(cluster.client.run(os.getpid).values())
    with Runner(str(nb), show_output=False, env=cluster.env,
                scheduler=cluster.scheduler_address, datastore_shared=True) as runner:
        result = runner.run()
        assert result.status == "successful", result.stderr
        assert result.run["start"].task.data.worker_pid in workers


def test_nbflow_magic_scheduler_option_runs_on_that_cluster(workdir, store, cluster):  # noqa: F811
    from test_kernel_interactive import KernelDriver

    nb = make_notebook(workdir / "where.ipynb", ["%load_ext nbflow"] + STEPS)
    workers = set(cluster.client.run(os.getpid).values())
    env = {k: v for k, v in cluster.env.items() if k.startswith("NBFLOW_DASK")}
    with KernelDriver(workdir, nb, NBFLOW_NO_WIDGETS="1", **env) as k:
        r = k.run(f"run = %nbflow run --scheduler {cluster.scheduler_address} --datastore-shared\n"
                  "print('ran on', run['start'].task.data.worker_pid, run.successful)")
        assert "ran on" in r.stdout, r
        pid, ok = r.stdout.split("ran on", 1)[1].split()[:2]
    assert ok == "True" and int(pid) in workers


def test_memory_cap_still_applies_inside_a_task_on_a_worker(workdir, store, cluster):  # noqa: F811
    """`--resources memory=300` is within what the workers declare (a restriction, so the
    task is placed); on the worker the task cannot allocate more than 300 MB."""
    from helpers import run_id_of, run_nbflow

    nb = make_notebook(workdir / "mem.ipynb", [
        "%%flow MemFlow",
        "%%step start -> big --resources memory=1000\nself.x = bytearray(10 * 2**20)",
        "%%step big -> end --resources memory=300 --catch oom\nhuge = bytearray(2 * 2**30)",
        "%%step end\nself.oom_message = self.oom.message if self.oom else None",
    ])
    res = run_nbflow("run", nb, "--scheduler", cluster.scheduler_address, "--datastore-shared",
                     cwd=workdir, env=cluster.env)
    assert res.returncode == 0, res.stderr
    run_id = run_id_of(res.stdout)
    (big,) = store.tasks("MemFlow", run_id, "big")
    assert big["caught"]["type"] == "MemoryError"
    message = store.artifacts("MemFlow", run_id, "end")["oom_message"]
    assert "limited to 300 MB" in message and "--resources memory=300" in message


def test_the_clusters_tls_settings_from_dasks_own_config(workdir, store, cluster):  # noqa: F811
    """Without NBFLOW_DASK_SECURITY, Dask's own configuration (here its DASK_* variables,
    as ~/.config/dask/distributed.yaml would) gives the client's TLS settings."""
    import json

    from helpers import run_id_of, run_nbflow

    sec = json.loads(cluster.env["NBFLOW_DASK_SECURITY"])
    env = {k: v for k, v in cluster.env.items() if k != "NBFLOW_DASK_SECURITY"}
    env.update(DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION="True",
               DASK_DISTRIBUTED__COMM__TLS__CA_FILE=sec["tls_ca_file"],
               DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT=sec["tls_client_cert"],
               DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY=sec["tls_client_key"])
    nb = make_notebook(workdir / "where.ipynb", STEPS)
    workers = set(cluster.client.run(os.getpid).values())
    res = run_nbflow("run", nb, "--scheduler", cluster.scheduler_address, "--datastore-shared",
                     cwd=workdir, env=env)
    assert res.returncode == 0, res.stderr
    assert store.artifacts("WhereFlow", run_id_of(res.stdout), "start")["worker_pid"] in workers
