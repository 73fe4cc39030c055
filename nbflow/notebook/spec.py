"""What the parser read from cells: frozen records, each with to_json/from_json (a run
stores its notebook as this JSON, so every run can be reproduced and exported)."""
from __future__ import annotations

from dataclasses import field

from ..lite_dataclass import dataclass


@dataclass(frozen=True)
class StepOptions:
    """The options of a `%%step` header (docs/reference.md section 1 table)."""

    foreach: str | None = None
    retry: int = 0
    retry_delay: float = 0.0
    timeout: float | None = None
    catch: str | None = None
    resources: tuple[tuple[str, float], ...] = ()  # (("cpu", 2), ("memory", 4096))
    pypi: tuple[str, ...] | None = None   # --pypi REQ...: None when not given
    pypi_disabled: bool = False           # --pypi-disabled: the kernel's environment
    cache: bool = False                   # --cache: a kernel rerun reuses an unchanged task

    def resources_dict(self) -> dict[str, float]:
        return dict(self.resources)

    def to_json(self) -> dict:
        return {"foreach": self.foreach, "retry": self.retry, "retry_delay": self.retry_delay,
                "timeout": self.timeout, "catch": self.catch,
                "resources": [list(r) for r in self.resources],
                "pypi": None if self.pypi is None else list(self.pypi),
                "pypi_disabled": self.pypi_disabled, "cache": self.cache}

    @classmethod
    def from_json(cls, d: dict) -> StepOptions:
        return cls(foreach=d.get("foreach"), retry=d.get("retry", 0),
                   retry_delay=d.get("retry_delay", 0.0), timeout=d.get("timeout"),
                   catch=d.get("catch"),
                   resources=tuple(tuple(r) for r in d.get("resources") or ()),
                   pypi=None if d.get("pypi") is None else tuple(d["pypi"]),
                   pypi_disabled=bool(d.get("pypi_disabled", False)),
                   cache=bool(d.get("cache", False)))


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

    def to_json(self) -> dict:
        return {"name": self.name, "targets": list(self.targets), "body": self.body,
                "cell": self.cell, "header": self.header, "body_line": self.body_line,
                "docstring": self.docstring, "options": self.options.to_json()}

    @classmethod
    def from_json(cls, d: dict) -> StepSpec:
        return cls(name=d["name"], targets=tuple(d["targets"]), body=d["body"], cell=d["cell"],
                   header=d.get("header", ""), body_line=d.get("body_line", 2),
                   docstring=d.get("docstring"), options=StepOptions.from_json(d["options"]))


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

    def to_json(self) -> dict:
        return {"name": self.name, "code": self.code, "cell": self.cell,
                "body_line": self.body_line, "pypi": list(self.pypi), "python": self.python,
                "schedule": self.schedule, "project": self.project}

    @classmethod
    def from_json(cls, d: dict) -> FlowCellSpec:
        return cls(name=d.get("name"), code=d.get("code", ""), cell=d.get("cell", 0),
                   body_line=d.get("body_line", 2), pypi=tuple(d.get("pypi") or ()),
                   python=d.get("python"), schedule=d.get("schedule"), project=d.get("project"))


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
        return {"flow_name": self.flow_name, "path": self.path,
                "flow_cell": None if self.flow_cell is None else self.flow_cell.to_json(),
                "steps": [s.to_json() for s in self.steps]}

    @classmethod
    def from_dict(cls, d: dict) -> NotebookSpec:
        fc = d.get("flow_cell")
        return cls(flow_name=d["flow_name"], path=d.get("path"),
                   steps=tuple(StepSpec.from_json(s) for s in d["steps"]),
                   flow_cell=None if fc is None else FlowCellSpec.from_json(fc))

