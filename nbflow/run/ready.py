"""The tasks waiting for a slot, taken in the order they became ready (the first one that
may start now: its retry delay passed, its `--resources cpu` fits).

Taking one costs the same at any width: one heap per cpu claim (a run has few distinct
claims), a heap of delayed retries, and a foreach's tasks as one entry that makes them
one at a time (planner.Splits), not thousands of waiting objects.
"""
from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator

from .planner import PendingTask


class ReadyQueue:
    def __init__(self):
        self.queues: dict[float | None, list] = {}   # cpu claim -> heap of [seq, left, source]
        self.delayed: list = []      # heap of (not_before, seq, cpu, task): retries waiting
        self.seq = 0                 # the order tasks became ready in
        self.count = 0

    def __len__(self) -> int:
        return self.count

    def push(self, task: PendingTask, cpu: float | None, now: float) -> None:
        self.seq += 1
        self.count += 1
        if task.not_before > now:
            heapq.heappush(self.delayed, (task.not_before, self.seq, cpu, task))
        else:
            heapq.heappush(self.queues.setdefault(cpu, []), [self.seq, 1, task])

    def push_many(self, tasks: Iterator[PendingTask], count: int, cpu: float | None) -> None:
        """`count` tasks made by `tasks` when taken, ready now, in their order."""
        if count:
            self.seq += 1
            self.count += count
            heapq.heappush(self.queues.setdefault(cpu, []), [self.seq, count, tasks])

    def take(self, now: float, fits: Callable[[float | None], bool]) -> PendingTask | None:
        """The first ready task (in order) whose delay has passed and whose cpu fits."""
        self.promote(now)
        best = None
        for cpu, heap in self.queues.items():
            if heap and (best is None or heap[0][0] < best[0][0]) and fits(cpu):
                best = heap
        if best is None:
            return None
        entry = best[0]
        entry[1] -= 1
        if not entry[1]:
            heapq.heappop(best)
        self.count -= 1
        source = entry[2]
        return source if isinstance(source, PendingTask) else next(source)

    def promote(self, now: float) -> None:
        """Retries whose delay passed join the others, in the place they became ready."""
        while self.delayed and self.delayed[0][0] <= now:
            _, seq, cpu, task = heapq.heappop(self.delayed)
            heapq.heappush(self.queues.setdefault(cpu, []), [seq, 1, task])

    def next_due(self) -> float | None:
        """When the next delayed retry may start (None: none is waiting)."""
        return self.delayed[0][0] if self.delayed else None

    def clear(self) -> None:
        self.queues.clear()
        self.delayed.clear()
        self.count = 0
