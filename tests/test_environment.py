"""Every run records its environment (issue 17): Run.environment, `nbflow env`,
`nbflow env --diff`, one blob per distinct environment."""
import importlib.metadata
import os
import platform

import pytest
from helpers import cli_env, make_notebook, read_run_json, run_id_of, run_nbflow

from nbflow import Run, client
from nbflow.datastore import Datastore

FLOW = ["%%flow EnvFlow", "%%step start -> end\nself.x = 1", "%%step end\npass"]


@pytest.fixture(autouse=True)
def fresh_client_state():
    client.context.reset_defaults()
    yield
    client.context.reset_defaults()


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
    refs = [read_run_json(ds, "EnvFlow", r)["environment"] for r in (first, second)]
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
    # the issue's own form, `env --diff RUN_A RUN_B` (from A to B), and with a flow name
    for args in (("--diff", f"EnvFlow/{before}", f"EnvFlow/{after}"),
                 ("EnvFlow", "--diff", before, after)):
        same_diff = run_nbflow("env", *args, cwd=tmp_path)
        assert same_diff.returncode == 0 and same_diff.stdout == diff.stdout, same_diff.stderr
    assert diff.stdout.startswith(f"environment EnvFlow/{before} -> EnvFlow/{after}\n")
    three = run_nbflow("env", "--diff", before, after, after, cwd=tmp_path)
    assert three.returncode == 2 and "--diff takes one run, or two" in three.stderr
    same = run_nbflow("env", f"EnvFlow/{after}/start", "--diff", after, cwd=tmp_path)
    assert "no difference" in same.stdout

    bad = run_nbflow("env", "EnvFlow", cwd=tmp_path)
    assert bad.returncode == 2 and "give a run: Flow/run_id" in bad.stderr


def test_pins_merge_as_pypi_base_and_pypi():
    """A step's requirement replaces the flow's for the same package; --pypi-disabled
    and unpinned steps (without a flow --pypi/--python) run in the kernel's environment."""
    from nbflow.environment.requirements import EnvSpec, pinned_steps
    from nbflow.notebook.parse import parse_cells
    from nbflow.notebook.spec import NotebookSpec

    nb = parse_cells([("code", c) for c in [
        '%%flow F --pypi "pandas==2.2.3" six --python 3.11',
        "%%step start -> a",
        '%%step a -> b --pypi "Six==1.15.0" "xgboost>=2,<3"',
        "%%step b -> end --pypi-disabled",
        "%%step end"]])
    assert not nb.errors
    pins = pinned_steps(nb)
    assert pins["start"] == EnvSpec(("pandas==2.2.3", "six"), "3.11")
    assert pins["a"] == EnvSpec(("pandas==2.2.3", "Six==1.15.0", "xgboost>=2,<3"), "3.11")
    assert "b" not in pins and "end" in pins
    # kept with the run's code: the options survive the round trip
    again = NotebookSpec.from_dict(nb.to_dict())
    assert pinned_steps(again) == pins and again.step("b").options.pypi_disabled
    plain = parse_cells([("code", "%%step start -> end --pypi six==1.16.0"), ("code", "%%step end")])
    assert list(pinned_steps(plain)) == ["start"]


@pytest.mark.parametrize("header, message", [
    ("%%step a --pypi", "option '--pypi' needs a value"),
    ("%%step a --pypi ==1.0", "'==1.0' is not a package requirement"),
    ('%%step a --pypi "six', "the header's options cannot be read"),
    ("%%step a --pypi-disabled six", "option '--pypi-disabled' takes no value"),
    ("%%step a --pypi six --pypi-disabled", "contradict each other"),
    ("%%step a --python 3.11", "unknown option '--python'"),
    ("%%flow F --python three", "'three' is not a Python version"),
    ("%%flow F --retry 2", "unknown option '--retry'; known options: --pypi, --python"),
])
def test_bad_pins_name_the_cell(header, message):
    from nbflow.errors import NotebookError
    from nbflow.notebook.parse import parse_header

    with pytest.raises(NotebookError) as e:
        parse_header(header, 4)
    assert message in str(e.value) and "cell 4" in str(e.value)


def test_pinned_steps_refuse_executors_that_cannot_run_them(tmp_path):
    nb = make_notebook(tmp_path / "pin.ipynb", ["%%step start -> end --pypi six==1.16.0",
                                                "%%step end"])
    proc = run_nbflow("run", nb, "--executor", "dask", cwd=tmp_path)
    assert proc.returncode == 2
    assert "steps with --pypi (start) run with the local executor only" in proc.stderr
    assert not (tmp_path / ".nbflow").exists()
