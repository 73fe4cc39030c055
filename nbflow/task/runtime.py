"""The task subprocess: `python -m nbflow.task` reads one request (JSON) on stdin.

It runs the flow cell's module code, then the step body as `def step(self,
inputs)`, stores what the step assigned, and writes the task's record last (its
commit). Imports stay light (no IPython, widgets or scheduler): a task starts fast.
"""
from __future__ import annotations

import json
import os
import sys
import time
import traceback

from ..cards import capture
from ..datastore import Datastore, records
from ..datastore.cards import write_card
from ..environment import crossing
from ..errors import ArtifactError, DatastoreError, NbflowError
from ..notebook import code as codemod
from ..notebook.params import IncludeFile, JSONType, Parameter
from ..records import TaskRecord, TaskRequest
from . import keeper
from . import options as taskopts
from .current import current
from .failure import StepException
from .selfview import Inputs, ParentView, TaskSelf, warm_items

# nbflow's own frames are left out of a step's traceback (in a pinned environment the
# package is reached through a link: the frames name the path it was imported by)
_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def main() -> None:
    request = TaskRequest.from_json(json.loads(sys.stdin.read()))
    keeper.guard()   # from here on, in a process whose keeper ends all it leaves behind
    sys.exit(run_task(request))


def run_task(req: TaskRequest) -> int:
    """Run one attempt of one task; 0 if it succeeded, 1 if it failed. `outcome` gathers
    what the attempt did (artifacts, exception, caught, foreach); the TaskRecord is built
    from it at the commit."""
    ds = Datastore(req.datastore)
    os.environ["NBFLOW_DATASTORE"] = req.datastore  # the client in a step reads this run's store
    started = time.time()
    outcome: dict = {"exception": None}
    crossing.set_current(req.environment)
    if req.catch_fallback:
        return _catch_fallback(ds, req, outcome, started)
    me: TaskSelf | None = None
    if os.environ.get("NBFLOW_FAULT"):
        from . import faults

        faults.arm(ds, req)
    try:
        _bind_current(req)
        capture.install(ds, stream=req.context.card_stream)
        taskopts.limit_memory(req.resources)
        with taskopts.Deadline(req.timeout, req.step):
            module_ns = _module_namespace(req)
            me, inputs = _make_self(ds, req)
            step_fn = _step_function(req, module_ns)
            step_fn(me, inputs)
        if req.catch:
            setattr(me, req.catch, None)  # Metaflow's rule: None when the step succeeded
        if req.foreach_var:
            outcome["foreach"] = _foreach_split(ds, req, me)
        ok = True
    except BaseException as e:  # the user's code may raise anything; SystemExit too
        if isinstance(e, KeyboardInterrupt):
            raise
        _record_failure(outcome, e, req)
        ok = False
    capture.finish()   # figures left open are displayed, as at the end of a notebook cell
    me, ok = _settle_catch(ds, req, outcome, me, ok)
    ok = _persist(ds, req, outcome, me, ok)
    if not ok and taskopts.catch_var(req) and not req.foreach_var:
        # what the step set cannot be stored: keep the inherited artifacts and the error
        if outcome.get("caught"):
            outcome["exception"] = outcome.pop("caught")  # the step's own error, not the store's
        me, ok = _settle_catch(ds, req, outcome, None, False)
        ok = _persist(ds, req, outcome, me, ok)
    return _commit(ds, req, outcome, started, ok)


def _record_failure(outcome: dict, e: BaseException, req: TaskRequest) -> None:
    exc = _describe(e, req)
    hint = taskopts.memory_hint(e, req.resources)
    if hint:
        exc.message, exc.traceback = hint, exc.traceback + f"({hint})\n"
    outcome["exception"] = exc.to_dict()
    sys.stderr.write(exc.traceback)
    sys.stderr.flush()


def _persist(ds: Datastore, req: TaskRequest, outcome: dict, me: TaskSelf | None,
             ok: bool) -> bool:
    try:
        outcome["artifacts"] = me.persist(ds) if me is not None else {}
    except NbflowError as e:
        if ok:  # the store's error, not the step's code: no traceback
            _record_failure(outcome, e.with_traceback(None), req)
        outcome["artifacts"] = {}
        return False
    return ok


def _commit(ds: Datastore, req: TaskRequest, outcome: dict, started: float, ok: bool) -> int:
    sys.stdout.flush()
    try:
        card = write_card(ds, ds.task_prefix(req.flow, req.run_id, req.step, req.task_id,
                                             req.attempt),
                          capture.card.stored())
        record = TaskRecord.of_attempt(req, started_at=started, pid=os.getpid(), successful=ok,
                                       card=card or None, **outcome)
        committed = records.write_task(ds, record)
    except DatastoreError as e:  # disk full, store gone read-only: uncommitted, so failed
        sys.stderr.write(f"{type(e).__name__}: the task's record could not be written: "
                         f"{e.render()}\n")
        return 1
    if not committed:
        sys.stderr.write(f"nbflow: this attempt of {req.pathspec} was already recorded as "
                         "ended by its run; its results are discarded\n")
        return 1
    return 0 if ok else 1


def _settle_catch(ds: Datastore, req: TaskRequest, outcome: dict, me: TaskSelf | None,
                  ok: bool) -> tuple[TaskSelf | None, bool]:
    """--catch VAR on the last attempt: the failure becomes self.VAR and the task succeeds,
    keeping what it inherited and what it set before the error."""
    var = taskopts.catch_var(req)
    if ok or not var or req.foreach_var or not outcome.get("exception"):
        return me, ok
    if me is None:
        me, _ = _make_self(ds, req)
    object.__setattr__(me, "_deleted", me._deleted - {var})
    me._values[var] = StepException.from_dict(outcome["exception"])  # even if var is reserved
    outcome["caught"], outcome["exception"] = outcome["exception"], None
    sys.stderr.write(taskopts.caught_notice(var))
    return me, True


def _catch_fallback(ds: Datastore, req: TaskRequest, outcome: dict, started: float) -> int:
    """The attempt after a last attempt that died (killed, timed out, out of memory)
    without a commit: it runs no user code, only stores the recorded error in self.VAR."""
    _bind_current(req)
    outcome["exception"] = req.catch_fallback
    me, ok = _settle_catch(ds, req, outcome, None, False)
    return _commit(ds, req, outcome, started, _persist(ds, req, outcome, me, ok))


def _bind_current(req: TaskRequest) -> None:
    ctx = req.context
    current._bind(
        flow_name=req.flow, run_id=req.run_id, step_name=req.step, task_id=req.task_id,
        pathspec=req.pathspec, retry_count=req.attempt, origin_run_id=ctx.origin_run_id,
        namespace=ctx.namespace, username=ctx.username, tags=list(ctx.tags),
        is_interactive=ctx.is_interactive, parameter_names=sorted(req.params),
        **(ctx.project or {}))
    current._parent_pathspecs = tuple(p.pathspec for p in req.parents)  # Task(current.pathspec)


def _module_namespace(req: TaskRequest) -> dict:
    """The flow cell run as module code, with nbflow's names predefined."""
    import types

    module = types.ModuleType("nbflow_flow")  # not in sys.modules: cloudpickle pickles by value
    ns = module.__dict__
    ns.update(Parameter=Parameter, JSONType=JSONType, IncludeFile=IncludeFile, current=current,
              __file__=req.notebook_path or "")
    code = _flow_code(req.flow_cell, req.notebook_path)
    if code is not None:
        exec(code, ns)
    return ns


def _flow_code(flow_cell: dict | None, notebook_path: str | None):
    if not flow_cell or not flow_cell["code"].strip():
        return None
    filename = codemod.cell_filename(notebook_path, flow_cell["cell"])
    codemod.register_source(filename, "\n" * (flow_cell["body_line"] - 1) + flow_cell["code"])
    return codemod.compile_module(flow_cell["code"], cell=flow_cell["cell"],
                                  body_line=flow_cell["body_line"], filename=filename)


def _make_self(ds: Datastore, req: TaskRequest) -> tuple[TaskSelf, Inputs | None]:
    if req.is_join:
        views = [ParentView(ds, p.step, p.pathspec, p.artifacts, p.foreach_stack)
                 for p in req.parents]
        me = TaskSelf(ds, req.step, {}, req.params, req.foreach_stack, join=True)
        return me, Inputs(views)
    inherited = req.parents[0].artifacts if req.parents else {}
    return TaskSelf(ds, req.step, inherited, req.params, req.foreach_stack), None


def _step_function(req: TaskRequest, module_ns: dict):
    exec(_step_code(req.step, req.step_cell, req.notebook_path), module_ns)
    return module_ns.pop(req.step)


def _step_code(name: str, step: dict, notebook_path: str | None):
    filename = codemod.cell_filename(notebook_path, step["cell"])
    codemod.register_source(filename, "\n" * (step["body_line"] - 2) + step["header"] + "\n"
                            + step["body"])
    return codemod.compile_step(step["body"], name=name, cell=step["cell"],
                                body_line=step["body_line"], filename=filename)


def warm(step: str, step_cell: dict, flow_cell: dict | None, notebook_path: str | None,
         datastore: str | None = None, items: tuple = ()) -> None:
    """Compile a step's code and load its foreach items ahead of its tasks (the zygote
    calls this before forking them: each task finds them done). Errors are left for the
    task, which reports them naming the cell or the artifact."""
    try:
        _flow_code(flow_cell, notebook_path)
        _step_code(step, step_cell, notebook_path)
        if datastore and items:
            warm_items(Datastore(datastore), items)
    except Exception:
        pass


SEQUENCE_TYPES = (list, tuple, range, str, bytes)


def _foreach_split(ds: Datastore, req: TaskRequest, me: TaskSelf) -> dict:
    var, step = req.foreach_var, req.step
    try:
        items = getattr(me, var)
    except AttributeError:
        raise ArtifactError(f"'--foreach {var}': the step did not set self.{var} (and did not "
                            "inherit it)", step=step, artifact=var) from None
    direct = isinstance(items, SEQUENCE_TYPES) or type(items).__module__.startswith("numpy")
    if not direct:
        try:
            items = list(items)
        except TypeError:
            raise ArtifactError(f"'--foreach {var}': self.{var} is of type {type(items).__name__}, "
                                "which is not iterable; use a list, tuple, range or array",
                                step=step, artifact=var) from None
    try:
        count = len(items)
    except TypeError:
        raise ArtifactError(f"'--foreach {var}': self.{var} has no length", step=step,
                            artifact=var) from None
    if count == 0:
        raise ArtifactError(f"'--foreach {var}': self.{var} is empty, so there is nothing to "
                            "run; a foreach needs at least one item", step=step, artifact=var)
    limit = req.max_num_splits
    if count > limit:
        raise ArtifactError(f"'--foreach {var}' would start {count} tasks, more than "
                            f"--max-num-splits {limit}; raise it with --max-num-splits {count}",
                            step=step, artifact=var)
    key = ds.put_object(items)["key"] if not direct else None
    return {"var": var, "num_splits": count, "key": key}


def _describe(e: BaseException, req: TaskRequest) -> StepException:
    """The error as the user should see it: frames of our internals left out."""
    if isinstance(e, NbflowError):
        if e.step is None:
            e.step = req.step
        text = f"{type(e).__name__}: {e.render()}\n"
        return StepException(type(e).__name__, e.render(), _user_frames(e) + text)
    tb = _user_frames(e) + "".join(traceback.format_exception_only(type(e), e))
    return StepException(type(e).__name__, str(e), tb)


def _user_frames(e: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(e.__traceback__)
              if not f.filename.startswith(_PKG_DIR)]
    if not frames:
        return ""
    return "Traceback (most recent call last):\n" + "".join(traceback.format_list(frames))
