"""What the live widgets show, kept from RunEvents (and the store for foreach sizes).

No widget code here, and nothing from the scheduler: the UI only hears events."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from ...datastore import Datastore, records
from ...graph import FlowGraph, validate
from ...notebook.spec import NotebookSpec
from ...records import RunEvent


@dataclass
class StepState:
    name: str
    targets: tuple = ()
    status: str = "pending"        # pending, running, done, failed, cached (all reused),
                                   # ended (the run stopped it after another task failed)
    started: int = 0
    done: int = 0
    reused: int = 0                # tasks cloned from an origin run (resume), not run again
    failed: int = 0
    expected: int | None = None    # tasks a foreach will start here, once it is known
    first_start: float | None = None
    last_end: float | None = None
    errors: list = field(default_factory=list)   # (pathspec, message)

    @property
    def total(self) -> int:
        return max(self.expected or 1, self.started)

    def progress(self) -> str:
        return f"{self.done}/{self.total}"

    def duration(self) -> float | None:
        if self.first_start is None:
            return None
        return (self.last_end if self.status in ("done", "failed", "ended") and self.last_end
                else time.time()) - self.first_start


class RunModel:
    """Feed it every RunEvent; read steps, totals and status."""

    def __init__(self):
        self.flow = self.run_id = None
        self.ds: Datastore | None = None
        self.graph: FlowGraph | None = None
        self.steps: dict[str, StepState] = {}
        self.status = "starting"
        self.message = ""
        self.started_at = time.time()
        self.cards: dict[str, int] = {}   # pathspec -> outputs, tasks with a card, in order

    def __call__(self, ev: RunEvent) -> None:
        handler = getattr(self, f"_on_{ev.kind}", None)
        if handler is not None:
            handler(ev)

    # -- events ------------------------------------------------------------------
    def _on_run_started(self, ev: RunEvent) -> None:
        self.flow, self.run_id, self.status = ev.info.get("flow"), ev.run_id, "running"
        self.ds = Datastore(ev.info["datastore"]) if ev.info.get("datastore") else None
        self.graph = self._read_graph()
        names = self.graph.topological() if self.graph else list(ev.info.get("steps", []))
        for name in names:
            targets = self.graph[name].targets if self.graph else ()
            self.steps[name] = StepState(name, targets)

    def _read_graph(self) -> FlowGraph | None:
        try:
            nb = records.read_run(self.ds, self.flow, self.run_id).notebook
            graph = FlowGraph(NotebookSpec.from_dict(nb))
            validate(graph)
            return graph
        except Exception:  # noqa: BLE001 - the widget still works from the events alone
            return None

    def _step(self, name: str) -> StepState:
        return self.steps.setdefault(name, StepState(name))

    def _on_task_started(self, ev: RunEvent) -> None:
        s = self._step(ev.step)
        if ev.attempt == 0:
            s.started += 1
        s.status = "running"
        s.first_start = s.first_start or time.time()

    def _on_task_finished(self, ev: RunEvent) -> None:
        s = self._step(ev.step)
        s.last_end = time.time()
        self._note_card(ev)
        if ev.successful:
            s.done += 1
            self._learn_foreach(ev)
        elif ev.info.get("ended"):   # not its failure: the run stopped it
            s.status = "failed" if s.failed else "ended"
            return
        else:
            s.failed += 1
            s.errors.append((f"{self.flow}/{self.run_id}/{ev.step}/{ev.task_id}", ev.text or ""))
        s.status = "failed" if s.failed and not ev.successful else \
            ("done" if s.done >= s.total else "running")

    def _on_task_cloned(self, ev: RunEvent) -> None:
        """resume: a task reused from the origin run counts as done."""
        s = self._step(ev.step)
        self._note_card(ev)
        s.started += 1
        s.done += 1
        s.reused += 1
        s.status = ("cached" if s.reused == s.done else "done") if s.done >= s.total \
            else "running"
        self._learn_foreach(ev)

    def _note_card(self, ev: RunEvent) -> None:
        """A task that displayed something (or was reused with its card): one click away."""
        if ev.info.get("card"):
            self.cards[f"{self.flow}/{self.run_id}/{ev.step}/{ev.task_id}"] = ev.info["card"]

    def _on_task_retrying(self, ev: RunEvent) -> None:
        s = self._step(ev.step)
        s.failed = max(0, s.failed - 1)
        s.errors = s.errors[:-1]
        s.status = "running"

    def _on_run_finished(self, ev: RunEvent) -> None:
        self.status = "done" if ev.successful else "failed"
        self.message = ev.text or ""
        for s in self.steps.values():
            if s.status == "running":
                s.status = "failed" if not ev.successful else "done"

    def _learn_foreach(self, ev: RunEvent) -> None:
        """A foreach task finished: its size tells how many tasks the body will run."""
        if self.graph is None or ev.step not in self.graph or not self.graph[ev.step].foreach:
            return
        rec = records.read_task(self.ds, self.flow, self.run_id, ev.step, ev.task_id)
        n = ((rec.foreach if rec else None) or {}).get("num_splits")
        if not n:
            return
        name = self.graph[ev.step].targets[0]
        while name in self.graph and not self.graph[name].is_join:
            s = self._step(name)
            s.expected = (s.expected or 0) + n
            node = self.graph[name]
            if len(node.targets) != 1 or node.foreach:
                break
            name = node.targets[0]

    def signature(self) -> tuple:
        """Changes when a step's state does (not its counts): worth redrawing at once."""
        return (self.status, *(s.status for s in self.steps.values()))

    # -- totals ------------------------------------------------------------------
    def tasks_done(self) -> int:
        return sum(s.done for s in self.steps.values())

    def tasks_total(self) -> int:
        return sum(s.total for s in self.steps.values())
