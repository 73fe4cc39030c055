"""The one planner (nbflow/run/planner.py): which tasks a finished task unblocks. The
scheduler calls `successors` for whole runs; a kernel cell calls `tasks_of_step`, which is
`successors` over the parents' latest tasks. Pure: records in, pending tasks out."""
from nbflow.graph import build
from nbflow.notebook.parse import parse_cells
from nbflow.records import ForeachFrame, TaskRecord
from nbflow.run.planner import JoinBarrier, successors, tasks_of_step


def graph_of(*cells):
    return build(parse_cells([("code", c) for c in cells], flow_name="PlanFlow"))


def done(step: str, task_id: str, stack=(), foreach: dict | None = None) -> TaskRecord:
    return TaskRecord("PlanFlow", "1", step, task_id, 0, f"PlanFlow/1/{step}/{task_id}",
                      foreach_stack=tuple(stack), successful=True, foreach=foreach)


SPLIT = graph_of("%%step start -> a, b", "%%step a -> j", "%%step b -> j",
                 "%%step j -> end\nx = inputs", "%%step end")
FOREACH = graph_of("%%step start -> body --foreach xs\nself.xs = [1, 2, 3]",
                   "%%step body -> join", "%%step join -> end\nx = inputs", "%%step end")


def test_a_linear_step_unblocks_its_target_in_the_same_place():
    g = graph_of("%%step start -> a", "%%step a -> end", "%%step end")
    [t] = successors(g, done("start", "1"), JoinBarrier(g))
    assert (t.step, [p.task_id for p in t.parents], t.foreach_stack) == ("a", ["1"], ())


def test_a_static_join_is_planned_once_when_its_last_branch_arrives_in_split_order():
    barrier = JoinBarrier(SPLIT)
    assert [t.step for t in successors(SPLIT, done("start", "1"), barrier)] == ["a", "b"]
    assert successors(SPLIT, done("b", "3"), barrier) == []          # b first: j waits
    [j] = successors(SPLIT, done("a", "2"), barrier)
    assert j.step == "j" and [p.step for p in j.parents] == ["a", "b"]   # the split's order
    assert barrier.slots == {}                                        # nothing kept after


def test_a_foreach_expands_into_one_task_per_item_and_joins_them_in_index_order():
    barrier = JoinBarrier(FOREACH)
    split = done("start", "1", foreach={"var": "xs", "num_splits": 3, "key": "k"})
    bodies = successors(FOREACH, split, barrier)
    assert [t.foreach_stack for t in bodies] == [(ForeachFrame("start", "xs", i, 3, "k"),)
                                                for i in range(3)]
    finished = [done("body", str(10 + i), t.foreach_stack) for i, t in enumerate(bodies)]
    assert successors(FOREACH, finished[2], barrier) == []
    assert successors(FOREACH, finished[0], barrier) == []
    [join] = successors(FOREACH, finished[1], barrier)
    assert join.step == "join" and join.foreach_stack == ()
    assert [p.task_id for p in join.parents] == ["10", "11", "12"]


def test_a_kernel_cell_plans_a_step_from_its_parents_latest_tasks_the_same_way():
    split = done("start", "1", foreach={"var": "xs", "num_splits": 3, "key": "k"})
    bodies = tasks_of_step(FOREACH, "body", {"start": [split]})
    assert [t.foreach_stack[-1].index for t in bodies] == [0, 1, 2]
    finished = [done("body", str(10 + i), t.foreach_stack) for i, t in enumerate(bodies)]
    [join] = tasks_of_step(FOREACH, "join", {"body": finished[::-1]})
    assert [p.task_id for p in join.parents] == ["10", "11", "12"]
    assert tasks_of_step(FOREACH, "start", {})[0].parents == ()
    assert tasks_of_step(SPLIT, "j", {"a": [done("a", "2")]}) == []   # b has not run
