"""More of Metaflow's test/core/tests, ported as in bodies.py: timeout_decorator (a
step over its `--timeout`, its error caught with `--catch`) and wide_foreach (a
foreach of 1200 splits, in order at the join, and a client that reads them all)."""
from __future__ import annotations

from .harness import Body, CoreTest


# -- timeout_decorator: a step that sleeps past its timeout; the catch keeps the error
# (a TimeoutException) and what the step had set before it.
def _check_timeout(run, graph):
    timed_out = []
    for step in run:
        for task in step:
            if "check" in task:
                assert task.data.check is True
                assert task.data.ex.type == "TimeoutException", (task.pathspec, task.data.ex)
                assert "timed out after 1 second" in task.data.ex.message, task.data.ex.message
                timed_out.append(step.id)
    assert "start" in timed_out, timed_out
    inner = [name for name in ("foreach_inner", "foreach_inner_first", "x") if name in run]
    assert all(name in timed_out for name in inner), (inner, timed_out)
    assert run.successful and run["end"].task.successful


TIMEOUT_DECORATOR = CoreTest("timeout_decorator", [
    Body(0, ("singleton-start", "foreach-inner"),
         "self.check = True\nimport time\ntime.sleep(5)",
         options="--catch ex --timeout 1", required=True),
    Body(1, ("all",), "pass"),
], _check_timeout)


# -- wide_foreach: 1200 splits; the join sees them in order, the client reads them all
# (over the default --max-num-splits of 100, raised as Metaflow's harness raises it)
WIDE = 1200


def _check_wide(run, graph):
    inner = list(run["foreach_inner"])
    assert len(inner) == WIDE
    assert sorted(task.data.my_input for task in inner) == list(range(WIDE))


WIDE_FOREACH = CoreTest("wide_foreach", [
    Body(0, ("foreach-split-small",), f"self.my_index = None\nself.arr = range({WIDE})",
         required=True),
    Body(0, ("foreach-inner-small",), "self.my_input = self.input", required=True),
    Body(0, ("foreach-join-small",),
         f"assert_equals(list(range({WIDE})), [i.my_input for i in inputs])", required=True),
    Body(1, ("all",), "pass"),
], _check_wide, graphs=("small_foreach",), run_args=("--max-num-splits", str(WIDE)))

EXTRA = [TIMEOUT_DECORATOR, WIDE_FOREACH]
