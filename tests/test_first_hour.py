"""The traps of a new user's first hour (issue "The first hour"): stale data after a failed
step, runs found from the repository root, typo'd headers, parameters in --help."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import make_notebook, run_id_of, run_nbflow
from test_kernel_interactive import KernelDriver

pytestmark = pytest.mark.timeout(300)
REPO = Path(__file__).resolve().parents[1]


def test_a_failed_parent_blocks_its_child_instead_of_older_data(workdir):
    """start ran, middle failed: end must not run on middle's output from an older run."""
    old = make_notebook(workdir / "dev.ipynb", [
        "%%step start -> middle\nself.x = 1", "%%step middle -> end\nself.y = self.x * 100",
        "%%step end\nprint('y is', self.y)"])
    assert run_nbflow("run", old, cwd=workdir).returncode == 0   # an older run: y == 100
    with KernelDriver(workdir, old) as k:
        k.run("%%step start -> middle\nself.x = 2")
        r = k.run("%%step middle -> end\nraise ValueError('middle is broken')", ok=False)
        assert "middle is broken" in r.error_text
        r = k.run("%%step end\nprint('y is', self.y)", ok=False)
        assert "y is" not in r.stdout
        assert "parent step 'middle' failed when it last ran in this kernel session" in r.error_text
        k.run("%%step middle -> end\nself.y = self.x * 10")
        assert "y is 20" in k.run("%%step end\nprint('y is', self.y)").stdout


def test_a_stale_parent_blocks_its_child(workdir):
    nb = make_notebook(workdir / "dev.ipynb", [
        "%%step start -> middle\nself.x = 1", "%%step middle -> end\nself.y = self.x * 100",
        "%%step end\nprint('y is', self.y)"])
    with KernelDriver(workdir, nb) as k:
        k.run("%%step start -> middle\nself.x = 1")
        k.run("%%step middle -> end\nself.y = self.x * 100")
        k.run("%%step start -> middle\nself.x = 2")          # middle is stale now
        r = k.run("%%step end\nprint('y is', self.y)", ok=False)
        assert "y is" not in r.stdout
        assert "its parent step 'middle' is stale" in r.error_text and "run cell 2" in r.error_text
        k.run("%%step middle -> end\nself.y = self.x * 100")
        assert "y is 200" in k.run("%%step end\nprint('y is', self.y)").stdout


def test_a_fallback_parent_says_which_run_and_whether_its_code_changed(workdir):
    nb = make_notebook(workdir / "dev.ipynb", [
        "%%step start -> end\nself.x = 1", "%%step end\nprint('x is', self.x)"])
    assert run_nbflow("run", nb, cwd=workdir).returncode == 0
    with KernelDriver(workdir, nb) as k:
        r = k.run("%%step end\nprint('x is', self.x)")
        assert "x is 1" in r.stdout and "made by the same code as its cell now" in r.stdout
    make_notebook(nb, ["%%step start -> end\nself.x = 2", "%%step end\nprint('x is', self.x)"])
    with KernelDriver(workdir, nb) as k:
        r = k.run("%%step end\nprint('x is', self.x)")
        assert "WARNING: that run's code for 'start' differs from cell 1" in r.stdout


def test_a_typo_in_a_target_is_reported_in_the_cell(workdir):
    nb = make_notebook(workdir / "dev.ipynb", [
        "%%step start -> train\nself.x = 1", "%%step train -> end\nself.y = 2", "%%step end"])
    with KernelDriver(workdir, nb) as k:
        r = k.run("%%step start -> trian\nself.x = 1", ok=False)
        assert "target 'trian' is not a step; did you mean 'train'?" in r.error_text
        r = k.run("%%step start -> brand_new\nself.x = 1")
        assert "target 'brand_new' is not a step yet" in r.stdout


def test_a_duplicate_step_name_is_reported_in_the_cell_before_its_task(workdir):
    nb = make_notebook(workdir / "dev.ipynb", [
        "%%step start -> end\nself.x = 1", "%%step end\nprint('first end')",
        "%%step end\nprint('second end')"])
    with KernelDriver(workdir, nb) as k:
        k.run("%%step start -> end\nself.x = 1")
        r = k.run("%%step end\nprint('second end')", ok=False)
        assert "step 'end' is defined twice: in cell 2 and in cell 3; rename one" in r.error_text
        assert "second end" not in r.stdout


def test_the_readme_first_command_then_its_client_line_from_the_repository_root(workdir):
    (workdir / "notebooks").mkdir()
    shutil.copy(REPO / "notebooks" / "counter_branch.ipynb", workdir / "notebooks")
    res = run_nbflow("run", "notebooks/counter_branch.ipynb", cwd=workdir)
    run_id = run_id_of(res.stdout)
    assert f"Run stored in notebooks/.nbflow: Flow('CounterBranchFlow')['{run_id}']" in res.stdout
    runs = run_nbflow("runs", "CounterBranchFlow", cwd=workdir)
    assert runs.returncode == 0 and run_id in runs.stdout
    assert "reading it from" in runs.stderr and "notebooks/.nbflow" in runs.stderr
    code = ("from nbflow import Flow\nprint(Flow('CounterBranchFlow').latest_run.data.count)")
    import subprocess
    import sys

    from helpers import cli_env

    out = subprocess.run([sys.executable, "-c", code], cwd=workdir, env=cli_env(),
                         capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "2", out.stderr
    for cmd in (["logs", f"CounterBranchFlow/{run_id}/end"], ["dump", f"CounterBranchFlow/{run_id}/end"]):
        res = run_nbflow(*cmd, cwd=workdir)
        assert res.returncode == 0 and "notebooks/.nbflow" in res.stderr, res.stderr
        assert ("The final count is 2" if cmd[0] == "logs" else "count ") in res.stdout
    for cmd in (["runs", "NoSuchFlow"], ["dump", "NoSuchFlow/1/end"]):   # found nowhere
        missing = run_nbflow(*cmd, cwd=workdir)
        assert missing.returncode == 1, missing.stderr
        assert (f"no flow 'NoSuchFlow' in datastore {workdir}/.nbflow (nor in the .nbflow/ "
                f"folders below {workdir})") in missing.stderr


def test_run_help_and_show_list_the_notebooks_parameters(workdir):
    nb = REPO / "notebooks" / "parameters.ipynb"
    res = run_nbflow("run", str(nb), "--help", cwd=workdir)
    assert res.returncode == 0 and "--max-workers" in res.stdout
    assert "--alpha FLOAT" in res.stdout and "Learning rate (default: 0.01" in res.stdout
    assert "--num-epochs INT" in res.stdout and "NBFLOW_RUN_NUM_EPOCHS" in res.stdout
    shown = run_nbflow("show", str(nb), cwd=workdir)
    assert "Parameters:" in shown.stdout and "--who STR" in shown.stdout


def test_a_percent_format_py_notebook_runs_and_a_flow_py_gets_the_import_hint(workdir):
    (workdir / "flow_notebook.py").write_text(
        "# %%\n# %load_ext nbflow\n\n# %%\n# %%step start -> end\nself.x = 41\n\n"
        "# %%\n# %%step end\nprint('x is', self.x + 1)\n")
    res = run_nbflow("run", "flow_notebook.py", cwd=workdir)
    assert res.returncode == 0 and "x is 42" in res.stdout, res.stderr
    (workdir / "make.py").write_text("print('not a notebook')\n")
    res = run_nbflow("run", "make.py", cwd=workdir)
    assert res.returncode == 2 and "nbflow import make.py -o make.ipynb" in res.stderr


def test_params_shows_typed_values(workdir):
    nb = make_notebook(workdir / "dev.ipynb", [
        "%%flow P\nthreshold = Parameter('threshold', default=1)", "%%step start -> end", "%%step end"])
    with KernelDriver(workdir, nb) as k:
        k.run("%%flow P\nthreshold = Parameter('threshold', default=1)")
        r = k.run("%nbflow params --threshold 4")
        assert "--threshold = 4  (%nbflow params" in r.stdout


def test_a_resumed_runs_duration_is_its_own(workdir):
    nb = make_notebook(workdir / "dev.ipynb", [
        "%%flow ResumeFlow\nimport os, time", "%%step start -> mid\nself.x = 1",
        "%%step mid -> end\nif not os.path.exists('ok'):\n    raise ValueError('no')",
        "%%step end\ntime.sleep(0.3)"])
    assert run_nbflow("run", nb, cwd=workdir).returncode == 1
    (workdir / "ok").touch()
    resumed = run_nbflow("resume", nb, cwd=workdir)
    assert resumed.returncode == 0, resumed.stderr
    run_id = run_id_of(resumed.stdout)
    [row] = [line.split() for line in run_nbflow("runs", "ResumeFlow", cwd=workdir).stdout.splitlines()
             if line.startswith(run_id)]
    assert row[1] == "successful" and float(row[4].rstrip("s")) >= 0.3   # end slept 0.3 s in it


def test_nbflow_commands_in_a_kernel_leave_no_temporary_folders(workdir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kernel_tmp")
    nb = make_notebook(workdir / "dev.ipynb", [
        "%%flow TmpFlow", "%%step start -> end\nself.x = 1", "%%step end\nprint('x', self.x)"])
    with KernelDriver(workdir, nb, TMPDIR=tmp, NBFLOW_NO_WIDGETS=1) as k:
        for line in ("%nbflow check", "%nbflow show", "run = %nbflow run", "%nbflow runs",
                     "%nbflow dump TmpFlow/{run.id}/start", "%nbflow du"):
            before = set(tmp.iterdir())
            k.run(line)
            assert set(tmp.iterdir()) == before, (line, set(tmp.iterdir()) - before)


def test_the_lab_extension_loads_nbflow_for_a_step_cell_run_before_load_ext(workdir):
    """What JupyterLab asks the kernel just before a %%step cell (labextension/src/loadext.ts;
    the browser side: tests/e2e/test_lab_load_ext.py): nbflow is loaded if it was not, and
    the answer says whether a `%load_ext nbflow` did it (no hint then)."""
    nb = make_notebook(workdir / "dev.ipynb", ["%%step start -> end\nself.x = 41", "%%step end"])
    k = KernelDriver(workdir, nb)            # no %load_ext nbflow
    try:
        ask = "import nbflow.kernel.lab as L\nL.autoload()"
        assert k.run(ask).results == ["True"]
        assert "(interactive run" in k.run("%%step start -> end\nself.x = 41").stdout
        assert k.run(ask).results == ["True"]            # still only loaded by the front end
        k.run("%load_ext nbflow")
        assert k.run(ask).results == ["False"]           # the notebook loads it now: no hint
    finally:
        k.close()
    with KernelDriver(workdir, nb) as k:     # %load_ext nbflow first: never a hint
        assert k.run("import nbflow.kernel.lab as L\nL.autoload()").results == ["False"]
