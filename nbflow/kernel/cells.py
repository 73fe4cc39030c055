"""A `%%step` / `%%flow` cell run in the kernel -> checked spec, before any subprocess.

Only the rules that apply to one cell are checked here (header, syntax, self.next,
--foreach's one target, end without targets): the rest of the graph may not be
written yet while a notebook is developed cell by cell."""
from __future__ import annotations

from ..errors import NotebookError, ParameterError
from ..graph import FlowGraph
from ..graph import rules as graphmod
from ..notebook import code as codemod
from ..notebook.params import find_parameters
from ..notebook.parse import docstring_of, parse_header
from ..notebook.spec import FlowCellSpec, NotebookSpec, StepSpec
from .cellerror import in_cell

BODY_LINE = 2   # a magic cell's body starts on the line after its header


def cell_number(saved: NotebookSpec | None, step: str | None, execution_count: int | None) -> int:
    """The cell's position in the saved notebook when it is there, else its `In [n]`."""
    if saved is not None:
        if step is None and saved.flow_cell is not None:
            return saved.flow_cell.cell
        for s in saved.steps:
            if s.name == step:
                return s.cell
    return execution_count or 0


def step_from_cell(line: str, body: str, cell: int) -> StepSpec:
    """Raises NotebookError (shown in the cell with its line) for a bad header or body."""
    header_line = f"%%step {line.strip()}"
    try:
        header = parse_header(header_line, cell)
    except NotebookError as e:
        raise in_cell(e, cell) from None
    body = "" if not body.strip() else body
    spec = StepSpec(name=header.name, targets=header.targets, options=header.options, body=body,
                    cell=cell, header=header_line, body_line=BODY_LINE,
                    docstring=docstring_of(body))
    errors: list = []
    graph = FlowGraph(NotebookSpec(flow_name="Cell", steps=(spec,)))
    graphmod.check_code(graph, errors)
    graphmod.check_foreach(graph, errors)
    if spec.name == "end" and spec.targets:
        errors.append(NotebookError("the end step cannot have targets; write '%%step end'",
                                    cell=cell, step="end"))
    if errors:
        raise in_cell(errors[0], cell)
    return spec


def flow_from_cell(line: str, body: str, cell: int) -> FlowCellSpec:
    try:
        header = parse_header(f"%%flow {line.strip()}", cell)
    except NotebookError as e:
        raise in_cell(e, cell) from None
    body = "" if not body.strip() else body
    try:
        codemod.parse_body(body, cell=cell, step=None, body_line=BODY_LINE)
    except NotebookError as e:
        raise in_cell(e, cell) from None
    try:
        find_parameters(body)
    except ParameterError as e:
        e.cell = cell
        raise in_cell(e, cell) from None
    return FlowCellSpec(header.name, body, cell, BODY_LINE, pypi=header.pypi, python=header.python)
