"""`nbflow resume`: a new run that reuses an earlier run's successful tasks.

The origin run's successful tasks that are not downstream of the resume point are
cloned into the new run by reference: the same artifact keys (no byte copied), an
"origin" field naming the task they came from, and logs read from where they are.
The scheduler then runs what the clones unblock. The code is the notebook as it is
now; the parameters are the origin's and cannot change.

The resume point: the step named, else the origin's failed steps. A run whose
process died (or that was interrupted) has no failed step: every successful task
is reused and the unfinished ones run again.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from .. import graph as graphmod
from ..datastore import Datastore, records
from ..datastore import tags as tagstore
from ..errors import ParameterError, UsageError
from ..graph import FlowGraph
from ..names import did_you_mean, nearby
from ..notebook.params import notebook_parameters, parse_param_args, resolve_values
from ..notebook.spec import NotebookSpec
from ..records import EventKind, RunEvent, RunRecord, RunStatus, TaskRecord
from ..task.failure import StepException
from ..user import username
from .runner import RunOptions, create_run_record, datastore_for, execute, pinned_environments
from .scheduler import Listener, RunResult


class ResumeError(UsageError):
    """Resume is not possible from this run (with this notebook, step or parameters): exit 2."""


@dataclass(frozen=True)
class Origin:
    """The run resumed, as its records in the store say (the run layer reads the datastore,
    not the client)."""

    pathspec: str
    record: RunRecord
    end: dict                  # its end record ({} while running, or when its process died)
    status: str                # a RunStatus

    @classmethod
    def read(cls, ds: Datastore, flow: str, run_id: str) -> Origin:
        pathspec = f"{flow}/{run_id}"
        if not records.run_exists(ds, flow, run_id):
            ids = records.list_runs(ds, flow)
            if not ids:
                raise ResumeError("cannot resume: " + nearby(flow, records.list_flows(ds), "flow",
                                                             f"datastore {ds.url}"))
            raise ResumeError("cannot resume: " + nearby(run_id, ids, "run", f"flow '{flow}'"))
        try:
            record = records.read_run(ds, flow, run_id)
            end = records.read_run_end(ds, flow, run_id)
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ResumeError(f"cannot resume: run {pathspec} is damaged: its records in {ds.url} "
                              f"cannot be read ({type(e).__name__}: {e})") from None
        return cls(pathspec, record, end or {}, records.run_status(record, end))

    def user_tags(self, ds: Datastore) -> list[str]:
        """Its user tags as they are now (changed since the run by add_tag and the like)."""
        return tagstore.user_tags(ds, self.record.flow, self.record.run_id, self.record.tags)


@dataclass
class ResumePlan:
    origin_run_id: str
    origin: RunRecord                               # the origin's run record
    rerun_from: list[str]                           # the resume point (empty: a died run)
    reused: list[TaskRecord] = field(default_factory=list)  # origin task records to clone


def resume_notebook(notebook: NotebookSpec, opts: RunOptions, step: str | None = None,
                    origin_run_id: str | None = None, listeners: list[Listener] | None = None,
                    executor=None) -> RunResult:
    """Resume a run of `notebook`'s flow (the latest of the current user by default)."""
    from .withopts import apply

    notebook = apply(notebook, opts.decospecs)
    graph = graphmod.build(notebook)
    ds = datastore_for(notebook, opts.datastore)
    origin_id = origin_run_id or latest_origin(ds, graph.name, opts.namespace)
    plan = plan_resume(graph, ds, origin_id, step)
    opts = with_origin_tags(opts, ds, graph.name, origin_id)
    params, param_refs = check_parameters(notebook, opts, ds, plan)
    environments = pinned_environments(notebook, ds, opts, plan.origin.pinned_environments)
    run_id, record = create_run_record(ds, notebook, params, {}, opts, origin_run_id=origin_id,
                                       param_refs=param_refs, environments=environments)
    clones = [clone_task(ds, rec, run_id) for rec in plan.reused]
    first_id = 1 + max((int(t) for s in records.list_steps(ds, graph.name, origin_id)
                        for t in records.list_tasks(ds, graph.name, origin_id, s) if t.isdigit()),
                       default=0)
    fanout = _announcing(list(listeners or []), clones, run_id)
    return execute(graph, ds, run_id, record, opts, [fanout], completed=clones,
                   first_task_id=first_id, executor=executor)


def with_origin_tags(opts: RunOptions, ds: Datastore, flow: str, origin_id: str) -> RunOptions:
    """The resumed run carries the origin run's user tags as they are now (those added after
    it started included, as Metaflow does since #1406), then the ones given to resume."""
    origin = Origin.read(ds, flow, origin_id)
    tags = list(dict.fromkeys([*sorted(origin.user_tags(ds)), *opts.tags]))
    return replace(opts, tags=tags)


def latest_origin(ds: Datastore, flow: str, namespace: str | None) -> str:
    """The newest run of `flow` in the namespace that was not an interactive (kernel) run."""
    ns = namespace or f"user:{username()}"
    for run_id in records.list_runs(ds, flow):
        try:
            rec = records.read_run(ds, flow, run_id)
        except (OSError, ValueError):
            continue  # damaged or half-created: never a default origin
        tags = set(rec.sys_tags) | set(rec.tags) | {rec.namespace}
        if ns in tags and not rec.is_interactive:
            return run_id
    raise ResumeError(f"flow '{flow}' has no run in namespace '{ns}' in {ds.url} to resume; "
                      "start one with `nbflow run`, or name one with --origin-run-id")


def plan_resume(graph: FlowGraph, ds: Datastore, origin_id: str, step: str | None) -> ResumePlan:
    """Which of the origin's tasks the new run reuses; raises ResumeError when it cannot."""
    origin = Origin.read(ds, graph.name, origin_id)
    where = f"run {origin.pathspec}"
    if origin.record.is_interactive:
        raise ResumeError(f"{where} is an interactive (kernel) run; resume a run started with "
                          "`nbflow run` or `%nbflow run`")
    status = origin.status
    if status == RunStatus.RUNNING:
        raise ResumeError(f"{where} is still running (pid {origin.record.pid} on "
                          f"{origin.record.host}); wait for it to end before resuming it")
    old_graph = FlowGraph(NotebookSpec.from_dict(origin.record.notebook))
    if step is not None:
        if step not in graph:
            raise ResumeError(_no_step(step, graph, "the notebook"))
        rerun = [step]
    elif status == RunStatus.SUCCESSFUL:
        raise ResumeError(f"{where} succeeded, so it has no failed step to resume from; name the "
                          f"step to run again from: `nbflow resume NOTEBOOK STEP` (steps: "
                          f"{', '.join(graph.nodes)})")
    else:
        rerun = _failed_steps(ds, origin)
        for s in rerun:
            if s not in graph:
                raise ResumeError(f"step '{s}' failed in {where}, but the notebook has no step "
                                  f"'{s}' now (renamed or removed?); name the step to resume "
                                  "from: `nbflow resume NOTEBOOK STEP`")
    invalid = set(rerun)
    for s in rerun:
        invalid |= graph.descendants(s) | (old_graph.descendants(s) if s in old_graph else set())
    _check_structure(graph, old_graph, invalid, where)
    plan = ResumePlan(origin_id, origin.record, rerun)
    for s in graph.topological():
        if s in invalid:
            continue
        tasks = _successful_tasks(ds, graph.name, origin_id, s)
        if _blobs_lost(ds, tasks):   # moved aside by `fsck --repair`: run it again
            invalid |= {s} | graph.descendants(s)
            continue
        plan.reused += tasks
    return plan


def _blobs_lost(ds: Datastore, tasks: list[TaskRecord]) -> bool:
    from ..datastore.walk import references

    keys = set().union(*(references(t.artifacts) for t in tasks)) if tasks else set()
    return not all(ds.blob_exists(k) for k in keys)


def _failed_steps(ds: Datastore, origin: Origin) -> list[str]:
    """The steps whose tasks failed: the first failure stopped the run; the tasks it then
    killed (TaskKilled) are collateral, not a resume point (they run again anyway)."""
    steps: list[str] = []
    for n, pathspec in enumerate(origin.end.get("failed_steps") or []):
        parts = pathspec.split("/")
        if len(parts) != 4 or parts[2] in steps:
            continue
        try:
            rec = records.read_task(ds, *parts)
        except (OSError, ValueError, KeyError, TypeError):
            rec = None   # a damaged record
        error = StepException.from_dict(rec.exception) if rec else None
        if n == 0 or error is None or error.type not in ("TaskKilled", "TaskEnded"):
            steps.append(parts[2])
    return steps


def _no_step(step: str, graph: FlowGraph, where: str) -> str:
    close = did_you_mean(step, graph.nodes)
    hint = f" (did you mean '{close}'?)" if close else ""
    return f"there is no step '{step}' in {where}{hint}; steps: {', '.join(graph.nodes)}"


def _check_structure(graph: FlowGraph, old: FlowGraph, invalid: set[str], where: str) -> None:
    """Reused steps must be the same steps, wired the same way, in both graphs."""
    for name in old.nodes:
        if name not in invalid and name not in graph:
            raise ResumeError(f"step '{name}' of {where} is not in the notebook any more (renamed "
                              "or removed?), and it comes before the resume point; resume from "
                              "an earlier step, or start a new run with `nbflow run`")
    for name, node in graph.nodes.items():
        if name in invalid:
            continue
        if name not in old:
            raise ResumeError(f"step '{name}' is new since {where} and comes before the resume "
                              "point; resume from it (`nbflow resume NOTEBOOK "
                              f"{name}`) or start a new run")
        before = old[name]
        if before.targets != node.targets or before.foreach != node.foreach:
            raise ResumeError(f"step '{name}' now goes to {', '.join(node.targets) or 'nothing'}"
                              f"{' (foreach)' if node.foreach else ''}, but in {where} it went to "
                              f"{', '.join(before.targets) or 'nothing'}; resume from '{name}' "
                              "or start a new run")


def _successful_tasks(ds: Datastore, flow: str, run_id: str, step: str) -> list[TaskRecord]:
    out = []
    for task_id, attempt in records.list_tasks(ds, flow, run_id, step).items():
        try:
            rec = records.read_task(ds, flow, run_id, step, task_id, attempt)
        except (OSError, ValueError, KeyError, TypeError):
            rec = None  # a damaged record: that task runs again
        if rec and rec.successful:
            out.append(rec)
    out.sort(key=lambda r: ([f.index for f in r.foreach_stack],
                            int(r.task_id) if r.task_id.isdigit() else 0))
    return out


def check_parameters(notebook: NotebookSpec, opts: RunOptions, ds: Datastore,
                     plan: ResumePlan) -> tuple[list, dict]:
    """The parameters and the origin's refs to their values; an error if the
    notebook's parameters or a given value differ from the origin's."""
    params = notebook_parameters(notebook)
    refs = dict(plan.origin.params)
    now, before = {p.artifact for p in params}, set(refs)
    if now != before:
        added, removed = sorted(now - before), sorted(before - now)
        raise ResumeError(f"the notebook's parameters differ from run {plan.origin_run_id}'s "
                          f"(added: {', '.join(added) or 'none'}; removed: "
                          f"{', '.join(removed) or 'none'}); resume keeps the origin's parameters: "
                          "start a new run with `nbflow run`")
    given = dict(opts.param_values)
    given.update(parse_param_args(opts.params, params))
    for p in params:
        if p.option not in given:
            continue
        value = resolve_values([p], {p.option: given[p.option]}, environ={})[p.artifact]
        old = ds.get_object(refs[p.artifact]["key"])
        if not _same(value, old):
            raise ParameterError(f"--{p.option}: resume runs with the parameters of run "
                                 f"{plan.origin_run_id} ({p.option}={old!r:.60}) and cannot change "
                                 f"them; start a new run with `nbflow run` to use {value!r:.60}")
    return params, refs


def _same(a, b) -> bool:
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - arrays and the like: compare what they store
        from ..datastore import serialize

        return serialize.encode(a).key == serialize.encode(b).key


def clone_task(ds: Datastore, rec: TaskRecord, run_id: str) -> TaskRecord:
    """Write `rec` into run `run_id` by reference: same artifacts, logs read from the origin."""
    log_prefix = rec.log_prefix or ds.task_prefix(rec.flow, rec.run_id, rec.step, rec.task_id,
                                                  rec.attempt)
    clone = rec.cloned_into(run_id, log_prefix)
    records.write_task(ds, clone)
    return clone


def _announcing(listeners: list[Listener], clones: list[TaskRecord], run_id: str) -> Listener:
    """Forward every event; right after run_started, one task_cloned event per clone."""
    def listener(event: RunEvent) -> None:
        for target in listeners:
            target(event)
        if event.kind != EventKind.RUN_STARTED:
            return
        for c in clones:
            cloned = RunEvent(EventKind.TASK_CLONED, run_id, c.step, c.task_id, successful=True,
                              text=f"Cloning results of a previously run task {c.origin}",
                              info={"origin": c.origin, "index": c.index,
                                    "card": (c.card or {}).get("count", 0)})
            for target in listeners:
                target(cloned)
    return listener
