"""The one header grammar and reading notebooks (nbflow/parse.py)."""
import json

import nbformat
import pytest
from helpers import make_notebook

from nbflow.errors import NotebookError
from nbflow.notebook.parse import cell_kind, flow_name_from_path, parse_cells, parse_header, read_notebook


def code(*sources):
    return [("code", s) for s in sources]


@pytest.mark.parametrize("line, name, targets", [
    ("%%step end", "end", ()),
    ("%%step start -> a", "start", ("a",)),
    ("%%step start->a,b", "start", ("a", "b")),
    ("%%step start ->  a ,  b , c   # a comment, with -> arrows", "start", ("a", "b", "c")),
    ("%%step\tstart -> a", "start", ("a",)),
])
def test_header_names_and_targets(line, name, targets):
    h = parse_header(line, cell=3)
    assert (h.kind, h.name, h.targets) == ("step", name, targets)


def test_header_options():
    o = parse_header("%%step s -> t --foreach items --retry 2 --retry-delay=0.5 --timeout 30 "
                     "--resources cpu=2, memory=4096 # note").options
    assert (o.foreach, o.retry, o.retry_delay, o.timeout) == ("items", 2, 0.5, 30)
    assert o.resources_dict() == {"cpu": 2, "memory": 4096}
    assert parse_header("%%step s -> t --catch=err").options.catch == "err"


def test_flow_header():
    assert parse_header("%%flow MyFlow  # x").name == "MyFlow"
    assert parse_header("%%flow").name is None


@pytest.mark.parametrize("line, expected", [
    ("%%step", "the step has no name"),
    ("%%step -> a", "the step has no name"),
    ("%%step 1start -> a", "'1start' is not a valid step name"),
    ("%%step start -> ", "'->' is followed by no target"),
    ("%%step start -> a,", "'' is not a valid target step name"),
    ("%%step start -> a-b", "'a-b' is not a valid target step name"),
    ("%%step start -> a, a", "target 'a' is listed twice"),
    ("%%step start -> a --forech xs", ("unknown option '--forech'; known options: --foreach, --retry, "
                                      "--retry-delay, --timeout, --catch, --resources")),
    ("%%step start -> a --retry", "option '--retry' needs a value"),
    ("%%step start -> a --retry two", "option '--retry' needs a whole number, got 'two'"),
    ("%%step start -> a --retry -1", "option '--retry' must be >= 0"),
    ("%%step start -> a --timeout 0", "option '--timeout' must be > 0"),
    ("%%step start -> a --foreach 1x", "option '--foreach' needs an artifact name"),
    ("%%step start -> a --retry 1 --retry 2", "option '--retry' is given twice"),
    ("%%step start -> a --resources disk=3", "option '--resources' takes cpu=N,memory=N,gpu=N"),
    ("%%flow my-flow", "the flow name must be a Python identifier"),
])
def test_malformed_headers_name_the_cell(line, expected):
    with pytest.raises(NotebookError) as info:
        parse_header(line, cell=7)
    assert info.value.cell == 7
    assert expected in info.value.message
    assert info.value.render().startswith("cell 7")


def test_cell_kind_scratch_cells():
    assert cell_kind("%%step start -> end") == "step"
    assert cell_kind("\n\n  %%flow F\nx = 1") == "flow"
    assert cell_kind("%%stepper x") is None
    assert cell_kind("x = 1\n%%step start") is None
    assert cell_kind("%load_ext nbflow") is None
    assert cell_kind("") is None
    assert cell_kind("%%flow\r\nimport os\r\n") == "flow"   # saved with Windows line ends


def test_windows_line_ends():
    nb = parse_cells(code("%%flow\r\nK = 1\r\n", "%%step start -> end  \r\nself.x = K\r\n",
                          "%%step end\r\n"), flow_name="F")
    assert [(s.name, s.targets) for s in nb.steps] == [("start", ("end",)), ("end", ())]
    assert nb.flow_cell is not None and not nb.errors


def test_parse_cells_positions_count_markdown_and_ignore_scratch():
    nb = parse_cells([
        ("markdown", "%%step not_a_step -> end"),
        ("code", "%load_ext nbflow"),
        ("code", "%%flow Demo\nimport math"),
        ("code", "x = 1  # scratch"),
        ("raw", "%%step raw -> end"),
        ("code", '\n%%step start -> end\n"""Doc line."""\nself.a = 1'),
        ("code", "%%step end"),
    ])
    assert nb.flow_name == "Demo"
    assert [(s.name, s.cell) for s in nb.steps] == [("start", 6), ("end", 7)]
    start = nb.step("start")
    assert start.docstring == "Doc line."
    assert start.body == '"""Doc line."""\nself.a = 1'
    assert start.body_line == 3  # the leading blank line counts: tracebacks use cell lines
    assert nb.step("end").body == ""  # an empty body is accepted
    assert nb.flow_cell.code == "import math" and nb.flow_cell.cell == 3


def test_parse_cells_collects_every_header_error():
    nb = parse_cells(code("%%step start -> a --bogus 1", "%%flow A", "%%flow B", "%%step -> x",
                          "%%step end"))
    rendered = [e.render() for e in nb.errors]
    assert rendered[0].startswith("cell 1, step 'start': unknown option '--bogus'")
    assert rendered[1].startswith("cell 3: a notebook has at most one %%flow cell; cell 2")
    assert rendered[2].startswith("cell 4: the step has no name")
    assert [s.name for s in nb.steps] == ["end"]


@pytest.mark.parametrize("filename, flow", [
    ("wine_classifier.ipynb", "WineClassifierFlow"),
    ("my-notebook.v2.ipynb", "MyNotebookV2Flow"),
    ("2024 report.ipynb", "Nb2024ReportFlow"),
    ("TrainFlow.ipynb", "TrainFlow"),
])
def test_flow_name_from_file(filename, flow):
    assert flow_name_from_path(filename) == flow


def test_read_notebook_from_disk(tmp_path):
    path = make_notebook(tmp_path / "wine_classifier.ipynb", [
        "md:# Title", "%%step start -> end\nself.x = 1", "%%step end"])
    nb = read_notebook(str(path))
    assert nb.flow_name == "WineClassifierFlow"
    assert nb.path == str(path)
    assert [(s.name, s.cell) for s in nb.steps] == [("start", 2), ("end", 3)]


def test_read_notebook_v3_format(tmp_path):
    v4 = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("%%step start -> end"),
                                         nbformat.v4.new_code_cell("%%step end")])
    v3 = nbformat.convert(v4, 3)
    path = tmp_path / "old.ipynb"
    path.write_text(nbformat.writes(v3, version=3))
    nb = read_notebook(str(path))
    assert [s.name for s in nb.steps] == ["start", "end"]


def test_read_notebook_errors(tmp_path):
    with pytest.raises(NotebookError, match="does not exist"):
        read_notebook(str(tmp_path / "missing.ipynb"))
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{not json")
    with pytest.raises(NotebookError, match="is not a readable notebook"):
        read_notebook(str(bad))
    odd = tmp_path / "odd.ipynb"
    odd.write_text(json.dumps({"nbformat": 4, "cells": "nope"}))
    with pytest.raises(NotebookError, match="is not a readable notebook"):
        read_notebook(str(odd))


def test_notebook_spec_round_trips_through_dict():
    from nbflow.notebook.spec import NotebookSpec

    nb = parse_cells(code("%%flow F\nx = 1", "%%step start -> a --foreach xs --retry 1 "
                          "--resources cpu=2", "%%step a -> j", "%%step j -> end", "%%step end"))
    assert NotebookSpec.from_dict(json.loads(json.dumps(nb.to_dict()))).to_dict() == nb.to_dict()
