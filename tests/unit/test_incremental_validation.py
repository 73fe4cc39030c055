"""Validation after an edit reuses what it worked out for the unchanged cells (graph/facts.py)
and gives exactly what a validation from nothing gives. A table of edits is applied one after
another to a notebook; after each, the graph and the findings are compared with those of a
fresh validation (nothing remembered). Pure: no process, no file."""
import pytest

from nbflow.graph import FlowGraph, facts, validate
from nbflow.graph.incremental import GraphKeeper
from nbflow.notebook.parse import parse_cells

BASE = [
    "%%flow EditFlow\nalpha = Parameter('alpha', default=1)",
    "%%step start -> a, b\nself.x = 1",
    "%%step a -> join\nself.y = self.x + alpha",
    "%%step b -> join\nself.y = 2",
    "%%step join -> fan\nself.total = sum(i.y for i in inputs)",
    "%%step fan -> each --foreach items\nself.items = [1, 2, self.total]",
    "%%step each -> gather\nself.sq = self.input ** 2",
    "%%step gather -> end\nself.squares = [i.sq for i in inputs]",
    "%%step end\nprint(self.squares)",
]


def _set(cells, i, src):
    return cells[:i] + [src] + cells[i + 1:]


def _find(cells, name):
    return next(i for i, c in enumerate(cells) if c.startswith(f"%%step {name} ") or
                c.startswith(f"%%step {name}\n") or c == f"%%step {name}")


def replace(name, src):
    return lambda cells: _set(cells, _find(cells, name), src)


def insert_after(name, src):
    return lambda cells: cells[:_find(cells, name) + 1] + [src] + cells[_find(cells, name) + 1:]


def remove(name):
    return lambda cells: [c for i, c in enumerate(cells) if i != _find(cells, name)]


# (what the edit does, the edit, a text one finding must contain or None for no finding)
EDITS = [
    ("nothing changed", lambda cells: list(cells), None),
    ("a body changes, no new finding", replace("b", "%%step b -> join\nself.y = 3"), None),
    ("a step is added in a chain", lambda cells: insert_after("each", "%%step twice -> gather\n"
                                                 "self.sq = self.sq * 2")(
        replace("each", "%%step each -> twice\nself.sq = self.input ** 2")(cells)), None),
    ("a step is renamed, its parent's target not", replace("twice", "%%step double -> gather\n"
                                                           "self.sq = self.sq * 2"),
     "target 'twice' is not a step"),
    ("the target follows the rename", replace("each", "%%step each -> double\n"
                                              "self.sq = self.input ** 2"), None),
    ("a target changes: a cycle", replace("double", "%%step double -> each\n"
                                          "self.sq = self.sq * 2"), "cycle"),
    ("the cycle is undone", replace("double", "%%step double -> gather\nself.sq = self.sq * 2"),
     None),
    ("an unreachable step", insert_after("end", "%%step orphan -> end\nself.z = 1"),
     "cannot be reached from 'start'"),
    ("the unreachable step is removed", remove("orphan"), None),
    ("a read nobody produces (lineage)", replace("end", "%%step end\nprint(self.squarez)"),
     "self.squarez"),
    ("the read is fixed", replace("end", "%%step end\nprint(self.squares)"), None),
    ("a join that does not merge: its read is lost", replace(
        "join", "%%step join -> fan\nself.n = len(inputs)"), "self.total"),
    ("the join sets it again", replace("join", "%%step join -> fan\n"
                                       "self.total = sum(i.y for i in inputs)"), None),
    ("a parameter read", replace("b", "%%step b -> join\nself.y = alpha * 2"), None),
    ("a syntax error", replace("a", "%%step a -> join\nself.y = (self.x"), "syntax error"),
    ("self.next in a body", replace("a", "%%step a -> join\nself.y = 1\nself.next(self.b)"),
     "self.next"),
    ("'return' outside a function compiles only as a step", replace(
        "a", "%%step a -> join\nself.y = 1\nyield 2"), "yield"),
    ("the body is fixed", replace("a", "%%step a -> join\nself.y = self.x + alpha"), None),
    ("a step is defined twice", insert_after("b", "%%step b -> join\nself.y = 5"),
     "defined twice"),
    ("the duplicate goes", lambda cells: [c for i, c in enumerate(cells)
                                          if not (c.startswith("%%step b ") and
                                                  i != _find(cells, "b"))], None),
    ("a branch leads nowhere", replace("b", "%%step b\nself.y = 2"), "has no target"),
    ("the branch is joined again", replace("b", "%%step b -> join\nself.y = 2"), None),
    ("a foreach with two targets", replace("fan", "%%step fan -> each, gather --foreach items\n"
                                           "self.items = [1]"), "exactly one target"),
    ("a foreach's variable misspelt", replace("fan", "%%step fan -> each --foreach itemz\n"
                                              "self.items = [1]"), "itemz"),
    ("back to the start", lambda cells: list(BASE), None),
    ("cells move: a cell is inserted above", lambda cells: cells[:1] + ["print('scratch')"] +
     cells[1:], None),
]


def _notebook(cells):
    return parse_cells([("code", c) for c in cells], flow_name="EditFlow", path="/nb/edit.ipynb")


def _graph_facts(graph: FlowGraph) -> dict:
    return {n.name: (tuple(n.parents), n.is_join, n.split_stack, n.matching_split, n.spec)
            for n in graph} | {"": (tuple(graph.order), tuple(graph.cycle), graph.complete,
                                    str(graph.split_problem))}


def _findings(graph: FlowGraph) -> list:
    return [(type(e).__name__, str(e), e.cell, getattr(e, "step", None), getattr(e, "line", None))
            for e in validate(graph)]


@pytest.fixture(autouse=True)
def _fresh():
    facts.forget()
    yield
    facts.forget()


def test_each_edit_validates_as_from_nothing():
    cells = list(BASE)
    assert _findings(FlowGraph(_notebook(cells))) == []
    for what, edit, expected in EDITS:
        cells = edit(cells)
        nb = _notebook(cells)
        warm_graph = FlowGraph(nb)            # what the earlier notebooks left remembered
        warm = _findings(warm_graph)
        facts.forget()
        cold_graph = FlowGraph(nb)
        cold = _findings(cold_graph)
        assert warm == cold, what
        assert _graph_facts(warm_graph) == _graph_facts(cold_graph), what
        if expected is None:
            assert cold == [], (what, cold)
        else:
            assert any(expected in f[1] for f in cold), (what, cold)
        # and again, everything remembered
        assert _findings(FlowGraph(nb)) == cold, what


def test_the_kept_graph_is_the_one_built_from_nothing():
    """A kernel's graph (GraphKeeper) after each edit and after each cell run again as it is
    (a new spec, equal to the old): the graph, and its findings, FlowGraph gives."""
    keeper = GraphKeeper()
    cells = list(BASE)
    for what, edit, _ in [("base", list, None), *EDITS]:
        cells = edit(cells)
        for nb in (_notebook(cells), _notebook(cells)):   # the second: the same shape
            kept = keeper.graph_for(nb)
            fresh = FlowGraph(nb)
            assert kept.notebook is nb, what
            assert _graph_facts(kept) == _graph_facts(fresh), what
            assert _findings(kept) == _findings(fresh), what
            assert kept.topological() == fresh.topological(), what
    # a body that starts reading `inputs` changes the shape (it becomes a join)
    nb = _notebook(replace("each", "%%step each -> gather\nself.n = len(inputs)")(cells))
    assert _graph_facts(keeper.graph_for(nb)) == _graph_facts(FlowGraph(nb))


def test_an_unchanged_body_is_not_parsed_again(monkeypatch):
    from nbflow.notebook import code as codemod

    cells = list(BASE)
    validate(FlowGraph(_notebook(cells)))
    parsed = []
    real = codemod.parse_body
    monkeypatch.setattr(codemod, "parse_body", lambda body, **kw: parsed.append(body) or
                        real(body, **kw))
    cells = replace("b", "%%step b -> join\nself.y = 7")(cells)
    validate(FlowGraph(_notebook(cells)))
    # the changed body only (parse, then compile's own parse; the flow cell is compiled
    # each time: it is one)
    assert {b for b in parsed if b.startswith("self.y = 7")} == {"self.y = 7"}
    assert all(b in ("self.y = 7", BASE[0].split("\n", 1)[1]) for b in parsed), parsed
