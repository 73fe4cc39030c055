"""Steps pinned with --pypi run in environments built by uv from PyPI (issue 17).

Real resolution against the package registry: `start` runs in the kernel's
environment, `train` pins an older `six` than the one installed; each step stores
`six.__version__`. Builds go to a cache folder of this module (NBFLOW_ENV_CACHE)."""
from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
import time

import pytest
from helpers import StoreReader, cli_env, make_notebook, read_run_json, run_id_of, run_nbflow

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

INSTALLED = importlib.metadata.version("six")
OLD, OLDER = "1.16.0", "1.15.0"


def pin_flow(pin: str, fail_file: str | None = None) -> list[str]:
    end = "import six\nself.v_end = six.__version__"
    if fail_file:
        end = f"import os\nif os.path.exists({fail_file!r}):\n    raise RuntimeError('asked to fail')\n" + end
    return ["%%flow PinFlow",
            "%%step start -> train\nimport six\nself.v_start = six.__version__",
            f"%%step train -> end --pypi \"six=={pin}\"  # an older release\n"
            "import six, sys\nself.v_train = six.__version__\nself.prefix = sys.prefix",
            "%%step end\n" + end]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("envcache")


def _env(cache, **extra) -> dict:
    return cli_env(NBFLOW_ENV_CACHE=cache, **extra)


def _run(nb, cache, *args, ok=True, **extra):
    proc = run_nbflow("run", nb, *args, cwd=nb.parent, env=_env(cache, **extra))
    if ok:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_pinned_step_runs_its_release_and_the_env_is_reused(tmp_path, cache):
    nb = make_notebook(tmp_path / "pin.ipynb", pin_flow(OLD))
    t0 = time.perf_counter()
    first = _run(nb, cache)
    build_run = time.perf_counter() - t0
    assert f"step 'train' runs in its pinned environment (--pypi six=={OLD}; " in first.stderr
    assert "built in" in first.stderr
    store = StoreReader(tmp_path / ".nbflow")
    run_id = run_id_of(first.stdout)
    assert store.artifacts("PinFlow", run_id, "start")["v_start"] == INSTALLED
    train = store.artifacts("PinFlow", run_id, "train")
    assert train["v_train"] == OLD and train["prefix"].startswith(str(cache))
    assert store.artifacts("PinFlow", run_id, "end")["v_end"] == INSTALLED  # back in the kernel's

    t0 = time.perf_counter()
    second = _run(nb, cache)
    reuse_run = time.perf_counter() - t0
    assert "cached)" in second.stderr and "built in" not in second.stderr
    assert store.artifacts("PinFlow", run_id_of(second.stdout), "train")["v_train"] == OLD
    print(f"\nrun with a build: {build_run:.2f}s ({first.stderr.strip()}); "
          f"run reusing it: {reuse_run:.2f}s")

    # the lock is stored with the run and shown by `nbflow env`

    rec = read_run_json(store.ds, "PinFlow", run_id)["pinned_environments"]["train"]
    assert rec["requirements"] == [f"six=={OLD}"] and f"six=={OLD}" in rec["lock"].split()
    shown = run_nbflow("env", f"PinFlow/{run_id}", cwd=tmp_path, env=_env(cache))
    assert f"step train: --pypi six=={OLD}; python {'.'.join(map(str, sys.version_info[:3]))}" \
        in shown.stdout
    assert f"  six {OLD}" in shown.stdout

    # offline (uv cannot be reached) with the environment cached: still runs
    offline = _run(nb, cache, NBFLOW_UV="/bin/false", UV_OFFLINE="1")
    assert store.artifacts("PinFlow", run_id_of(offline.stdout), "train")["v_train"] == OLD

    # a rerun takes the lock the last run stored, even without the resolution cache
    shutil.rmtree(cache / "locks")
    rerun = _run(nb, cache, NBFLOW_UV="/bin/false")
    assert store.artifacts("PinFlow", run_id_of(rerun.stdout), "train")["v_train"] == OLD


def test_resume_reuses_the_stored_lock(tmp_path, cache):
    nb = make_notebook(tmp_path / "pin.ipynb", pin_flow(OLD, fail_file=str(tmp_path / "fail")))
    (tmp_path / "fail").write_text("")
    failed = _run(nb, cache, ok=False)
    assert failed.returncode == 1
    (tmp_path / "fail").unlink()
    # the resolution cache is gone and uv is unusable: only the run's stored lock can
    # name the environment (still built in the cache)
    shutil.rmtree(cache / "locks", ignore_errors=True)
    proc = run_nbflow("resume", nb, "train", cwd=tmp_path,
                      env=_env(cache, NBFLOW_UV="/bin/false"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    store = StoreReader(tmp_path / ".nbflow")
    run_id = run_id_of(proc.stdout)
    assert store.artifacts("PinFlow", run_id, "train")["v_train"] == OLD
    assert store.artifacts("PinFlow", run_id, "end")["v_end"] == INSTALLED


def test_env_diff_after_a_pin_change(tmp_path, cache):
    nb = make_notebook(tmp_path / "pin.ipynb", pin_flow(OLD))
    before = run_id_of(_run(nb, cache).stdout)
    make_notebook(nb, pin_flow(OLDER))
    after = run_id_of(_run(nb, cache).stdout)
    store = StoreReader(tmp_path / ".nbflow")
    assert store.artifacts("PinFlow", after, "train")["v_train"] == OLDER
    diff = run_nbflow("env", nb, before, "--diff", after, cwd=tmp_path, env=_env(cache))
    assert diff.returncode == 0, diff.stderr
    assert diff.stdout.splitlines() == [
        f"environment PinFlow/{before} -> PinFlow/{after}", "step train:",
        f"  --pypi six=={OLD} -> six=={OLDER}", f"  ~ six {OLD} -> {OLDER}"]


def test_unresolvable_pin_fails_before_any_task(tmp_path, cache):
    nb = make_notebook(tmp_path / "pin.ipynb", pin_flow("99.0"))
    proc = _run(nb, cache, ok=False)
    assert proc.returncode == 1
    assert "step 'train': --pypi six==99.0 cannot be resolved" in proc.stderr
    assert "No solution found" in proc.stderr   # uv's own message
    assert "Task is starting" not in proc.stdout
    assert not (tmp_path / ".nbflow" / "PinFlow").exists()   # no run was created


def test_a_machine_without_network_runs_from_its_cached_environment(tmp_path, cache):
    """Really offline: `unshare -n` gives the run a network namespace with no interface."""
    if shutil.which("unshare") is None or subprocess.run(
            ["unshare", "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("cannot make a network namespace here (unshare -n)")
    nb = make_notebook(tmp_path / "pin.ipynb", pin_flow(OLD))
    _run(nb, cache)   # online: builds it (or finds it built)

    def offline():
        return subprocess.run(["unshare", "-n", sys.executable, "-m", "nbflow", "run", str(nb)],
                              cwd=tmp_path, env=_env(cache), capture_output=True, text=True,
                              timeout=240)
    ran = offline()
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert f"(--pypi six=={OLD}; python" in ran.stderr and "cached)" in ran.stderr
    store = StoreReader(tmp_path / ".nbflow")
    assert store.artifacts("PinFlow", run_id_of(ran.stdout), "train")["v_train"] == OLD

    runs = sorted((tmp_path / ".nbflow" / "PinFlow").iterdir())
    make_notebook(nb, pin_flow("1.13.0"))   # never resolved here: needs the index
    failed = offline()
    assert failed.returncode == 1
    # (uv revalidates its cached index pages, so resolving fails; were it to trust them,
    # building would fail for want of the wheel: either way before any task, naming the step)
    assert ("step 'train': --pypi six==1.13.0 cannot be resolved" in failed.stderr
            or "step 'train': its environment cannot be built" in failed.stderr), failed.stderr
    assert "Task is starting" not in failed.stdout
    assert sorted((tmp_path / ".nbflow" / "PinFlow").iterdir()) == runs   # no run was made


def test_concurrent_builds_of_one_environment(tmp_path, tmp_path_factory):
    cache = tmp_path_factory.mktemp("fresh_cache")
    procs = []
    for i in range(2):
        d = tmp_path / f"nb{i}"
        d.mkdir()
        nb = make_notebook(d / "pin.ipynb", pin_flow(OLDER))
        procs.append(subprocess.Popen([sys.executable, "-m", "nbflow", "run", str(nb)], cwd=d,
                                      env=_env(cache), stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert sum("built in" in err for _, err in outs) == 1   # the other waited, then reused it
    envs = [p for p in (cache / "envs").iterdir() if p.is_dir()]
    assert len(envs) == 1
    for i, (out, _) in enumerate(outs):
        store = StoreReader(tmp_path / f"nb{i}" / ".nbflow")
        assert store.artifacts("PinFlow", run_id_of(out), "train")["v_train"] == OLDER


def test_interactive_cell_runs_in_its_environment_and_says_so_once(tmp_path, cache, monkeypatch):
    from test_kernel_interactive import KernelDriver

    monkeypatch.chdir(tmp_path)
    with KernelDriver(tmp_path, tmp_path / "dev.ipynb", NBFLOW_ENV_CACHE=cache) as k:
        k.run("%%flow PinKernelFlow")
        k.run("%%step start -> train\nimport six\nself.v_start = six.__version__")
        cell = f"%%step train -> end --pypi six=={OLDER}\nimport six\nself.v_train = six.__version__"
        first = k.run(cell)
        assert f"(step 'train' runs in its pinned environment (--pypi six=={OLDER}; " in first.stdout
        assert k.run("print(self.v_train)").stdout.strip() == OLDER
        again = k.run(cell)
        assert "pinned environment" not in again.stdout
        r = k.run("from nbflow import Flow\nenv = Flow('PinKernelFlow').latest_run.environment\n"
                  "print(env['steps']['train']['packages']['six'], env['packages']['six'])")
        assert r.stdout.split() == [OLDER, INSTALLED]


def test_artifact_missing_its_module_names_both_environments(tmp_path, cache):
    nb = make_notebook(tmp_path / "cross.ipynb", [
        "%%flow CrossFlow",
        "%%step start -> train\nfrom packaging.version import Version\nself.v = Version('1.0')",
        f"%%step train -> end --pypi six=={OLD}\nimport six\nself.six = six.__version__\nprint(self.v)",
        "%%step end\nprint(self.six)"])
    proc = _run(nb, cache, ok=False)
    assert proc.returncode == 1
    assert ("artifact 'v' needs module 'packaging', which is not installed here. It was written "
            "in the kernel's environment and is read in a pinned environment "
            f"(--pypi six=={OLD}; python {'.'.join(map(str, sys.version_info[:3]))})") in proc.stderr


def test_artifact_of_an_incompatible_version_names_the_module_and_both_environments(tmp_path,
                                                                                  cache):
    """The kernel's packaging has `utils.is_normalized_name`; packaging 20.0 has not: the
    function, pickled by reference, cannot be loaded in a step pinned to 20.0."""
    utils = pytest.importorskip("packaging.utils")
    if not hasattr(utils, "is_normalized_name"):
        pytest.skip("the installed packaging predates is_normalized_name")
    nb = make_notebook(tmp_path / "cross.ipynb", [
        "%%flow CrossFlow",
        "%%step start -> train\nimport packaging.utils\nself.fn = packaging.utils.is_normalized_name",
        "%%step train -> end --pypi packaging==20.0\nprint(self.fn)",
        "%%step end\npass"])
    proc = _run(nb, cache, ok=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1
    assert ("artifact 'fn' cannot be loaded here: module 'packaging.utils' (packaging 20.0 "
            "here) does not fit the version it was written with (AttributeError: Can't get "
            "attribute 'is_normalized_name' on <module 'packaging.utils'>). It was written in "
            "the kernel's environment and is read in a pinned environment (--pypi "
            f"packaging==20.0; python {'.'.join(map(str, sys.version_info[:3]))})") in out
    assert 'cross.ipynb, cell 3", line 2, in train' in out
    assert "crossing.py" not in out    # nbflow's own frames are not the user's


def test_artifacts_written_in_a_pinned_env_are_labelled(tmp_path, cache):
    nb = make_notebook(tmp_path / "pin.ipynb", pin_flow(OLD))
    run_id = run_id_of(_run(nb, cache).stdout)
    store = StoreReader(tmp_path / ".nbflow")
    [train] = store.tasks("PinFlow", run_id, "train")
    assert train["artifacts"]["v_train"]["env"]["pypi"] == [f"six=={OLD}"]
    assert "env" not in train["artifacts"]["v_start"]      # passed on from the kernel's env


def test_flow_python_version_runs_steps_in_that_python(tmp_path, cache):
    from nbflow.environment.build import find_python

    other = "3.10" if sys.version_info[:2] != (3, 10) else "3.11"
    if find_python(other) == other:
        pytest.skip(f"no Python {other} installed here (uv would download one)")
    nb = make_notebook(tmp_path / "py.ipynb", [
        f"%%flow PyFlow --python {other}",
        "%%step start -> end --pypi-disabled\nimport sys\nself.a = sys.version_info[:2]",
        "%%step end\nimport sys\nself.b = sys.version_info[:2]"])
    run_id = run_id_of(_run(nb, cache).stdout)
    store = StoreReader(tmp_path / ".nbflow")
    assert store.artifacts("PyFlow", run_id, "start")["a"] == sys.version_info[:2]
    assert store.artifacts("PyFlow", run_id, "end")["b"] == tuple(map(int, other.split(".")))
    shown = run_nbflow("env", f"PyFlow/{run_id}", cwd=tmp_path, env=_env(cache))
    assert f"step end: --pypi (none); python {other}." in shown.stdout


def test_client_reading_a_pinned_artifact_names_both_environments(tmp_path, cache):
    import importlib.util

    if importlib.util.find_spec("tabulate"):   # it must exist only in the pinned environment
        pytest.skip("tabulate is installed in the test environment")
    nb = make_notebook(tmp_path / "t.ipynb", [
        "%%flow TabFlow",
        "%%step start -> end --pypi tabulate==0.9.0\nimport tabulate\n"
        "self.fmt = tabulate.Line('-', '-', '-', '-')",
        "%%step end\npass"])
    run_id = run_id_of(_run(nb, cache).stdout)
    from nbflow import Run
    from nbflow.datastore import Datastore
    from nbflow.errors import ArtifactError

    run = Run(f"TabFlow/{run_id}", _datastore=Datastore(str(tmp_path / ".nbflow")), _check=False)
    with pytest.raises(ArtifactError) as e:
        _ = run["start"].task.data.fmt
    assert str(e.value) == (
        f"artifact 'fmt' of TabFlow/{run_id}/start/1 needs module 'tabulate', which is not "
        "installed here. It was written in a pinned environment (--pypi tabulate==0.9.0; python "
        f"{'.'.join(map(str, sys.version_info[:3]))}) and is read in the kernel's environment; "
        "pin the same package in both steps (--pypi), or pass it on in a form both can read")


def test_runtime_follows_the_pins_when_they_exclude_the_kernels_versions(cache, monkeypatch):
    """nbflow's runtime is pinned to the kernel's versions unless the step's requirements
    need others (s3fs 2023.12.2 needs its own fsspec): resolution only, nothing built."""
    from nbflow.environment.build import resolve
    from nbflow.environment.capture import distributions
    from nbflow.environment.record import lock_packages
    from nbflow.environment.requirements import EnvSpec

    monkeypatch.setenv("NBFLOW_ENV_CACHE", str(cache))
    kernel = distributions(sys.path)
    plain = lock_packages(resolve(EnvSpec((f"six=={OLD}",)), "train"))
    assert plain["fsspec"] == kernel["fsspec"] and plain["cloudpickle"] == kernel["cloudpickle"]
    pinned = lock_packages(resolve(EnvSpec(("s3fs==2023.12.2",)), "train"))
    assert pinned["fsspec"] == "2023.12.2" and pinned["s3fs"] == "2023.12.2"
