"""Errors a Metaflow user catches by built-in type: assigning a parameter or an
IncludeFile, a reserved name or a join's input is an AttributeError (and nbflow's
ArtifactError); a missing artifact is an AttributeError; a missing client object a
KeyError where Metaflow raises one."""
from __future__ import annotations

import pytest
from helpers import make_notebook, run_id_of, run_nbflow

from nbflow.errors import ArtifactError, NbflowError

CATCHING_FLOW = [
    ("%%flow CatchFlow\nalpha = Parameter('alpha', default=1)\n"
     "data = IncludeFile('data', default='data.txt', is_text=True)"),
    ("%%step start -> a, b\n"
     "caught = []\n"
     "for name in ('alpha', 'data', 'input', 'index'):\n"
     "    try:\n"
     "        setattr(self, name, 5)\n"
     "    except AttributeError as e:\n"
     "        caught.append((name, type(e).__name__, str(e)))\n"
     "self.caught = caught\n"
     "try:\n    self.nothing_here\nexcept AttributeError as e:\n    self.missing = str(e)\n"),
    "%%step a -> join\nself.v = 1",
    "%%step b -> join\nself.v = 2",
    ("%%step join -> end\n"
     "try:\n    inputs[0].v = 3\nexcept AttributeError as e:\n    self.input_error = str(e)\n"
     "self.v = sum(i.v for i in inputs)"),
    "%%step end",
]


def test_a_step_catches_what_metaflow_raises_as_attribute_error(workdir, store):
    (workdir / "data.txt").write_text("hello")
    nb = make_notebook(workdir / "catch.ipynb", CATCHING_FLOW)
    res = run_nbflow("run", nb, cwd=workdir)
    assert res.returncode == 0, res.stderr
    run_id = run_id_of(res.stdout)
    start = store.artifacts("CatchFlow", run_id, "start")
    assert [c[0] for c in start["caught"]] == ["alpha", "data", "input", "index"]
    assert {c[1] for c in start["caught"]} == {"ReadOnlyArtifact"}
    assert "'alpha' is a parameter, and parameters are immutable" in start["caught"][0][2]
    assert "'data' is a parameter" in start["caught"][1][2]
    assert "artifact 'nothing_here' does not exist" in start["missing"]
    assert start["alpha"] == 1 and start["data"] == "hello"
    join = store.artifacts("CatchFlow", run_id, "join")
    assert "inputs are read-only" in join["input_error"] and join["v"] == 3


def test_client_errors_are_the_built_ins_metaflow_raises(workdir):
    from nbflow import Flow

    nb = make_notebook(workdir / "small.ipynb", ["%%step start -> end\nself.x = 1", "%%step end"])
    res = run_nbflow("run", nb, cwd=workdir)
    assert res.returncode == 0, res.stderr
    run = Flow("SmallFlow").latest_run
    with pytest.raises(KeyError):
        run["nope"]                       # Metaflow: KeyError
    task = run["start"].task
    with pytest.raises(AttributeError):
        _ = task.data.nope                # Metaflow: AttributeError
    with pytest.raises(KeyError):
        task["nope"]
    assert not hasattr(task.data, "nope") and task.data.x == 1


def test_read_only_error_is_both_families():
    from nbflow.errors import ReadOnlyArtifact

    err = ReadOnlyArtifact("'alpha' is a parameter", step="s", artifact="alpha")
    assert isinstance(err, AttributeError) and isinstance(err, ArtifactError)
    assert isinstance(err, NbflowError) and str(err) == "step 's': 'alpha' is a parameter"


def test_current_has_metaflows_parameter_names_and_run(workdir, store):
    nb = make_notebook(workdir / "cur.ipynb", [
        "%%flow CurFlow\nalpha = Parameter('alpha', default=1)\nbeta = Parameter('beta', default=2)",
        ("%%step start -> end\nself.names = current.parameter_names\n"
         "self.run_pathspec = current.run.pathspec\nself.run_tags = sorted(current.run.tags)"),
        "%%step end"])
    res = run_nbflow("run", nb, "--tag", "t1", cwd=workdir)
    assert res.returncode == 0, res.stderr
    run_id = run_id_of(res.stdout)
    start = store.artifacts("CurFlow", run_id, "start")
    assert start["names"] == ["alpha", "beta"]
    assert start["run_pathspec"] == f"CurFlow/{run_id}" and "t1" in start["run_tags"]
