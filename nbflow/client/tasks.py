"""Step, Task and DataArtifact: a run's steps, their tasks and the tasks' artifacts (each
read lazily from its record; an artifact's blob only when its value is asked for)."""
from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from ..datastore import Datastore, records
from ..environment import crossing
from ..records import RunStatus, TaskRecord
from ..task.failure import StepException
from .context import ClientContext
from .core import Run, _Object, _task_record
from .pathspec import MissingArtifact, NotFound, _dt, _nearby


def _running_here(step_pathspec: str) -> tuple[str, int] | None:
    """(task id, attempt) of the task this process is running, when it is in that step: as
    in Metaflow, `Task(current.pathspec)` inside a step is the task itself (not committed
    yet: no artifacts, not finished)."""
    from ..task.current import current

    if not current.is_running_flow or not current.pathspec:
        return None
    step, _, task_id = current.pathspec.rpartition("/")
    return (task_id, int(current.retry_count or 0)) if step == step_pathspec else None


class Step(_Object):
    _KIND, _DEPTH = "step", 3

    def __init__(self, pathspec: str, *, _datastore: Datastore | None = None,
                 _run: Run | None = None, _context: ClientContext | None = None):
        flow, run_id, step = self._init_path(pathspec, _datastore, _context)
        self.run = _run or Run(f"{flow}/{run_id}", _context=self._ctx)
        self._attempts = records.list_tasks(self._ds, flow, run_id, step)
        running = _running_here(self.pathspec)
        if running and self._attempts.get(running[0], -1) < running[1]:
            self._attempts[running[0]] = running[1]   # Metaflow's client sees it too
        if not self._attempts:
            steps = list(reversed(self.run._step_names()))
            raise NotFound(_nearby(step, steps, "step", f"run {self.run.pathspec}") +
                           (" (the run is still going)" if self.run.status == RunStatus.RUNNING else ""))
        self._tasks: list[Task] | None = None

    def _all_tasks(self) -> list[Task]:
        if self._tasks is None:
            tasks = [Task(f"{self.pathspec}/{tid}", _context=self._ctx, _step=self,
                          _attempt=attempt) for tid, attempt in self._attempts.items()]
            # foreach order; a step run again in the same (interactive) run: newest first
            tasks.sort(key=lambda t: (t._order(), -int(t.id) if t.id.isdigit() else 0, t.id))
            self._tasks = tasks
        return self._tasks

    def tasks(self, *tags: str) -> Iterator[Task]:
        """The step's tasks, a foreach step's in foreach order; with tags, only if the run
        has them all."""
        if not all(t in self.tags for t in tags):
            return iter(())
        return iter(self._all_tasks())

    def __iter__(self) -> Iterator[Task]:
        return self.tasks()

    def __len__(self) -> int:
        return len(self._attempts)

    def __getitem__(self, task_id: str) -> Task:
        return Task(f"{self.pathspec}/{task_id}", _context=self._ctx, _step=self)

    def __contains__(self, task_id: str) -> bool:
        return str(task_id) in self._attempts

    @property
    def task(self) -> Task:
        """The step's first task: the one task of a linear step (the newest, when a kernel
        ran the step again in its interactive run)."""
        return self._all_tasks()[0]

    @property
    def tags(self) -> frozenset:
        return self.run.tags

    @property
    def created_at(self) -> datetime | None:
        return min((t.created_at for t in self._all_tasks() if t.created_at), default=None)

    @property
    def finished_at(self) -> datetime | None:
        return max((t.finished_at for t in self._all_tasks() if t.finished_at), default=None)

    @property
    def successful(self) -> bool:
        return all(t.successful for t in self._all_tasks())

    @property
    def parent(self) -> Run:
        """The step's run (Metaflow's `parent`)."""
        return self.run

    @property
    def origin_pathspec(self) -> str | None:
        """In a resumed run: this step in the origin run (as Metaflow)."""
        origin = self.run.origin_pathspec
        return f"{origin}/{self.id}" if origin else None

    def _linked_steps(self, children: bool) -> Iterator[Step]:
        graph = self.run._graph()
        if graph is None or self.id not in graph:
            return
        node = graph[self.id]
        for name in (node.targets if children else node.parents):
            if name in self.run:    # a step that never ran (the run failed first) is left out
                yield Step(f"{self.run.pathspec}/{name}", _context=self._ctx, _run=self.run)

    @property
    def parent_steps(self) -> Iterator[Step]:
        """The steps leading to this one, in the graph of the code the run ran."""
        return self._linked_steps(children=False)

    @property
    def child_steps(self) -> Iterator[Step]:
        """The steps this one leads to (those that ran)."""
        return self._linked_steps(children=True)

    @property
    def finished(self) -> bool:
        return all(t.finished for t in self._all_tasks())


class Task(_Object):
    _KIND, _DEPTH = "task", 4

    def __init__(self, pathspec: str, attempt: int | None = None, *,
                 _datastore: Datastore | None = None, _step: Step | None = None,
                 _attempt: int | None = None, _context: ClientContext | None = None):
        flow, run_id, step, task_id = self._init_path(pathspec, _datastore, _context)
        self.step = _step or Step(f"{flow}/{run_id}/{step}", _context=self._ctx)
        latest = self.step._attempts.get(task_id)
        if latest is None:
            raise NotFound(_nearby(task_id, list(self.step._attempts), "task",
                                   f"step {self.step.pathspec}"))
        self.attempt = latest if attempt is None else int(attempt)
        if not 0 <= self.attempt <= latest:
            raise NotFound(f"task {self.pathspec} has attempts 0 to {latest}, not {attempt}")
        rel = records.task_path(self._ds, flow, run_id, step, task_id, self.attempt)
        self._running = _running_here(self.step.pathspec) == (task_id, self.attempt)
        if self._running:      # the task this process runs: nothing committed yet
            from ..task.current import current

            self._record = TaskRecord.uncommitted(flow, run_id, step, task_id, self.attempt,
                                                  getattr(current, "_parent_pathspecs", ()))
        else:
            self._record = _task_record(self._ds, rel, f"task {self.pathspec}")
        self._data: TaskData | None = None

    def _order(self) -> tuple:
        return tuple(f.index for f in self._record.foreach_stack)

    @property
    def run(self) -> Run:
        return self.step.run

    @property
    def tags(self) -> frozenset:
        return self.run.tags

    @property
    def index(self) -> int | None:
        """Position in the innermost foreach (None outside a foreach)."""
        return self._record.index

    @property
    def current_attempt(self) -> int:
        return self.attempt

    @property
    def successful(self) -> bool:
        """True when the step's code ended without an error. A task whose error --catch
        stored is not successful (the flow went on past it), as in Metaflow."""
        return self._record.successful and not self._record.caught

    @property
    def caught(self) -> bool:
        """The step failed and --catch stored its error (the flow went on)."""
        return bool(self._record.successful and self._record.caught)

    @property
    def finished(self) -> bool:
        return not self._running  # committed attempts, and the task asking about itself

    @property
    def created_at(self) -> datetime | None:
        return _dt(self._record.started_at)

    @property
    def finished_at(self) -> datetime | None:
        return _dt(self._record.finished_at)

    @property
    def origin_pathspec(self) -> str | None:
        """The task of an earlier run that `resume` reused for this one."""
        return self._record.origin

    @property
    def parent(self) -> Step:
        """The task's step (Metaflow's `parent`)."""
        return self.step

    @property
    def parent_task_pathspecs(self) -> Iterator[str]:
        """The pathspecs of the tasks whose artifacts this one started from (a join's
        inputs; none for `start`)."""
        return iter(self._record.parents)

    @property
    def child_task_pathspecs(self) -> Iterator[str]:
        """The pathspecs of the tasks that started from this one."""
        for step in self.step.child_steps:
            for task in step:
                if self.pathspec in task._record.parents:
                    yield task.pathspec

    @property
    def parent_tasks(self) -> Iterator[Task]:
        for pathspec in self.parent_task_pathspecs:
            yield self._linked(pathspec)

    @property
    def child_tasks(self) -> Iterator[Task]:
        for pathspec in self.child_task_pathspecs:
            yield self._linked(pathspec)

    def _linked(self, pathspec: str) -> Task:
        parts = pathspec.split("/")
        if parts[:2] == self.path_components[:2]:   # same run: no namespace check again
            return self.run[parts[2]][parts[3]]
        return Task(pathspec, _context=self._ctx)

    @property
    def exception(self) -> StepException | None:
        """A failed task's error: `type`, `message`, `traceback` (as --catch stores it)."""
        return StepException.from_dict(self._record.exception)

    def _log(self, stream: str) -> str:
        return records.read_record_log(self._ds, self._record, stream).decode("utf-8", "replace")

    @property
    def stdout(self) -> str:
        return self._log("stdout")

    @property
    def stderr(self) -> str:
        return self._log("stderr")

    @property
    def card(self):
        """What the task displayed, in order: a list of mime bundles ([] when nothing);
        as a cell's value it shows those outputs."""
        from ..cards.view import CardView
        from ..datastore.cards import read_card

        return CardView(read_card(self._ds, self._record), self.pathspec)

    # -- artifacts ---------------------------------------------------------------
    def _refs(self) -> dict:
        return self._record.artifacts

    def __iter__(self) -> Iterator[DataArtifact]:
        for name in sorted(self._refs()):
            yield DataArtifact(f"{self.pathspec}/{name}", _task=self)

    def __getitem__(self, name: str) -> DataArtifact:
        if name not in self._refs():
            raise NotFound(_nearby(name, sorted(self._refs()), "artifact", f"task {self.pathspec}"))
        return DataArtifact(f"{self.pathspec}/{name}", _task=self)

    def __contains__(self, name: str) -> bool:
        return name in self._refs()

    @property
    def artifacts(self):
        """A namedtuple of DataArtifacts: `task.artifacts.model.data`."""
        arts = list(self)
        return namedtuple("Artifacts", [a.id for a in arts])._make(arts)

    @property
    def data(self) -> TaskData:
        """`task.data.x`: each artifact loaded when first read."""
        if self._data is None:
            self._data = TaskData(self)
        return self._data


class DataArtifact(_Object):
    _KIND, _DEPTH = "artifact", 5

    def __init__(self, pathspec: str, *, _datastore: Datastore | None = None,
                 _task: Task | None = None, _context: ClientContext | None = None):
        parts = self._init_path(pathspec, _datastore, _context or (_task._ctx if _task else None))
        self.task = _task or Task("/".join(parts[:4]), _context=self._ctx)
        if self.id not in self.task._refs():
            self.task[self.id]  # raises NotFound naming the artifacts there
        self._ref = self.task._refs()[self.id]

    @property
    def data(self) -> Any:
        return crossing.load(self._ds, self.id, self._ref, self.task.pathspec)

    def load(self, columns: list | None = None) -> Any:
        """The value; `columns`: only those columns of a DataFrame. A frame stored with
        Arrow (`serializer == "arrow"`) converts only those columns; one stored with pickle
        is loaded whole, then narrowed."""
        return crossing.load(self._ds, self.id, self._ref, self.task.pathspec,
                             columns=None if columns is None else list(columns))

    @property
    def serializer(self) -> str:
        """How the value is stored: "pickle", "arrow" (a pandas DataFrame or Series), or
        the dotted name of a registered serializer."""
        return self._ref.get("serializer", "pickle")

    @property
    def serializer_fallback(self) -> str | None:
        """Why the serializers tried before pickle did not store it (None if none was)."""
        return self._ref.get("fallback")

    @property
    def sha(self) -> str:
        """The content key (xxh3-128) of the value: equal keys, equal bytes."""
        return self._ref["key"]

    @property
    def size(self) -> int | None:
        return self._ref.get("size")

    @property
    def type(self) -> str | None:
        return self._ref.get("type")

    tags = property(lambda self: self.task.tags)
    parent = property(lambda self: self.task, doc="the artifact's task (Metaflow's `parent`)")
    created_at = property(lambda self: self.task.finished_at)
    finished_at = property(lambda self: self.task.finished_at)
    successful = property(lambda self: self.task.successful)
    finished = property(lambda self: self.task.finished)


class TaskData:
    """A task's artifacts by attribute: `task.data.model`, `'model' in task.data`."""

    def __init__(self, task: Task):
        self._task = task
        self._values: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if name not in self._values:
            refs = self._task._refs()
            if name not in refs:
                raise MissingArtifact(_nearby(name, sorted(refs), "artifact",
                                              f"task {self._task.pathspec}"), artifact=name)
            self._values[name] = crossing.load(self._task._ds, name, refs[name],
                                               self._task.pathspec)
        return self._values[name]

    def __contains__(self, name: str) -> bool:
        return name in self._task._refs()

    def __dir__(self):
        return sorted(self._task._refs())

    def __repr__(self):
        return f"<TaskData {self._task.pathspec}: {', '.join(sorted(self._task._refs()))}>"
