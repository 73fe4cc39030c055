"""Names follow Python's rules (non-ASCII identifiers are names; keywords are not), long
inputs are cut in messages, and graph algorithms have no recursion limit on chain length."""
from __future__ import annotations

import pytest
from helpers import make_notebook, run_id_of, run_nbflow

from nbflow import client
from nbflow.client.context import reset_defaults
from nbflow.errors import NbflowError
from nbflow.names import is_identifier


def chain(n: int) -> list[str]:
    return (["%%flow ChainFlow", "%%step start -> s1\nself.k = 0"]
            + [f"%%step s{i} -> s{i + 1}\nself.k += 1" for i in range(1, n)]
            + [f"%%step s{n} -> end\nself.k += 1", "%%step end\nprint('k', self.k)"])


def test_a_10000_step_chain_validates_and_shows(workdir):
    nb = make_notebook(workdir / "chain.ipynb", chain(10_000))
    res = run_nbflow("check", nb, cwd=workdir)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "10002 steps, a valid flow" in res.stdout
    res = run_nbflow("show", nb, cwd=workdir)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "Step s9999" in res.stdout and "RecursionError" not in res.stderr


@pytest.mark.slow
def test_a_1200_step_chain_runs(workdir):
    nb = make_notebook(workdir / "chain.ipynb", chain(1200))
    res = run_nbflow("run", nb, "--quiet", cwd=workdir, timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "k 1200" in res.stdout


def test_non_ascii_identifiers_are_names(workdir):
    nb = make_notebook(workdir / "uni.ipynb", [
        "%%flow FlöwÄ",
        "%%step start -> stép --foreach ïtems\nself.ïtems = [1, 2]",
        "%%step stép -> jöin\nself.ü = self.input * 10",
        "%%step jöin -> end\nself.all = [i.ü for i in inputs]",
        "%%step end",
    ])
    res = run_nbflow("run", nb, cwd=workdir)
    assert res.returncode == 0, res.stderr
    try:
        client.namespace(None)
        run = client.Flow("FlöwÄ")[run_id_of(res.stdout)]
        assert run["end"].task.data.all == [10, 20]
        assert sorted(t.data.ü for t in run["stép"]) == [10, 20]
        assert client.Task(f"FlöwÄ/{run.id}/jöin/{run['jöin'].task.id}")["all"].data == [10, 20]
    finally:
        reset_defaults()


@pytest.mark.parametrize("header, message", [
    ("%%flow class", "'%%flow class': the flow name must be a Python identifier and not a "
                     "keyword"),
    ("%%flow my-flow", "the flow name must be a Python identifier"),
])
def test_flow_names_are_python_names(workdir, header, message):
    nb = make_notebook(workdir / "bad.ipynb", [header, "%%step start -> end", "%%step end"])
    res = run_nbflow("check", nb, cwd=workdir)
    assert res.returncode != 0
    assert message in res.stdout + res.stderr


def test_long_inputs_are_cut_in_messages(workdir):
    long_name = "s" * 100_000
    nb = make_notebook(workdir / "long.ipynb", [f"%%step start -> {long_name}-x", "%%step end"])
    res = run_nbflow("check", nb, cwd=workdir)
    assert res.returncode != 0
    assert "more characters)" in res.stdout + res.stderr
    assert len(res.stdout + res.stderr) < 2000
    (workdir / ".nbflow").mkdir()    # a store, so that well-formed names are looked up
    for pathspec in ["F/" + "1" * 100_000 + "/start/1", "F/" + "1" * 100_000 + "/s/1/x/y",
                     "F" * 100_000 + "/1", "F/1/" + "-" * 100_000,
                     "F" * 100_000 + "/1/start/1",            # longer than a file name can be
                     "F/1/" + "s" * 100_000 + "/1", "F/1/start/1/" + "x" * 100_000]:
        res = run_nbflow("dump", pathspec, cwd=workdir)
        assert res.returncode != 0 and "Traceback" not in res.stderr, res.stderr[-500:]
        assert len(res.stdout + res.stderr) < 2000, res.stderr[:500]
    res = run_nbflow("dump", "F/1/start/1/x", cwd=workdir)    # an artifact's pathspec
    assert res.returncode == 2
    assert "names an artifact; give a step or a task: F/1/start/1" in res.stderr


def test_any_error_cuts_a_long_input():
    assert is_identifier("FlöwÄ") and is_identifier("stép") and not is_identifier("class")
    err = NbflowError("bad value " + "x" * 100_000 + " here", step="s" * 1000)
    assert len(err.render()) < 400 and err.render().endswith(" here")
    assert "more characters)" in err.message
