"""What differs between two runs of a flow, as data (`Run.diff(other)`, `nbflow diff`).

Parameters (old -> new), the code of each step cell (a unified diff per changed cell;
unchanged cells named only), the environment when the runs record one, and the
artifacts of each step's tasks, compared by content hash (nothing is loaded to find a
difference; the two values of a small changed artifact are loaded for a short repr).
Tasks are matched by step and foreach position. Parameters are reported once, in
their own section, not again as an artifact of every task.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from ..environment.record import diff_environments, is_empty
from . import core as client
from .summary import short_repr

REPR_LIMIT = 64 * 1024   # bytes: changed artifacts up to this size show both values


@dataclass(frozen=True)
class ParamChange:
    name: str
    old: str | None        # short reprs; None: the run has no such parameter
    new: str | None


@dataclass(frozen=True)
class CellChange:
    name: str              # a step's name, or "(flow cell)"
    status: str            # "changed" | "added" | "removed" | "unchanged"
    cell_a: int | None = None
    cell_b: int | None = None
    diff: str = ""         # unified diff of the cell's text (header and body)


@dataclass(frozen=True)
class ArtifactChange:
    name: str
    status: str            # "added" | "removed" | "changed"
    sha_a: str | None = None
    sha_b: str | None = None
    repr_a: str | None = None   # short reprs of a small changed (or added/removed) value
    repr_b: str | None = None
    type_a: str | None = None
    type_b: str | None = None


@dataclass(frozen=True)
class TaskArtifacts:
    step: str
    index: tuple = ()           # foreach position(s); () outside a foreach
    task_a: str | None = None   # pathspecs; None: the run has no such task
    task_b: str | None = None
    changes: tuple[ArtifactChange, ...] = ()
    unchanged: int = 0

    @property
    def label(self) -> str:
        return self.step + "".join(f"[{i}]" for i in self.index)


@dataclass(frozen=True)
class RunDiff:
    run_a: str                  # pathspecs
    run_b: str
    parameters: tuple[ParamChange, ...] = ()
    cells: tuple[CellChange, ...] = ()
    environment: dict | None = None    # environment.record.diff_environments; None: a run
                                       # recorded none
    artifacts: tuple[TaskArtifacts, ...] = field(default=())

    @property
    def changed_cells(self) -> tuple[CellChange, ...]:
        return tuple(c for c in self.cells if c.status != "unchanged")

    @property
    def changed_tasks(self) -> tuple[TaskArtifacts, ...]:
        return tuple(t for t in self.artifacts if t.changes or not (t.task_a and t.task_b))

    @property
    def same(self) -> bool:
        return not (self.parameters or self.changed_cells or self.changed_tasks
                    or (self.environment is not None and not is_empty(self.environment)))


def diff_runs(a: client.Run, b: client.Run) -> RunDiff:
    """Run `a` (old) against run `b` (new); refused for runs of different flows."""
    if a.flow_name != b.flow_name:
        raise client.ClientError(f"cannot diff runs of different flows: {a.pathspec} is a run of "
                                 f"{a.flow_name}, {b.pathspec} of {b.flow_name}")
    params = set(a.record.params) | set(b.record.params)
    return RunDiff(run_a=a.pathspec, run_b=b.pathspec, parameters=_parameters(a, b),
                   cells=_cells(a, b), environment=_environment(a, b),
                   artifacts=_artifacts(a, b, params))


# -- parameters ---------------------------------------------------------------------------

def _parameters(a: client.Run, b: client.Run) -> tuple[ParamChange, ...]:
    ra, rb = a.record.params, b.record.params
    out = []
    for name in sorted(set(ra) | set(rb)):
        ka, kb = (ra.get(name) or {}).get("key"), (rb.get(name) or {}).get("key")
        if ka != kb:
            out.append(ParamChange(name, _repr(a, ra.get(name)), _repr(b, rb.get(name))))
    return tuple(out)


def _repr(run: client.Run, ref: dict | None, limit: int | None = None) -> str | None:
    if ref is None:
        return None
    if limit is not None and (ref.get("size") or 0) > limit:
        return None
    try:
        return short_repr(run._ds.get_object(ref["key"]))
    except Exception as e:  # noqa: BLE001 - a value this process cannot unpickle
        return f"(cannot be loaded here: {type(e).__name__})"


# -- code ----------------------------------------------------------------------------------

def _cell_texts(run: client.Run) -> dict[str, tuple[int | None, str]]:
    """Step name (and "(flow cell)") -> (cell number, the cell's text as the run ran it)."""
    try:
        nb = run.notebook
    except Exception:  # noqa: BLE001 - a run record without its notebook
        return {}
    out: dict[str, tuple[int | None, str]] = {}
    if nb.flow_cell is not None:
        out["(flow cell)"] = (nb.flow_cell.cell, f"%%flow {nb.flow_cell.name or ''}".rstrip()
                              + "\n" + nb.flow_cell.code)
    for s in nb.steps:
        out[s.name] = (s.cell, f"{s.header}\n{s.body}")
    return out


def _cells(a: client.Run, b: client.Run) -> tuple[CellChange, ...]:
    ta, tb = _cell_texts(a), _cell_texts(b)
    order = list(ta) + [n for n in tb if n not in ta]
    out = []
    for name in order:
        (ca, xa), (cb, xb) = ta.get(name, (None, None)), tb.get(name, (None, None))
        if xa == xb:
            out.append(CellChange(name, "unchanged", ca, cb))
            continue
        status = "added" if xa is None else "removed" if xb is None else "changed"
        text = "".join(difflib.unified_diff(_lines(xa), _lines(xb),
            fromfile=f"{a.id} {name} (cell {ca})" if ca else f"{a.id} (none)",
            tofile=f"{b.id} {name} (cell {cb})" if cb else f"{b.id} (none)", lineterm="\n"))
        out.append(CellChange(name, status, ca, cb, text))
    return tuple(out)


def _lines(text: str | None) -> list[str]:
    return [line + "\n" for line in (text or "").splitlines()]


# -- environment ------------------------------------------------------------------------------

def _environment(a: client.Run, b: client.Run) -> dict | None:
    ea, eb = a.environment, b.environment
    return None if ea is None or eb is None else diff_environments(ea, eb)


# -- artifacts ----------------------------------------------------------------------------------

def _tasks_by_position(run: client.Run) -> dict[tuple, client.Task]:
    """(step, foreach position) -> the task there (the newest, when a step ran again)."""
    out: dict[tuple, client.Task] = {}
    for step in run:
        for task in step:
            out.setdefault((step.id, task._order()), task)
    return out


def _artifacts(a: client.Run, b: client.Run, params: set) -> tuple[TaskArtifacts, ...]:
    ta, tb = _tasks_by_position(a), _tasks_by_position(b)
    rank = {s: i for i, s in enumerate(dict.fromkeys([*_cell_texts(a), *_cell_texts(b)]))}
    keys = sorted(set(ta) | set(tb), key=lambda k: (rank.get(k[0], len(rank)), k[0], k[1]))
    return tuple(_task_diff(step, pos, ta.get((step, pos)), tb.get((step, pos)), params)
                 for step, pos in keys)


def _task_diff(step: str, pos: tuple, a: client.Task | None, b: client.Task | None,
               params: set) -> TaskArtifacts:
    ra = {k: v for k, v in (a._refs() if a else {}).items() if k not in params}
    rb = {k: v for k, v in (b._refs() if b else {}).items() if k not in params}
    changes, unchanged = [], 0
    for name in sorted(set(ra) | set(rb)):
        x, y = ra.get(name), rb.get(name)
        if x is not None and y is not None and x.get("key") == y.get("key"):
            unchanged += 1
            continue
        status = "added" if x is None else "removed" if y is None else "changed"
        changes.append(ArtifactChange(
            name, status, (x or {}).get("key"), (y or {}).get("key"),
            _repr(a.run, x, REPR_LIMIT) if a else None, _repr(b.run, y, REPR_LIMIT) if b else None,
            (x or {}).get("type"), (y or {}).get("type")))
    return TaskArtifacts(step, pos, a.pathspec if a else None, b.pathspec if b else None,
                         tuple(changes), unchanged)
