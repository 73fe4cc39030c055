"""Scale-out end to end: the example notebooks on a running Dask cluster (TLS, 127.0.0.1)
with an S3 store (moto's server), the store reached through NBFLOW_DATASTORE_OPTIONS alone
(the workers are told the options with each task), read back with the client from s3://."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from helpers import NOTEBOOKS, run_id_of
from test_dask_cluster import cluster  # noqa: F401 - the running cluster fixture
from test_s3_datastore import s3_endpoint  # noqa: F401 - moto's S3 server

pytest.importorskip("distributed")
pytest.importorskip("s3fs")


@pytest.fixture
def s3(s3_endpoint, cluster, monkeypatch):  # noqa: F811
    options = json.dumps({"endpoint_url": s3_endpoint, "key": "testing", "secret": "testing"})
    monkeypatch.setenv("NBFLOW_DATASTORE_OPTIONS", options)  # for the client, in this process
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "FSSPEC_S3_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    return dict(cluster.env, NBFLOW_DATASTORE_OPTIONS=options, AWS_DEFAULT_REGION="us-east-1")


def _start(workdir, name: str, store: str, env: dict, cluster, options=True):  # noqa: F811
    """`options`: the cluster and the store as options, else only through the environment
    (NBFLOW_EXECUTOR, NBFLOW_DASK_SCHEDULER, NBFLOW_DATASTORE)."""
    if not (workdir / "notebooks").exists():
        shutil.copytree(NOTEBOOKS, workdir / "notebooks",
                        ignore=shutil.ignore_patterns(".nbflow", ".ipynb_checkpoints"))
    args = ["--scheduler", cluster.scheduler_address, "--datastore", store] if options else []
    if not options:
        env = dict(env, NBFLOW_EXECUTOR="dask", NBFLOW_DASK_SCHEDULER=cluster.scheduler_address,
                   NBFLOW_DATASTORE=store)
    return subprocess.Popen([sys.executable, "-m", "nbflow", "run", f"notebooks/{name}", *args],
                            cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _finish(proc, timeout=400) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out + err
    return run_id_of(out)


def _end(store: str, flow: str, run_id: str):
    from nbflow import client

    client.set_datastore(store)
    client.namespace(None)
    try:
        return client.Run(f"{flow}/{run_id}").data
    finally:
        client.set_datastore(None)


def test_branch_and_foreach_notebooks_twice_at_once_on_one_bucket(workdir, s3, cluster):  # noqa: F811
    store = "s3://flows/scaleout"
    runs = [_start(workdir, "branch_merge_artifacts.ipynb", store, s3, cluster),
            _start(workdir, "foreach.ipynb", store, s3, cluster),
            _start(workdir, "foreach.ipynb", store, s3, cluster, options=False)]
    branch, foreach_a, foreach_b = (_finish(p) for p in runs)
    assert not (workdir / "notebooks" / ".nbflow").exists()  # nothing went to a local store
    for name in ("branch_merge_artifacts.ipynb", "foreach.ipynb"):   # nor into the notebooks
        assert (workdir / "notebooks" / name).read_bytes() == (NOTEBOOKS / name).read_bytes()
    end = _end(store, "MergeArtifactsFlow", branch)
    assert (end.x, end.pass_down, end.common, end.from_a) == (1, "a", 5, 6)
    a, b = (_end(store, "MovieStatsFlow", r) for r in (foreach_a, foreach_b))
    assert foreach_a != foreach_b and a.genre_stats == b.genre_stats and len(a.genre_stats) > 3


@pytest.mark.slow
def test_wine_classifier_on_the_cluster(workdir, s3, cluster):  # noqa: F811
    store = "s3://flows/wine"
    run_id = _finish(_start(workdir, "wine_classifier.ipynb", store, s3, cluster), timeout=600)
    end = _end(store, "WineClassifierFlow", run_id)
    assert end.best_model_name in ("knn", "svm")
    assert end.best_accuracy == max(end.scores.values()) > 0.8
