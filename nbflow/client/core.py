"""The client API: read-only, lazy views over the datastore, named as in Metaflow.

    Flows() -> Flow -> Run -> Step -> Task -> DataArtifact

Objects read only the small JSON records they need; an artifact's blob is loaded
when its value is first asked for, so listing runs or tasks never loads an artifact.
Which store and namespace: a ClientContext (context.py); by default set_datastore(url), else
NBFLOW_DATASTORE, else the nearest `.nbflow/` from the working directory upward, and the
current namespace (`user:<you>` by default; namespace(None) sees all). This module holds
Flows, Flow and Run; tasks.py holds Step, Task and DataArtifact.
"""
from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from datetime import datetime

from ..datastore import Datastore, records
from ..environment import crossing
from ..errors import ClientError  # noqa: F401  (re-exported)
from ..records import RunRecord, RunStatus, TaskRecord
from .context import (  # noqa: F401  (re-exported: the client's public names)
    FOLLOW,
    ClientContext,
    default_context,
    default_namespace,
    default_store_is_searched,
    get_datastore,
    get_namespace,
    namespace,
    set_datastore,
    store_at,
)
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
    parent = property(lambda self: None, doc="a flow has no parent (Metaflow's `parent`)")

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
                if isinstance(e, DamagedRecord):   # (NotFound: starting, its folder comes first)
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
        rel = records.run_path(flow, run_id)
        if not records.run_exists(self._ds, flow, run_id):
            ids = records.list_runs(self._ds, flow)
            flows = [] if ids else records.list_flows(self._ds)
            if not ids and flow not in flows:
                raise NotFound(_nearby(flow, flows, "flow", self._ctx.where()))
            raise NotFound(f"run {flow}/{run_id} has no record yet ({rel}): it is starting, or "
                           "its record was deleted" if run_id in ids else
                           _nearby(run_id, ids, "run", f"flow '{flow}'"))
        self.record = _run_record(self._ds, rel, f"run {self.pathspec}")   # a RunRecord
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
        return self.record.namespace_or_user

    @property
    def user(self) -> str | None:
        return self.record.user

    @property
    def user_tags(self) -> frozenset:
        """The run's tags, as changed since the run by add_tag/remove_tag/replace_tag."""
        return self._current_user_tags()

    @property
    def system_tags(self) -> frozenset:
        return frozenset(list(self.record.sys_tags) + [self.namespace])

    @property
    def tags(self) -> frozenset:
        return self.user_tags | self.system_tags

    @property
    def created_at(self) -> datetime:
        return _dt(self.record.created_at)

    @property
    def origin_run_id(self) -> str | None:
        return self.record.origin_run_id

    @property
    def origin_pathspec(self) -> str | None:
        return f"{self.flow_name}/{self.origin_run_id}" if self.origin_run_id else None

    @property
    def parent(self) -> Flow:
        """The run's flow (Metaflow's `parent`)."""
        return Flow(self.flow_name, _context=self._ctx, _check=False)

    @property
    def is_interactive(self) -> bool:
        return self.record.is_interactive

    @property
    def environment(self) -> dict | None:
        """What the run ran with: python, implementation, platform, packages
        ({name: version}), and `steps`: the environments of its `--pypi` steps."""
        from ..environment.record import run_environment

        return run_environment(self._ds, self.record)

    def _end_record(self) -> dict | None:
        if self._end is None:
            path = records.run_path(self.flow_name, self.id, records.RUN_END)
            if self._ds.storage.exists(path):
                self._end = _read_json(self._ds, path, f"run {self.pathspec}")
        return self._end

    @property
    def status(self) -> str:
        """'running', 'successful', 'failed', or 'died' (its process ended without a record)."""
        return records.run_status(self.record, self._end_record())

    @property
    def successful(self) -> bool:
        """The run ended well and so did its `end` step: a run whose `end` failed and had its
        error stored by --catch is not successful (Metaflow's rule: its end task's state)."""
        if self.status != RunStatus.SUCCESSFUL:
            return False
        try:
            end = self.end_task
        except ClientError:    # an unreadable end record: the run's own record decides
            return True
        return end is None or not end.caught

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
                for name, ref in self.record.params.items()}

    @property
    def notebook(self):
        """The notebook's code as this run ran it (a NotebookSpec)."""
        from ..notebook.spec import NotebookSpec

        return NotebookSpec.from_dict(self.record.notebook)

    def diff(self, other: Run):
        """What changed from this run to `other` (a RunDiff: parameters, cells, environment,
        artifacts by hash); runs of different flows are refused."""
        from .diff import diff_runs

        return diff_runs(self, other)

    # -- steps -----------------------------------------------------------------
    def _graph(self):
        """The graph of the code this run ran (None for a record nbflow cannot read as one)."""
        if not hasattr(self, "_graph_cache"):
            from ..graph.flowgraph import FlowGraph

            try:
                self._graph_cache = FlowGraph(self.notebook)
            except Exception:  # noqa: BLE001 - an old or odd record
                self._graph_cache = None
        return self._graph_cache

    def _step_names(self) -> list[str]:
        """Steps that have at least one committed task, the last ones first (as Metaflow)."""
        present = set(records.list_steps(self._ds, self.flow_name, self.id))
        graph = self._graph()
        order = graph.topological() if graph is not None else []
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
            out[run_id] = f"its run record ({records.RUN_RECORD}) is missing"
    return out


def elapsed(run: Run) -> float | None:
    """Seconds from start to end (to now while it runs); None if it died."""
    start = run.record.created_at
    end = run._end_record()
    if end:
        return end.get("finished_at", start) - start
    return time.time() - start if run.status == RunStatus.RUNNING else None


def _typed_record(ds: Datastore, rel: str, what: str, kind):
    """A stored record as its typed record (RunRecord, TaskRecord); unreadable: damaged."""
    rec = _read_json(ds, rel, what)
    if kind is RunRecord:   # a kernel's run: its changes log applied
        rec = records.with_run_log(ds, *rel.split("/")[-3:-1], rec)
    try:
        return kind.from_json(rec)
    except (KeyError, TypeError, ValueError) as e:
        raise DamagedRecord(f"{what} is damaged: {rel} in {ds.url} lacks what a "
                            f"{kind.__name__} holds ({type(e).__name__}: {e})") from None


def _run_record(ds: Datastore, rel: str, what: str) -> RunRecord:
    return _typed_record(ds, rel, what, RunRecord)


def _task_record(ds: Datastore, rel: str, what: str) -> TaskRecord:
    return _typed_record(ds, rel, what, TaskRecord)


# Step, Task, DataArtifact build on Run (tasks.py imports this module): bound last
from .tasks import DataArtifact, Step, Task, TaskData  # noqa: E402

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
