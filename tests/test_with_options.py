"""`--with NAME:ATTR=V` (Metaflow's decorator and attribute names) applies a step option
to every step of `nbflow run`, `nbflow resume` and `Runner`; a cell's own option wins;
unknown names or attributes list the known ones."""
from __future__ import annotations

import pytest
from helpers import make_notebook, run_id_of, run_nbflow

from nbflow.errors import UsageError
from nbflow.notebook.parse import parse_cells
from nbflow.notebook.spec import StepOptions
from nbflow.run.withopts import apply, step_options

FLAKY = [
    "%%flow WithFlow\nimport os",
    ("%%step start -> each --foreach items\nfrom nbflow import current\n"
     "self.items = [1, 2]\nself.tries = current.retry_count"),
    ("%%step each -> join\nfrom nbflow import current\n"
     "if current.retry_count < 2:\n    raise RuntimeError('flaky')\nself.v = self.input"),
    "%%step join -> end --catch mine\nself.vs = [i.v for i in inputs]\nraise ValueError('boom')",
    "%%step end\nself.caught = type(self.mine).__name__ if self.mine else None",
]


def test_specs_become_step_options():
    assert step_options(["retry:times=3,minutes_between_retries=0", "timeout:minutes=1",
                         "catch:var=err", "resources:cpu=2"]) == StepOptions(
        retry=3, timeout=60.0, catch="err", resources=(("cpu", 2),))
    assert step_options(["retry"]) == StepOptions(retry=3, retry_delay=120.0)  # Metaflow's
    assert step_options(["catch"]).catch == "_catch_exception"


def test_a_cells_own_option_wins_and_foreach_steps_get_no_catch():
    nb = parse_cells([("code", c) for c in FLAKY], flow_name="WithFlow")
    applied = {s.name: s.options for s in apply(nb, ["catch:var=err", "retry:times=1",
                                                     "resources:memory=512"]).steps}
    assert applied["start"].catch is None and applied["start"].foreach == "items"
    assert applied["each"].catch == "err" and applied["join"].catch == "mine"
    assert applied["each"].retry == 1 and dict(applied["end"].resources) == {"memory": 512}


@pytest.mark.parametrize("spec, message", [
    ("retyr:times=2", "unknown step option 'retyr'; known: retry, timeout, catch, resources"),
    ("retry:tries=2", "'tries=2' is not an attribute of retry; known: times=..., "
     "minutes_between_retries=..."),
    ("resources:disk=10", "known: cpu=..., memory=..., gpu=..."),
    ("retry:times=x", "--with retry:times=x: a value is not a number"),
    ("timeout:seconds=-5", "'--timeout' must be > 0, got '-5'"),
])
def test_bad_specs_name_what_is_known(spec, message):
    with pytest.raises(UsageError) as info:
        step_options([spec])
    assert message in str(info.value)


def test_run_with_options_on_every_step(workdir, store):
    nb = make_notebook(workdir / "with.ipynb", FLAKY)
    res = run_nbflow("run", nb, "--with", "retry:times=2,minutes_between_retries=0",
                     "--with", "catch:var=err", cwd=workdir)
    assert res.returncode == 0, res.stdout + res.stderr
    run_id = run_id_of(res.stdout)
    each = [t["artifacts"] for t in store.tasks("WithFlow", run_id, "each")]
    assert len(each) == 2
    end = store.artifacts("WithFlow", run_id, "end")
    assert end["caught"] == "StepException" and end["vs"] == [1, 2]   # the cell's --catch mine
    assert end["err"] is None                                          # --with catch, no error


def test_without_with_the_flaky_step_fails_and_resume_takes_with(workdir, store):
    nb = make_notebook(workdir / "with.ipynb", FLAKY)
    failed = run_nbflow("run", nb, cwd=workdir)
    assert failed.returncode == 1
    res = run_nbflow("resume", nb, "--with", "retry:times=2,minutes_between_retries=0",
                     cwd=workdir)
    assert res.returncode == 0, res.stdout + res.stderr
    run_id = run_id_of(res.stdout)
    assert run_id != run_id_of(failed.stdout)
    assert store.artifacts("WithFlow", run_id, "end")["vs"] == [1, 2]


def test_unknown_with_is_a_usage_error(workdir):
    nb = make_notebook(workdir / "with.ipynb", FLAKY)
    res = run_nbflow("run", nb, "--with", "kubernetes", cwd=workdir)
    assert res.returncode == 2
    assert "unknown step option 'kubernetes'; known: retry, timeout, catch, resources" in \
        res.stderr
    assert not (workdir / ".nbflow").exists()


def test_runner_takes_decospecs(workdir):
    from nbflow import Runner

    nb = make_notebook(workdir / "with.ipynb", FLAKY)
    result = Runner(str(nb), show_output=False,
                    decospecs=["retry:times=2,minutes_between_retries=0"]).run()
    assert result.status == "successful", result.stderr
    assert result.run["end"].task.data.caught == "StepException"


@pytest.mark.timeout(300)
def test_nbflow_run_magic_takes_with(workdir, store):
    from test_kernel_interactive import KernelDriver

    path = make_notebook(workdir / "with.ipynb", ["%load_ext nbflow", *FLAKY])
    with KernelDriver(workdir, path, NBFLOW_NO_WIDGETS="1") as k:
        r = k.run("run = %nbflow run --with retry:times=2,minutes_between_retries=0\n"
                  "print('ok?', run.successful)")
        assert "ok? True" in r.stdout, r.stdout
        r = k.run("%nbflow run --with retyr", ok=False)
        assert "unknown step option 'retyr'" in r.error_text + r.stdout + r.stderr
