from helpers import make_notebook, run_id_of, run_nbflow


def test_branch_foreach_join_run(workdir, store):
    nb = make_notebook(workdir / "hello.ipynb", [
        "md:# hello",
        "%load_ext nbflow",
        "%%flow HelloFlow\nalpha = Parameter('alpha', default=0.5)\ndef helper(x): return x + 1",
        '%%step start -> a, b\n"""The start."""\nself.x = helper(1)\nprint("hello", self.alpha)',
        "%%step a -> join\nself.y = self.x * 10",
        "%%step b -> join\nself.y = self.x * 100",
        '%%step join -> fe\nself.ys = sorted(i.y for i in inputs)\n'
        'self.merge_artifacts(inputs, exclude=["y"])\nself.things = list("abc")',
        "%%step fe -> body --foreach things\npass",
        "%%step body -> fjoin\nself.up = self.input.upper() * (self.index + 1)",
        '%%step fjoin -> end\nself.ups = [i.up for i in inputs]\n'
        'self.merge_artifacts(inputs, exclude=["up"])',
        "%%step end\nprint(self.ups, self.ys, self.x, self.alpha)",
    ])
    res = run_nbflow("run", nb, "--alpha", "0.7", cwd=workdir)
    assert res.returncode == 0, res.stderr
    run_id = run_id_of(res.stdout)
    assert f"[{run_id}/start/1 (pid " in res.stdout
    assert "hello 0.7" in res.stdout
    end = store.artifacts("HelloFlow", run_id, "end")
    assert end["ups"] == ["A", "BB", "CCC"]
    assert end["ys"] == [20, 200]
    assert end["x"] == 2 and end["alpha"] == 0.7
    assert [t["foreach_stack"][-1]["index"] for t in store.tasks("HelloFlow", run_id, "body")] == [0, 1, 2]
