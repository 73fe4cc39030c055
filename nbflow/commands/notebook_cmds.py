"""`show` and `check`: a notebook's graph and what validation found, as data."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import NbflowError, ValidationErrors
from ..graph import FlowGraph, validate
from ..notebook.spec import NotebookSpec
from .locate import as_notebook


@dataclass(frozen=True)
class GraphReport:
    notebook: NotebookSpec
    graph: FlowGraph
    errors: tuple[NbflowError, ...]

    @property
    def ok(self) -> bool:
        return not self.errors

    def errors_text(self) -> str:
        return ValidationErrors(list(self.errors)).render() if self.errors else ""

    def summary(self) -> str:
        return f"{self.notebook.flow_name}: {len(self.graph.nodes)} steps, a valid flow."


def check(notebook: NotebookSpec | str) -> GraphReport:
    """Validate a notebook (a path or kernel cells); the findings, never an exception."""
    spec = as_notebook(notebook)
    graph = FlowGraph(spec)
    return GraphReport(spec, graph, tuple(validate(graph)))


def show(notebook: NotebookSpec | str, artifacts: bool = False) -> tuple[GraphReport, str]:
    """The graph as text (with docstrings; `artifacts`: what each step reads and writes),
    and the validation findings."""
    from ..graph.show import render_graph

    report = check(notebook)
    return report, render_graph(report.graph, artifacts=artifacts) + parameters_text(report.notebook)


def parameters_text(notebook: NotebookSpec) -> str:
    """The notebook's parameters as `--option TYPE help (default ...)` lines ('' if none or
    if the flow cell cannot be read: validation says why)."""
    from ..notebook.params import describe_parameters, notebook_parameters

    try:
        params = notebook_parameters(notebook)
    except NbflowError:
        return ""
    return f"\n\nParameters:\n{describe_parameters(params)}" if params else ""
