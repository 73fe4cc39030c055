"""The typed records that cross the layers, each with one `to_json`/`from_json` and one
builder: what the scheduler asks a task to do (TaskRequest), what a task attempt committed
(TaskRecord), where a task sits in the foreaches (ForeachFrame), and what a run tells its
listeners (RunEvent). Event kinds and statuses are named constants.

The JSON written to the store is the format the store has always had: records written by
earlier versions load unchanged, and keys this version does not know are kept (`extra`)
so that a newer writer's fields survive a read and a write by this one.
"""
from __future__ import annotations

import time
from dataclasses import field, fields, replace
from typing import Any

from .lite_dataclass import dataclass   # (why: lite_dataclass.py)


class EventKind:
    """RunEvent.kind."""

    RUN_STARTED = "run_started"
    TASK_STARTED = "task_started"
    TASK_OUTPUT = "task_output"
    TASK_DISPLAY = "task_display"    # a task displayed a rich output (its card grows)
    TASK_FINISHED = "task_finished"
    TASK_RETRYING = "task_retrying"
    TASK_CLONED = "task_cloned"      # resume reused an earlier run's task
    RUN_FINISHED = "run_finished"


class RunStatus:
    """A run's status, as `nbflow runs` and `Run.status` say it."""

    RUNNING = "running"
    SUCCESSFUL = "successful"
    FAILED = "failed"
    DIED = "died"            # its process ended without writing the run's end
    DAMAGED = "damaged"      # its records cannot be read


class StepState:
    """A step's state in the graph widget and the cell badges."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    STALE = "stale"          # an upstream step ran again since
    CACHED = "cached"        # reused from an earlier run


_KNOWN: dict[type, tuple[tuple[str, ...], frozenset[str]]] = {}


def _known_fields(cls) -> tuple[tuple[str, ...], frozenset[str]]:
    """The record's field names less `extra`, in order and as a set; kept per class
    (fields() is slow and every from_json/to_json asks: the scheduler and each task)."""
    entry = _KNOWN.get(cls)
    if entry is None:
        names = tuple(f.name for f in fields(cls) if f.name != "extra")
        entry = _KNOWN[cls] = (names, frozenset(names))
    return entry


def _known(cls) -> tuple[str, ...]:
    return _known_fields(cls)[0]


def _split(cls, d: dict) -> tuple[dict, dict]:
    names = _known_fields(cls)[1]
    return {k: v for k, v in d.items() if k in names}, {k: v for k, v in d.items() if k not in names}


@dataclass(frozen=True)
class ForeachFrame:
    """One enclosing foreach of a task: the split step, its variable, this item's index."""

    step: str
    var: str
    index: int
    num_splits: int
    key: str | None = None    # the blob of the items, when the split stored them

    def to_json(self) -> dict:
        return {"step": self.step, "var": self.var, "index": self.index,
                "num_splits": self.num_splits, "key": self.key}

    @classmethod
    def from_json(cls, d: dict) -> ForeachFrame:
        return cls(d["step"], d.get("var", ""), int(d.get("index", 0)),
                   int(d.get("num_splits", 0)), d.get("key"))


def stack_to_json(stack: tuple[ForeachFrame, ...]) -> list[dict]:
    return [f.to_json() for f in stack]


def stack_from_json(items) -> tuple[ForeachFrame, ...]:
    return tuple(ForeachFrame.from_json(f) for f in items or ())


def stack_context(stack: tuple[ForeachFrame, ...]) -> tuple:
    """What identifies a place in the foreaches: (split step, index) per level."""
    return tuple((f.step, f.index) for f in stack)


@dataclass(frozen=True)
class RunContext:
    """What every task of a run is told about the run (`current`)."""

    namespace: str | None = None
    username: str | None = None
    tags: tuple[str, ...] = ()
    is_interactive: bool = False
    origin_run_id: str | None = None
    project: dict | None = None       # --project: current.project_name, branch_name, ...
    card_stream: bool = False         # the kernel's cells: displayed outputs stream live

    def to_json(self) -> dict:
        return {"namespace": self.namespace, "username": self.username, "tags": list(self.tags),
                "is_interactive": self.is_interactive, "origin_run_id": self.origin_run_id,
                "project": self.project, "card_stream": self.card_stream}

    @classmethod
    def from_json(cls, d: dict) -> RunContext:
        return cls(d.get("namespace"), d.get("username"), tuple(d.get("tags") or ()),
                   bool(d.get("is_interactive")), d.get("origin_run_id"), d.get("project"),
                   bool(d.get("card_stream")))


@dataclass(frozen=True)
class ParentRef:
    """A parent task as its child needs it: where it is and its artifacts' refs."""

    pathspec: str
    step: str
    artifacts: dict            # name -> {"key", "size", "type"}
    foreach_stack: tuple[ForeachFrame, ...] = ()

    def to_json(self) -> dict:
        return {"pathspec": self.pathspec, "step": self.step, "artifacts": self.artifacts,
                "foreach_stack": stack_to_json(self.foreach_stack)}

    @classmethod
    def from_json(cls, d: dict) -> ParentRef:
        return cls(d["pathspec"], d["step"], d.get("artifacts") or {},
                   stack_from_json(d.get("foreach_stack")))

    @classmethod
    def of(cls, rec: TaskRecord) -> ParentRef:
        """What a finished task's children are told of it."""
        return cls(rec.pathspec, rec.step, rec.artifacts, rec.foreach_stack)

    @property
    def task_id(self) -> str:
        return self.pathspec.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class TaskRequest:
    """One attempt of one task, as the scheduler asks an executor to run it. The step's code
    travels with it (`flow_cell`, `step_cell`: the cells' JSON), so a task needs nothing else."""

    datastore: str
    flow: str
    run_id: str
    step: str
    task_id: str
    attempt: int
    parents: tuple[ParentRef, ...]
    params: dict                      # artifact name -> {"key", ...} of each parameter value
    foreach_stack: tuple[ForeachFrame, ...]
    step_cell: dict                   # StepSpec.to_json()
    flow_cell: dict | None = None     # FlowCellSpec.to_json()
    notebook_path: str | None = None
    foreach_var: str | None = None
    is_join: bool = False
    max_num_splits: int = 100
    max_attempts: int = 1
    catch: str | None = None
    timeout: float | None = None
    resources: dict = field(default_factory=dict)
    catch_fallback: dict | None = None   # the recorded error, for the attempt after a kill
    scheduler_pid: int | None = None     # the task ends if this process goes away
    environment: dict | None = None      # a --pypi step: the interpreter it runs with
    context: RunContext = field(default_factory=RunContext)
    extra: dict = field(default_factory=dict)

    @property
    def pathspec(self) -> str:
        return f"{self.flow}/{self.run_id}/{self.step}/{self.task_id}"

    @property
    def is_last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts - 1

    def to_json(self) -> dict:
        d = {name: getattr(self, name) for name in _known(TaskRequest)}
        d["parents"] = [p.to_json() for p in self.parents]
        d["foreach_stack"] = stack_to_json(self.foreach_stack)
        del d["context"]
        d.update(self.context.to_json())
        d.update(self.extra)
        return d

    def encode(self) -> bytes:
        """The JSON sent to the task (to_json's); a join's parents packed by the scheduler
        (planner.PackedParents) are spliced in as they are, never decoded here."""
        import json

        packed = getattr(self.parents, "json_bytes", None)
        if packed is None or "parents" in self.extra:
            return json.dumps(self.to_json()).encode()
        d = replace(self, parents=()).to_json()
        del d["parents"]
        return packed(b'{"parents": ', b", " + json.dumps(d).encode()[1:])

    @classmethod
    def from_json(cls, d: dict) -> TaskRequest:
        context = RunContext.from_json(d)
        context_names = _known_fields(RunContext)[1]
        d = {k: v for k, v in d.items() if k not in context_names}
        known, extra = _split(cls, d)
        known["parents"] = tuple(ParentRef.from_json(p) for p in known.get("parents") or ())
        known["foreach_stack"] = stack_from_json(known.get("foreach_stack"))
        known["task_id"] = str(known["task_id"])
        return cls(**known, context=context, extra=extra)


@dataclass(frozen=True)
class TaskRecord:
    """What one task attempt committed: written last, after its blobs; its presence is the
    commit. Built by `TaskRecord.of_attempt` (a task, or the scheduler for a task that died);
    resume's clones are `TaskRecord.cloned_into`; `TaskRecord.uncommitted` stands for an
    attempt that has no record (yet)."""

    flow: str
    run_id: str
    step: str
    task_id: str
    attempt: int
    pathspec: str
    started_at: float | None = None
    finished_at: float | None = None
    pid: int | None = None
    parents: tuple[str, ...] = ()          # parent task pathspecs
    foreach_stack: tuple[ForeachFrame, ...] = ()
    is_join: bool = False
    resources: dict = field(default_factory=dict)
    successful: bool = False
    # name -> {"key", "size", "type"}, plus "serializer" (how the blob is encoded: "arrow",
    # a user serializer's dotted name; absent: pickle) and "fallback" (why the serializers
    # tried before pickle did not take it), "env" (written in a pinned environment)
    artifacts: dict = field(default_factory=dict)
    exception: dict | None = None          # StepException.to_dict() of a failed attempt
    caught: dict | None = None             # --catch: the error the step caught
    foreach: dict | None = None            # a foreach split: {"var", "num_splits", "key"}
    origin: str | None = None              # resume: the task this one reuses
    origin_attempt: int | None = None
    log_prefix: str | None = None          # resume: where the reused task's logs are
    cloned_at: float | None = None
    card: dict | None = None               # what the task displayed (datastore/cards.py)
    extra: dict = field(default_factory=dict)

    @property
    def index(self) -> int | None:
        return self.foreach_stack[-1].index if self.foreach_stack else None

    @classmethod
    def of_attempt(cls, req: TaskRequest, *, started_at: float, pid: int | None,
                   successful: bool, artifacts: dict | None = None,
                   exception: dict | None = None, **outcome: Any) -> TaskRecord:
        """The record of an attempt of `req` (finished now)."""
        return cls(flow=req.flow, run_id=req.run_id, step=req.step, task_id=req.task_id,
                   attempt=req.attempt, pathspec=req.pathspec, started_at=started_at,
                   finished_at=time.time(), pid=pid,
                   parents=tuple(p.pathspec for p in req.parents),
                   foreach_stack=req.foreach_stack, is_join=req.is_join,
                   resources=dict(req.resources), successful=successful,
                   artifacts=dict(artifacts or {}), exception=exception, **outcome)

    @classmethod
    def uncommitted(cls, flow: str, run_id: str, step: str, task_id: str, attempt: int = 0,
                    parents: tuple[str, ...] = ()) -> TaskRecord:
        """What is known of an attempt that has committed nothing (yet): the task running in
        this process, or a kernel cell's task that left no record."""
        return cls(flow=flow, run_id=run_id, step=step, task_id=task_id, attempt=attempt,
                   pathspec=f"{flow}/{run_id}/{step}/{task_id}", parents=tuple(parents))

    def cloned_into(self, run_id: str, log_prefix: str) -> TaskRecord:
        """This successful task, reused by reference as attempt 0 of run `run_id`."""
        def in_run(pathspec: str) -> str:
            parts = pathspec.split("/")
            parts[1] = run_id
            return "/".join(parts)

        return replace(self, run_id=run_id, attempt=0, pathspec=in_run(self.pathspec),
                       parents=tuple(in_run(p) for p in self.parents), origin=self.pathspec,
                       origin_attempt=self.attempt, log_prefix=log_prefix,
                       cloned_at=time.time())

    def to_json(self) -> dict:
        d = {name: getattr(self, name) for name in _known(TaskRecord)}
        d["parents"] = list(self.parents)
        d["foreach_stack"] = stack_to_json(self.foreach_stack)
        for optional in ("caught", "foreach", "origin", "origin_attempt", "log_prefix",
                         "cloned_at", "card"):
            if d[optional] is None:
                del d[optional]
        d.update(self.extra)
        return d

    @classmethod
    def from_json(cls, d: dict) -> TaskRecord:
        known, extra = _split(cls, d)
        known["task_id"] = str(known["task_id"])
        known["attempt"] = int(known.get("attempt") or 0)
        known["parents"] = tuple(known.get("parents") or ())
        known["foreach_stack"] = stack_from_json(known.get("foreach_stack"))
        known["successful"] = bool(known.get("successful"))
        for name in ("artifacts", "resources"):
            known[name] = known.get(name) or {}
        return cls(**known, extra=extra)


@dataclass(frozen=True)
class RunEvent:
    """What a run tells its listeners (the console printer, the kernel's widgets).
    task_display: `text` is one displayed bundle as JSON (cards/stream.py); task_finished:
    info["card"] says how many outputs the task's card holds."""

    kind: str                        # an EventKind
    run_id: str
    step: str | None = None
    task_id: str | None = None
    pid: int | None = None
    attempt: int = 0
    stream: str | None = None        # task_output: "stdout" | "stderr"
    text: str | None = None          # task_output: one line; others: a message
    successful: bool | None = None
    info: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {name: getattr(self, name) for name in _known(RunEvent)}

    @classmethod
    def from_json(cls, d: dict) -> RunEvent:
        known, _ = _split(cls, d)
        return cls(**known)


@dataclass(frozen=True)
class RunRecord:
    """A run as it started (`_run.json`): who, what code, which parameters, which store."""

    flow: str
    run_id: str
    created_at: float
    user: str | None
    namespace: str | None
    notebook: dict                          # NotebookSpec.to_dict(): the code it ran
    params: dict = field(default_factory=dict)          # artifact -> value ref
    param_options: dict = field(default_factory=dict)   # artifact -> command-line option
    tags: tuple[str, ...] = ()              # the user's tags
    sys_tags: tuple[str, ...] = ()          # user:<name>, interactive
    origin_run_id: str | None = None
    pid: int | None = None
    host: str = ""
    max_workers: int | None = None
    max_num_splits: int = 100
    datastore: str = ""
    environment: dict | None = None         # the blob ref of the environment it ran with
    pinned_environments: dict = field(default_factory=dict)   # --pypi steps: their locks
    interactive_latest: dict = field(default_factory=dict)    # kernel: step -> task ids
    stale: tuple[str, ...] = ()             # kernel: tasks an upstream re-run made stale
    extra: dict = field(default_factory=dict)

    @property
    def is_interactive(self) -> bool:
        return "interactive" in self.sys_tags

    @property
    def namespace_or_user(self) -> str:
        return self.namespace or f"user:{self.user}"

    def to_json(self) -> dict:
        d = {name: getattr(self, name) for name in _known(RunRecord)}
        d["tags"], d["sys_tags"], d["stale"] = list(self.tags), list(self.sys_tags), list(self.stale)
        d.update(self.extra)
        return d

    @classmethod
    def from_json(cls, d: dict) -> RunRecord:
        known, extra = _split(cls, d)
        for name in ("tags", "sys_tags", "stale"):
            known[name] = tuple(known.get(name) or ())
        for name in ("params", "param_options", "pinned_environments", "interactive_latest"):
            known[name] = known.get(name) or {}
        known.setdefault("user", None)
        known.setdefault("namespace", None)
        known.setdefault("notebook", {})
        known.setdefault("created_at", 0.0)
        return cls(**known, extra=extra)
