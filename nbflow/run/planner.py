"""The one planner: which tasks a finished task unblocks. Used by the scheduler (whole runs,
resume) and by the kernel's interactive cells (the tasks of one step from its parents'
latest tasks), so both expand foreaches and group joins the same way. Pure: no I/O.
"""
from __future__ import annotations

from ..graph import FlowGraph
from ..lite_dataclass import dataclass
from ..records import ForeachFrame, TaskRecord, stack_context


@dataclass
class PendingTask:
    """A task to start: its step, its parents' records, and its place in the foreaches."""

    step: str
    parents: tuple[TaskRecord, ...]
    foreach_stack: tuple[ForeachFrame, ...]
    task_id: str = ""
    attempt: int = 0
    not_before: float = 0.0          # a retry's delay
    fallback: dict | None = None     # --catch after a killed last attempt: the recorded error

    @property
    def key(self) -> tuple:
        return task_key(self.step, self.foreach_stack)


def task_key(step: str, stack: tuple[ForeachFrame, ...]) -> tuple:
    """What identifies a task within a run: its step and its place in the foreaches."""
    return step, stack_context(stack)


class JoinBarrier:
    """Parents arriving at joins, grouped by the foreach context they share; a join's task
    is planned when the last of its inputs arrives (counts, not the run's size, are kept)."""

    def __init__(self, graph: FlowGraph):
        self.graph = graph
        self.slots: dict[tuple, dict] = {}   # (join step, context) -> {order: record}

    def arrive(self, join: str, parent_step: str, rec: TaskRecord) -> PendingTask | None:
        child = self.graph[join]
        # a kernel's cells may not make a whole flow yet (no `end`): without the split
        # structure, a join with one parent closes a foreach, one with several a static split
        split = self.graph.nodes.get(child.matching_split) if child.matching_split else None
        stack = rec.foreach_stack
        if (split.foreach if split else len(child.parents) == 1):   # one foreach's splits
            frame = stack[-1]
            outer = stack[:-1]
            expected, order = frame.num_splits, frame.index
        elif split is not None:   # static branches: ordered as the split's targets
            outer = stack
            parent = self.graph[parent_step]
            out = parent.split_stack[:-1] if parent.is_join else parent.split_stack
            expected, order = len(split.targets), split.targets.index(out[-1][1])
        else:
            outer = stack
            expected, order = len(child.parents), child.parents.index(parent_step)
        slot = self.slots.setdefault((join, stack_context(outer)), {})
        slot[order] = rec
        if len(slot) < expected:
            return None
        del self.slots[(join, stack_context(outer))]
        return PendingTask(join, tuple(slot[k] for k in sorted(slot)), outer)


def successors(graph: FlowGraph, rec: TaskRecord, barrier: JoinBarrier) -> list[PendingTask]:
    """The tasks a successful task `rec` unblocks: one per foreach item, one per target, or
    (for a join) the join's task once its last input has arrived."""
    node = graph[rec.step]
    stack = rec.foreach_stack
    if node.foreach:
        info = rec.foreach
        key = info["key"] or rec.artifacts[info["var"]]["key"]
        return [PendingTask(node.targets[0], (rec,),
                            stack + (ForeachFrame(node.name, info["var"], i, info["num_splits"],
                                                  key),))
                for i in range(info["num_splits"])]
    out = []
    for target in node.targets:
        if graph[target].is_join:
            task = barrier.arrive(target, node.name, rec)
            if task is not None:
                out.append(task)
        else:
            out.append(PendingTask(target, (rec,), stack))
    return out


def tasks_of_step(graph: FlowGraph, step: str,
                  parent_records: dict[str, list[TaskRecord]]) -> list[PendingTask]:
    """The tasks of `step` given its parents' finished tasks (an interactive cell: every
    foreach split of a foreach body, one task per join group), in foreach order."""
    if not graph[step].parents:
        return [PendingTask(step, (), ())]
    barrier = JoinBarrier(graph)
    tasks = [t for parent in graph[step].parents for rec in parent_records.get(parent, ())
             for t in successors(graph, rec, barrier) if t.step == step]
    return sorted(tasks, key=lambda t: [f.index for f in t.foreach_stack])
