"""--pypi / --python <-> Metaflow's @pypi_base / @pypi, and @conda / @conda_base on import.

Metaflow's local @pypi cannot run on this machine: it bootstraps micromamba by
downloading it from micro.mamba.pm (not a package registry, unreachable here) and builds
a conda environment from conda-forge. So the exported decorators are checked by real
Metaflow as far as it goes without building: `python flow.py --environment=pypi show`
loads the flow, validates every decorator and lists them; their arguments are read
from the exported source."""
from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest
from helpers import make_notebook, run_nbflow

pytest.importorskip("metaflow")

CELLS = ['%%flow ExpFlow --pypi "six==1.16.0" "attrs>=22,<27" --python 3.11',
         "%%step start -> train\nimport six\nself.a = six.__version__",
         "%%step train -> end --pypi six==1.15.0 toolz\nimport six\nself.b = six.__version__",
         "%%step end --pypi-disabled\nprint(self.a, self.b)"]


def _decorators(flow_py) -> dict:
    """{class or method name: {decorator name: literal kwargs}} from the exported source."""
    tree = ast.parse(flow_py.read_text())
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            out[node.name] = {d.func.id: {k.arg: ast.literal_eval(k.value) for k in d.keywords}
                              for d in node.decorator_list if isinstance(d, ast.Call)}
    return out


def test_export_writes_pypi_base_and_pypi_that_metaflow_accepts(tmp_path):
    nb = make_notebook(tmp_path / "exp.ipynb", CELLS)
    proc = run_nbflow("export", nb, "-o", tmp_path / "flow.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "--environment=pypi run" in proc.stderr
    decos = _decorators(tmp_path / "flow.py")
    assert decos["ExpFlow"] == {"pypi_base": {"packages": {"six": "1.16.0", "attrs": ">=22,<27"},
                                              "python": "3.11"}}
    assert decos["train"] == {"pypi": {"packages": {"six": "1.15.0", "toolz": ""}}}
    assert decos["end"] == {"pypi": {"disabled": True}}
    assert decos["start"] == {}
    home = tmp_path / "mfhome"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("METAFLOW_")}
    env.update(USERNAME="tester", METAFLOW_HOME=str(home))
    shown = subprocess.run([sys.executable, "flow.py", "--no-pylint", "--environment=pypi", "show"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert shown.stdout.count("@pypi") == 3   # Metaflow attaches @pypi to every step


def test_import_reads_them_back(tmp_path):
    nb = make_notebook(tmp_path / "exp.ipynb", CELLS)
    assert run_nbflow("export", nb, "-o", tmp_path / "flow.py", cwd=tmp_path).returncode == 0
    proc = run_nbflow("import", tmp_path / "flow.py", "-o", tmp_path / "back.ipynb", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    from nbflow.environment.requirements import pinned_steps
    from nbflow.notebook.parse import read_notebook

    again, before = read_notebook(str(tmp_path / "back.ipynb")), read_notebook(str(nb))
    assert pinned_steps(again) == pinned_steps(before)
    assert again.step("end").options.pypi_disabled


def test_import_maps_conda_to_pip_pins_or_refuses(tmp_path):
    """Conda pins become pip pins when they resolve on PyPI (checked with uv)."""
    (tmp_path / "conda_flow.py").write_text(
        "from metaflow import FlowSpec, step, conda, conda_base\n\n"
        "@conda_base(libraries={'six': '1.16.0'}, python='3.11')\n"
        "class CondaFlow(FlowSpec):\n"
        "    @conda(libraries={'conda-forge::toolz': '>=0.12'})\n"
        "    @step\n    def start(self):\n        self.next(self.end)\n\n"
        "    @step\n    def end(self):\n        pass\n")
    proc = run_nbflow("import", "conda_flow.py", "-o", "c.ipynb", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    from nbflow.notebook.parse import read_notebook

    nb = read_notebook(str(tmp_path / "c.ipynb"))
    assert nb.flow_cell.pypi == ("six==1.16.0",) and nb.flow_cell.python == "3.11"
    assert nb.step("start").options.pypi == ("toolz>=0.12",)
    assert "conda packages became pip pins" in proc.stderr

    (tmp_path / "bad.py").write_text(
        "from metaflow import FlowSpec, step, conda\n\nclass BadFlow(FlowSpec):\n"
        "    @conda(libraries={'nbflow-no-such-conda-only-pkg': '11.8'})\n"
        "    @step\n    def start(self):\n        self.next(self.end)\n\n"
        "    @step\n    def end(self):\n        pass\n")
    bad = run_nbflow("import", "bad.py", "-o", "b.ipynb", cwd=tmp_path)
    assert bad.returncode == 1
    assert "conda package 'nbflow-no-such-conda-only-pkg' (nbflow-no-such-conda-only-pkg==11.8) " \
           "is not on PyPI" in bad.stderr
    assert not (tmp_path / "b.ipynb").exists()
