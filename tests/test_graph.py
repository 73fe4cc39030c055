"""`nbflow check`, `nbflow show` and `nbflow run` of an invalid notebook, as a user runs them
(the rules themselves: tests/unit/test_graph_rules.py)."""
import pytest
from helpers import make_notebook, run_nbflow

LINEAR = ["%%step start -> a\nself.x = 1", "%%step a -> end\nself.y = 2", "%%step end"]


def test_check_cli(workdir):
    good = make_notebook(workdir / "good.ipynb", LINEAR)
    res = run_nbflow("check", good, cwd=workdir)
    assert res.returncode == 0 and "GoodFlow: 3 steps, a valid flow." in res.stdout
    bad = make_notebook(workdir / "bad.ipynb", ["md:# t", "%%step start -> trian", "%%step train",
                                                "%%step end\nself.next(x)"])
    res = run_nbflow("check", bad, cwd=workdir)
    assert res.returncode == 1
    assert "cell 2, step 'start': target 'trian' is not a step; did you mean 'train'?" in res.stderr
    assert "cell 4, line 2, step 'end': self.next(...)" in res.stderr
    assert "Traceback" not in res.stderr
    assert not (workdir / ".nbflow").exists()


BAD_NOTEBOOKS = {
    "malformed header": (["%%step start -> a --retries 2", "%%step a -> end", "%%step end"],
                         "cell 1, step 'start': unknown option '--retries'"),
    "unknown target": (["%%step start -> ned", "%%step end"],
                       "cell 1, step 'start': target 'ned' is not a step; did you mean 'end'?"),
    "cycle": (["%%step start -> a", "%%step a -> b", "%%step b -> a, end", "%%step end"],
              "the steps form a cycle: a -> b -> a"),
    "unmatched join": (["%%step start -> a, b", "%%step a -> j", "%%step b -> k",
                        "%%step j -> k\nx = inputs", "%%step k -> end", "%%step end"],
                       "must join exactly the branches of split 'start'"),
    "cross join": (["%%step start -> a, b", "%%step a -> c, d", "%%step b -> e", "%%step c -> j1",
                    "%%step d -> j2", "%%step e -> j2", "%%step j2 -> j1", "%%step j1 -> end",
                    "%%step end"], "joins branches of different splits"),
    "duplicate step": (["%%step start -> end", "%%step end", "%%step end"],
                       "step 'end' is defined twice: in cell 2 and in cell 3"),
    "self.next": (["%%step start -> end\nself.next(self.end)", "%%step end"],
                  "cell 1, line 2, step 'start': self.next(...) is not allowed"),
    "syntax error": (["%%step start -> end\nfor", "%%step end"],
                     "cell 1, line 2, step 'start': syntax error"),
    "end as a join": (["%%step start -> a, b", "%%step a -> end", "%%step b -> end", "%%step end"],
                      "the end step cannot be a join"),
}


@pytest.mark.parametrize("case", list(BAD_NOTEBOOKS))
def test_run_of_an_invalid_notebook_stores_nothing(workdir, case):
    cells, message = BAD_NOTEBOOKS[case]
    bad = make_notebook(workdir / "bad.ipynb", cells)
    res = run_nbflow("run", bad, cwd=workdir)
    assert res.returncode == 1 and message in res.stderr, res.stderr
    assert "Traceback" not in res.stderr and "Workflow starting" not in res.stdout
    assert not (workdir / ".nbflow").exists()


def test_show_cli(workdir):
    nb = make_notebook(workdir / "show_me.ipynb", [
        "%%flow ShowFlow",
        '%%step start -> a, b\n"""Load the data.\n\nSecond line."""\nself.xs = [1]',
        '%%step a -> j\n"""Branch A."""', "%%step b -> j",
        "%%step j -> f\nself.merge_artifacts(inputs)\nself.items = [1, 2]",
        "%%step f -> g --foreach items", "%%step g -> h", "%%step h -> end", "%%step end"])
    res = run_nbflow("show", nb, cwd=workdir)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert out.startswith("Flow ShowFlow")
    assert "Step start  (cell 2, split)\n    Load the data.\n\n    Second line.\n    => a, b" in out
    assert "Step a  (cell 3, linear)\n    Branch A.\n    => j" in out
    assert "Step b  (cell 4, linear)\n    ?\n    => j" in out
    assert "Step j  (cell 5, join)" in out
    assert "=> g  (foreach over self.items)" in out
    assert "Step g  (cell 7, linear)" in out
    assert "Step h  (cell 8, join)" in out  # the foreach's join, inferred


def test_show_cli_reports_errors(workdir):
    nb = make_notebook(workdir / "bad.ipynb", ["%%step start -> nowhere", "%%step end"])
    res = run_nbflow("show", nb, cwd=workdir)
    assert res.returncode == 1
    assert "Step start" in res.stdout
    assert "cell 1, step 'start': target 'nowhere' is not a step" in res.stderr
