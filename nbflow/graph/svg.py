"""A flow drawn as SVG from its layout: boxes coloured by state, edges as arrows,
a foreach body's `done/total`, docstrings as hover tooltips. A plain string, so the
same drawing serves a live widget, `%nbflow show` and a saved notebook's static HTML."""
from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, replace

from .layout import Layout, layout

# fill, stroke per state
COLORS = {
    "pending": ("#f5f5f5", "#9e9e9e"),
    "running": ("#e3f2fd", "#1e88e5"),
    "done": ("#e8f5e9", "#43a047"),
    "failed": ("#ffebee", "#e53935"),
    "stale": ("#fff3e0", "#fb8c00"),
    "cached": ("#ede7f6", "#7e57c2"),
    "ended": ("#eceff1", "#607d8b"),    # stopped by the run after another task failed
}
STATES = tuple(COLORS)
LEGEND_H = 22
MAX_LABEL = 18   # characters of a step name drawn in its box (all of it in the tooltip)


@dataclass(frozen=True)
class StepView:
    status: str = "pending"
    progress: str = ""       # "37/100" for a foreach body, "" to show nothing
    doc: str = ""
    stacked: bool = False    # runs once per foreach split: drawn as a stack of boxes


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _label(name: str) -> str:
    return name if len(name) <= MAX_LABEL else name[:MAX_LABEL - 1] + "\u2026"


def _node(name: str, box, view: StepView) -> str:
    fill, stroke = COLORS.get(view.status, COLORS["pending"])
    left, top = box.x - box.w / 2, box.y
    tip = f"{name} ({view.status}{', ' + view.progress if view.progress else ''})"
    if view.doc.strip():
        tip += "\n" + view.doc.strip()
    parts = [f'<g class="nbflow-node nbflow-{_esc(view.status)}" data-step="{_esc(name)}">',
             f"<title>{_esc(tip)}</title>"]
    if view.stacked:
        parts.append(f'<rect x="{left + 4:.0f}" y="{top + 4:.0f}" width="{box.w:.0f}" '
                     f'height="{box.h:.0f}" rx="6" fill="{fill}" stroke="{stroke}"/>')
    width = 3 if view.status == "running" else 1.5
    parts.append(f'<rect x="{left:.0f}" y="{top:.0f}" width="{box.w:.0f}" height="{box.h:.0f}" '
                 f'rx="6" fill="{fill}" stroke="{stroke}" stroke-width="{width}"/>')
    text_y = top + (16 if view.progress else 25)
    parts.append(f'<text x="{box.x:.0f}" y="{text_y:.0f}" text-anchor="middle" '
                 f'font-size="13" fill="#212121">{_esc(_label(name))}</text>')
    if view.progress:
        parts.append(f'<text class="nbflow-progress" x="{box.x:.0f}" y="{top + 33:.0f}" '
                     f'text-anchor="middle" font-size="11" fill="{stroke}">'
                     f"{_esc(view.progress)}</text>")
    parts.append("</g>")
    return "".join(parts)


def _edge(edge) -> str:
    pts = " ".join(f"{x:.0f},{y:.0f}" for x, y in edge.points)
    return (f'<polyline class="nbflow-edge" data-source="{_esc(edge.source)}" '
            f'data-target="{_esc(edge.target)}" points="{pts}" fill="none" stroke="#757575" '
            f'stroke-width="1.5" marker-end="url(#nbflow-arrow)"/>')


def _legend(y: float, used: set) -> str:
    x, parts = 12, []
    for state in STATES:
        if state not in used:
            continue
        fill, stroke = COLORS[state]
        parts.append(f'<rect x="{x}" y="{y:.0f}" width="12" height="12" rx="3" fill="{fill}" '
                     f'stroke="{stroke}"/><text x="{x + 16}" y="{y + 10:.0f}" font-size="11" '
                     f'fill="#616161">{state}</text>')
        x += 24 + 7 * len(state)
    return "".join(parts)


def render_svg(lay: Layout, views: Mapping[str, StepView], title: str = "",
               run: str = "") -> str:
    """`run` ("Flow/run_id"), when the drawing is of a stored run: a click on a step opens
    its tasks (the JupyterLab extension reads `data-run`)."""
    used = {views.get(n, StepView()).status for n in lay.nodes}
    height = lay.height + LEGEND_H
    head = ('<svg xmlns="http://www.w3.org/2000/svg" class="nbflow-graph-svg" '
            + (f'data-run="{_esc(run)}" ' if run else "") +
            f'width="{lay.width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {lay.width:.0f} {height:.0f}" font-family="sans-serif">')
    if title:
        head += f"<title>{_esc(title)}</title>"
    defs = ('<defs><marker id="nbflow-arrow" viewBox="0 0 10 10" refX="10" refY="5" '
            'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
            '<path d="M 0 0 L 10 5 L 0 10 z" fill="#757575"/></marker></defs>')
    edges = "".join(_edge(e) for e in lay.edges)
    nodes = "".join(_node(n, b, views.get(n, StepView())) for n, b in lay.nodes.items())
    return head + defs + edges + nodes + _legend(lay.height, used) + "</svg>"


def flow_svg(targets: Mapping[str, tuple], foreach, views: Mapping[str, StepView],
             title: str = "", joins=(), run: str = "") -> str:
    """Layout and drawing in one call (`targets`: step -> its targets; `foreach`: the
    foreach steps; `joins`: the join steps). Steps inside a foreach are drawn stacked."""
    lay = layout(targets, foreach, joins)
    views = {n: replace(views.get(n, StepView()), stacked=n in lay.in_foreach) for n in lay.nodes}
    return render_svg(lay, views, title, run)
