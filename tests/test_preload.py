"""The zygote imports the notebook's imports once; tasks behave exactly as without it."""
from __future__ import annotations

from helpers import cli_env, make_notebook, run_id_of, run_nbflow

from nbflow.notebook.parse import parse_cells
from nbflow.notebook.preload import modules_to_preload


def test_modules_found_in_flow_and_step_cells():
    nb = parse_cells([("code", "%%flow F\nimport json\nimport numpy as np\nfrom os import path"),
                      ("code", "%%step start -> end\nimport torch\nfrom collections import deque\n"
                               "def f():\n    import decimal"),
                      ("code", "%%step end\nfrom . import x")])
    assert modules_to_preload(nb) == ["json", "numpy", "os", "collections"]


def test_preloaded_run_matches_plain_run(workdir, store):
    nb = make_notebook(workdir / "pre.ipynb", [
        "%%flow PreFlow\nimport numpy as np\nimport json",
        "%%step start -> sq --foreach xs\nself.xs = [1.0, 4.0, 9.0]",
        "%%step sq -> join\nself.r = float(np.sqrt(self.input))\nself.mod = np.__name__",
        "%%step join -> end\nself.rs = [i.r for i in inputs]\nself.merge_artifacts(inputs, exclude=['r'])",
        "%%step end\nprint(json.dumps(self.rs))",
    ])
    fast = run_nbflow("run", nb, cwd=workdir)
    plain = run_nbflow("run", nb, cwd=workdir, env=cli_env(NBFLOW_PRELOAD="0"))
    assert fast.returncode == 0 and plain.returncode == 0, fast.stderr + plain.stderr
    a = store.artifacts("PreFlow", run_id_of(fast.stdout), "end")
    b = store.artifacts("PreFlow", run_id_of(plain.stdout), "end")
    assert a == b and a["rs"] == [1.0, 2.0, 3.0] and a["mod"] == "numpy"


def test_missing_module_is_reported_by_the_task(workdir):
    nb = make_notebook(workdir / "missing.ipynb", [
        "%%flow MissingFlow\nimport no_such_module_for_nbflow",
        "%%step start -> end\npass",
        "%%step end\npass",
    ])
    res = run_nbflow("run", nb, cwd=workdir)
    assert res.returncode == 1
    assert "ModuleNotFoundError: No module named 'no_such_module_for_nbflow'" in res.stderr
    assert "missing.ipynb, cell 1" in res.stderr
