"""Pathspecs as the client and every command read them (nbflow/client/pathspec.py): pure."""
import pytest

from nbflow.client.pathspec import PathspecError, _nearby, parse_pathspec


@pytest.mark.parametrize("text, parts", [
    ("Flow", ["Flow"]),
    ("Flow/17/start/3", ["Flow", "17", "start", "3"]),
    ("  Flow/17/start/3/  ", ["Flow", "17", "start", "3"]),
    ("FlöwÄ/run-1_a/stép/3/x", ["FlöwÄ", "run-1_a", "stép", "3", "x"]),
])
def test_parts_of_a_pathspec(text, parts):
    assert parse_pathspec(text) == parts


@pytest.mark.parametrize("text, message", [
    ("", "a pathspec must be a non-empty string"),
    (None, "a pathspec must be a non-empty string"),
    ("Flow/../start", "'..' is not a valid run name"),
    ("Flow/1/for/2", "'for' is not a valid step name (a Python identifier)"),
    ("Flow/1//2", "'' is not a valid step name"),
    ("Flow/1/s/2/x/y", "at most Flow/run_id/step/task_id/artifact"),
])
def test_malformed_pathspecs_say_which_part(text, message):
    with pytest.raises(PathspecError, match="pathspec") as e:
        parse_pathspec(text)
    assert message in str(e.value)


def test_a_depth_names_the_shape_it_wants():
    with pytest.raises(PathspecError, match="expected flow/run_id/step/task_id"):
        parse_pathspec("Flow/1/start", depth=4)


def test_a_long_input_is_cut_in_the_message():
    with pytest.raises(PathspecError) as e:
        parse_pathspec("F/" + "x" * 10_000 + "!")
    assert len(str(e.value)) < 400 and "more characters" in str(e.value)


def test_not_found_suggests_the_nearest_name():
    assert _nearby("strat", ["start", "end"], "step", "run F/1") == \
        "no step 'strat' in run F/1 (did you mean 'start'?); steps there: start, end"
    assert _nearby("x", [], "run", "flow 'F'").endswith("runs there: none")
