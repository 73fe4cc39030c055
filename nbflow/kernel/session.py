"""One kernel session's state: its notebook, the cells run so far, parameters,
the warm executor and the interactive run (docs/reference.md section 2, "cell by cell")."""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

from ..graph.incremental import GraphKeeper
from ..notebook.parse import _read_cells, flow_name_from_path, parse_cells, read_notebook
from ..notebook.spec import FlowCellSpec, NotebookSpec, StepSpec
from ..records import StepState

DEFAULT_FLOW = "NotebookFlow"


def notebook_path(user_ns: dict) -> str | None:
    """The notebook this kernel belongs to, when the front end said (JupyterLab and
    Notebook 7 set __session__ / JPY_SESSION_NAME; VS Code sets __vsc_ipynb_file__)."""
    for value in (user_ns.get("__vsc_ipynb_file__"), user_ns.get("__session__"),
                  os.environ.get("JPY_SESSION_NAME")):
        if isinstance(value, str) and value.endswith(".ipynb"):
            if os.path.isabs(value) or os.path.exists(value):
                return os.path.abspath(value)
            # a path relative to the server root: the kernel usually runs beside the notebook
            if os.path.exists(os.path.basename(value)):
                return os.path.abspath(os.path.basename(value))
            return os.path.abspath(value)
    return None


@dataclass
class InteractiveRun:
    flow: str
    run_id: str
    datastore: object               # nbflow.datastore.Datastore
    user: str
    next_task_id: int = 1
    written: dict = field(default_factory=dict)   # what its record says now (RecordLog)


@dataclass
class KernelSession:
    user_ns: dict
    steps: dict[str, StepSpec] = field(default_factory=dict)   # cells run in this kernel
    order: list[str] = field(default_factory=list)             # step names, first run first
    flow_cell: FlowCellSpec | None = None
    params: dict[str, str] = field(default_factory=dict)       # option -> raw value
    max_num_splits: int = 100
    cell_id: str | None = None                                  # the cell running now
    cell_steps: dict[str, str] = field(default_factory=dict)   # cell id -> its step
    run: InteractiveRun | None = None
    latest: dict[str, list[dict]] = field(default_factory=dict)  # step -> its last good tasks
    stale: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    _executor: object = None
    _executor_cwd: str | None = None
    _preloaded: set = field(default_factory=set)
    _preload_seen: set = field(default_factory=set)   # sources whose imports were preloaded
    _saved: tuple | None = None               # (file's stat key, its NotebookSpec, its cells)
    graphs: GraphKeeper = field(default_factory=GraphKeeper)   # the last graph, kept
    lock: threading.Lock = field(default_factory=threading.Lock)

    # -- the notebook ------------------------------------------------------------
    @property
    def path(self) -> str | None:
        return notebook_path(self.user_ns)

    def saved_notebook(self) -> NotebookSpec | None:
        """The notebook as saved on disk, when there is one that can be read. Read again
        only when the file changed (a step cell of a big notebook does not parse it all)."""
        path = self.path
        try:
            st = os.stat(path) if path else None
        except OSError:
            st = None
        if st is None:
            return None
        key = (path, st.st_ino, st.st_mtime_ns, st.st_size)
        last = self._saved
        if last is not None and last[0] == key:
            return last[1]
        cells = None
        try:
            if path.endswith(".ipynb"):
                cells = _read_cells(path)
                if last is not None and last[0][0] == path and last[2] == cells:
                    self._saved = (key, last[1], cells)   # saved again, same sources (outputs)
                    return last[1]
                spec = parse_cells(cells, path=os.path.abspath(path))
            else:
                spec = read_notebook(path)
        except Exception:  # noqa: BLE001 - a half-written or damaged file: the kernel's cells still work
            spec = None
        self._saved = (key, spec, cells)
        return spec

    def flow_name(self, saved: NotebookSpec | None = None) -> str:
        if self.flow_cell is not None and self.flow_cell.name:
            return self.flow_cell.name
        saved = saved if saved is not None else self.saved_notebook()
        if saved is not None:
            return saved.flow_name
        return flow_name_from_path(self.path) if self.path else DEFAULT_FLOW

    def step_states(self) -> dict[str, str]:
        """Each step's state in the kernel's interactive run: done, stale, failed."""
        states = {name: StepState.DONE for name in self.latest}
        states.update({name: StepState.STALE for name in self.stale})
        states.update({name: StepState.FAILED for name in self.failed})
        return states

    def register_step(self, spec: StepSpec) -> None:
        """A cell that held another step before (renamed in place) no longer defines it."""
        old = self.cell_steps.get(self.cell_id) if self.cell_id else None
        if old and old != spec.name:
            self.steps.pop(old, None)
            self.order = [n for n in self.order if n != old]
        if self.cell_id:
            self.cell_steps[self.cell_id] = spec.name
        self.steps[spec.name] = spec
        if spec.name not in self.order:
            self.order.append(spec.name)

    def before_cell(self, info) -> None:
        """IPython's pre_run_cell event: front ends send the cell's id with each cell."""
        self.cell_id = getattr(info, "cell_id", None)

    def kernel_spec(self) -> NotebookSpec:
        """Only the cells run in this kernel (for %nbflow run without a notebook file)."""
        return NotebookSpec(flow_name=self.flow_name(), flow_cell=self.flow_cell,
                            steps=tuple(self.steps[n] for n in self.order), path=self.path)

    def known_spec(self, saved: NotebookSpec | None = None,
                   stored: NotebookSpec | None = None) -> NotebookSpec:
        """Every step known: the kernel's cells win over the saved notebook's, which win
        over those of the flow's last run (so a step's parents are known after a restart)."""
        steps: dict[str, StepSpec] = {}
        for source in (stored, saved):
            if source is not None:
                steps.update((s.name, s) for s in source.steps)
        steps.update(self.steps)
        flow_cell = self.flow_cell or (saved.flow_cell if saved else None) or \
            (stored.flow_cell if stored else None)
        return NotebookSpec(flow_name=self.flow_name(saved), flow_cell=flow_cell,
                            steps=tuple(steps.values()), path=self.path)

    def cell_of(self, step: str, saved: NotebookSpec | None) -> str:
        """How to point the user at a step's cell."""
        if saved is not None:
            for s in saved.steps:
                if s.name == step:
                    return f"cell {s.cell} ('{s.header}')"
        return f"the '%%step {step} ...' cell"

    # -- the warm executor ---------------------------------------------------------
    def executor(self):
        """One LocalExecutor per session, started once: a step starts in milliseconds.
        Tasks run in the working directory the zygote started in, so a new one is
        started when the kernel's working directory changed."""
        from ..executors.local import LocalExecutor

        cwd = os.getcwd()
        ex = self._executor
        if ex is not None and (cwd != self._executor_cwd or not _alive(ex)):
            ex.close()
            ex = None
        if ex is None:
            ex = LocalExecutor()
            ex.start()
            self._executor, self._executor_cwd = ex, cwd
            self._preloaded = set()
            self._preload_seen = set()
        return ex

    def warm(self, notebook: NotebookSpec) -> None:
        """Have the zygote import the notebook's imports once (NBFLOW_PRELOAD=0: never)."""
        if os.environ.get("NBFLOW_PRELOAD", "1") == "0":
            return
        from ..notebook.preload import modules_to_preload

        executor = self.executor()   # first: a new zygote forgets what was preloaded
        # only the sources not looked at yet (each cell's imports are read once)
        seen = self._preload_seen
        fresh = [s for s in notebook.steps if s.body not in seen]
        if notebook.module_code in seen and not fresh:
            return
        part = NotebookSpec(notebook.flow_name, tuple(fresh), flow_cell=notebook.flow_cell)
        new = [m for m in modules_to_preload(part) if m not in self._preloaded]
        seen.update(s.body for s in fresh)
        seen.add(notebook.module_code)
        if new:
            executor.preload(new)
            self._preloaded.update(new)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.close()
            self._executor = None


def _alive(executor) -> bool:
    zygote = getattr(executor, "_zygote", None)
    return zygote is None or zygote.poll() is None
