"""Run one step cell at once, as a task of the kernel's interactive run.

Inputs are the latest successful tasks of the step's parents in this kernel session,
else in the flow's most recent run that has them (after a kernel restart). The step
runs through the real scheduler and executor (`follow=False`: its children wait for
their own cells), and its output streams into the cell as it is printed."""
from __future__ import annotations

import json
import sys
from dataclasses import replace

from ..datastore import records
from ..errors import NbflowError, NotebookError, ParameterError, TaskFailed
from ..notebook.params import notebook_parameters, resolve_values
from ..notebook.spec import NotebookSpec, StepSpec
from ..records import EventKind, RunEvent, TaskRecord
from ..run.planner import tasks_of_step
from ..run.runner import RunOptions, create_run_record, datastore_for, run_context
from ..run.scheduler import Scheduler
from .cellerror import cell_error, in_cell
from .selfview import SelfView
from .session import InteractiveRun, KernelSession

RUNS_SEARCHED = 50   # how far back a parent's tasks are looked for in earlier runs


class CellOutput:
    """A scheduler listener: task output into the running cell, stdout and stderr apart,
    and what the task displays as rich outputs, in order with its printed lines."""

    def __init__(self, prefix: bool, datastore=None):
        self.prefix = prefix   # several tasks at once (foreach splits): say whose line it is
        self.datastore = datastore

    def __call__(self, ev: RunEvent) -> None:
        if ev.kind == EventKind.TASK_CLONED:
            print(f"(cached: task {ev.info.get('origin')} had the same code and inputs: "
                  "reused, not run)")
        elif ev.kind == EventKind.TASK_DISPLAY:
            show_display(self.datastore, ev.text)
        elif ev.kind == EventKind.TASK_OUTPUT:
            stream = sys.stderr if ev.stream == "stderr" else sys.stdout
            tag = f"[{ev.step}/{ev.task_id}] " if self.prefix else ""
            stream.write(f"{tag}{ev.text}\n")
        elif ev.kind == EventKind.TASK_RETRYING:
            sys.stderr.write(f"[{ev.step}/{ev.task_id}] retrying (attempt {ev.attempt + 1})\n")


def show_display(ds, text: str) -> None:
    """One bundle a task displayed (a marker line: cards/stream.py), shown in the cell."""
    import json

    from IPython.display import display

    from ..datastore.cards import resolve

    sys.stdout.flush()
    sys.stderr.flush()
    try:
        data, metadata = resolve(ds, json.loads(text))
    except Exception as e:  # noqa: BLE001 - a broken output must not stop the step's cell
        sys.stderr.write(f"(an output of the task could not be shown: {type(e).__name__}: {e})\n")
        return
    display(data, raw=True, metadata=metadata)


def run_step(session: KernelSession, spec: StepSpec, saved: NotebookSpec | None) -> SelfView:
    """Run `spec` (already checked) now; returns the view bound to `self` in the kernel."""
    check_against_known(session, spec, saved)
    session.register_step(spec)
    known = session.known_spec(saved)
    ds = datastore_for(known, None)
    if spec.name != "start" and not _parents(known, spec.name):
        known = session.known_spec(saved, _last_run_notebook(ds, known.flow_name))
    graph = session.graphs.graph_for(known)   # complete when built (errors in other cells do
                                              # not stop this one); rebuilt as far as it changed
    parent_tasks = _parent_tasks(session, graph, spec, ds, saved)
    params, values = _param_values(session, known)
    _check_reads(spec, graph, parent_tasks, params)
    refs = {p.artifact: ds.put_object(values[p.artifact]) for p in params}
    run = _interactive_run(session, known, ds, params, values, refs)
    tasks = tasks_of_step(graph, spec.name, parent_tasks)
    if not tasks:
        raise cell_error(TaskFailed, f"not every input of '{spec.name}' has a successful task "
                         f"yet: run {', '.join(session.cell_of(p, saved) for p in graph[spec.name].parents)} "
                         "first", cell=spec.cell, step=spec.name)
    environments = _step_environment(session, run, known, spec.name)
    session.warm(known)
    result, recs = _execute(session, run, graph, spec.name, refs, tasks, environments)
    _after(session, run, known, graph, spec.name, refs, recs)
    if not result.successful:
        session.failed.add(spec.name)
        raise _failure(spec.name, result, recs)
    session.failed.discard(spec.name)
    note = "" if len(recs) == 1 else f" (task 1 of {len(recs)}; the others: " \
        + ", ".join(r.pathspec for r in recs[1:4]) + (" ..." if len(recs) > 4 else "") + ")"
    return SelfView(ds, recs[0], note)


def check_against_known(session: KernelSession, spec: StepSpec, saved: NotebookSpec | None):
    """What the cells the kernel knows (this session's and the saved notebook's) can tell
    before a task starts: a target that looks like a typo of a known step, and a step name
    another cell of the saved notebook defines. A target not written yet is only noted."""
    from ..names import did_you_mean

    cells = [s.cell for s in (saved.steps if saved is not None else ()) if s.name == spec.name]
    if len(cells) > 1:
        raise cell_error(NotebookError, f"step '{spec.name}' is defined twice: in cell "
                         f"{cells[0]} and in cell {cells[1]}; rename one",
                         cell=spec.cell, step=spec.name)
    known = {s.name for s in session.known_spec(saved).steps} - {spec.name}
    for target in spec.targets:
        if target in known:
            continue
        close = did_you_mean(target, known)
        if close:
            raise cell_error(NotebookError, f"target '{target}' is not a step; did you mean "
                             f"'{close}'?", cell=spec.cell, step=spec.name)
        print(f"(target '{target}' is not a step yet: write a '%%step {target} ...' cell)")


def _check_reads(spec: StepSpec, graph, parent_tasks: dict, params: list) -> None:
    """The lineage check against what the parents' tasks really have: a read of an artifact
    nobody produced stops the cell before its task starts."""
    from ..errors import ValidationErrors
    from ..graph.lineage import check_cell

    parents = {p: frozenset().union(*(r.artifacts for r in recs if r is not None))
               for p, recs in parent_tasks.items()}
    errors = check_cell(spec, graph[spec.name].is_join, parents,
                        frozenset(p.artifact for p in params))
    if len(errors) == 1:
        raise in_cell(errors[0], spec.cell)
    if errors:
        raise in_cell(ValidationErrors(errors))


def _parents(spec: NotebookSpec, step: str) -> list[str]:
    return [s.name for s in spec.steps if step in s.targets]


def _last_run_notebook(ds, flow: str) -> NotebookSpec | None:
    runs = records.list_runs(ds, flow)
    if not runs:
        return None
    try:
        return NotebookSpec.from_dict(records.read_run(ds, flow, runs[0]).notebook)
    except Exception:  # noqa: BLE001 - an unreadable record only means fewer known steps
        return None


def _parent_tasks(session: KernelSession, graph, spec: StepSpec, ds, saved) -> dict:
    node = graph[spec.name]
    if spec.name != "start" and not node.parents:
        raise cell_error(TaskFailed, f"no step leads to '{spec.name}' yet: add '-> {spec.name}' "
                         "to the header of the step before it and run that cell",
                         cell=spec.cell, step=spec.name)
    out = {}
    for parent in node.parents:
        _refuse_unusable_parent(session, graph, spec, parent, saved)
        if parent in session.latest:
            out[parent] = session.latest[parent]
            continue
        found = _stored_tasks(ds, graph.name, parent, session.run)
        if found is None:
            raise cell_error(TaskFailed, f"its parent step '{parent}' has not run yet (in this "
                             f"kernel or in any run of {graph.name}); run "
                             f"{session.cell_of(parent, saved)} first",
                             cell=spec.cell, step=spec.name)
        run_id, recs = found
        print(f"(step '{parent}' has not run in this kernel session: its input comes from "
              f"run {graph.name}/{run_id}{_code_note(ds, graph, parent, run_id)})")
        out[parent] = recs
    return out


def _refuse_unusable_parent(session: KernelSession, graph, spec: StepSpec, parent: str,
                            saved) -> None:
    """A parent attempted in this session whose last attempt failed, or that is stale, never
    feeds its child: not even from an older run (that data is not what its cell makes now)."""
    if parent in session.failed:
        raise cell_error(TaskFailed, f"its parent step '{parent}' failed when it last ran in "
                         f"this kernel session; fix {session.cell_of(parent, saved)} and run it "
                         "again first", cell=spec.cell, step=spec.name)
    if parent in session.stale:
        raise cell_error(TaskFailed, f"its parent step '{parent}' is stale (a step upstream of "
                         f"it ran again since); run {session.cell_of(parent, saved)} again first",
                         cell=spec.cell, step=spec.name)


def _code_note(ds, graph, step: str, run_id: str) -> str:
    """Which code made the stored tasks, and whether the cell still has that code."""
    try:
        was = NotebookSpec.from_dict(records.read_run(ds, graph.name, run_id).notebook)
        old = was.step(step)
    except Exception:  # noqa: BLE001 - an old or unreadable record: nothing to compare
        return ""
    now = graph[step].spec
    if old.body.strip() == now.body.strip() and old.header.strip() == now.header.strip():
        return ", made by the same code as its cell now"
    return (f"; WARNING: that run's code for '{step}' differs from cell {now.cell} now: "
            "run that cell to use the current code")


def _stored_tasks(ds, flow: str, step: str, current: InteractiveRun | None):
    """(run_id, successful task records of `step`) of the newest run that has them."""
    for run_id in records.list_runs(ds, flow)[:RUNS_SEARCHED]:
        if current is not None and run_id == current.run_id:
            continue
        try:
            latest = records.read_run(ds, flow, run_id).interactive_latest
        except Exception:  # noqa: BLE001, S112 - an unreadable run is skipped
            continue
        attempts = records.list_tasks(ds, flow, run_id, step)
        recs = _task_records(ds, flow, run_id, step, latest.get(step) or attempts, attempts)
        recs = [r for r in recs if r and r.successful]
        if recs:
            return run_id, recs
    return None


def _task_records(ds, flow: str, run_id: str, step: str, task_ids,
                  attempts: dict[str, int] | None = None) -> list[TaskRecord | None]:
    """The latest committed record of each task (None: none yet), listing the step once
    (not once per task: a foreach body has many)."""
    if attempts is None:
        attempts = records.list_tasks(ds, flow, run_id, step)
    return [records.read_task(ds, flow, run_id, step, str(t), attempts[str(t)])
            if str(t) in attempts else None for t in task_ids]


def flow_parameters(known: NotebookSpec) -> list:
    """The flow cell's parameters, read as `nbflow run` reads them (`__file__` = the
    notebook); a flow cell that does not parse is reported at its cell."""
    try:
        return notebook_parameters(known)
    except ParameterError as e:
        raise in_cell(e) from None


def _param_values(session: KernelSession, known: NotebookSpec):
    """%nbflow params, then NBFLOW_RUN_*, then defaults: resolved for every task."""
    params = flow_parameters(known)
    given = {k: v for k, v in session.params.items() if k in {p.option for p in params}}
    try:
        return params, resolve_values(params, given, flow_name=known.flow_name)
    except ParameterError as e:
        e.message += " (for the kernel's steps: %nbflow params --NAME VALUE)"
        raise in_cell(e) from None


def _interactive_run(session: KernelSession, known: NotebookSpec, ds, params, values, refs):
    run = session.run
    if run is None or run.flow != known.flow_name or run.datastore.url != ds.url:
        if run is not None:
            end_interactive_run(session)
        run_id, record = create_run_record(ds, known, params, values,
                                           RunOptions(is_interactive=True), param_refs=refs)
        run = session.run = InteractiveRun(known.flow_name, run_id, ds, record.user)
        RecordLog.started(run, known, refs)
        session.latest.clear()
        session.stale.clear()
        print(f"(interactive run {known.flow_name}/{run_id})")
    return run


def _step_environment(session: KernelSession, run: InteractiveRun, known: NotebookSpec,
                      step: str) -> dict:
    """A `--pypi` step runs in its pinned environment (built on first use, then cached);
    the cell says so the first time in this kernel session. Its lock joins the run record."""
    from ..environment import pinned
    from ..environment.requirements import step_env_spec

    if step_env_spec(known, known.step(step)) is None:
        return {}
    said = session.__dict__.setdefault("environments_announced", set())
    stored = records.read_run(run.datastore, run.flow, run.run_id).pinned_environments

    def announce(name, entry, built_seconds):
        if (name, entry["hash"]) not in said:
            said.add((name, entry["hash"]))
            print(f"({pinned.describe(name, entry, built_seconds)})")

    try:
        entries = pinned.prepare(known, run.datastore.url, stored, [step], announce)
    except NbflowError as e:
        raise in_cell(e) from None
    RecordLog.write(run, {"set": {"pinned_environments": {**stored, **entries}}})
    return pinned.launch_info(entries)


def _execute(session: KernelSession, run: InteractiveRun, graph, step: str, refs: dict, tasks,
             environments: dict | None = None):
    opts = RunOptions(is_interactive=True)
    context = replace(run_context(opts, run.user), card_stream=True)
    sched = Scheduler(graph, run.datastore, run.run_id, params=refs,
                      executor=session.executor(),
                      listeners=[CellOutput(len(tasks) > 1, run.datastore)],
                      context=context, first_task_id=run.next_task_id, follow=False,
                      max_num_splits=session.max_num_splits, environments=environments,
                      cache=_step_cache(graph, run.datastore, step))
    result = sched.run(seed=tasks)   # Ctrl-C / the stop button: tasks are ended, marked failed
    run.next_task_id = sched.next_task_id
    ran = [t for t in tasks if t.task_id]   # all of one step: the planner made them
    found = _task_records(run.datastore, graph.name, run.run_id, step, [t.task_id for t in ran])
    recs = [rec or TaskRecord.uncommitted(graph.name, run.run_id, step, t.task_id, t.attempt)
            for t, rec in zip(ran, found)]
    sys.stdout.flush()
    sys.stderr.flush()
    return result, recs


def _step_cache(graph, ds, step: str):
    """`%%step ... --cache`: a rerun of an unchanged cell (code, inputs, parameters) reuses
    its earlier task (run/cache.py)."""
    if not graph[step].spec.options.cache:
        return None
    from ..run.cache import StepCache

    cache = StepCache(ds, graph)
    if step in cache.never:
        print(f"(--cache: {cache.never[step]}; the step runs)", file=sys.stderr)
        return None
    return cache


def _after(session: KernelSession, run: InteractiveRun, known: NotebookSpec, graph, step: str,
           refs: dict, recs: list[TaskRecord]) -> None:
    """Remember the step's tasks, mark what is downstream stale, and keep the run record
    up to date (the code it ran, parameters, each step's latest tasks)."""
    if recs and all(r.successful for r in recs):
        session.latest[step] = recs
        session.stale.discard(step)
        stale = sorted(d for d in graph.descendants(step) if d in session.latest)
        if stale:
            session.stale.update(stale)
            print(f"(downstream step(s) now stale: {', '.join(stale)}; run their cells again to "
                  "use this step's new output)")
    latest = {s: [r.task_id for r in rs] for s, rs in session.latest.items()}
    stale_tasks = [r.pathspec for s in sorted(session.stale) for r in session.latest.get(s, [])]
    RecordLog.update(run, known, refs, latest, stale_tasks)


class RecordLog:
    """The interactive run's record, kept up to date by appending what each cell changed
    (datastore/records.py, `_run.log`), not by rewriting it: a cell's cost does not grow
    with the notebook. `run.written` holds what the record says now, to compare with."""

    @staticmethod
    def started(run: InteractiveRun, known: NotebookSpec, refs: dict) -> None:
        run.written = {"steps": {s.name: s for s in known.steps},
                       "order": [s.name for s in known.steps],
                       "notebook": {"flow_name": known.flow_name, "path": known.path,
                                    "flow_cell": known.flow_cell},
                       "params": refs, "latest": {}, "stale": []}

    @staticmethod
    def update(run: InteractiveRun, known: NotebookSpec, refs: dict, latest: dict,
               stale: list) -> None:
        w = run.written
        change: dict = {}
        put = {}
        if refs != w["params"]:
            put["params"] = w["params"] = refs
        if stale != w["stale"]:
            put["stale"] = w["stale"] = stale
        if set(w["latest"]) - set(latest):
            put["interactive_latest"] = latest
        else:
            moved = {k: v for k, v in latest.items() if w["latest"].get(k) != v}
            if moved:
                change["latest"] = moved
        w["latest"] = dict(latest)
        nb: dict = {}
        meta = {"flow_name": known.flow_name, "path": known.path, "flow_cell": known.flow_cell}
        for key, value in meta.items():
            if w["notebook"].get(key) != value:
                nb.setdefault("set", {})[key] = value.to_json() if key == "flow_cell" and \
                    value is not None else value
                w["notebook"][key] = value
        steps = w["steps"]
        for spec in known.steps:
            old = steps.get(spec.name)
            if old is not spec:
                if old != spec:
                    nb.setdefault("steps", {})[spec.name] = spec.to_json()
                steps[spec.name] = spec   # (the next cell compares by identity)
        order = [spec.name for spec in known.steps]
        if order != w["order"]:
            nb["order"] = w["order"] = order
            for name in set(steps) - set(order):
                del steps[name]
        if put:
            change["set"] = put
        if nb:
            change["notebook"] = nb
        RecordLog.write(run, change)

    @staticmethod
    def write(run: InteractiveRun, change: dict) -> None:
        if not records.append_run_changes(run.datastore, run.flow, run.run_id, change):
            # a store that cannot append (an object store): the record is rewritten
            ds = run.datastore
            record = records.apply_run_log(records.read_run_json(ds, run.flow, run.run_id),
                                           json.dumps(change, default=str).encode())
            records.rewrite_run_json(ds, run.flow, run.run_id, record)


def _failure(step: str, result, recs: list[TaskRecord]) -> TaskFailed:
    if "interrupted" in result.message:
        return cell_error(TaskFailed, "interrupted: the running task(s) were ended and marked "
                          "failed; the kernel is ready for the next cell", step=step)
    bad = [r for r in recs if not r.successful]
    exc = (bad[0].exception or {}) if bad else {}
    what = f"{exc.get('type')}: {exc.get('message')}" if exc else "the task failed"
    where = ", ".join(r.pathspec for r in bad[:3]) + (" ..." if len(bad) > 3 else "")
    if "--max-num-splits" in what:
        what += " (in the kernel: %nbflow params --max-num-splits N)"
    return cell_error(TaskFailed, f"{what} (task {where}; its output is above)", step=step)


def end_interactive_run(session: KernelSession) -> None:
    """Close the interactive run in the store (kernel shutdown, or a new flow name)."""
    run = session.run
    if run is None:
        return
    session.run = None
    try:
        records.write_run_end(run.datastore, run.flow, run.run_id,
                              successful=not session.failed,
                              message="" if not session.failed else
                              f"step(s) whose last task failed: {', '.join(sorted(session.failed))}")
    except Exception:  # noqa: BLE001, S110 - at exit the store may be gone: no one to tell
        pass
    try:   # the cells' changes log, folded into the record once, at the end (a reader
        # meanwhile sees the same record: applying the log again changes nothing)
        if records.read_run_log(run.datastore, run.flow, run.run_id):
            records.update_run(run.datastore, run.flow, run.run_id)
    except Exception:  # noqa: BLE001, S110 - the log stays: readers apply it
        pass
