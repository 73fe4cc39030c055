"""Every run records its environment (issue 17): Run.environment, `nbflow env`,
`nbflow env --diff`, one blob per distinct environment."""
import importlib.metadata
import os
import platform

import pytest
from conftest import cli_env, make_notebook, run_id_of, run_nbflow

from nbflow import Run, client
from nbflow.datastore import Datastore, records

FLOW = ["%%flow EnvFlow", "%%step start -> end\nself.x = 1", "%%step end\npass"]


@pytest.fixture(autouse=True)
def fresh_client_state():
    client._namespace, client._datastore_url = False, None
    yield
    client._namespace, client._datastore_url = False, None


def _run(tmp_path, env=None) -> str:
    nb = tmp_path / "env_flow.ipynb"
    if not nb.exists():
        make_notebook(nb, FLOW)
    proc = run_nbflow("run", nb, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    return run_id_of(proc.stdout)


def test_run_records_python_platform_and_packages(tmp_path):
    run_id = _run(tmp_path)
    run = Run(f"EnvFlow/{run_id}", _datastore=Datastore(str(tmp_path / ".nbflow")), _check=False)
    env = run.environment
    assert env["python"] == platform.python_version()
    assert env["implementation"].startswith(platform.python_implementation().lower())
    assert env["platform"].endswith(platform.machine())
    # the same versions importlib.metadata reports
    for name in ("cloudpickle", "fsspec", "pytest"):
        assert env["packages"][name] == importlib.metadata.version(name)
    assert env["steps"] == {}


def test_one_blob_per_distinct_environment(tmp_path):
    ds = Datastore(str(tmp_path / ".nbflow"))

    def blobs():
        return sorted(p for d in ds.storage.list("blobs") for p in ds.storage.list(f"blobs/{d}"))

    first = _run(tmp_path)
    stored = blobs()
    second = _run(tmp_path)
    refs = [records.read_run(ds, "EnvFlow", r)["environment"] for r in (first, second)]
    assert refs[0]["key"] == refs[1]["key"]
    assert any(refs[0]["key"] in b for b in stored)
    assert blobs() == stored   # the second run in the same environment stored nothing new


def test_env_command_prints_and_diffs(tmp_path):
    before = _run(tmp_path)
    # a package appears between the two runs (a dist-info folder on the path)
    site = tmp_path / "site"
    (site / "tinypkg-1.2.3.dist-info").mkdir(parents=True)
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    after = _run(tmp_path, env=cli_env(PYTHONPATH=path))

    shown = run_nbflow("env", f"EnvFlow/{before}", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert f"python      {platform.python_version()}" in shown.stdout
    assert f"  cloudpickle {importlib.metadata.version('cloudpickle')}" in shown.stdout

    diff = run_nbflow("env", tmp_path / "env_flow.ipynb", before, "--diff", after, cwd=tmp_path)
    assert diff.returncode == 0, diff.stderr
    assert diff.stdout.splitlines()[1:] == ["packages:", "  + tinypkg 1.2.3"]
    same = run_nbflow("env", f"EnvFlow/{after}/start", "--diff", after, cwd=tmp_path)
    assert "no difference" in same.stdout

    bad = run_nbflow("env", "EnvFlow", cwd=tmp_path)
    assert bad.returncode == 2 and "give a run: Flow/run_id" in bad.stderr
