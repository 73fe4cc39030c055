"""A run whose datastore is S3: a real S3 API server (moto's server mode) on
127.0.0.1, reached by the real task subprocesses through fsspec/s3fs."""
from __future__ import annotations

import logging
import socket

import pytest
from helpers import cli_env, make_notebook, read_task_json, run_id_of, run_nbflow

pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")


@pytest.fixture(scope="module")
def s3_endpoint():
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    import boto3

    boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                 aws_secret_access_key="testing").create_bucket(Bucket="flows")
    yield url
    server.stop()


def s3_env(endpoint: str) -> dict:
    return cli_env(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                    AWS_DEFAULT_REGION="us-east-1", FSSPEC_S3_ENDPOINT_URL=endpoint)


def test_the_s3fs_under_test_is_a_current_release():
    """The test extra's pins (pyproject.toml) resolve s3fs to a current, async release,
    not the 2020 s3fs 0.4.2 that an unpinned boto3/moto made pip settle on."""
    import fsspec.asyn
    import s3fs

    assert int(s3fs.__version__.split(".")[0]) >= 2024, s3fs.__version__
    assert issubclass(s3fs.S3FileSystem, fsspec.asyn.AsyncFileSystem)


def test_run_stores_artifacts_and_logs_in_s3(workdir, s3_endpoint):
    import fsspec

    nb = make_notebook(workdir / "s3flow.ipynb", [
        "%%flow S3Flow\nimport numpy as np",
        "%%step start -> square --foreach xs\nself.xs = [1, 2, 3]\nself.big = np.arange(100_000)",
        "%%step square -> join\nself.sq = self.input ** 2\nprint('square of', self.input)",
        "%%step join -> end\nself.total = sum(i.sq for i in inputs)\nself.big_sum = int(inputs[0].big.sum())",
        "%%step end\nprint('total', self.total)",
    ])
    env = s3_env(s3_endpoint)
    res = run_nbflow("run", nb, "--datastore", "s3://flows/store", cwd=workdir, env=env)
    assert res.returncode == 0, res.stderr
    run_id = run_id_of(res.stdout)
    assert "total 14" in res.stdout
    assert not (workdir / ".nbflow").exists()  # nothing went to the local default

    fs = fsspec.filesystem("s3", endpoint_url=s3_endpoint, key="testing", secret="testing")
    from nbflow.datastore import Datastore, records

    ds = Datastore("s3://flows/store")
    ds.storage.fs = fs  # the same server, reached from the test process
    (join_task,) = records.list_tasks(ds, "S3Flow", run_id, "join").items()
    rec = read_task_json(ds, "S3Flow", run_id, "join", join_task[0])
    assert rec["successful"]
    assert ds.get_object(rec["artifacts"]["total"]["key"]) == 14
    assert ds.get_object(rec["artifacts"]["big_sum"]["key"]) == sum(range(100_000))
    assert records.read_run_end(ds, "S3Flow", run_id)["successful"] is True
    logs = [p for p in fs.find(f"flows/store/S3Flow/{run_id}/square") if p.endswith(".out")]
    assert len(logs) == 3
    assert any(b"square of 2" in fs.cat_file(p) for p in logs)


def test_cards_are_kept_in_s3(workdir, s3_endpoint):
    """A task's card (and its large image, a blob) goes to the run's S3 store, and
    `nbflow card` reads it back from there."""
    nb = make_notebook(workdir / "s3card.ipynb", [
        "%%step start -> end\nimport os\nfrom nbflow.cards import Image, Markdown\n"
        "display(Markdown('# From S3'))\n"
        "current.card.append(Image(b'\\x89PNG\\r\\n\\x1a\\n' + os.urandom(200_000)))",
        "%%step end\npass",
    ])
    env = s3_env(s3_endpoint)
    res = run_nbflow("run", nb, "--datastore", "s3://flows/cards", cwd=workdir, env=env)
    assert res.returncode == 0, res.stderr
    run_id = run_id_of(res.stdout)
    res = run_nbflow("card", f"S3cardFlow/{run_id}/start/1", "--datastore", "s3://flows/cards",
                     cwd=workdir, env=env)
    assert res.returncode == 0, res.stderr
    assert "<h1>From S3</h1>" in res.stdout and 'src="data:image/png;base64,' in res.stdout
    assert not (workdir / ".nbflow").exists()


PUT_BIG = r"""
import json, os, sys
import numpy as np
from nbflow.datastore import Datastore

def peak_mb():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM:'):
            return int(line.split()[1]) / 1024

# incompressible (stored raw); an array's memory is pickled out of band, without a copy
data = np.random.default_rng(0).integers(0, 256, int(sys.argv[2]) << 20, dtype=np.uint8)
ds = Datastore(sys.argv[1])
ds.storage.exists('x')   # the S3 client made
with open('/proc/self/clear_refs', 'w') as f:
    f.write('5')   # the peak so far set back to what is resident now
before = peak_mb()
ref = ds.put_object(data)
print(json.dumps({'key': ref['key'], 'added_mb': peak_mb() - before}))
"""


def test_a_big_artifact_goes_up_in_parts_and_is_not_held_twice(workdir, s3_endpoint):
    """A 256 MiB array stored the way a task stores it: the blob is uploaded as a
    multipart object (block-size parts, as it is written), and storing it never holds a
    second copy of it (it was three: s3fs copied one whole write into its buffer, then
    into a single part)."""
    import json
    import subprocess
    import sys

    import boto3

    env = cli_env(NBFLOW_DATASTORE_OPTIONS=json.dumps(
        {"endpoint_url": s3_endpoint, "key": "testing", "secret": "testing"}))
    res = subprocess.run([sys.executable, "-c", PUT_BIG, "s3://flows/big", "256"], env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout)
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    key = f"big/blobs/{got['key'][:2]}/{got['key']}"
    head = s3.head_object(Bucket="flows", Key=key)
    assert head["ContentLength"] > 256 << 20
    parts = int(head["ETag"].strip('"').rsplit("-", 1)[1])   # a multipart ETag: md5-N
    assert parts >= 3, head["ETag"]
    assert got["added_mb"] < 256, got   # less than one more copy of the artifact
