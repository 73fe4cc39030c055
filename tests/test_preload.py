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


def test_forked_tasks_draw_their_own_random_numbers(workdir, store):
    """numpy.random preloaded in the zygote: every task forked from it inherited the same
    global generator, so a foreach's tasks all drew the same 'random' numbers (a fresh
    interpreter per task, as Metaflow runs them, draws different ones)."""
    nb = make_notebook(workdir / "rnd.ipynb", [
        "%%flow RandFlow\nimport numpy.random\nimport random",
        "%%step start -> draw --foreach xs\nself.xs = list(range(4))",
        "%%step draw -> join\nself.r = (float(numpy.random.rand()), random.random())",
        "%%step join -> end\nself.rs = [i.r for i in inputs]",
        "%%step end\npass",
    ])
    res = run_nbflow("run", nb, cwd=workdir)
    assert res.returncode == 0, res.stderr
    rs = store.artifacts("RandFlow", run_id_of(res.stdout), "end")["rs"]
    assert len({r[0] for r in rs}) == 4 and len({r[1] for r in rs}) == 4, rs


def test_foreach_items_changed_by_a_task_are_its_own(workdir, store):
    """The zygote loads a foreach's items once for all its tasks: a task that changes its
    item in place changes only its own copy, never a later task's."""
    nb = make_notebook(workdir / "items.ipynb", [
        "%%flow ItemsFlow",
        "%%step start -> grow --foreach groups\nself.groups = [['a'], ['b'], ['c'], ['d'], ['e']]",
        "%%step grow -> join\nself.input.append('x')\nself.mine = list(self.input)",
        "%%step join -> end\nself.seen = sorted(i.mine for i in inputs)",
        "%%step end\npass",
    ])
    res = run_nbflow("run", nb, "--max-workers", "1", cwd=workdir)   # one after another
    assert res.returncode == 0, res.stderr
    seen = store.artifacts("ItemsFlow", run_id_of(res.stdout), "end")["seen"]
    assert seen == [["a", "x"], ["b", "x"], ["c", "x"], ["d", "x"], ["e", "x"]]


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
