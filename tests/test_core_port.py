"""Metaflow's core test suite (test/core in Netflix/metaflow) ported to notebooks:
each applicable graph shape crossed with each applicable test body, as Metaflow's
harness does, written as a notebook in a temp dir, run with `nbflow run` (and
`nbflow resume` for the resume tests), and checked through nbflow's client.
tests/core_port/ holds the harness and the bodies; the README lists the tests that do
not apply and why."""
from __future__ import annotations

import os

import pytest
from helpers import cli_env, run_nbflow

from tests.core_port.bodies import ALL
from tests.core_port.harness import crossings, flow_name, write

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

CROSSINGS = crossings(ALL)


@pytest.mark.parametrize("test, graph", CROSSINGS,
                         ids=[f"{t.name}-{g}" for t, g in CROSSINGS])
def test_core(test, graph, workdir):
    from nbflow import Flow

    if test.opt_in and not os.environ.get(test.opt_in):
        pytest.skip(f"heavy: set {test.opt_in} to run it")
    notebook = write(test, graph, workdir)
    env = cli_env(**test.env)
    res = run_nbflow("run", notebook, *test.run_args, cwd=workdir, env=env)
    output = res.stdout + res.stderr
    if test.resume:
        assert res.returncode == 1 and "ResumeFromHere" in output, output
        res = run_nbflow("resume", notebook, *test.resume_args, cwd=workdir, env=env)
        output = res.stdout + res.stderr
    assert res.returncode == (1 if test.should_fail else 0), output
    run = Flow(flow_name(test, graph)).latest_run
    test.check(run, graph)


def test_the_crossing_covers_every_body_and_shape():
    names = {t.name for t, _ in CROSSINGS}
    assert names == {t.name for t in ALL}
    assert {g for _, g in CROSSINGS} == {"branch", "foreach", "small_foreach", "nested_foreach",
                                              "foreach_in_branch", "branch_in_foreach"}
