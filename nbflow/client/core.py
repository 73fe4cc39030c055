"""The client API: read-only, lazy views over the datastore, named as in Metaflow.

    Flows() -> Flow -> Run -> Step -> Task -> DataArtifact

Objects read only the small JSON records they need; an artifact's blob is loaded
when its value is first asked for, so listing runs or tasks never loads an artifact.
Which store: set_datastore(url), else NBFLOW_DATASTORE, else the nearest `.nbflow/`
from the working directory upward. Which runs: those of the current namespace
(`user:<you>` by default; namespace(None) sees all).
"""
from __future__ import annotations

import time
import warnings
from collections import namedtuple
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..datastore import Datastore, default_datastore_url, records
from ..environment import crossing
from ..errors import ClientError
from ..records import RunStatus, TaskRecord
from ..task.failure import StepException
from .pathspec import (  # re-exported: `from nbflow.client import NotFound` works
    _NAME,
    DamagedRecord,
    MissingArtifact,
    NamespaceMismatch,
    NotFound,
    PathspecError,
    _dt,
    _nearby,
    _read_json,
    parse_pathspec,
)
from .tagging import RunTags

# -- datastore and namespace ----------------------------------------------------------
# The module-level choices (set_datastore, namespace) are a default ClientContext; the
# commands layer passes its own context to each object and never touches these.

_datastore_url: str | None = None
_stores: dict[str, Datastore] = {}
_namespace: Any = False   # False: not chosen yet (the default is resolved on first use)
FOLLOW = object()         # a context's namespace that follows namespace() as it changes


@dataclass(frozen=True)
class ClientContext:
    """Which store a client object reads, and which namespace it sees (None: every one)."""

    datastore: Datastore
    ns: Any = FOLLOW
    searchable: bool = False   # a store found by default: a flow not there is looked for below
    searched: str = ""         # the folder whose sub-folders were searched, in vain

    def where(self) -> str:
        """The stores looked in, for a "not found" message."""
        below = f" (nor in the .nbflow/ folders below {self.searched})" if self.searched else ""
        return f"datastore {self.datastore.url}{below}"

    @property
    def namespace(self) -> str | None:
        return get_namespace() if self.ns is FOLLOW else self.ns

    def for_flow(self, flow: str) -> ClientContext:
        """This context, or, when the flow is not in its store and the store was not chosen
        by the user, one on the store below the working directory that holds the flow
        (`nbflow run notebooks/x.ipynb` stores in notebooks/.nbflow), with a notice."""
        if not self.searchable:
            return self
        from ..datastore import stores_below

        if self.datastore.storage.exists(flow):
            return ClientContext(self.datastore, self.ns)   # looked once: children do not
        found = stores_below(flow)
        if not found:
            import os

            return ClientContext(self.datastore, self.ns, searched=os.getcwd())
        import sys

        print(f"nbflow: flow '{flow}' is not in {self.datastore.url}; reading it from "
              f"{found[0]}", file=sys.stderr)
        return ClientContext(store_at(found[0]), self.ns)


def default_context(datastore: Datastore | None = None) -> ClientContext:
    if datastore is not None:
        return ClientContext(datastore)
    return ClientContext(get_datastore(), searchable=default_store_is_searched())


def default_store_is_searched() -> bool:
    """True when nobody chose the store (no set_datastore, no NBFLOW_DATASTORE)."""
    import os

    return _datastore_url is None and not os.environ.get("NBFLOW_DATASTORE")


def set_datastore(url: str | None) -> str:
    """Read runs from `url` (an fsspec URL or a folder); None goes back to the default."""
    global _datastore_url
    _datastore_url = url
    return get_datastore().url


def store_at(url: str) -> Datastore:
    """One Datastore object per URL in this process (its caches are shared)."""
    if url not in _stores:
        _stores[url] = Datastore(url)
    return _stores[url]


def get_datastore() -> Datastore:
    return store_at(_datastore_url or default_datastore_url())


def namespace(ns: str | None) -> str | None:
    """Switch to namespace `ns` ('user:alice', 'production'...); None sees every run."""
    global _namespace
    _namespace = ns
    return ns


def get_namespace() -> str | None:
    if _namespace is False:
        default_namespace()
    return _namespace


def default_namespace() -> str:
    """Back to the current user's namespace, `user:<name>`."""
    from ..user import username

    return namespace(f"user:{username()}")


# -- objects --------------------------------------------------------------------------


class _Object:
    _KIND = ""
    _DEPTH = 0

    def _init_path(self, pathspec: str, ds: Datastore | None,
                   ctx: ClientContext | None) -> list[str]:
        parts = parse_pathspec(pathspec, self._DEPTH)
        self._ctx = (ctx or default_context(ds)).for_flow(parts[0])
        self._ds = self._ctx.datastore
        self.pathspec = "/".join(parts)
        self.id = parts[-1]
        return parts

    def __repr__(self):
        return f"{type(self).__name__}('{self.pathspec}')"

    def __eq__(self, other):
        return type(other) is type(self) and other.pathspec == self.pathspec \
            and other._ds.url == self._ds.url

    def __hash__(self):
        return hash((type(self).__name__, self.pathspec))

    @property
    def path_components(self) -> list[str]:
        return self.pathspec.split("/")


class Flows:
    """The root (Metaflow's `Metaflow()`): every flow with a run in the current namespace."""

    def __init__(self, _datastore: Datastore | None = None, *,
                 _context: ClientContext | None = None):
        self._ctx = _context or default_context(_datastore)
        self._ds = self._ctx.datastore

    def __iter__(self) -> Iterator[Flow]:
        for name in records.list_flows(self._ds):
            if not _NAME.match(name):
                continue
            flow = Flow(name, _context=self._ctx, _check=False)
            if flow._in_namespace():
                yield flow

    @property
    def flows(self) -> list[Flow]:
        return list(self)

    def __getitem__(self, name: str) -> Flow:
        return Flow(name, _context=self._ctx)

    def __repr__(self):
        return f"Flows({self._ds.url!r})"


class Flow(_Object):
    _KIND, _DEPTH = "flow", 1

    def __init__(self, pathspec: str, *, _datastore: Datastore | None = None, _check: bool = True,
                 _context: ClientContext | None = None):
        self._init_path(pathspec, _datastore, _context)
        if not _check:
            return
        flows = [f for f in records.list_flows(self._ds) if _NAME.match(f)]
        if self.id not in flows:
            raise NotFound(_nearby(self.id, flows, "flow", self._ctx.where()))
        ns = self._ctx.namespace
        if ns is not None and not self._in_namespace():
            raise NamespaceMismatch(f"flow '{self.id}' has no runs in namespace '{ns}'; "
                                    "namespace(None) sees the runs of every namespace")

    tags = property(lambda self: frozenset(), doc="a flow has no tags (its runs do), as in "
                    "Metaflow")

    def _in_namespace(self) -> bool:
        return next(self.runs(), None) is not None

    @property
    def size(self):
        """Bytes the flow's runs hold (`.total`, shared blobs once) and what only they
        hold (`.alone`); reads every record of the store (as `nbflow du` does)."""
        from ..datastore.usage import Usage
        from ..datastore.walk import walk_store

        return Usage(walk_store(self._ds)).flow_size(self.id)

    def _run_ids(self) -> list[str]:
        return records.list_runs(self._ds, self.id)

    def runs(self, *tags: str) -> Iterator[Run]:
        """The runs of the current namespace having every tag in `tags`, newest first.
        A run whose record is damaged is skipped with a warning."""
        for run_id in self._run_ids():
            try:
                run = Run(f"{self.id}/{run_id}", _context=self._ctx, _check=False)
                run._end_record()
            except (DamagedRecord, NotFound) as e:  # one bad run must not hide the others
                warnings.warn(f"skipping run {self.id}/{run_id}: {e}", stacklevel=2)
                continue
            if run._visible() and all(t in run.tags for t in tags):
                yield run

    def __iter__(self) -> Iterator[Run]:
        return self.runs()

    def __getitem__(self, run_id: str) -> Run:
        return Run(f"{self.id}/{run_id}", _context=self._ctx)

    def __contains__(self, run_id: str) -> bool:
        return run_id in self._run_ids()

    @property
    def latest_run(self) -> Run | None:
        """The newest run, possibly one still going."""
        return next(self.runs(), None)

    @property
    def latest_successful_run(self) -> Run | None:
        return next((r for r in self.runs() if r.successful), None)


class Run(RunTags, _Object):
    _KIND, _DEPTH = "run", 2

    def __init__(self, pathspec: str, *, _datastore: Datastore | None = None, _check: bool = True,
                 _context: ClientContext | None = None):
        flow, run_id = self._init_path(pathspec, _datastore, _context)
        self.flow_name = flow
        rel = f"{flow}/{run_id}/_run.json"
        if not self._ds.storage.exists(rel):
            ids = records.list_runs(self._ds, flow)
            flows = [] if ids else records.list_flows(self._ds)
            if not ids and flow not in flows:
                raise NotFound(_nearby(flow, flows, "flow", self._ctx.where()))
            raise NotFound(_nearby(run_id, ids, "run", f"flow '{flow}'"))
        self._record = _read_json(self._ds, rel, f"run {self.pathspec}")
        self._end: dict | None = None
        if _check and not self._visible():
            raise NamespaceMismatch(
                f"run {self.pathspec} is in namespace '{self.namespace}', not in the current "
                f"namespace '{self._ctx.namespace}'; use namespace('{self.namespace}') or "
                "namespace(None) to read it")

    def _visible(self) -> bool:
        ns = self._ctx.namespace
        return ns is None or ns in self.tags

    # -- metadata --------------------------------------------------------------
    @property
    def namespace(self) -> str:
        return self._record.get("namespace") or f"user:{self._record.get('user')}"

    @property
    def user(self) -> str | None:
        return self._record.get("user")

    @property
    def user_tags(self) -> frozenset:
        """The run's tags, as changed since the run by add_tag/remove_tag/replace_tag."""
        return self._current_user_tags()

    @property
    def system_tags(self) -> frozenset:
        return frozenset(list(self._record.get("sys_tags") or []) + [self.namespace])

    @property
    def tags(self) -> frozenset:
        return self.user_tags | self.system_tags

    @property
    def created_at(self) -> datetime:
        return _dt(self._record.get("created_at"))

    @property
    def origin_run_id(self) -> str | None:
        return self._record.get("origin_run_id")

    @property
    def origin_pathspec(self) -> str | None:
        return f"{self.flow_name}/{self.origin_run_id}" if self.origin_run_id else None

    @property
    def is_interactive(self) -> bool:
        return "interactive" in (self._record.get("sys_tags") or [])

    @property
    def environment(self) -> dict | None:
        """What the run ran with: python, implementation, platform, packages
        ({name: version}), and `steps`: the environments of its `--pypi` steps."""
        from ..environment.record import run_environment

        return run_environment(self._ds, self._record)

    def _end_record(self) -> dict | None:
        if self._end is None:
            path = f"{self.pathspec}/_end.json"
            if self._ds.storage.exists(path):
                self._end = _read_json(self._ds, path, f"run {self.pathspec}")
        return self._end

    @property
    def status(self) -> str:
        """'running', 'successful', 'failed', or 'died' (its process ended without a record)."""
        return records.run_status(self._record, self._end_record())

    @property
    def successful(self) -> bool:
        return self.status == RunStatus.SUCCESSFUL

    @property
    def finished(self) -> bool:
        """True once the run has ended: successful, failed, or its process died."""
        return self.status != RunStatus.RUNNING

    @property
    def finished_at(self) -> datetime | None:
        end = self._end_record()
        return _dt(end.get("finished_at")) if end else None

    @property
    def message(self) -> str:
        """Why the run failed ('' when it did not)."""
        end = self._end_record()
        return (end or {}).get("message", "") or ("the run's process died" if self.status == RunStatus.DIED
                                                  else "")

    @property
    def size(self):
        """Bytes the run references (`.total`, shared blobs once) and what only it holds
        (`.alone`: what deleting it, then `nbflow gc`, frees)."""
        from ..datastore.usage import Usage
        from ..datastore.walk import walk_store

        walk = walk_store(self._ds)
        return Usage(walk).run_size(walk.runs[(self.flow_name, self.id)])

    @property
    def parameters(self) -> dict:
        """Parameter values by artifact name (each loaded when this is read)."""
        return {name: crossing.load(self._ds, name, ref, self.pathspec)
                for name, ref in (self._record.get("params") or {}).items()}

    @property
    def notebook(self):
        """The notebook's code as this run ran it (a NotebookSpec)."""
        from ..notebook.spec import NotebookSpec

        return NotebookSpec.from_dict(self._record["notebook"])

    def diff(self, other: Run):
        """What changed from this run to `other` (a RunDiff: parameters, cells, environment,
        artifacts by hash); runs of different flows are refused."""
        from .diff import diff_runs

        return diff_runs(self, other)

    # -- steps -----------------------------------------------------------------
    def _step_names(self) -> list[str]:
        """Steps that have at least one committed task, the last ones first (as Metaflow)."""
        present = set(records.list_steps(self._ds, self.flow_name, self.id))
        try:
            from ..graph.flowgraph import FlowGraph

            order = FlowGraph(self.notebook).topological()
        except Exception:  # noqa: BLE001 - an old or odd record: fall back to names
            order = []
        names = [s for s in order if s in present] + sorted(present - set(order))
        return [s for s in reversed(names)
                if records.list_tasks(self._ds, self.flow_name, self.id, s)]

    def steps(self, *tags: str) -> Iterator[Step]:
        """The run's steps; with tags, only if the run has them all (steps carry the run's
        tags, as in Metaflow)."""
        if not all(t in self.tags for t in tags):
            return
        for name in self._step_names():
            yield Step(f"{self.pathspec}/{name}", _context=self._ctx, _run=self)

    def __iter__(self) -> Iterator[Step]:
        return self.steps()

    def __getitem__(self, name: str) -> Step:
        return Step(f"{self.pathspec}/{name}", _context=self._ctx, _run=self)

    def __contains__(self, name: str) -> bool:
        """A step with at least one committed task (no need to order the steps for that)."""
        return name in records.list_steps(self._ds, self.flow_name, self.id) and \
            bool(records.list_tasks(self._ds, self.flow_name, self.id, name))

    @property
    def end_task(self) -> Task | None:
        if "end" not in self:
            return None
        return self["end"].task

    @property
    def data(self) -> TaskData | None:
        """The end task's artifacts (None until `end` has run)."""
        end = self.end_task
        return end.data if end is not None else None


class Step(_Object):
    _KIND, _DEPTH = "step", 3

    def __init__(self, pathspec: str, *, _datastore: Datastore | None = None,
                 _run: Run | None = None, _context: ClientContext | None = None):
        flow, run_id, step = self._init_path(pathspec, _datastore, _context)
        self.run = _run or Run(f"{flow}/{run_id}", _context=self._ctx)
        self._attempts = records.list_tasks(self._ds, flow, run_id, step)
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
        rel = self._ds.task_prefix(flow, run_id, step, task_id, self.attempt) + ".json"
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
        return self._record.successful

    @property
    def finished(self) -> bool:
        return True  # only committed attempts are visible

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


def damaged_runs(flow: str, _datastore: Datastore | None = None) -> dict[str, str]:
    """run id -> what is wrong, for the runs of `flow` whose records cannot be read."""
    ds = _datastore or get_datastore()  # namespaces do not matter here
    out = {}
    for run_id in records.list_runs(ds, flow):
        try:
            Run(f"{flow}/{run_id}", _datastore=ds, _check=False)._end_record()
        except DamagedRecord as e:
            out[run_id] = str(e)
        except NotFound:
            out[run_id] = "its run record (_run.json) is missing"
    return out


def elapsed(run: Run) -> float | None:
    """Seconds from start to end (to now while it runs); None if it died."""
    start = run._record.get("created_at")
    end = run._end_record()
    if end:
        return end.get("finished_at", start) - start
    return time.time() - start if run.status == RunStatus.RUNNING else None


__all__ = [
    "ClientContext",
    "ClientError",
    "DamagedRecord",
    "DataArtifact",
    "Flow",
    "Flows",
    "MissingArtifact",
    "NamespaceMismatch",
    "NotFound",
    "PathspecError",
    "Run",
    "Step",
    "Task",
    "TaskData",
    "damaged_runs",
    "default_context",
    "default_namespace",
    "elapsed",
    "get_datastore",
    "get_namespace",
    "namespace",
    "parse_pathspec",
    "set_datastore",
    "store_at",
]


def _task_record(ds: Datastore, rel: str, what: str) -> TaskRecord:
    rec = _read_json(ds, rel, what)
    try:
        return TaskRecord.from_json(rec)
    except (KeyError, TypeError, ValueError) as e:
        raise DamagedRecord(f"{what} is damaged: {rel} in {ds.url} lacks what a task record "
                            f"holds ({type(e).__name__}: {e})") from None
