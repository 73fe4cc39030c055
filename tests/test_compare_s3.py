"""`nbflow compare` and `nbflow diff` over a remote store (issue 20): runs in S3 (a real S3
API server, moto's server mode) are read with a thread pool, and the table is the one
the stored values give. The runs are made in a local store and copied up (running
them against S3 is test_s3_datastore's; this is about reading them back)."""
from __future__ import annotations

import csv
import io

import pytest
from helpers import make_notebook, run_id_of, run_nbflow

pytest.importorskip("s3fs")
pytest.importorskip("moto.server")

from test_compare import CELLS  # noqa: E402
from test_s3_datastore import s3_endpoint, s3_env  # noqa: E402,F401 - the server fixture

STORE = "s3://flows/compare"


def test_compare_and_diff_read_runs_from_s3(workdir, s3_endpoint):  # noqa: F811
    import fsspec

    env = s3_env(s3_endpoint)
    nb = make_notebook(workdir / "train.ipynb", CELLS)
    ids = []
    for alpha in ("0.1", "0.2", "0.3"):
        res = run_nbflow("run", nb, "--alpha", alpha, cwd=workdir)
        assert res.returncode == 0, res.stderr
        ids.append(run_id_of(res.stdout))
    fs = fsspec.filesystem("s3", endpoint_url=s3_endpoint, key="testing", secret="testing")
    fs.put(str(workdir / ".nbflow"), STORE[len("s3://"):], recursive=True)
    (workdir / ".nbflow").rename(workdir / "moved")   # only S3 holds the runs now

    res = run_nbflow("compare", "TrainFlow", "--datastore", STORE, "--artifact", "accuracy",
                     "--artifact", "model.n_features_in_", "--step", "train", "--csv",
                     cwd=workdir, env=env)
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert [r["run_id"] for r in rows] == ids[::-1]          # newest first
    assert [r["status"] for r in rows] == ["successful"] * 3
    assert [r["alpha"] for r in rows] == ["0.3", "0.2", "0.1"]
    assert [float(r["accuracy"]) for r in rows] == [1 - abs(a - 0.3) for a in (0.3, 0.2, 0.1)]
    assert [r["model.n_features_in_"] for r in rows] == ["10"] * 3
    last = run_nbflow("compare", "TrainFlow", "--datastore", STORE, "--last", "2", "--csv",
                      cwd=workdir, env=env)
    assert [r["run_id"] for r in csv.DictReader(io.StringIO(last.stdout))] == ids[:0:-1]

    res = run_nbflow("diff", f"TrainFlow/{ids[0]}", ids[1], "--datastore", STORE, cwd=workdir,
                     env=env)
    assert res.returncode == 0, res.stderr
    assert "  alpha: 0.1 -> 0.2" in res.stdout and "code: unchanged" in res.stdout
    assert "  train: 1 changed, 2 unchanged" in res.stdout
