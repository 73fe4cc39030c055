"""Where to draw a flow's steps and edges: a top-down layered layout, pure data.

Input is a plain mapping `step -> its targets` (and the foreach steps), so drawing
needs nothing else from the graph. The graphs nbflow accepts are series-parallel
(every split closes at its join), so the layout is recursive: a sequence of steps
stacks downward; a split's branches sit side by side under it, each in its own
columns; the join comes after the tallest branch, centred under the split. No two
edges cross and no edge passes through a step. A graph that is not series-parallel
(a notebook still in error) falls back to longest-path layers.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

COLUMN = 160      # px per column
NODE_W = 140      # px: a step's box
NODE_H = 40
ROW = 72          # px per row (box + gap)
MARGIN = 12


@dataclass(frozen=True)
class Box:
    x: float          # centre
    y: float          # top
    w: float = NODE_W
    h: float = NODE_H

    @property
    def bottom(self) -> tuple[float, float]:
        return (self.x, self.y + self.h)

    @property
    def top(self) -> tuple[float, float]:
        return (self.x, self.y)


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    points: tuple[tuple[float, float], ...]   # a polyline, source's bottom to target's top


@dataclass
class Layout:
    nodes: dict[str, Box] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    width: float = 0
    height: float = 0
    in_foreach: set = field(default_factory=set)   # steps that run once per foreach split


# -- the series-parallel decomposition -------------------------------------------------
@dataclass
class _Seq:
    items: list = field(default_factory=list)   # step names and _Splits, top to bottom
    width: int = 1
    height: int = 0


@dataclass
class _Split:
    step: str
    branches: list      # _Seq per target, left to right
    width: int = 1
    height: int = 1


class _NotSeriesParallel(Exception):
    pass


def _post_dominators(targets: Mapping[str, Sequence[str]], order: list[str]) -> dict:
    pdom: dict[str, set] = {}
    for name in reversed(order):
        outs = [pdom[t] for t in targets.get(name, ()) if t in pdom]
        pdom[name] = {name} | (set.intersection(*outs) if outs else set())
    return pdom


def _join_of(step: str, pdom: dict) -> str:
    """The split's join: its nearest post-dominator."""
    rest = pdom[step] - {step}
    for cand in rest:
        if pdom[cand] == rest:
            return cand
    raise _NotSeriesParallel(step)


def _sequence(first: str | None, stop: str | None, targets, pdom, seen) -> _Seq:
    seq = _Seq()
    name = first
    while name is not None and name != stop:
        if name in seen:
            raise _NotSeriesParallel(name)
        seen.add(name)
        outs = list(targets.get(name, ()))
        if len(outs) > 1:   # a foreach with one target draws as one column: no split here
            join = _join_of(name, pdom)
            branches = [_sequence(t, join, targets, pdom, seen) for t in outs]
            split = _Split(name, branches, width=sum(b.width for b in branches),
                           height=1 + max(b.height for b in branches))
            seq.items.append(split)
            name = join
        else:
            seq.items.append(name)
            name = outs[0] if outs else None
    if name != stop:
        raise _NotSeriesParallel(stop)
    for item in seq.items:
        seq.width = max(seq.width, item.width if isinstance(item, _Split) else 1)
        seq.height += item.height if isinstance(item, _Split) else 1
    return seq


def _topological(targets: Mapping[str, Sequence[str]], start: str) -> list[str]:
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(n: str) -> None:
        if state.get(n) == 2:
            return
        if state.get(n) == 1:
            raise _NotSeriesParallel(n)   # a cycle
        state[n] = 1
        for t in targets.get(n, ()):
            visit(t)
        state[n] = 2
        order.append(n)

    visit(start)
    return order[::-1]


# -- coordinates ---------------------------------------------------------------------
def _place_seq(seq: _Seq, left: float, row: int, rows: dict, cols: dict) -> None:
    centre = left + seq.width / 2
    for item in seq.items:
        name = item.step if isinstance(item, _Split) else item
        rows[name], cols[name] = row, centre
        if isinstance(item, _Split):
            x = left + (seq.width - item.width) / 2
            for branch in item.branches:
                _place_seq(branch, x, row + 1, rows, cols)
                x += branch.width
            row += item.height
        else:
            row += 1


def _box(row: float, col: float) -> Box:
    return Box(x=MARGIN + col * COLUMN, y=MARGIN + row * ROW)


def _edges(targets, rows: dict, boxes: dict[str, Box]) -> list[Edge]:
    """A straight line between adjacent rows; a longer edge (a short branch into its
    join) goes straight down its own column, then into the target."""
    edges = []
    for src, outs in targets.items():
        for dst in outs:
            if src not in boxes or dst not in boxes:
                continue
            a, b = boxes[src], boxes[dst]
            points = [a.bottom]
            if rows[dst] - rows[src] > 1:
                points.append((a.x, b.y - (ROW - NODE_H)))
            points.append(b.top)
            edges.append(Edge(src, dst, tuple(points)))
    return edges


def _layered(targets: Mapping[str, Sequence[str]]) -> tuple[dict, dict]:
    """Fallback for graphs in error: longest-path layers, steps in notebook order."""
    rows: dict[str, int] = {}
    names = list(targets)
    for _ in names:   # relax up to len(names) times; cycles just stop growing
        changed = False
        for src in names:
            for dst in targets.get(src, ()):
                if dst in targets and rows.get(dst, 0) < rows.get(src, 0) + 1 <= len(names):
                    rows[dst] = rows.get(src, 0) + 1
                    changed = True
        if not changed:
            break
    per_row: dict[int, list[str]] = {}
    for n in names:
        per_row.setdefault(rows.setdefault(n, 0), []).append(n)
    width = max(len(v) for v in per_row.values()) if per_row else 1
    cols = {n: (width - len(v)) / 2 + i + 0.5 for v in per_row.values() for i, n in enumerate(v)}
    return rows, cols


def _descendants(targets, name: str) -> set[str]:
    seen, todo = set(), [name]
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo.extend(targets.get(n, ()))
    return seen


def _in_foreach(targets, foreach: set, joins: set) -> set[str]:
    """Steps that run once per split of an enclosing foreach: from a foreach's target
    down to (not including) the join that closes it; nested foreach close first."""
    inner: set[str] = set()
    for f in foreach:
        outs = targets.get(f, ())
        depth, name, seen = 0, outs[0] if len(outs) == 1 else None, set()
        while name is not None and name not in seen:
            seen.add(name)
            if name in joins and len(_parents(targets, name)) == 1:   # a foreach join
                if depth == 0:
                    inner |= _descendants(targets, outs[0]) - _descendants(targets, name)
                    break
                depth -= 1
            depth += name in foreach
            nxt = targets.get(name, ())
            name = nxt[0] if nxt else None   # a branch: any branch reaches its join
    return inner


def _parents(targets, name: str) -> list[str]:
    return [s for s, outs in targets.items() if name in outs]


def layout(targets: Mapping[str, Sequence[str]], foreach: Collection[str] = (),
           joins: Collection[str] = (), start: str = "start") -> Layout:
    """Boxes and edge polylines for the steps in `targets` (step -> its targets, in
    notebook order); `foreach` names the foreach steps and `joins` the join steps
    (both optional: they only mark the steps drawn stacked, inside a foreach)."""
    targets = {k: tuple(t for t in v if t in targets) for k, v in targets.items()}
    if not targets:
        return Layout(width=2 * MARGIN, height=2 * MARGIN)
    first = start if start in targets else next(iter(targets))
    rows: dict[str, float] = {}
    cols: dict[str, float] = {}
    try:
        order = _topological(targets, first)
        if len(order) != len(targets):
            raise _NotSeriesParallel("unreachable steps")
        seq = _sequence(first, None, targets, _post_dominators(targets, order), set())
        _place_seq(seq, 0, 0, rows, cols)
    except (_NotSeriesParallel, RecursionError):
        rows, cols = _layered(targets)
    boxes = {n: _box(rows[n], cols[n]) for n in targets}
    width = max(b.x for b in boxes.values()) + COLUMN / 2 + MARGIN
    height = max(b.y + b.h for b in boxes.values()) + MARGIN
    inner = _in_foreach(targets, set(foreach), set(joins)) if joins else set()
    return Layout(boxes, _edges(targets, rows, boxes), width, height, inner)
