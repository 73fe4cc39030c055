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

from tests.core_port import bodies, bodies_client, bodies_extra, bodies_more
from tests.core_port.harness import crossings, flow_name, write

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ALL = bodies.ALL + bodies_more.ALL + bodies_client.ALL + bodies_extra.EXTRA
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


# Crossings whose bodies are plain Metaflow code (no nbflow import, no `len(inputs)`), one
# or a few shapes each: exported, run (and resumed) by real Metaflow, and compared task by
# task (artifacts, and whether each task and the run are successful).
PARITY_SHAPES = {
    "basic_artifact": ("branch_in_foreach",), "lineage": ("foreach_in_branch",),
    "merge_artifacts_propagation": ("small_foreach",), "basic_foreach": ("foreach",),
    "nested_foreach": ("nested_foreach",), "nonmonotonic_foreach": ("small_foreach",),
    "catch_retry": ("small_foreach",), "basic_parameters": ("branch",),
    "constants": ("branch",), "project_branch": ("small_foreach",),
    "basic_include": ("branch",), "dynamic_parameters": ("branch",),
    "merge_artifacts": ("branch", "foreach", "foreach_in_branch"),
    "merge_artifacts_include": ("branch_in_foreach",),
    "resume_foreach_join": ("nested_foreach", "branch_in_foreach"),
    "resume_end_step": ("foreach_in_branch",), "resume_foreach_inner": ("small_foreach",),
    "resume_succeeded_step": ("branch",), "resume_start_step": ("branch_in_foreach",),
    "resume_foreach_split": ("small_foreach",), "merge_artifacts_conflicts": ("branch",),
}
PARITY = [(t, g) for t, g in CROSSINGS if g in PARITY_SHAPES.get(t.name, ())]


@pytest.mark.parametrize("test, graph", PARITY, ids=[f"{t.name}-{g}" for t, g in PARITY])
def test_core_matches_metaflow(test, graph, workdir):
    pytest.importorskip("metaflow")
    from tests.core_port.parity import read_tasks, run_with_metaflow

    notebook = write(test, graph, workdir)
    env = cli_env(**test.env)
    res = run_nbflow("run", notebook, *test.run_args, cwd=workdir, env=env)
    if test.resume:
        res = run_nbflow("resume", notebook, *test.resume_args, cwd=workdir, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    where = run_with_metaflow(notebook, workdir, test.env, test.files,
                              test.resume_args if test.resume else None)
    flow = flow_name(test, graph)
    ours, theirs = read_tasks("nbflow", flow, workdir), read_tasks("metaflow", flow, where)
    assert ours["successful"] == theirs["successful"]
    assert sorted(ours["steps"]) == sorted(theirs["steps"])
    for step, tasks in theirs["steps"].items():
        assert ours["steps"][step] == tasks, (step, ours["steps"][step], tasks)


def test_the_crossing_covers_every_body_and_shape():
    names = {t.name for t, _ in CROSSINGS}
    assert names == {t.name for t in ALL}
    assert {g for _, g in CROSSINGS} == {"branch", "foreach", "small_foreach", "nested_foreach",
                                              "foreach_in_branch", "branch_in_foreach"}
