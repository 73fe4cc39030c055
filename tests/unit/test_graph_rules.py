"""Graph construction and validation rules (docs/reference.md section 1 "Validation"):
pure, no process started. `nbflow check` and `nbflow show` are in tests/test_graph.py."""
import pytest

from nbflow.errors import ValidationErrors
from nbflow.graph import FlowGraph, build, validate
from nbflow.notebook.parse import parse_cells


def graph_of(*cells):
    """Cells as in a notebook; 'md:' marks a markdown cell (it still counts for positions)."""
    pairs = [("markdown", c[3:]) if c.startswith("md:") else ("code", c) for c in cells]
    return FlowGraph(parse_cells(pairs, flow_name="TestFlow"))


def errors_of(*cells) -> list[str]:
    return [e.render() for e in validate(graph_of(*cells))]


def only_error(*cells) -> str:
    errors = errors_of(*cells)
    assert len(errors) == 1, errors
    return errors[0]


LINEAR = ["%%step start -> a\nself.x = 1", "%%step a -> end\nself.y = 2", "%%step end"]


def test_valid_linear_flow():
    graph = build(parse_cells([("code", c) for c in LINEAR]))
    assert graph.topological() == ["start", "a", "end"]
    assert [graph[n].type for n in ("start", "a", "end")] == ["start", "linear", "end"]


def test_missing_start_and_end_are_both_reported():
    errors = errors_of("%%step begin -> finish", "%%step finish")
    assert any("the flow has no 'start' step" in e for e in errors)
    assert any("the flow has no 'end' step" in e for e in errors)


def test_unknown_target_suggests_a_name():
    err = only_error("md:# intro", "%%step start -> trian", "%%step train -> end", "%%step end")
    assert err == "cell 2, step 'start': target 'trian' is not a step; did you mean 'train'?"


def test_unknown_target_without_a_close_name():
    err = only_error("%%step start -> zzz", "%%step end")
    assert err.startswith("cell 1, step 'start': target 'zzz' is not a step; add a cell")


def test_cycle():
    err = only_error("%%step start -> a", "%%step a -> b", "%%step b -> a, end", "%%step end")
    assert "the steps form a cycle: a -> b -> a" in err
    assert err.startswith("cell ")


def test_unreachable_step():
    err = only_error(*LINEAR, "%%step orphan -> end")
    assert err == "cell 4, step 'orphan': step 'orphan' cannot be reached from 'start'"


def test_step_without_target():
    err = only_error("%%step start -> a, b", "%%step a -> j", "%%step b", "%%step j -> end",
                     "%%step end")
    assert err.startswith("cell 3, step 'b': step 'b' has no target")


def test_duplicate_step_names_both_cells():
    err = only_error("%%step start -> end", "md:x", "%%step end", "%%step end\nprint(1)")
    assert err == ("cell 4, step 'end': step 'end' is defined twice: in cell 3 and in cell 4; "
                   "rename one")


def test_end_has_no_targets():
    errors = errors_of("%%step start -> a", "%%step a -> end", "%%step end -> a")
    assert "cell 3, step 'end': the end step cannot have targets; write '%%step end'" in errors


def test_end_cannot_be_a_join():
    err = only_error("%%step start -> a, b", "%%step a -> end", "%%step b -> end", "%%step end")
    assert err.startswith("cell 4, step 'end': the end step cannot be a join")


def test_foreach_needs_exactly_one_target():
    err = only_error("%%step start -> a, b --foreach xs\nself.xs = [1]", "%%step a -> j",
                     "%%step b -> j", "%%step j -> end", "%%step end")
    assert err == "cell 1, step 'start': '--foreach xs' needs exactly one target, got 2"


def test_split_straight_into_join():
    err = only_error("%%step start -> j --foreach xs\nself.xs = [1]",
                     "%%step j -> end\nself.n = len(inputs)", "%%step end")
    assert "the split leads straight to join 'j'" in err and err.startswith("cell 1, step 'start'")


def test_unmatched_join_misses_a_branch():
    err = only_error("%%step start -> a, b", "%%step a -> j", "%%step b -> c",
                     "%%step j -> c\nself.v = [i.x for i in inputs]", "%%step c -> end",
                     "%%step end")
    # c has two parents so it is a join too; the first problem found is reported
    assert "step 'j'" in err and "must join exactly the branches of split 'start' (a, b)" in err
    assert "the branch(es) starting at b do not reach it" in err


def test_join_without_a_split():
    err = only_error("%%step start -> j", "%%step j -> end\nx = inputs[0]", "%%step end")
    assert err == ("cell 2, step 'j': step 'j' is a join (it reads `inputs`) but no split is "
                   "open before it")


def test_branches_of_a_split_that_never_meet():
    err = only_error("%%step start -> a, b, c", "%%step a -> j", "%%step b -> j", "%%step c -> end",
                     "%%step j -> end", "%%step end")
    assert err.startswith("cell 6, step 'end': the end step cannot be a join (it has several parents)")


def test_join_of_branches_from_different_splits():
    err = only_error(
        "%%step start -> a, b", "%%step a -> c, d", "%%step b -> e",
        "%%step c -> j1", "%%step d -> j2", "%%step e -> j2",
        "%%step j2 -> j1\nself.v = [i.x for i in inputs]",
        "%%step j1 -> end\nself.v = [i.x for i in inputs]", "%%step end")
    assert err.startswith("cell 7, step 'j2': join 'j2' joins branches of different splits (a, start)")


def test_foreach_never_closed():
    err = only_error("%%step start -> a --foreach xs\nself.xs = [1]", "%%step a -> end",
                     "%%step end")
    assert err.startswith("cell 1, step 'start': the foreach split at step 'start' is never joined "
                          "before 'end'")


def test_self_next_in_a_body_names_the_line():
    err = only_error("%%step start -> end\nx = 1\nself.next(self.end)", "%%step end")
    assert err.startswith("cell 1, line 3, step 'start': self.next(...) is not allowed")


def test_syntax_error_names_cell_and_cell_line():
    err = only_error("md:doc", "%%step start -> end\nx = 1\n\ny = (", "%%step end")
    assert err.startswith("cell 2, line 4, step 'start': syntax error")


def test_syntax_error_in_the_flow_cell():
    err = only_error("%%flow F\nimport os\ndef f(:\n  pass", *LINEAR)
    assert err.startswith("cell 1, line 3: syntax error")


def test_ipython_syntax_is_named():
    err = only_error("%%step start -> end\n!ls -la", "%%step end")
    assert err.startswith("cell 1, line 2, step 'start': IPython syntax '!ls -la'")


def test_every_problem_is_collected():
    errors = errors_of("%%step start -> a --bogus", "%%step a -> b\nself.next(self.b)",
                       "%%step a -> end", "%%step b -> end\nif x:", "%%step end")
    joined = "\n".join(errors)
    assert "cell 1, step 'start': unknown option '--bogus'" in joined
    assert "cell 2, line 2, step 'a': self.next(...)" in joined
    assert "cell 3, step 'a': step 'a' is defined twice: in cell 2 and in cell 3" in joined
    assert "cell 4, line 2, step 'b': syntax error" in joined
    with pytest.raises(ValidationErrors) as info:
        build(graph_of("%%step start -> a --bogus", "%%step end").notebook)
    assert len(info.value.errors) >= 2


def test_foreach_join_found_from_inputs():
    g = build(graph_of("%%step start -> a --foreach xs\nself.xs = [1, 2]",
                       "%%step a -> b\nself.y = 1", "%%step b -> j\nself.z = 2",
                       "%%step j -> end\nself.ys = [i.y for i in inputs]", "%%step end").notebook)
    assert [n for n in g.nodes if g[n].is_join] == ["j"]
    assert g["j"].matching_split == "start"


def test_foreach_join_inferred_as_last_plain_steps():
    g = build(graph_of("%%step start -> a --foreach xs\nself.xs = [1]",
                       "%%step a -> b --foreach ys\nself.ys = [1]", "%%step b -> c",
                       "%%step c -> j1", "%%step j1 -> j2", "%%step j2 -> end",
                       "%%step end").notebook)
    assert [n for n in g.nodes if g[n].is_join] == ["j1", "j2"]
    assert (g["j1"].matching_split, g["j2"].matching_split) == ("a", "start")


def test_foreach_join_inferred_inside_a_static_branch():
    g = build(graph_of("%%step start -> a, b", "%%step a -> f --foreach xs\nself.xs = [1]",
                       "%%step f -> fj", "%%step fj -> j", "%%step b -> j", "%%step j -> end",
                       "%%step end").notebook)
    assert g["fj"].is_join and g["fj"].matching_split == "a"
    assert g["j"].is_join and g["j"].matching_split == "start"


def test_foreach_inside_a_branch_without_room_for_its_join():
    err = only_error("%%step start -> a, b", "%%step a -> f --foreach xs\nself.xs = [1]",
                     "%%step f -> j", "%%step b -> j", "%%step j -> end", "%%step end")
    assert err.startswith("cell 2, step 'a': the foreach split at step 'a' is never joined before 'j'")


def test_several_parents_make_a_join_without_inputs():
    g = build(graph_of("%%step start -> a, b", "%%step a -> j", "%%step b -> j",
                       "%%step j -> end\nprint('joined')", "%%step end").notebook)
    assert g["j"].is_join and g["j"].type == "join"


@pytest.mark.parametrize("name", ["for", "next", "input", "index", "name"])
def test_reserved_step_names(name):
    err = only_error(f"%%step start -> {name}", f"%%step {name} -> end", "%%step end")
    assert err == (f"cell 2, step '{name}': '{name}' is a reserved word and cannot name a step (as in "
                   "Metaflow); choose another name")


@pytest.mark.parametrize("body, message", [
    ("self.x = 1\nyield self.x", "cell 1, line 3, step 'start': 'yield' cannot be used in a step body"),
    ("import asyncio\nawait asyncio.sleep(0)", ("cell 1, line 3, step 'start': syntax error: 'await' "
                                               "outside async function")),
    ("nonlocal q", "cell 1, line 2, step 'start': syntax error: no binding for nonlocal 'q' found"),
])
def test_errors_only_the_compiler_finds(body, message):
    assert only_error(f"%%step start -> end\n{body}", "%%step end").startswith(message)


def test_return_and_nested_yield_are_fine_in_a_step():
    assert errors_of("%%step start -> end\nif True:\n    return\n"
                     "def gen():\n    yield 1\nself.x = list(gen())", "%%step end") == []


def test_flow_cell_compile_error():
    assert only_error("%%flow F\nreturn 3", *LINEAR) == "cell 1, line 2: syntax error: 'return' outside function"
