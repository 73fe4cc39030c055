"""Graph widget: the flow's steps in order, each with its status and task progress
(a foreach body shows `37/100`), and where it leads."""
from __future__ import annotations

import html

import ipywidgets as w

from .model import RunModel

COLORS = {"pending": "#9e9e9e", "running": "#1e88e5", "done": "#43a047", "failed": "#e53935",
          "stale": "#fb8c00"}


def graph_html(model: RunModel) -> str:
    boxes = []
    for s in model.steps.values():
        color = COLORS.get(s.status, "#9e9e9e")
        arrow = f" &rarr; {html.escape(', '.join(s.targets))}" if s.targets else ""
        boxes.append(
            f'<div class="nbflow-step nbflow-{s.status}" style="margin:2px 0">'
            f'<span style="display:inline-block;min-width:9em;padding:1px 6px;border-radius:4px;'
            f'border:2px solid {color}">{html.escape(s.name)}</span> '
            f'<span style="color:{color}">{s.status} {s.progress()}</span>'
            f'<span style="color:#777">{arrow}</span></div>')
    return f'<div class="nbflow-graph" style="font-family:monospace">{"".join(boxes)}</div>'


class GraphWidget:
    """An HTML widget redrawn from the model."""

    def __init__(self, model: RunModel):
        self.model = model
        self.widget = w.HTML(value=graph_html(model))

    def refresh(self) -> None:
        self.widget.value = graph_html(self.model)
