"""The graph is complete when built (joins, split stacks, matching splits) and every walk is
iterative: long chains, non-ASCII names. Pure: no process, no file."""
from nbflow.graph import FlowGraph, build, validate
from nbflow.notebook.parse import parse_cells


def graph(*cells) -> FlowGraph:
    return FlowGraph(parse_cells([("code", c) for c in cells], flow_name="TestFlow"))


def test_structure_is_there_without_validating():
    g = graph("%%step start -> a, b", "%%step a -> join", "%%step b -> join",
              "%%step join -> end\nself.x = 1", "%%step end")
    assert g["join"].is_join and g["join"].matching_split == "start"
    assert g["a"].split_stack == (("start", "a"),)
    assert g["end"].split_stack == ()


def test_a_foreach_join_that_reads_no_inputs_is_inferred_at_construction():
    g = graph("%%step start -> body --foreach items\nself.items = [1, 2]",
              "%%step body -> collect\nself.y = self.input", "%%step collect -> end",
              "%%step end")
    assert g["collect"].is_join and not g["body"].is_join and g.split_problem is None


def test_a_body_that_reads_inputs_is_a_join():
    g = graph("%%step start -> each --foreach xs\nself.xs = [1]", "%%step each -> gather",
              "%%step gather -> end\nself.total = sum(i.x for i in inputs)", "%%step end")
    assert g["gather"].is_join and g["gather"].matching_split == "start"


def test_ten_thousand_step_chain_validates_without_recursion():
    n = 10_000
    cells = ["%%step start -> s0"] + [f"%%step s{i} -> s{i + 1}" for i in range(n - 1)] + \
            [f"%%step s{n - 1} -> end", "%%step end"]
    g = build(parse_cells([("code", c) for c in cells], flow_name="LongFlow"))
    order = g.topological()
    assert order[0] == "start" and order[-1] == "end" and len(order) == n + 2


def test_a_long_cycle_is_reported_without_recursion():
    n = 3000
    cells = ["%%step start -> s0"] + [f"%%step s{i} -> s{i + 1}" for i in range(n - 1)] + \
            [f"%%step s{n - 1} -> s0, end", "%%step end"]
    errors = [e.render() for e in validate(graph(*cells))]
    assert any("form a cycle: s0 -> s1 ->" in e for e in errors), errors[:3]


def test_non_ascii_names_are_python_identifiers():
    g = build(parse_cells([("code", "%%flow FlöwÄ"), ("code", "%%step start -> stép"),
                           ("code", "%%step stép -> end\nself.wert = 1"), ("code", "%%step end")]))
    assert g.name == "FlöwÄ" and "stép" in g


def test_a_long_pathspec_is_cut_in_its_error():
    import pytest

    from nbflow.client.pathspec import PathspecError, parse_pathspec

    with pytest.raises(PathspecError) as info:
        parse_pathspec("F/" + "x" * 100_000 + "!")
    assert len(str(info.value)) < 400 and "more characters" in str(info.value)
