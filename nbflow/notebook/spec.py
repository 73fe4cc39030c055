"""Small frozen records passed between layers: what the parser read from cells."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class StepOptions:
    """The options of a `%%step` header (SPEC section 1 table)."""

    foreach: str | None = None
    retry: int = 0
    retry_delay: float = 0.0
    timeout: float | None = None
    catch: str | None = None
    resources: tuple[tuple[str, float], ...] = ()  # (("cpu", 2), ("memory", 4096))
    pypi: tuple[str, ...] | None = None   # --pypi REQ...: None when not given
    pypi_disabled: bool = False           # --pypi-disabled: the kernel's environment

    def resources_dict(self) -> dict[str, float]:
        return dict(self.resources)


@dataclass(frozen=True)
class StepSpec:
    """One `%%step` cell."""

    name: str
    targets: tuple[str, ...]
    options: StepOptions
    body: str                 # the cell without its header line
    cell: int                 # position in the notebook, counting from 1 over all cells
    header: str = ""          # the header line as written
    body_line: int = 2        # line of the cell where `body` starts
    docstring: str | None = None

    @property
    def is_end(self) -> bool:
        return self.name == "end"


@dataclass(frozen=True)
class FlowCellSpec:
    """The `%%flow Name` cell: the flow's name and its module-level code."""

    name: str | None
    code: str
    cell: int
    body_line: int = 2
    pypi: tuple[str, ...] = ()      # --pypi REQ...: for every step (@pypi_base)
    python: str | None = None       # --python VERSION
    schedule: str | None = None     # --schedule daily|hourly|weekly|CRON (@schedule)
    project: str | None = None      # --project NAME (@project)


@dataclass(frozen=True)
class NotebookSpec:
    """Everything a run needs from a notebook: the flow cell and the step cells."""

    flow_name: str
    steps: tuple[StepSpec, ...]
    flow_cell: FlowCellSpec | None = None
    path: str | None = None   # the notebook file, when there is one
    errors: tuple = field(default=())  # NbflowErrors found while parsing cells

    def step(self, name: str) -> StepSpec:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)

    @property
    def module_code(self) -> str:
        return self.flow_cell.code if self.flow_cell else ""

    def to_dict(self) -> dict:
        """Plain data, stored with every run so it can be reproduced and exported."""
        fc = self.flow_cell
        return {
            "flow_name": self.flow_name,
            "path": self.path,
            "flow_cell": None if fc is None else
            {"name": fc.name, "code": fc.code, "cell": fc.cell, "body_line": fc.body_line,
             "pypi": list(fc.pypi), "python": fc.python, "schedule": fc.schedule,
             "project": fc.project},
            "steps": [
                {"name": s.name, "targets": list(s.targets), "body": s.body, "cell": s.cell,
                 "header": s.header, "body_line": s.body_line, "docstring": s.docstring,
                 "options": {"foreach": s.options.foreach, "retry": s.options.retry,
                             "retry_delay": s.options.retry_delay,
                             "timeout": s.options.timeout, "catch": s.options.catch,
                             "resources": [list(r) for r in s.options.resources],
                             "pypi": None if s.options.pypi is None else list(s.options.pypi),
                             "pypi_disabled": s.options.pypi_disabled}}
                for s in self.steps
            ],
        }

    @classmethod
    def from_dict(cls, d: dict) -> NotebookSpec:
        fc = d.get("flow_cell")
        steps = tuple(
            StepSpec(name=s["name"], targets=tuple(s["targets"]), body=s["body"],
                     cell=s["cell"], header=s.get("header", ""),
                     body_line=s.get("body_line", 2), docstring=s.get("docstring"),
                     options=StepOptions(
                         foreach=s["options"]["foreach"], retry=s["options"]["retry"],
                         retry_delay=s["options"]["retry_delay"],
                         timeout=s["options"]["timeout"], catch=s["options"]["catch"],
                         resources=tuple(tuple(r) for r in s["options"]["resources"]),
                         pypi=_tuple_or_none(s["options"].get("pypi")),
                         pypi_disabled=s["options"].get("pypi_disabled", False)))
            for s in d["steps"])
        if fc is not None:
            fc = FlowCellSpec(**{**fc, "pypi": tuple(fc.get("pypi") or ())})
        return cls(flow_name=d["flow_name"], steps=steps, path=d.get("path"), flow_cell=fc)


def _tuple_or_none(value) -> tuple | None:
    return None if value is None else tuple(value)


@dataclass(frozen=True)
class RunEvent:
    """What the scheduler tells its listeners (CLI printer, kernel widgets).

    kinds: run_started, task_started, task_output, task_display (text: one displayed
           bundle as JSON, cards/stream.py), task_finished (info["card"]: how many
           outputs the task's card holds), task_retrying, run_finished."""

    kind: str
    run_id: str
    step: str | None = None
    task_id: str | None = None
    pid: int | None = None
    attempt: int = 0
    stream: str | None = None        # task_output: "stdout" | "stderr"
    text: str | None = None          # task_output: one line; others: a message
    successful: bool | None = None
    info: dict = field(default_factory=dict)
