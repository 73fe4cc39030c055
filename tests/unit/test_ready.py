"""The scheduler's waiting room (nbflow/run/ready.py) and what a wide run holds: tasks are
taken in the order they became ready, the first that may start (delay passed, cpu fits);
a foreach's tasks wait as one entry; a join waits with its parents' refs packed, and its
request is the same JSON as if they were objects."""
import json

from nbflow.graph import build
from nbflow.notebook.parse import parse_cells
from nbflow.records import ForeachFrame, ParentRef, RunContext, TaskRecord, TaskRequest
from nbflow.run.planner import JoinBarrier, PackedParents, PendingTask, Splits, successors
from nbflow.run.ready import ReadyQueue

FOREACH = build(parse_cells([("code", c) for c in (
    "%%step start -> body --foreach xs\nself.xs = [1, 2, 3]", "%%step body -> join",
    "%%step join -> end\nx = inputs", "%%step end")], flow_name="PlanFlow"))


def done(step: str, task_id: str, foreach: dict | None = None) -> TaskRecord:
    return TaskRecord("PlanFlow", "1", step, task_id, 0, f"PlanFlow/1/{step}/{task_id}",
                      successful=True, foreach=foreach)


def task(step: str, not_before: float = 0.0) -> PendingTask:
    return PendingTask(step, (), (), not_before=not_before)


def test_tasks_are_taken_in_the_order_they_became_ready():
    q = ReadyQueue()
    for name in "abc":
        q.push(task(name), None, now=0.0)
    assert [q.take(0.0, lambda cpu: True).step for _ in range(3)] == ["a", "b", "c"]
    assert len(q) == 0 and q.take(0.0, lambda cpu: True) is None


def test_a_task_whose_cpu_does_not_fit_lets_later_ones_start_first():
    q = ReadyQueue()
    q.push(task("big"), 4.0, now=0.0)
    q.push(task("small"), 1.0, now=0.0)
    q.push(task("plain"), None, now=0.0)
    fits = lambda cpu: cpu is None or cpu <= 1.0   # noqa: E731
    assert [q.take(0.0, fits).step for _ in range(2)] == ["small", "plain"]
    assert q.take(0.0, fits) is None and len(q) == 1
    assert q.take(0.0, lambda cpu: True).step == "big"


def test_a_delayed_retry_waits_then_starts_in_the_place_it_became_ready():
    q = ReadyQueue()
    q.push(task("first"), None, now=0.0)
    q.push(task("retry", not_before=10.0), None, now=0.0)
    q.push(task("later"), None, now=0.0)
    assert q.next_due() == 10.0
    assert q.take(5.0, lambda cpu: True).step == "first"
    assert q.take(5.0, lambda cpu: True).step == "later"
    assert q.take(5.0, lambda cpu: True) is None and len(q) == 1
    assert q.take(10.0, lambda cpu: True).step == "retry" and q.next_due() is None


def test_a_foreach_waits_as_one_entry_and_makes_its_tasks_in_order():
    split = done("start", "1", foreach={"var": "xs", "num_splits": 10_000, "key": "k"})
    splits = successors(FOREACH, split, JoinBarrier(FOREACH))
    assert isinstance(splits, Splits) and len(splits) == 10_000
    q = ReadyQueue()
    q.push(task("before"), None, now=0.0)
    q.push_many(iter(splits), len(splits), None)
    q.push(task("after"), None, now=0.0)
    assert sum(len(h) for h in q.queues.values()) == 3      # not 10,002 waiting objects
    assert q.take(0.0, lambda cpu: True).step == "before"
    firsts = [q.take(0.0, lambda cpu: True) for _ in range(3)]
    assert [t.foreach_stack for t in firsts] == [(ForeachFrame("start", "xs", i, 10_000, "k"),)
                                                for i in range(3)]
    assert [t.key for t in firsts] == [splits.task_key(i) for i in range(3)]
    assert len(q) == 10_000 - 3 + 1


def test_a_join_waits_with_packed_refs_and_sends_the_same_request():
    barrier = JoinBarrier(FOREACH)
    split = done("start", "1", foreach={"var": "xs", "num_splits": 3, "key": "k"})
    bodies = list(successors(FOREACH, split, barrier))
    finished = [TaskRecord("PlanFlow", "1", "body", str(10 + i), 0, f"PlanFlow/1/body/{10 + i}",
                           foreach_stack=t.foreach_stack, successful=True,
                           artifacts={"y": {"key": f"k{i}", "size": 1, "type": "int"}})
                for i, t in enumerate(bodies)]
    [join] = [j for rec in finished for j in successors(FOREACH, rec, barrier)]
    assert isinstance(join.parents, PackedParents)
    refs = tuple(ParentRef.of(r) for r in finished)
    assert tuple(join.parents) == refs and join.parents == refs
    request = TaskRequest(datastore="/s", flow="PlanFlow", run_id="1", step="join", task_id="13",
                          attempt=0, parents=join.parents, params={}, foreach_stack=(),
                          step_cell={"name": "join"}, is_join=True, context=RunContext("n"))
    as_objects = TaskRequest(**{**request.__dict__, "parents": refs})
    assert json.loads(request.encode()) == json.loads(as_objects.encode()) == as_objects.to_json()
    assert TaskRequest.from_json(json.loads(request.encode())) == as_objects
