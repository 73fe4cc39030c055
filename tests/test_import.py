"""`nbflow import flow.py`: a Metaflow flow file (read with ast, never run) becomes a
notebook of %%flow and %%step cells that nbflow validates and runs; what has no
notebook form is reported, never dropped silently. Comparisons with runs of the real
Metaflow are in tests/test_export_metaflow.py."""
from __future__ import annotations

import json
import textwrap

import nbformat
from helpers import StoreReader, run_id_of, run_nbflow

from nbflow.convert import export_notebook, import_flow
from nbflow.errors import ValidationErrors
from nbflow.graph import build
from nbflow.notebook.parse import parse_cells

TUTORIAL = '''
"""A foreach with decorators, in the style of Metaflow's tutorials."""
import os

from metaflow import FlowSpec, Flow, Parameter, JSONType, current, step, retry, catch, \\
    resources, timeout, kubernetes, card

BASE = 10


class TutorialFlow(FlowSpec):
    """The flow's own docstring."""

    scale = Parameter("scale", help="a factor", default=2)
    config = Parameter("config", type=JSONType,
                       default='{"k": [1, 2]}')

    @card
    @kubernetes(cpu=4)
    @resources(cpu=2, memory=1024, disk=100)
    @step
    def start(self):
        """Fan out."""
        self.items = [1, 2, 3]
        self.next(self.work, foreach="items")

    @retry
    @timeout(hours=1, minutes=1, seconds=1)
    @catch
    @step
    def work(self):
        self.value = self.input * self.scale + BASE
        if self.value > 100:
            print("big")
        self.next(self.gather)

    @step
    def gather(self,
               tasks):
        """Gather the values."""
        self.values = [t.value for t in tasks]
        self.next(self.after)

    @retry(times=0)
    @catch(var="oops")
    @step
    def after(self):
        self.total = sum(self.values) + len(self.config["k"])
        self.next(self.fan)

    @step
    def fan(self):
        self.next(self.each, foreach="values")

    @step
    def each(self):
        self.half = self.input / 2
        self.next(self.quiet)

    @step
    def quiet(self, inputs):
        self.done = current.step_name
        self.next(self.end)

    @step
    def end(self): pass


if __name__ == "__main__":
    TutorialFlow()
'''


def _cells(text: str, filename: str = "tutorial.py") -> list[tuple[str, str]]:
    return import_flow(textwrap.dedent(text), filename).cells


def test_a_flow_file_becomes_flow_and_step_cells():
    cells = _cells(TUTORIAL)
    kinds = [k for k, _ in cells]
    assert kinds == ["markdown"] + ["code"] * 10
    assert cells[0][1] == ("A foreach with decorators, in the style of Metaflow's tutorials.\n\n"
                           "The flow's own docstring.")
    assert cells[1][1] == "%load_ext nbflow"
    assert cells[2][1] == textwrap.dedent('''\
        %%flow TutorialFlow
        import os

        from nbflow import Flow

        BASE = 10


        scale = Parameter("scale", help="a factor", default=2)
        config = Parameter("config", type=JSONType,
                           default='{"k": [1, 2]}')''')
    headers = [src.split("\n")[0] for _, src in cells[3:]]
    assert headers == [
        "%%step start -> work --foreach items --resources cpu=2,memory=1024",
        "%%step work -> gather --retry 3 --retry-delay 120 --timeout 3661 --catch _catch_exception",
        "%%step gather -> after",
        "%%step after -> fan --catch oops",
        "%%step fan -> each --foreach values",
        "%%step each -> quiet",
        "%%step quiet -> end",
        "%%step end",
    ]
    assert cells[-1][1] == "%%step end\npass"


def test_bodies_lose_the_trailing_next_and_keep_their_docstring_and_indentation():
    cells = {src.split("\n")[0].split()[1]: src for _, src in _cells(TUTORIAL)[3:]}
    assert cells["work"].split("\n", 2)[2] == textwrap.dedent('''\
        self.value = self.input * self.scale + BASE
        if self.value > 100:
            print("big")''')
    assert "self.next" not in "".join(cells.values())
    # a join whose argument has another name, and a foreach join that never reads inputs
    assert cells["gather"].split("\n")[1:3] == ['"""Gather the values."""', "tasks = inputs"]
    assert cells["quiet"].split("\n")[1].startswith("inputs  # nbflow:")


def test_decorators_with_no_notebook_form_are_kept_as_comments_and_reported():
    imported = import_flow(TUTORIAL, "tutorial.py")
    start = imported.cells[3][1].split("\n")
    # @card needs no note: a notebook keeps what every step displays (its card)
    assert start[1:3] == [
        "# nbflow import: @kubernetes(cpu=4): a Metaflow decorator with no nbflow form; not applied",
        ("# nbflow import: @resources(cpu=2, memory=1024, disk=100): disk has no nbflow form; "
         "not applied")]
    assert any("tutorial.py, line 22, step 'start': @kubernetes(cpu=4)" in w
               for w in imported.warnings)
    assert any("@catch: without var= the error is kept as self._catch_exception" in w
               for w in imported.warnings)


def test_the_imported_notebook_is_a_valid_flow_with_the_right_joins():
    cells = _cells(TUTORIAL)
    graph = build(parse_cells(cells, path="tutorial.ipynb"))
    assert {n.name for n in graph if n.is_join} == {"gather", "quiet"}
    assert graph["work"].spec.options.retry == 3 and graph["work"].spec.options.timeout == 3661


def test_import_then_run_under_nbflow(tmp_path):
    (tmp_path / "flow.py").write_text(TUTORIAL)
    res = run_nbflow("import", "flow.py", "-o", "flow.ipynb", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "warning: flow.py, line" in res.stderr and "Wrote flow.ipynb" in res.stderr
    res = run_nbflow("run", "flow.ipynb", "--scale", "3", cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    run_id = run_id_of(res.stdout)
    store = StoreReader(tmp_path / ".nbflow")
    end = store.artifacts("TutorialFlow", run_id, "end")
    assert end["done"] == "quiet" and end["scale"] == 3
    after = store.artifacts("TutorialFlow", run_id, "after")
    assert after["values"] == [13, 16, 19] and after["total"] == 48 + 2 and after["oops"] is None


def test_import_never_runs_the_file(tmp_path):
    (tmp_path / "flow.py").write_text(textwrap.dedent('''
        import pathlib
        pathlib.Path("ran.txt").write_text("the flow file ran")
        from metaflow import FlowSpec, step

        class SideFlow(FlowSpec):
            @step
            def start(self):
                self.next(self.end)

            @step
            def end(self):
                pass
    '''))
    res = run_nbflow("import", "flow.py", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert not (tmp_path / "ran.txt").exists()
    nb = nbformat.reads(res.stdout, as_version=4)  # without -o: the notebook on stdout
    nbformat.validate(nb)
    assert nb.cells[1].source.startswith("%%flow SideFlow\nimport pathlib")


NO_NOTEBOOK_FORM = '''
from metaflow import FlowSpec, step

class OddFlow(FlowSpec):
    LIMIT = 3

    def helper(self):
        return 1

    @step
    def start(self):
        self.x = 1
        if self.x > 0:
            self.next(self.a)
        else:
            self.next(self.b)

    @step
    def a(self):
        self.next({"p": self.b, "q": self.end}, condition="choice")

    @step
    def b(self):
        self.y = 2

    @step
    def end(self):
        pass
'''


def test_constructs_with_no_notebook_form_are_errors_with_their_lines(tmp_path):
    (tmp_path / "odd.py").write_text(NO_NOTEBOOK_FORM)
    res = run_nbflow("import", "odd.py", "-o", "odd.ipynb", cwd=tmp_path)
    assert res.returncode == 1
    for expected in [
        "odd.py, line 5: class attribute 'LIMIT' has no notebook form",
        "odd.py, line 7: method 'helper' is not a @step",
        "odd.py, line 14, step 'start': a conditional or early self.next(...) has no notebook form",
        "odd.py, line 20, step 'a': self.next({'p': self.b, 'q': self.end}) has no notebook form",
        "odd.py, line 23, step 'b': it does not end with self.next(...)",
    ]:
        assert expected in res.stderr, res.stderr
    assert not (tmp_path / "odd.ipynb").exists()


def test_files_that_are_not_flows(tmp_path):
    (tmp_path / "plain.py").write_text("x = 1\n")
    (tmp_path / "broken.py").write_text("def f(:\n")
    res = run_nbflow("import", "plain.py", cwd=tmp_path)
    assert res.returncode == 1 and "no class derives from FlowSpec" in res.stderr
    res = run_nbflow("import", "broken.py", cwd=tmp_path)
    assert res.returncode == 1 and "broken.py, line 1: syntax error" in res.stderr
    res = run_nbflow("import", "missing.py", cwd=tmp_path)
    assert res.returncode == 2 and "missing.py" in res.stderr


def test_output_is_never_overwritten_without_force(tmp_path):
    (tmp_path / "flow.py").write_text(TUTORIAL)
    (tmp_path / "nb.ipynb").write_text("{}")
    res = run_nbflow("import", "flow.py", "-o", "nb.ipynb", cwd=tmp_path)
    assert res.returncode == 2 and (tmp_path / "nb.ipynb").read_text() == "{}"
    res = run_nbflow("import", "flow.py", "-o", "nb.ipynb", "--force", cwd=tmp_path)
    assert res.returncode == 0
    assert json.loads((tmp_path / "nb.ipynb").read_text())["nbformat"] == 4
    first = (tmp_path / "nb.ipynb").read_bytes()
    run_nbflow("import", "flow.py", "-o", "nb.ipynb", "--force", cwd=tmp_path)
    assert (tmp_path / "nb.ipynb").read_bytes() == first  # deterministic


def test_export_of_an_import_imports_back_to_the_same_cells(tmp_path):
    first = _cells(TUTORIAL)
    notebook = parse_cells(first, path=str(tmp_path / "tutorial.ipynb"))
    again = import_flow(export_notebook(notebook).text, "flow.py").cells
    flow_cell = next(src for _, src in again if src.startswith("%%flow"))
    assert flow_cell.startswith("%%flow TutorialFlow\nimport os")
    assert [src for _, src in again if src.startswith("%%step")] == \
        [src for _, src in first if src.startswith("%%step")]


def test_errors_raise_one_validation_error_listing_all():
    try:
        import_flow(NO_NOTEBOOK_FORM, "odd.py")
    except ValidationErrors as e:
        assert len(e.errors) == 6  # start has two: a conditional next, and no trailing one
    else:
        raise AssertionError("no error")


def test_flow_decorators_and_extra_main_code_are_reported():
    imported = import_flow(textwrap.dedent('''
        from metaflow import FlowSpec, step, project, trigger

        @project(name="demo")
        @trigger(event="data_ready")
        class DemoFlow(FlowSpec):
            @step
            def start(self):
                self.next(self.end)

            @step
            def end(self):
                pass

        if __name__ == "__main__":
            print("about to run")
            DemoFlow()
    '''), "demo.py")
    flow_cell = imported.cells[1][1]
    assert flow_cell == ("%%flow DemoFlow --project demo\n# nbflow import: "
                         "@trigger(event='data_ready') on the flow has no nbflow form; not applied")
    assert imported.warnings == [
        "demo.py: @trigger(event='data_ready') on the flow has no nbflow form; not applied",
        ("demo.py, line 15: the `if __name__ == \"__main__\":` block is dropped, and it held more "
         "than DemoFlow()")]
