"""`current` in every step of a run: each attribute of docs/reference.md section 1 with its right value."""
from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import make_notebook, run_id_of, run_nbflow

FIELDS = ("flow_name", "run_id", "step_name", "task_id", "pathspec", "retry_count",
          "origin_run_id", "namespace", "username", "tags", "is_interactive")

FLOW_CELL = f"""%%flow CurFlow
FIELDS = {FIELDS!r}
AT_IMPORT = (current.flow_name, current.step_name)   # module code already sees current
def snap():
    return dict({{f: getattr(current, f) for f in FIELDS}}, at_import=AT_IMPORT)
"""


def _notebook(workdir):
    # every kind of step: start, static branches, a retried step, a join, a foreach, its
    # splits, the foreach's join, end
    return make_notebook(workdir / "cur.ipynb", [
        FLOW_CELL,
        "%%step start -> a, b\nself.cur = snap()",
        "%%step a -> join\nself.cur = snap()",
        ("%%step b -> join --retry 1\nself.cur = snap()\n"
        "if current.retry_count == 0:\n    raise RuntimeError('first try fails')"),
        "%%step join -> fe\nself.cur = snap()",
        "%%step fe -> body --foreach xs\nself.xs = ['p', 'q']\nself.cur = snap()",
        "%%step body -> fjoin\nself.cur = snap()",
        "%%step fjoin -> end\nself.cur = snap()",
        ("%%step end\nself.cur = snap()\n"
        "from nbflow import current as imported  # as `from metaflow import current`\n"
        "self.via_import = (imported.step_name, imported.pathspec)"),
    ])


@pytest.mark.parametrize("fork", [True, False], ids=["forked-tasks", "spawned-tasks"])
def test_current_in_every_step(workdir, store, fork):
    nb = _notebook(workdir)
    args = ["run", nb, "--tag", "red", "--tag", "blue"] + ([] if fork else ["--no-fork"])
    res = run_nbflow(*args, cwd=workdir)
    assert res.returncode == 0, res.stderr
    run_id = run_id_of(res.stdout)
    seen = 0
    for step in ("start", "a", "b", "join", "fe", "body", "fjoin", "end"):
        for rec in store.tasks("CurFlow", run_id, step):
            cur = store.ds.get_object(rec["artifacts"]["cur"]["key"])
            assert cur == {
                "flow_name": "CurFlow", "run_id": run_id, "step_name": step,
                "task_id": rec["task_id"], "pathspec": f"CurFlow/{run_id}/{step}/{rec['task_id']}",
                "retry_count": 1 if step == "b" else 0, "origin_run_id": None,
                "namespace": "user:tester", "username": "tester", "tags": ["red", "blue"],
                "is_interactive": False, "at_import": ("CurFlow", step),
            }, step
            seen += 1
    assert seen == 9
    end = store.artifacts("CurFlow", run_id, "end")
    assert end["via_import"] == ("end", end["cur"]["pathspec"])


def test_current_outside_a_running_step():
    code = ("from nbflow import current\n"
            "print(current.is_running_flow, current.flow_name, current.retry_count, repr(current))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False None 0 current(not in a running step)"
