"""The one planner: which tasks a finished task unblocks. Used by the scheduler (whole runs,
resume) and by the kernel's interactive cells (the tasks of one step from its parents'
latest tasks), so both expand foreaches and group joins the same way. Pure: no I/O.
"""
from __future__ import annotations

import json
from collections.abc import Sequence

from ..graph import FlowGraph
from ..lite_dataclass import dataclass
from ..records import ForeachFrame, ParentRef, TaskRecord, stack_context


@dataclass
class PendingTask:
    """A task to start: its step, its parents (what it is told of them), and its place in
    the foreaches."""

    step: str
    parents: Sequence[ParentRef]     # a tuple; a join's: PackedParents
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


class PackedParents:
    """A join's parents, each kept as its ParentRef's JSON until the request is sent (the
    join of a 10,000-way foreach waits with 10,000 of them: bytes, not objects); read as a
    sequence of ParentRef, sent as they are (TaskRequest.encode)."""

    __slots__ = ("items",)

    def __init__(self, items: list[bytes]):
        self.items = items

    @staticmethod
    def pack(ref: ParentRef) -> bytes:
        return json.dumps(ref.to_json()).encode()

    def json_bytes(self, head: bytes = b"", tail: bytes = b"") -> bytes:
        """head + the parents' JSON list + tail, in one copy (a wide join's request)."""
        items = self.items
        if len(items) < 2:
            return head + b"[" + b"".join(items) + b"]" + tail
        return b", ".join([head + b"[" + items[0], *items[1:-1], items[-1] + b"]" + tail])

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> ParentRef:
        return ParentRef.from_json(json.loads(self.items[i]))

    def __iter__(self):
        return (self[i] for i in range(len(self.items)))

    def __eq__(self, other) -> bool:
        return tuple(self) == tuple(other)

    def __repr__(self) -> str:
        return f"PackedParents({len(self.items)} parents)"


class Splits:
    """The tasks of a foreach, one per item, each made when asked for: a 10,000-way
    foreach is one of these while its tasks wait for slots, not 10,000 objects."""

    def __init__(self, step: str, parent: ParentRef, outer: tuple[ForeachFrame, ...],
                 split: str, var: str, num_splits: int, key: str | None):
        self.step, self.parent, self.outer = step, parent, outer
        self.split, self.var, self.num_splits, self.key = split, var, num_splits, key

    def __len__(self) -> int:
        return self.num_splits

    def __getitem__(self, i: int) -> PendingTask:
        if not 0 <= i < self.num_splits:
            raise IndexError(i)
        frame = ForeachFrame(self.split, self.var, i, self.num_splits, self.key)
        return PendingTask(self.step, (self.parent,), self.outer + (frame,))

    def __iter__(self):
        return (self[i] for i in range(self.num_splits))

    def task_key(self, i: int) -> tuple:
        """The key of item i's task (PendingTask.key) without making the task."""
        return self.step, stack_context(self.outer) + ((self.split, i),)


class JoinBarrier:
    """Parents arriving at joins, grouped by the foreach context they share; a join's task
    is planned when the last of its inputs arrives. What is kept of each parent is what
    the join's request carries (its ParentRef, packed): no records, no more."""

    def __init__(self, graph: FlowGraph):
        self.graph = graph
        self.slots: dict[tuple, dict] = {}   # (join step, context) -> {order: packed ref}

    def arrive(self, join: str, parent_step: str, rec: TaskRecord,
               ref: ParentRef | None = None) -> PendingTask | None:
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
        slot[order] = PackedParents.pack(ref or ParentRef.of(rec))
        if len(slot) < expected:
            return None
        del self.slots[(join, stack_context(outer))]
        return PendingTask(join, PackedParents([slot[k] for k in sorted(slot)]), outer)


def successors(graph: FlowGraph, rec: TaskRecord, barrier: JoinBarrier
               ) -> list[PendingTask] | Splits:
    """The tasks a successful task `rec` unblocks: one per foreach item (Splits), one per
    target, or (for a join) the join's task once its last input has arrived."""
    node = graph[rec.step]
    stack = rec.foreach_stack
    ref = ParentRef.of(rec)
    if node.foreach:
        info = rec.foreach
        key = info["key"] or rec.artifacts[info["var"]]["key"]
        return Splits(node.targets[0], ref, stack, node.name, info["var"], info["num_splits"],
                      key)
    out = []
    for target in node.targets:
        if graph[target].is_join:
            task = barrier.arrive(target, node.name, rec, ref)
            if task is not None:
                out.append(task)
        else:
            out.append(PendingTask(target, (ref,), stack))
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
