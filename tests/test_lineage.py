"""The artifact lineage check (issue 16): a read of an artifact no upstream step or
parameter can have produced is a validation error naming cell, line and step; correct
notebooks (all of notebooks/) have no finding; `nbflow show --artifacts`."""
from pathlib import Path

import pytest
from helpers import make_notebook, run_nbflow

from nbflow.graph import FlowGraph, validate
from nbflow.graph.lineage import analyze
from nbflow.notebook.parse import parse_cells, read_notebook


def errors_of(*cells) -> list[str]:
    pairs = [("markdown", c[3:]) if c.startswith("md:") else ("code", c) for c in cells]
    return [e.render() for e in validate(FlowGraph(parse_cells(pairs, flow_name="TestFlow")))]


BRANCHES = ["%%step start -> a, b\nself.base = 1",
            "%%step a -> join\nself.x = 1\nself.only_a = 2",
            "%%step b -> join\nself.x = 2"]

MISTAKES = [
    # a typo, with "did you mean"
    (["%%step start -> end\nself.data = [1, 2]", "%%step end\nprint(len(self.dataa))"],
     "cell 2, line 2, step 'end': reads self.dataa, but no step before 'end' sets it and no "
     "parameter is named 'dataa'; did you mean self.data?"),
    # read before anybody wrote it (the writer comes later in the flow)
    (["%%step start -> mid\nprint(self.model)", "%%step mid -> end\nself.model = 1",
      "%%step end"],
     "cell 1, line 2, step 'start': reads self.model, but no step before 'start' sets it and no "
     "parameter is named 'model'"),
    # parameters are known; a misspelt one is not
    (["%%flow F\nalpha = Parameter('alpha', default=1)",
      "%%step start -> end\nself.y = self.alpa * 2", "%%step end"],
     "cell 2, line 2, step 'start': reads self.alpa, but no step before 'start' sets it and no "
     "parameter is named 'alpa'; did you mean self.alpha?"),
    # assigned in both branches, read after a join that neither assigns nor merges it
    (BRANCHES + ["%%step join -> end\nself.n = len(inputs)", "%%step end\nprint(self.x)"],
     "cell 5, line 2, step 'end': reads self.x, but it is not set after join 'join': step(s) "
     "a, b assign it before the join, and a join starts with no artifacts of its own (as in "
     "Metaflow); in 'join' call self.merge_artifacts(inputs) or assign self.x"),
    # set before the split: a join still starts with nothing
    (BRANCHES + ["%%step join -> end\nself.n = len(inputs)", "%%step end\nprint(self.base)"],
     "cell 5, line 2, step 'end': reads self.base, but it is not set after join 'join': "
     "step(s) start assign it before the join, and a join starts with no artifacts of its own "
     "(as in Metaflow); in 'join' call self.merge_artifacts(inputs) or assign self.base"),
    # the join itself reads self.x
    (BRANCHES + ["%%step join -> end\nself.total = self.x + 1", "%%step end"],
     "cell 4, line 2, step 'join': reads self.x, but a join starts with no artifacts of its own "
     "(as in Metaflow): read inputs[i].x, or call self.merge_artifacts(inputs) before reading "
     "it"),
    # merge_artifacts(include=...) brings only what it names
    (BRANCHES + ["%%step join -> end\nself.merge_artifacts(inputs, include=['base'])",
                 "%%step end\nprint(self.base, self.only_a)"],
     "cell 5, line 2, step 'end': reads self.only_a, but it is not set after join 'join': "
     "step(s) a assign it before the join, and a join starts with no artifacts of its own (as "
     "in Metaflow); in 'join' call self.merge_artifacts(inputs) or assign self.only_a"),
    # inputs: by index, by loop, by step name
    (BRANCHES + ["%%step join -> end\nself.s = [i.y for i in inputs]", "%%step end"],
     "cell 4, line 2, step 'join': reads the input's .y, but no parent (a, b) or step before "
     "it sets self.y"),
    (BRANCHES + ["%%step join -> end\nself.s = inputs[0].xx", "%%step end"],
     "cell 4, line 2, step 'join': reads the input's .xx, but no parent (a, b) or step before "
     "it sets self.xx; did you mean .x?"),
    (BRANCHES + ["%%step join -> end\nself.s = inputs.b.only_a", "%%step end"],
     "cell 4, line 2, step 'join': reads inputs.b.only_a, but no parent (b) or step before it "
     "sets self.only_a"),
    (BRANCHES + ["%%step join -> end\nself.s = inputs.c.x", "%%step end"],
     "cell 4, line 2, step 'join': inputs.c: 'c' is not a parent of this join (its parents: "
     "a, b)"),
    # foreach: the list must exist, the body reads what the split step had
    (["%%step start -> body --foreach itemz\nself.items = [1, 2]",
      "%%step body -> join\nself.sq = self.input ** 2", "%%step join -> end\n"
      "self.all = [i.sq for i in inputs]", "%%step end"],
     "cell 1, line 1, step 'start': '--foreach itemz': neither 'start' nor a step before it "
     "sets self.itemz; did you mean '--foreach items'?"),
    (["%%step start -> body --foreach items\nself.items = [1, 2]",
      "%%step body -> join\nself.sq = self.input ** 2", "%%step join -> end\n"
      "self.all = [i.sq for i in inputs]", "%%step end\nprint(self.sq)"],
     "cell 4, line 2, step 'end': reads self.sq, but it is not set after join 'join': step(s) "
     "body assign it before the join, and a join starts with no artifacts of its own (as in "
     "Metaflow); in 'join' call self.merge_artifacts(inputs) or assign self.sq"),
]


@pytest.mark.parametrize("cells, message", MISTAKES)
def test_a_seeded_mistake_is_reported_exactly(cells, message):
    assert errors_of(*cells) == [message]


CORRECT = [
    # a step reads what it wrote itself, a parameter, and through optional reads
    ["%%flow F\nalpha = Parameter('alpha', default=1)",
     "%%step start -> end\nself.n = 0\nself.n += self.alpha\n"
     "if hasattr(self, 'maybe'):\n    print(self.maybe)\n"
     "print(getattr(self, 'other', None))\n"
     "try:\n    self.gone\nexcept AttributeError:\n    pass",
     "%%step end\nprint(self.n, self.alpha)"],
    # computed names: the check cannot tell, so it says nothing
    ["%%step start -> end\nfor k in 'ab':\n    setattr(self, k, 1)",
     "%%step end\nprint(self.a, self.b)"],
    ["%%step start -> end\nself.a = 1", "%%step end\nname = 'zz'\nprint(getattr(self, name))\n"
     "print(self.whatever)"],
    # `self` handed to a helper may get anything set on it
    ["%%flow F\ndef fill(flow):\n    flow.data = 1", "%%step start -> end\nfill(self)",
     "%%step end\nprint(self.data)"],
    # joins: merged, assigned, read through inputs every way
    BRANCHES + ["%%step join -> end\nself.merge_artifacts(inputs, exclude=['x'])\n"
                "self.x = max(i.x for i in inputs)\nfirst = inputs[0]\nprint(first.x)\n"
                "for n, inp in enumerate(inputs):\n    print(inp.x, inputs.a.only_a)\n"
                "print(getattr(inputs.b, 'x'))",
                "%%step end\nprint(self.x, self.base, self.only_a)"],
    # a class or function in a body with its own `self`
    ["%%step start -> end\nclass Model:\n    def fit(self):\n        self.w = 1\n"
     "        return self.bias\nself.m = Model()", "%%step end\nprint(self.m)"],
    # a loop variable named like an input alias elsewhere is not an input
    BRANCHES + ["%%step join -> end\nself.v = [i.x for i in inputs]\n"
                "for i in [object()]:\n    print(i.anything)", "%%step end"],
    # guarded reads through inputs and contextlib.suppress; code in strings
    BRANCHES + ["%%step join -> end\nimport contextlib\n"
                "self.s = [i.score for i in inputs if hasattr(i, 'score')]\n"
                "with contextlib.suppress(AttributeError):\n    print(self.maybe)",
                "%%step end"],
    ["%%step start -> end\nexec('self.made = 1')", "%%step end\nprint(self.made)"],
    # --catch sets its variable
    ["%%step start -> end --catch err\nself.v = 1", "%%step end\nprint(self.err, self.v)"],
]


@pytest.mark.parametrize("cells", CORRECT)
def test_correct_notebooks_have_no_finding(cells):
    assert errors_of(*cells) == []


NOTEBOOKS = sorted(p for p in (Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_example_notebooks_have_no_finding(path):
    graph = FlowGraph(read_notebook(str(path)))
    if graph.complete:
        assert analyze(graph).errors == []


def test_check_exits_1_and_show_lists_reads_and_writes(tmp_path):
    nb = make_notebook(tmp_path / "typo.ipynb", [
        "%%step start -> end\nself.data = [1, 2]", "%%step end\nprint(self.dataa)"])
    res = run_nbflow("check", nb, cwd=tmp_path)
    assert res.returncode == 1
    assert "did you mean self.data?" in res.stdout + res.stderr
    ok = make_notebook(tmp_path / "ok.ipynb", [
        "%%flow F\nalpha = Parameter('alpha', default=1)",
        "%%step start -> end\nself.data = [self.alpha]", "%%step end\nprint(self.data)"])
    res = run_nbflow("show", ok, "--artifacts", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "reads: alpha (parameter)\n    writes: data" in res.stdout
    assert "reads: data (from start)\n    writes: -" in res.stdout


def test_a_kernel_cell_is_checked_against_its_parents_tasks(workdir, store):
    from test_kernel_interactive import KernelDriver, interactive_runs

    with KernelDriver(workdir, workdir / "dev.ipynb") as kernel:
        kernel.run("%%step start -> end\nself.data = [1, 2]")
        r = kernel.run("%%step end\nprint(len(self.dataa))", ok=False)
        assert ("this cell, line 2, step 'end': reads self.dataa, but the tasks of start have "
                "no artifact 'dataa' and no parameter is named 'dataa'; did you mean "
                "self.data?") in r.error_text
        [run_id] = interactive_runs(store, "DevFlow")
        assert store.tasks("DevFlow", run_id, "end") == []   # the task never started
        assert "2" in kernel.run("%%step end\nprint(len(self.data))").stdout
