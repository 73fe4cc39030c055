"""`--executor dask`: the same flow on a real Dask LocalCluster gives the same artifacts."""
from __future__ import annotations

import pytest
from helpers import make_notebook, run_id_of, run_nbflow

pytest.importorskip("distributed")

CELLS = [
    "%%flow DaskFlow\nscale = Parameter('scale', default=3)",
    "%%step start -> left, right\nself.base = 10",
    "%%step left -> join\nself.side = 'left'\nself.v = self.base + 1",
    "%%step right -> join\nself.side = 'right'\nself.v = self.base + 2",
    "%%step join -> fan\nself.vs = [i.v for i in inputs]\nself.merge_artifacts(inputs, exclude=['side', 'v'])",
    "%%step fan -> work --foreach vs\npass",
    "%%step work -> gather\nself.out = self.input * self.scale\nprint('work', self.index, self.out)",
    "%%step gather -> end\nself.outs = [i.out for i in inputs]\nself.merge_artifacts(inputs, exclude=['out'])",
    "%%step end\nprint('outs', self.outs, self.base)",
]


def test_dask_run_matches_local_run(workdir, store):
    nb = make_notebook(workdir / "dask_flow.ipynb", CELLS)
    local = run_nbflow("run", nb, cwd=workdir)
    assert local.returncode == 0, local.stderr
    dask = run_nbflow("run", nb, "--executor", "dask", "--scale", "3", cwd=workdir)
    assert dask.returncode == 0, dask.stderr
    assert "work 1 36" in dask.stdout  # task output reaches the console
    want = store.artifacts("DaskFlow", run_id_of(local.stdout), "end")
    got = store.artifacts("DaskFlow", run_id_of(dask.stdout), "end")
    assert got == want
    assert got["outs"] == [33, 36]


def test_dask_failure_stops_the_run(workdir, store):
    cells = CELLS[:6] + [("%%step work -> gather\n"
                             "raise ValueError(f'bad item {self.input}')\n"
                             "self.out = None  # never reached: gather's read has a producer")] + CELLS[7:]
    nb = make_notebook(workdir / "dask_fail.ipynb", cells)
    res = run_nbflow("run", nb, "--executor", "dask", cwd=workdir)
    assert res.returncode == 1
    assert "ValueError: bad item" in res.stderr
    run_id = run_id_of(res.stdout)
    assert store.run_end("DaskFlow", run_id)["successful"] is False
    assert store.tasks("DaskFlow", run_id, "gather") == []


def test_dask_timeout_kills_the_task_on_its_worker(workdir, store):
    nb = make_notebook(workdir / "dask_timeout.ipynb", [
        "%%flow DaskTimeoutFlow",
        "%%step start -> end --timeout 1 --catch err\nimport time\nself.before = 1\n"
        "try:\n    time.sleep(30)\nexcept BaseException:\n    time.sleep(30)",
        "%%step end\nprint('caught', self.err.type, 'timed out after 1 second' in self.err.message)",
    ])
    res = run_nbflow("run", nb, "--executor", "dask", cwd=workdir, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "caught" in res.stdout and "True" in res.stdout.split("caught", 1)[1].splitlines()[0]


def test_dask_tasks_fork_from_a_zygote_that_imported_the_notebooks_modules(workdir, store):
    """Each worker's zygote imports the notebook's imports once; a task forked from it
    finds the module loaded before its own code imports it."""
    nb = make_notebook(workdir / "dask_preload.ipynb", [
        "%%flow DaskPreloadFlow",
        "%%step start -> end\nimport os, sys\nself.before = 'colorsys' in sys.modules\n"
        "self.parent = open(f'/proc/{os.getppid()}/cmdline').read()\nimport colorsys",
        "%%step end\npass",
    ])
    res = run_nbflow("run", nb, "--executor", "dask", cwd=workdir)
    assert res.returncode == 0, res.stderr
    got = store.artifacts("DaskPreloadFlow", run_id_of(res.stdout), "start")
    assert "nbflow.executors.zygote" in got["parent"] and got["before"] is True
