"""`nbflow import` of what Metaflow users write: `from metaflow import X` anywhere
(rewritten to nbflow's names, or an error naming the line), annotated parameters,
comments between methods; and nbflow's Metaflow-named client functions."""
from __future__ import annotations

import textwrap

import pytest
from helpers import StoreReader, make_notebook, run_id_of, run_nbflow

from nbflow.convert import import_flow
from nbflow.errors import ValidationErrors

FLOW = '''
import metaflow
from metaflow import FlowSpec, step, Parameter, retry, get_metadata as gm


class AnnotatedFlow(FlowSpec):
    # how strong the effect is
    alpha: float = Parameter("alpha", default=0.5)
    # a list of words
    words: str = Parameter("words", default="a,b")

    # The first step.
    # It reads the client.
    @retry(times=1)
    @step
    def start(self):
        from metaflow import (Flow,
                              namespace, current)
        import metaflow as mf
        self.names = [Flow.__module__, namespace.__module__, type(current).__module__,
                      mf.__name__, metaflow.__name__, gm.__module__]
        self.next(self.end)

    # the end
    @step
    def end(self):
        if self.alpha:
            from metaflow import get_metadata
        self.meta = get_metadata()
'''


def cells_of(text: str) -> dict[str, str]:
    cells = import_flow(textwrap.dedent(text), "flow.py").cells
    return {src.split("\n")[0]: src for kind, src in cells if kind == "code"}


def test_imports_anywhere_become_nbflow_names_on_the_same_lines():
    cells = cells_of(FLOW)
    flow_cell = cells["%%flow AnnotatedFlow"]
    assert flow_cell == textwrap.dedent('''\
        %%flow AnnotatedFlow
        import nbflow as metaflow
        from nbflow import get_metadata as gm


        # how strong the effect is
        alpha: float = Parameter("alpha", default=0.5)
        # a list of words
        words: str = Parameter("words", default="a,b")''')
    start = cells["%%step start -> end --retry 1 --retry-delay 120"].split("\n")
    assert start[1:5] == ["# The first step.", "# It reads the client.",
                          "from nbflow import Flow, namespace, current", ""]
    assert start[5] == "import nbflow as mf"
    end = cells["%%step end"].split("\n")
    assert end[1:4] == ["# the end", "if self.alpha:", "    from nbflow import get_metadata"]


def test_an_imported_notebook_with_nested_imports_runs(workdir):
    (workdir / "flow.py").write_text(textwrap.dedent(FLOW))
    res = run_nbflow("import", "flow.py", "-o", "flow.ipynb", cwd=workdir)
    assert res.returncode == 0, res.stderr
    res = run_nbflow("run", "flow.ipynb", "--alpha", "2", cwd=workdir)
    assert res.returncode == 0, res.stdout + res.stderr
    store = StoreReader(workdir / ".nbflow")
    run_id = run_id_of(res.stdout)
    start = store.artifacts("AnnotatedFlow", run_id, "start")
    assert start["alpha"] == 2.0 and start["words"] == "a,b"
    assert all(n.startswith("nbflow") for n in start["names"]), start["names"]
    end = store.artifacts("AnnotatedFlow", run_id, "end")
    assert end["meta"] == f"local@{workdir / '.nbflow'}"


@pytest.mark.parametrize("code, message", [
    ("from metaflow import S3", "line 4: `from metaflow import S3`: nbflow stores artifacts "
     "through fsspec"),
    ("from metaflow import FlowSpec, step, Config", "line 4: `from metaflow import Config`: use "
     "a Parameter"),
    ("from metaflow import wizardry", "line 4: `from metaflow import wizardry`: it has no nbflow "
     "equivalent (nbflow offers DataArtifact, Flow,"),
    ("from metaflow.plugins import x", "line 4: `from metaflow.plugins import ...`: nbflow "
     "has no metaflow.plugins module"),
    ("import metaflow.plugins", "line 4: `import metaflow.plugins`: nbflow has no "
     "metaflow.plugins module"),
])
def test_names_without_an_equivalent_are_errors_naming_the_line(code, message):
    text = "\n".join(["", "from metaflow import FlowSpec, step", "", code, "",
                      "class F(FlowSpec):", "    @step", "    def start(self):",
                      "        self.next(self.end)", "    @step", "    def end(self):",
                      "        pass"])
    with pytest.raises(ValidationErrors) as info:
        import_flow(text, "flow.py")
    assert message in str(info.value)


def test_a_nested_unknown_name_is_an_error_naming_its_line():
    text = textwrap.dedent('''
        from metaflow import FlowSpec, step
        class F(FlowSpec):
            @step
            def start(self):
                from metaflow import S3
                self.next(self.end)
            @step
            def end(self):
                pass
    ''')
    with pytest.raises(ValidationErrors, match="flow.py, line 6: `from metaflow import S3`"):
        import_flow(text, "flow.py")


def test_metadata_and_root_object_as_in_metaflow(workdir, monkeypatch):
    import nbflow
    from nbflow import Metaflow, default_metadata, get_metadata, metadata

    nb = make_notebook(workdir / "tiny.ipynb", ["%%step start -> end\nself.x = 1", "%%step end"])
    assert run_nbflow("run", nb, cwd=workdir).returncode == 0
    assert get_metadata() == f"local@{workdir / '.nbflow'}"
    assert [f.id for f in Metaflow().flows] == ["TinyFlow"]
    other = workdir / "elsewhere" / ".nbflow"
    assert metadata(f"local@{other}") == f"local@{other}"
    assert Metaflow().flows == []
    assert metadata(str(workdir / ".nbflow")) == f"local@{workdir / '.nbflow'}"
    assert default_metadata() == f"local@{workdir / '.nbflow'}"
    assert callable(nbflow.metadata)   # the function, not a module of that name
