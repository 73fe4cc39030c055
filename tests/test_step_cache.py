"""The step cache (`nbflow run --cache`, issue 16): an unchanged rerun executes no task;
editing one step reruns exactly it and what depends on its output; a parameter change
reruns the steps that read it."""
from helpers import make_notebook, run_id_of, run_nbflow

from nbflow.datastore import records

CELLS = [
    "%%flow CacheFlow\nalpha = Parameter('alpha', default=1)",
    "%%step start -> a, b\nself.base = 10",
    "%%step a -> join\nself.x = self.base + 1",
    "%%step b -> join\nself.x = self.base * self.alpha",
    "%%step join -> fan\nself.xs = sorted(i.x for i in inputs)",
    "%%step fan -> sq --foreach xs",
    "%%step sq -> collect\nself.sq = self.input ** 2",
    "%%step collect -> end\nself.sqs = [i.sq for i in inputs]",
    "%%step end\nprint('sqs', self.sqs)",
]


def executed(store, res) -> dict:
    """step -> how many of its tasks ran (were not reused) in the run `res` printed."""
    run_id = run_id_of(res.stdout)
    out = {}
    for step in records.list_steps(store.ds, "CacheFlow", run_id):
        recs = store.tasks("CacheFlow", run_id, step)
        out[step] = sum(1 for r in recs if not r.get("origin"))
    return out


def test_unchanged_rerun_runs_nothing_and_an_edit_reruns_what_it_affects(workdir, store):
    nb = make_notebook(workdir / "cache.ipynb", CELLS)
    first = run_nbflow("run", nb, "--cache", cwd=workdir)
    assert first.returncode == 0, first.stderr
    assert set(executed(store, first).values()) == {1, 2}   # sq: two splits

    again = run_nbflow("run", nb, "--cache", cwd=workdir)
    assert again.returncode == 0, again.stderr
    assert set(executed(store, again).values()) == {0}
    assert again.stdout.count("Cached: reusing task CacheFlow/") == 9
    end = store.artifacts("CacheFlow", run_id_of(again.stdout), "end")
    assert end["sqs"] == [100, 121]

    # edit one branch: it, and only what its output feeds, runs again
    cells = list(CELLS)
    cells[3] = "%%step b -> join\nself.x = self.base * self.alpha * 2"
    edited = run_nbflow("run", make_notebook(workdir / "cache.ipynb", cells), "--cache",
                        cwd=workdir)
    assert edited.returncode == 0, edited.stderr
    ran = executed(store, edited)
    assert ran == {"start": 0, "a": 0, "b": 1, "join": 1, "fan": 1, "sq": 2, "collect": 1, "end": 1}
    # (both splits: each inherits the changed list self.xs)

    # a parameter only b reads
    param = run_nbflow("run", nb, "--cache", "--alpha", "3", cwd=workdir)
    assert param.returncode == 0, param.stderr
    ran = executed(store, param)
    assert ran["start"] == 0 and ran["a"] == 0 and ran["b"] == 1
    assert store.artifacts("CacheFlow", run_id_of(param.stdout), "start")["alpha"] == 3

    # without --cache, or with a step excluded, tasks run
    plain = run_nbflow("run", nb, "--alpha", "3", cwd=workdir)
    assert set(executed(store, plain).values()) == {1, 2}
    excl = run_nbflow("run", nb, "--cache", "--alpha", "3", "--no-cache-step", "a", cwd=workdir)
    ran = executed(store, excl)
    assert ran["a"] == 1 and ran["start"] == 0 and ran["b"] == 0


def test_a_step_reading_current_is_never_cached(workdir, store, monkeypatch):
    monkeypatch.setenv("NBFLOW_CACHE", "1")
    nb = make_notebook(workdir / "cur.ipynb", [
        "%%flow CacheFlow", "%%step start -> end\nself.run = current.run_id", "%%step end"])
    run_nbflow("run", nb, cwd=workdir)
    res = run_nbflow("run", nb, cwd=workdir)
    assert res.returncode == 0, res.stderr
    assert "step 'start' is never cached: it reads `current`" in res.stderr
    assert executed(store, res)["start"] == 1   # (and end, whose input changed with it)


def test_a_kernel_cell_with_cache_reuses_its_unchanged_task(workdir, store):
    from test_kernel_interactive import KernelDriver, interactive_runs

    with KernelDriver(workdir, workdir / "dev.ipynb") as kernel:
        kernel.run("%%step start -> end --cache\nprint('computing')\nself.v = 41")
        r = kernel.run("%%step start -> end --cache\nprint('computing')\nself.v = 41")
        assert "computing" not in r.stdout and "(cached: task DevFlow/" in r.stdout
        assert kernel.run("print(self.v)").stdout.strip() == "41"
        r = kernel.run("%%step start -> end --cache\nprint('computing')\nself.v = 42")
        assert "computing" in r.stdout   # edited: it runs
        [run_id] = interactive_runs(store, "DevFlow")
        recs = store.tasks("DevFlow", run_id, "start")
        assert [bool(rec.get("origin")) for rec in recs] == [False, True, False]
