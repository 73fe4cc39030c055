"""Start a run: notebook -> validated graph -> run record -> scheduler -> run end.

Shared by `nbflow run`, `%nbflow run`, `resume` and the kernel's interactive runs."""
from __future__ import annotations

import os
import sys
import time
from dataclasses import field
from typing import TYPE_CHECKING

from ..datastore import Datastore, default_datastore_url, records
from ..environment import capture
from ..errors import DatastoreError, NbflowError, UsageError
from ..executors import get_executor
from ..lite_dataclass import dataclass
from ..notebook.params import notebook_parameters, parse_param_args, resolve_values
from ..records import EventKind, RunContext, RunEvent, RunRecord
from ..user import username

if TYPE_CHECKING:
    from ..notebook.spec import NotebookSpec
    from .scheduler import Listener, RunResult

# What both this process and a task's need is imported above; the notebook's spec, the
# graph and the scheduler only where they are used: `nbflow run` forks the zygote
# (executors.local) after importing this module, so the zygote's own imports and those
# go on side by side.


@dataclass
class RunOptions:
    params: list[str] = field(default_factory=list)    # ["--alpha", "0.5"]
    param_values: dict = field(default_factory=dict)   # option -> raw value (kernel)
    max_workers: int | None = None                     # None: 16, with cpu accounting
    max_num_splits: int = 100
    tags: list[str] = field(default_factory=list)
    executor: str | None = None                        # None: NBFLOW_EXECUTOR, else local
    scheduler: str | None = None                       # a Dask scheduler (implies dask)
    datastore: str | None = None
    datastore_shared: bool = False                     # a local path remote workers see too
    namespace: str | None = None
    fork: bool | None = None
    is_interactive: bool = False
    decospecs: list[str] = field(default_factory=list)   # --with NAME:ATTR=V, every step
    cache: bool | None = None                          # --cache (None: NBFLOW_CACHE)
    no_cache_steps: list[str] = field(default_factory=list)   # --no-cache-step NAME

    def __post_init__(self):
        if self.scheduler and self.executor not in (None, "dask"):
            raise UsageError(f"--scheduler {self.scheduler} is a Dask scheduler: it goes with "
                             f"--executor dask, not --executor {self.executor}")
        if self.scheduler:
            self.executor = "dask"
        self.executor = self.executor or os.environ.get("NBFLOW_EXECUTOR") or "local"
        check_run_tags(self.tags)


def check_run_tags(tags: list[str]) -> None:
    """`--tag` values obey the rules of `nbflow tag` (Metaflow's run checks them too): not
    empty, not too long, not a system tag, at most MAX_USER_TAGS; refused naming the tag."""
    from ..datastore.tags import MAX_USER_TAGS, TaggingError, check_tag

    for tag in tags:
        try:
            check_tag(tag)
        except TaggingError as e:
            raise UsageError(f"--tag: {e.message}") from None
    if len(set(tags)) > MAX_USER_TAGS:
        raise UsageError(f"--tag: a run has at most {MAX_USER_TAGS} user tags (Metaflow's "
                         f"limit), got {len(set(tags))}")


def datastore_for(notebook: NotebookSpec, url: str | None) -> Datastore:
    """--datastore, else NBFLOW_DATASTORE, else `.nbflow/` beside the notebook."""
    if url:
        return Datastore(url)
    if os.environ.get("NBFLOW_DATASTORE"):
        return Datastore(os.environ["NBFLOW_DATASTORE"])
    if notebook.path:
        return Datastore(os.path.join(os.path.dirname(notebook.path), ".nbflow"))
    return Datastore(default_datastore_url())


def prepare(notebook: NotebookSpec, opts: RunOptions):
    """Everything that can fail before a run exists: graph, parameters, files."""
    from .. import graph as graphmod

    graph = graphmod.build(notebook)
    params = notebook_parameters(notebook)
    given = dict(opts.param_values)
    given.update(parse_param_args(opts.params, params))
    values = resolve_values(params, given, flow_name=notebook.flow_name)
    return graph, params, values


def run_namespace(opts: RunOptions, user: str) -> str:
    return opts.namespace or f"user:{user}"


def run_context(opts: RunOptions, user: str, origin_run_id: str | None = None,
                project: dict | None = None) -> RunContext:
    """What every task of the run is told about it (`current`)."""
    return RunContext(namespace=run_namespace(opts, user), username=user, tags=tuple(opts.tags),
                      is_interactive=opts.is_interactive, origin_run_id=origin_run_id,
                      project=project)


def pinned_environments(notebook: NotebookSpec, ds: Datastore, opts: RunOptions,
                        stored: dict | None = None) -> dict:
    """Resolve and build the `--pypi` steps' environments before the run exists (a bad pin
    fails here, naming its step). Locks are reused: `stored` (resume: the origin's), else
    those of the flow's latest runs, for steps asking for the same requirements."""
    from ..environment.requirements import pinned_steps

    if not pinned_steps(notebook):
        return {}
    if opts.executor not in ("local", "spawn"):
        from ..errors import UsageError

        raise UsageError(f"steps with --pypi ({', '.join(pinned_steps(notebook))}) run with the "
                         f"local executor only; --executor {opts.executor} is not supported yet")
    from ..environment import pinned

    if stored is None:
        stored = pinned.latest_locks(ds, notebook.flow_name)
    return pinned.prepare(notebook, ds.url, stored, announce=pinned.printer())


def create_run_record(ds: Datastore, notebook: NotebookSpec, params, values: dict,
                      opts: RunOptions, origin_run_id: str | None = None,
                      param_refs: dict | None = None,
                      environments: dict | None = None) -> tuple[str, RunRecord]:
    """`param_refs` (resume): the origin run's stored parameters, reused as they are;
    `environments`: pinned_environments(...), kept with the run (its locks)."""
    check_store_reachable(ds, opts)
    user = username()
    if param_refs is None:
        param_refs = {p.artifact: ds.put_object(values[p.artifact]) for p in params}
    from ..notebook.production import project_tags

    sys_tags = [f"user:{user}"] + (["interactive"] if opts.is_interactive else []) + \
        project_tags(notebook, user)
    record = RunRecord(
        flow=notebook.flow_name, run_id="", created_at=time.time(), user=user,
        namespace=run_namespace(opts, user), notebook=notebook.to_dict(), params=param_refs,
        param_options={p.artifact: p.option for p in params}, tags=tuple(opts.tags),
        sys_tags=tuple(sys_tags), origin_run_id=origin_run_id, pid=os.getpid(),
        host=os.uname().nodename if hasattr(os, "uname") else "",
        max_workers=opts.max_workers, max_num_splits=opts.max_num_splits, datastore=ds.url,
        environment=capture.record_current(ds), pinned_environments=environments or {})
    record = records.create_run(ds, record)
    return record.run_id, record


def check_store_reachable(ds: Datastore, opts: RunOptions) -> None:
    """A local store path with a running (remote) Dask scheduler: its workers cannot see it."""
    if opts.executor != "dask" or opts.is_interactive or opts.datastore_shared \
            or not ds.storage.local:
        return
    from ..executors.dask_cluster import scheduler_address

    address = scheduler_address(opts.scheduler)
    if address:
        raise UsageError(f"the datastore {ds.url} is a local folder, which the workers of the "
                         f"Dask scheduler {address} cannot see: use --datastore s3://... (or "
                         "gcs://...), or add --datastore-shared if it is on a file system the "
                         "workers share")


def make_executor(opts: RunOptions):
    """Start the executor early: a local zygote warms up while the notebook is read."""
    options = {"fork": opts.fork} if opts.executor == "local" else \
        {"address": opts.scheduler} if opts.executor == "dask" else {}
    executor = get_executor(opts.executor, **options)
    executor.start()
    return executor


def run_notebook(notebook: NotebookSpec, opts: RunOptions,
                 listeners: list[Listener] | None = None, executor=None) -> RunResult:
    from .withopts import apply

    notebook = apply(notebook, opts.decospecs)
    graph, params, values = prepare(notebook, opts)
    ds = datastore_for(notebook, opts.datastore)
    environments = pinned_environments(notebook, ds, opts)
    run_id, record = create_run_record(ds, notebook, params, values, opts,
                                       environments=environments)
    return execute(graph, ds, run_id, record, opts, listeners, executor=executor)


def step_cache(graph, ds: Datastore, opts: RunOptions):
    """--cache / NBFLOW_CACHE=1 (never for interactive runs: the kernel reruns on purpose)."""
    from . import cache

    if opts.is_interactive or not cache.enabled(opts.cache):
        return None
    unknown = [s for s in opts.no_cache_steps if s not in graph.nodes]
    if unknown:
        raise UsageError(f"--no-cache-step {unknown[0]}: the flow has no such step")
    found = cache.StepCache(ds, graph, opts.no_cache_steps)
    for note in found.notes():
        print(f"(step cache: {note})", file=sys.stderr)
    return found


def execute(graph, ds: Datastore, run_id: str, record: RunRecord, opts: RunOptions,
            listeners: list[Listener] | None = None, *, seed=None, completed=None,
            first_task_id: int = 1, executor=None) -> RunResult:
    listeners = list(listeners or [])
    from ..notebook.production import project_context
    from .scheduler import Scheduler

    context = run_context(opts, record.user, record.origin_run_id,
                          project_context(graph.notebook, record.user).get("project"))
    for listener in listeners:
        listener(RunEvent(EventKind.RUN_STARTED, run_id, info={"flow": graph.name,
                                                         "datastore": ds.url,
                                                         "steps": list(graph.nodes)}))
    owned = executor is None  # a caller's executor (CLI, kernel session) stays open
    executor = executor or make_executor(opts)
    try:
        try:
            executor.check(graph)  # e.g. a step asking more --resources than any worker has
        except NbflowError as e:
            records.write_run_end(ds, graph.name, run_id, successful=False, message=e.render())
            raise
        if os.environ.get("NBFLOW_PRELOAD", "1") != "0":
            from ..notebook.preload import modules_to_preload

            executor.preload(modules_to_preload(graph.notebook))
        environments = {}
        if record.pinned_environments:   # `--pypi` steps (the build's imports only then)
            from ..environment.pinned import launch_info

            environments = launch_info(record.pinned_environments)
        for environment in {e["hash"]: e for e in environments.values()}.values():
            executor.warm_environment(environment)
        sched = Scheduler(graph, ds, run_id, params=record.params, executor=executor,
                          max_workers=opts.max_workers, max_num_splits=opts.max_num_splits,
                          listeners=listeners, context=context, first_task_id=first_task_id,
                          environments=environments, cache=step_cache(graph, ds, opts))
        try:
            result = sched.run(seed=seed, completed=completed)
        except DatastoreError as e:   # the store failed mid-way: the run ends failed
            records.write_run_end(ds, graph.name, run_id, successful=False, message=e.render())
            raise
    finally:
        if owned:
            executor.close()
    records.write_run_end(ds, graph.name, run_id, successful=result.successful,
                          message=result.message, failed_steps=result.failed,
                          ended=result.ended)
    for listener in listeners:
        listener(RunEvent(EventKind.RUN_FINISHED, run_id, successful=result.successful,
                          text=result.message, info={"flow": graph.name}))
    return result
