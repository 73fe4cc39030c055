"""Graph display: the flow drawn as SVG (nbflow.graph.svg), each step coloured by its
state, a foreach body's `done/total`, docstrings on hover.

Shown as a text/html display (updated in place while a run goes), so the last state
is an ordinary output of the saved notebook: nbconvert and GitHub show it too."""
from __future__ import annotations

import html

from ...graph import FlowGraph, validate
from ...graph.svg import StepView, flow_svg
from ...notebook.spec import NotebookSpec
from .model import RunModel


def graph_of(notebook: NotebookSpec) -> FlowGraph:
    """The graph with its joins known (validation infers them); errors are not raised:
    a notebook in error is still drawn."""
    graph = FlowGraph(notebook)
    validate(graph)
    return graph


def shape(graph: FlowGraph) -> tuple[dict, list, list]:
    """step -> targets, the foreach steps and the joins: all the layout needs."""
    targets = {s.name: tuple(s.targets) for s in graph.notebook.steps}
    foreach = [n for n in targets if n in graph and graph[n].foreach]
    joins = [n for n in targets if n in graph and graph[n].is_join]
    return targets, foreach, joins


def _doc(graph: FlowGraph | None, name: str) -> str:
    if graph is None or name not in graph:
        return ""
    return graph[name].spec.docstring or ""


def model_views(model: RunModel) -> dict[str, StepView]:
    views = {}
    for s in model.steps.values():
        many = s.expected is not None or s.total > 1
        views[s.name] = StepView(status=s.status, progress=s.progress() if many else "",
                                 doc=_doc(model.graph, s.name))
    return views


def model_html(model: RunModel) -> str:
    """The run's graph and one status line."""
    from .status import status_text

    if model.graph is not None:
        targets, foreach, joins = shape(model.graph)
    else:   # the events alone: steps in order, no edges known
        targets, foreach, joins = {n: s.targets for n, s in model.steps.items()}, [], []
    title = f"{model.flow}/{model.run_id}" if model.run_id else ""
    svg = flow_svg(targets, foreach, model_views(model), title, joins, run=title)
    return _frame(svg, status_text(model), model.message)


def _frame(svg: str, caption: str, message: str = "") -> str:
    extra = f'<div style="color:#e53935">{html.escape(message)}</div>' if message else ""
    return (f'<div class="nbflow-graph">{svg}<div class="nbflow-graph-caption" '
            f'style="font-family:sans-serif;font-size:12px;color:#424242">'
            f"{html.escape(caption)}</div>{extra}</div>")


def graph_html(graph: FlowGraph, states: dict[str, str] | None = None,
               caption: str = "") -> str:
    """A notebook's graph (`%nbflow show`), steps coloured by `states` (step -> state)."""
    targets, foreach, joins = shape(graph)
    views = {n: StepView(status=(states or {}).get(n, "pending"), doc=_doc(graph, n))
             for n in targets}
    return _frame(flow_svg(targets, foreach, views, graph.notebook.flow_name, joins), caption)


def show_graph(session, graph: FlowGraph, text: str) -> None:
    """`%nbflow show`: the drawing, coloured by the kernel's interactive run (the text
    where HTML is not shown)."""
    from IPython.display import display

    from . import widgets_available

    if not widgets_available():   # NBFLOW_NO_WIDGETS=1, or no front end: the text
        print(text)
        return
    caption = "states from this kernel's interactive run" if session.run is not None \
        else "no step cell run in this kernel yet"
    display({"text/html": graph_html(graph, session.step_states(), caption),
             "text/plain": text}, raw=True)


RECORDS_READ = 100   # task records read per step to find a failed one (the browser's graph)


def run_states(ds, flow: str, run_id: str) -> tuple[dict[str, str], dict[str, str]]:
    """A stored run's step states (done, failed, pending) and task counts."""
    from ...datastore import records

    states, counts = {}, {}
    for step in records.list_steps(ds, flow, run_id):
        tasks = records.list_tasks(ds, flow, run_id, step)
        recs = [records.read_task(ds, flow, run_id, step, t) for t in list(tasks)[:RECORDS_READ]]
        failed = any(r is not None and not r.successful for r in recs)
        states[step] = "failed" if failed else "done" if tasks else "pending"
        counts[step] = str(len(tasks))
    return states, counts


def run_html(ds, flow: str, run_id: str) -> str:
    """A stored run's graph (the artifact browser): states and task counts from its records."""
    from ...datastore import records

    notebook = NotebookSpec.from_dict(records.read_run(ds, flow, run_id).notebook)
    graph = graph_of(notebook)
    targets, foreach, joins = shape(graph)
    states, counts = run_states(ds, flow, run_id)
    views = {n: StepView(status=states.get(n, "pending"), doc=_doc(graph, n),
                         progress=f"{counts[n]} tasks" if counts.get(n, "1") != "1" else "")
             for n in targets}
    run = f"{flow}/{run_id}"
    return _frame(flow_svg(targets, foreach, views, run, joins, run=run), run)


class GraphDisplay:
    """A display updated in place: an output of the cell (or panel) that started it."""

    def __init__(self, model: RunModel):
        self.model = model
        self.handle = None

    def show(self) -> None:
        from IPython.display import HTML, display

        self.handle = display(HTML(model_html(self.model)), display_id=True)

    def refresh(self) -> None:
        from IPython.display import HTML

        if self.handle is not None:
            self.handle.update(HTML(model_html(self.model)))
