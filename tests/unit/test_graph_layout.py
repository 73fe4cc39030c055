"""The graph drawing: layout (boxes and edge polylines) and its SVG, for every DAG shape
of test_dag_shapes.py and every notebook in notebooks/. Pure: no kernel, no run."""
from __future__ import annotations

import itertools
import re

import pytest
from helpers import NOTEBOOKS
from test_dag_shapes import SHAPES

from nbflow.graph import FlowGraph, validate
from nbflow.graph.layout import layout
from nbflow.graph.svg import StepView, flow_svg
from nbflow.notebook.parse import read_notebook

NOTEBOOK_FILES = sorted(p for p in NOTEBOOKS.glob("*.ipynb") if read_notebook(p).steps)


def shape_input(shape: dict) -> tuple[dict, list, list]:
    targets = {k: tuple(v.get("next", ())) for k, v in shape.items()}
    foreach = [k for k, v in shape.items() if "foreach" in v]
    joins = [v["join_at"] for v in shape.values() if "join_at" in v]
    return targets, foreach, joins


def notebook_input(path) -> tuple[dict, list, list]:
    graph = FlowGraph(read_notebook(path))
    assert not validate(graph)
    targets = {n: tuple(graph[n].targets) for n in graph.nodes}
    return (targets, [n for n in targets if graph[n].foreach],
            [n for n in targets if graph[n].is_join])


CASES = {**{f"shape:{k}": shape_input(v) for k, v in SHAPES.items()},
         **{f"notebook:{p.stem}": notebook_input(p) for p in NOTEBOOK_FILES}}


def _cross(p, q, r, s) -> bool:
    """Do segments pq and rs cross or overlap (touching only at a shared end is fine)?"""
    def orient(a, b, c):
        v = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
        return (v > 1e-9) - (v < -1e-9)

    if {p, q} & {r, s}:
        shared = ({p, q} & {r, s}).pop()
        a = q if p == shared else p
        b = s if r == shared else r
        # collinear and pointing the same way from the shared end: they overlap
        same_dir = (a[0] - shared[0]) * (b[0] - shared[0]) + (a[1] - shared[1]) * (b[1] - shared[1])
        return orient(shared, a, b) == 0 and same_dir > 0
    o1, o2, o3, o4 = orient(p, q, r), orient(p, q, s), orient(r, s, p), orient(r, s, q)
    return o1 != o2 and o3 != o4


def _segments(edge):
    return list(zip(edge.points, edge.points[1:]))


def _hits_box(seg, box) -> bool:
    """Does the segment pass through the inside of a box (sampled)?"""
    (x1, y1), (x2, y2) = seg
    for i in range(1, 50):
        t = i / 50
        x, y = x1 + (x2 - x1) * t, y1 + (y2 - y1) * t
        if box.x - box.w / 2 < x < box.x + box.w / 2 and box.y < y < box.y + box.h:
            return True
    return False


@pytest.mark.parametrize("case", list(CASES))
def test_every_step_and_edge_is_drawn_without_crossings(case):
    targets, foreach, joins = CASES[case]
    lay = layout(targets, foreach, joins)
    assert set(lay.nodes) == set(targets)
    assert {(e.source, e.target) for e in lay.edges} == \
        {(s, t) for s, outs in targets.items() for t in outs}
    for e in lay.edges:   # from the source's bottom to the target's top, downward
        assert e.points[0] == lay.nodes[e.source].bottom
        assert e.points[-1] == lay.nodes[e.target].top
        assert all(b[1] >= a[1] for a, b in _segments(e))
    for a, b in itertools.combinations(lay.nodes.values(), 2):   # no two boxes overlap
        assert abs(a.x - b.x) >= a.w or abs(a.y - b.y) >= a.h
    for e, f in itertools.combinations(lay.edges, 2):
        for s1, s2 in itertools.product(_segments(e), _segments(f)):
            assert not _cross(*s1, *s2), (case, e, f)
    for e in lay.edges:   # no edge runs through a step it does not connect
        for name, box in lay.nodes.items():
            if name not in (e.source, e.target):
                assert not any(_hits_box(s, box) for s in _segments(e)), (case, e, name)
    for b in lay.nodes.values():
        assert 0 <= b.x - b.w / 2 and b.x + b.w / 2 <= lay.width and b.y + b.h <= lay.height


@pytest.mark.parametrize("case", list(CASES))
def test_splits_side_by_side_joins_centred(case):
    targets, foreach, joins = CASES[case]
    lay = layout(targets, foreach, joins)
    for step, outs in targets.items():
        if len(outs) > 1:
            boxes = [lay.nodes[t] for t in outs]
            assert len({b.y for b in boxes}) == 1            # one row
            assert [b.x for b in boxes] == sorted(b.x for b in boxes)   # in order, apart
            assert all(lay.nodes[t].y > lay.nodes[step].y for t in outs)
            assert boxes[0].x < lay.nodes[step].x < boxes[-1].x   # the split above its branches
    for join in joins:
        parents = [s for s, outs in targets.items() if join in outs]
        if len(parents) > 1:
            split_row = [s for s, outs in targets.items() if len(outs) > 1
                         and all(lay.nodes[s].y < lay.nodes[p].y for p in parents)]
            assert any(lay.nodes[s].x == lay.nodes[join].x for s in split_row)   # centred


def test_start_on_top_end_at_the_bottom_and_foreach_bodies_stacked():
    targets, foreach, joins = shape_input(SHAPES["foreach_in_branch"])
    lay = layout(targets, foreach, joins)
    assert lay.nodes["start"].y == min(b.y for b in lay.nodes.values())
    assert lay.nodes["end"].y == max(b.y for b in lay.nodes.values())
    assert lay.in_foreach == {"f"}
    targets, foreach, joins = shape_input(SHAPES["nested_foreach"])
    assert layout(targets, foreach, joins).in_foreach == \
        {"split_y", "split_z", "inner", "join_z", "join_y"}


def test_a_graph_in_error_is_still_drawn():
    lay = layout({"start": ("a", "b"), "a": ("end",), "b": ("missing",), "end": ()})
    assert set(lay.nodes) == {"start", "a", "b", "end"}
    lay = layout({"start": ("a",), "a": ("start",)})   # a cycle
    assert set(lay.nodes) == {"start", "a"}
    assert layout({}).nodes == {}


def test_svg_colours_states_shows_progress_and_docstrings():
    targets, foreach, joins = shape_input(SHAPES["foreach"])
    views = {"start": StepView("done", doc="Begin here."), "split": StepView("done"),
             "inner1": StepView("running", progress="37/100"), "inner2": StepView("failed"),
             "fjoin": StepView("stale"), "end": StepView("cached")}
    svg = flow_svg(targets, foreach, views, "ForeachFlow", joins)
    nodes = re.findall(r'<g class="nbflow-node nbflow-(\w+)" data-step="(\w+)"', svg)
    assert {step: state for state, step in nodes} == {
        "start": "done", "split": "done", "inner1": "running", "inner2": "failed",
        "fjoin": "stale", "end": "cached"}
    assert "<title>start (done)\nBegin here.</title>" in svg
    assert ">37/100</text>" in svg
    assert svg.count('class="nbflow-edge"') == 5
    assert svg.count("<rect") > 6 + 2   # inner1, inner2 drawn as a stack, plus the legend
    for state in ("done", "running", "failed", "stale", "cached"):
        assert f">{state}</text>" in svg   # the legend names the states shown
    fills = dict(re.findall(r'<g class="nbflow-node nbflow-(\w+)"[^>]*><title>[^<]*</title>'
                            r'(?:<rect[^>]*/>)?<rect [^>]*fill="(#\w+)"', svg))
    assert len(fills) == 5 and len(set(fills.values())) == 5, fills   # a colour per state
