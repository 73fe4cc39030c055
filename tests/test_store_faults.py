"""Store faults name their cause in one line, on `run`, `runs` and `dump`: a full disk
(a small tmpfs), a read-only store, bad URLs, per-process stores, layout names."""
import subprocess
import uuid

import pytest
from helpers import make_notebook, run_nbflow

CELLS = ["%%flow FaultFlow\nimport numpy as np",
         "%%step start -> end\nself.big = np.random.default_rng(0).random(1_000_000)",
         "%%step end\nprint('sum ok', self.big.sum() > 0)"]


def _mount_tmpfs(path, *options):
    path.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(path)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({res.stderr.strip() or 'not permitted'})")
    return path


@pytest.fixture
def small_disk(workdir):
    path = _mount_tmpfs(workdir / "disk", "size=3m")
    yield path
    subprocess.run(["umount", "-l", str(path)])


@pytest.fixture
def read_only_disk(workdir):
    path = _mount_tmpfs(workdir / "rodisk", "ro", "size=1m")
    yield path
    subprocess.run(["umount", "-l", str(path)])


def _one_error_line(res) -> str:
    assert "Traceback" not in res.stderr, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1, res.stderr
    return lines[0]


def test_an_artifact_bigger_than_the_free_space(workdir, small_disk):
    nb = make_notebook(workdir / "fault.ipynb", CELLS)
    res = run_nbflow("run", nb, "--datastore", small_disk, cwd=workdir)
    assert res.returncode == 1
    out = res.stdout + res.stderr
    assert f"StoreWriteError: step 'start': artifact 'big': cannot write {small_disk}/blobs/" in out
    assert "(8000121 bytes needed) to the datastore" in out
    assert "the disk is full" in out and "Traceback" not in out
    runs = run_nbflow("runs", "FaultFlow", "--datastore", small_disk, cwd=workdir)
    assert " failed " in runs.stdout and "damaged" not in runs.stdout


FILL_CELLS = [
    "%%flow FillFlow",
    "%%step start -> mid\nself.a = 1",
    "%%step mid -> end\nimport os\nif not os.path.exists('space_back'):\n"
    "    f = open(os.environ['FILLER'], 'wb')\n    try:\n        while True:\n"
    "            f.write(b'x' * 4096)\n            f.flush()\n    except OSError:\n        pass\n"
    "self.b = list(range(1000))",
    "%%step end\nprint('b has', len(self.b))",
]


def test_a_disk_that_fills_mid_run_leaves_a_failed_run_that_resume_completes(workdir, small_disk):
    from helpers import cli_env

    nb = make_notebook(workdir / "fill.ipynb", FILL_CELLS)
    env = cli_env(FILLER=small_disk / "filler")
    res = run_nbflow("run", nb, "--datastore", small_disk, cwd=workdir, env=env)
    assert res.returncode == 1
    assert "the disk is full" in _one_error_line(res)
    runs = run_nbflow("runs", "FillFlow", "--datastore", small_disk, cwd=workdir)
    assert " failed " in runs.stdout and "damaged" not in runs.stdout and "died" not in runs.stdout
    (small_disk / "filler").unlink()                   # space is back
    (workdir / "space_back").touch()
    res = run_nbflow("resume", nb, "--datastore", small_disk, cwd=workdir, env=env)
    assert res.returncode == 0, res.stderr
    assert "b has 1000" in res.stdout


def test_a_full_disk_at_start_leaves_no_damaged_run(workdir, small_disk):
    nb = make_notebook(workdir / "fault.ipynb", CELLS)
    with open(small_disk / "filler", "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"x" * 4096)
        except OSError:
            pass
    res = run_nbflow("run", nb, "--datastore", small_disk, cwd=workdir)
    assert res.returncode == 1
    assert "the disk is full" in _one_error_line(res)
    runs = run_nbflow("runs", "FaultFlow", "--datastore", small_disk, cwd=workdir)
    assert "damaged" not in runs.stdout + runs.stderr


def test_a_read_only_store(workdir, read_only_disk):
    nb = make_notebook(workdir / "fault.ipynb", CELLS)
    res = run_nbflow("run", nb, "--datastore", read_only_disk, cwd=workdir)
    assert res.returncode == 1
    line = _one_error_line(res)
    assert f"cannot write {read_only_disk}/" in line
    assert line.endswith("the store is on a read-only file system")


BAD_URLS = {
    "nosuchproto://a/b": "datastore 'nosuchproto://a/b': unknown protocol 'nosuchproto://'",
    "gcs://bucket/x": "the fsspec implementation of 'gcs://' is not installed; install it "
                      "with: pip install gcsfs",
    "zip://x.zip": "datastore 'zip://x.zip' cannot be opened: a zip archive is read-only and "
                   "cannot hold a store",
}


@pytest.mark.parametrize("url", list(BAD_URLS))
@pytest.mark.parametrize("command", ["run", "runs", "dump"])
def test_bad_urls_are_one_line_errors(workdir, url, command):
    pytest.importorskip("fsspec")
    if url.startswith("gcs") and _installed("gcsfs"):
        pytest.skip("gcsfs is installed here")
    nb = make_notebook(workdir / "fault.ipynb", CELLS)
    args = {"run": ["run", nb], "runs": ["runs", "FaultFlow"],
            "dump": ["dump", "FaultFlow/1/start/1"]}[command]
    res = run_nbflow(*args, "--datastore", url, cwd=workdir)
    assert res.returncode != 0
    assert BAD_URLS[url] in _one_error_line(res)


BLOCKER = """import sys
class Missing:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {modules!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, Missing())
"""


@pytest.mark.parametrize("url,package", [("http://x/store", "aiohttp"), ("s3://bucket/x", "s3fs")])
@pytest.mark.parametrize("command", ["run", "runs", "dump"])
def test_a_missing_fsspec_implementation_names_the_pip_command(workdir, url, package, command):
    """As on a machine without the package (a sitecustomize hides it from imports)."""
    from helpers import REPO, cli_env

    (workdir / "site").mkdir()
    (workdir / "site" / "sitecustomize.py").write_text(BLOCKER.format(modules=(package,)))
    env = cli_env(PYTHONPATH=f"{workdir / 'site'}:{REPO}")
    nb = make_notebook(workdir / "fault.ipynb", CELLS)
    args = {"run": ["run", nb], "runs": ["runs", "FaultFlow"],
            "dump": ["dump", "FaultFlow/1/start/1"]}[command]
    res = run_nbflow(*args, "--datastore", url, cwd=workdir, env=env)
    assert res.returncode == 1
    protocol = url.split(":")[0]
    assert _one_error_line(res) == (f"error: datastore '{url}': the fsspec implementation of "
                                    f"'{protocol}://' is not installed; install it with: "
                                    f"pip install {package}")


@pytest.mark.parametrize("command", ["runs", "dump", "fsck"])
def test_a_web_store_that_cannot_be_reached_is_not_an_empty_store(workdir, command):
    pytest.importorskip("aiohttp")
    import socket

    with socket.socket() as s:          # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/store"
    args = {"runs": ["runs", "FaultFlow"], "dump": ["dump", "FaultFlow/1/start/1"],
            "fsck": ["fsck"]}[command]
    res = run_nbflow(*args, "--datastore", url, cwd=workdir)
    assert res.returncode == 1
    line = _one_error_line(res)
    assert line.startswith(f"error: datastore {url} cannot be used: ClientConnector"), line
    assert "no flow" not in res.stderr and "no damage" not in res.stdout


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def test_per_process_and_non_folder_stores_are_refused_before_the_run(workdir):
    nb = make_notebook(workdir / "fault.ipynb", CELLS)
    res = run_nbflow("run", nb, "--datastore", f"memory://{uuid.uuid4().hex}", cwd=workdir)
    assert res.returncode == 1
    assert "a memory:// store lives inside one process" in _one_error_line(res)
    assert "Task" not in res.stdout                     # nothing ran
    res = run_nbflow("run", nb, "--datastore", "/dev/null", cwd=workdir)
    assert res.returncode == 1
    assert "to the datastore /dev/null: its path is not a folder" in _one_error_line(res)


def test_a_flow_named_like_the_store_layout_is_refused(workdir):
    nb = make_notebook(workdir / "blobs.ipynb", ["%%flow blobs", "%%step start -> end\nself.x = 1",
                                                 "%%step end\npass"])
    res = run_nbflow("run", nb, cwd=workdir)
    assert res.returncode != 0
    line = _one_error_line(res)
    assert "flow name 'blobs' is taken by the datastore's layout" in line
    assert not (workdir / ".nbflow" / "blobs").exists() or not any(
        (workdir / ".nbflow" / "blobs").rglob("*.json"))


@pytest.mark.parametrize("command", ["run", "runs", "dump"])
def test_an_object_store_that_cannot_be_reached(workdir, command):
    pytest.importorskip("s3fs")
    import socket

    from helpers import cli_env

    with socket.socket() as s:          # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = cli_env(AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="y", AWS_DEFAULT_REGION="us-east-1",
                  FSSPEC_S3_ENDPOINT_URL=f"http://127.0.0.1:{port}", AWS_MAX_ATTEMPTS="1")
    nb = make_notebook(workdir / "fault.ipynb", CELLS)
    args = {"run": ["run", nb], "runs": ["runs", "FaultFlow"],
            "dump": ["dump", "FaultFlow/1/start/1"]}[command]
    res = run_nbflow(*args, "--datastore", "s3://bucket/x", cwd=workdir, env=env)
    assert res.returncode == 1
    line = _one_error_line(res)
    assert "s3://bucket/x" in line and "Could not connect to the endpoint URL" in line
