"""`nbflow export`: the flow.py it writes (read back with ast, compiled, linted), what it
refuses to export (errors naming cell and line), and the command's file handling.
Running the exports under real Metaflow is tests/test_export_metaflow.py."""
from __future__ import annotations

import ast
import shutil
import subprocess
import sys

import pytest
from helpers import make_notebook, run_nbflow

from nbflow.convert import export_notebook
from nbflow.errors import ValidationErrors
from nbflow.notebook.parse import read_notebook

TEXT = '"""first line\n    indented line\n\ttabbed line\nlast line"""'

LAYOUT = [
    "md:# A flow",
    "%load_ext nbflow",
    "scratch = 1  # a scratch cell: never exported",
    ("%%flow LayoutFlow\nimport json\n\nfrom nbflow import current\n\n"
     "ratio = Parameter('ratio', help='between 0 and 1', default=0.5)\n"
     "table = IncludeFile('csv', help='CSV file', is_text=True,\n"
     "                    default='t.csv')\n\n\n"
     "def helper(x):\n    return json.dumps(x)"),
    ('%%step start -> left, right  # a split\n"""The start.\n\n    More text."""\n'
     f"self.text = {TEXT}\nself.items = [1, 2]"),
    "%%step left -> join --retry 2 --retry-delay 90 --timeout 2.5\nself.v = 1",
    "%%step right -> join --catch failed --resources cpu=2,memory=512,gpu=1\nself.v = 2",
    "%%step join -> fan\nself.vs = [i.v for i in inputs]\nself.items = inputs.left.items",
    "%%step fan -> each --foreach items\n",
    "%%step each -> collect\nself.sq = self.input ** 2",
    "%%step collect -> end\nself.done = current.step_name",
    "%%step end",
]


def _export(tmp_path, cells, name="nb.ipynb") -> str:
    return export_notebook(read_notebook(str(make_notebook(tmp_path / name, cells)))).text


def _methods(text: str) -> dict[str, ast.FunctionDef]:
    cls = next(n for n in ast.parse(text).body if isinstance(n, ast.ClassDef))
    return {n.name: n for n in cls.body if isinstance(n, ast.FunctionDef)}


def test_layout_of_the_exported_flow(tmp_path):
    text = _export(tmp_path, LAYOUT)
    tree = ast.parse(text)
    imports = [n for n in tree.body if isinstance(n, ast.ImportFrom)]
    assert [a.name for a in imports[0].names] == [
        "FlowSpec", "IncludeFile", "Parameter", "catch", "current", "resources", "retry", "step",
        "timeout"]
    code = "\n".join(ln for ln in text.split("\n") if not ln.startswith("#"))
    assert "nbflow" not in code and "scratch" not in code
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef))
    assert cls.name == "LayoutFlow" and [ast.unparse(b) for b in cls.bases] == ["FlowSpec"]
    params = [n.targets[0].id for n in cls.body if isinstance(n, ast.Assign)]
    assert params == ["ratio", "table"]
    assert "def helper(x):" in text.split("class LayoutFlow")[0]  # module code stays at the top
    methods = _methods(text)
    assert list(methods) == ["start", "left", "right", "join", "fan", "each", "collect", "end"]
    assert ast.get_docstring(methods["start"], clean=False) == "The start.\n\n    More text."
    args = {name: [a.arg for a in m.args.args] for name, m in methods.items()}
    assert args["join"] == args["collect"] == ["self", "inputs"]  # a static join, a foreach join
    assert args["start"] == args["each"] == args["end"] == ["self"]
    tails = {name: ast.unparse(m.body[-1]) for name, m in methods.items()}
    assert tails["start"] == "self.next(self.left, self.right)"
    assert tails["fan"] == "self.next(self.each, foreach='items')"
    assert tails["end"] == "pass"
    decorators = {name: [ast.unparse(d) for d in m.decorator_list] for name, m in methods.items()}
    assert decorators["left"] == ["retry(times=2, minutes_between_retries=2)",
                                  "timeout(seconds=3)", "step"]
    assert decorators["right"] == ["catch(var='failed')", "resources(cpu=2, memory=512, gpu=1)",
                                   "step"]
    assert text.endswith('\n\nif __name__ == "__main__":\n    LayoutFlow()\n')


def test_a_multi_line_string_keeps_its_value_when_the_body_is_indented(tmp_path):
    methods = _methods(_export(tmp_path, LAYOUT))
    assign = next(s for s in methods["start"].body if isinstance(s, ast.Assign))
    assert assign.value.value == ast.literal_eval(TEXT)


def test_export_is_deterministic_and_lint_clean(tmp_path):
    nb = make_notebook(tmp_path / "nb.ipynb", LAYOUT)
    first = run_nbflow("export", nb, cwd=tmp_path)
    second = run_nbflow("export", nb, "-o", "flow.py", cwd=tmp_path)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert first.stdout.encode() == (tmp_path / "flow.py").read_bytes()
    third = run_nbflow("export", nb, "-o", "again.py", cwd=tmp_path)
    assert third.returncode == 0
    assert (tmp_path / "again.py").read_bytes() == (tmp_path / "flow.py").read_bytes()
    subprocess.run([sys.executable, "-m", "py_compile", str(tmp_path / "flow.py")], check=True)
    if shutil.which("ruff"):
        res = subprocess.run(["ruff", "check", "--isolated", "--select", "E4,E7,E9,F,I,W",
                              str(tmp_path / "flow.py")], check=False, capture_output=True, text=True)
        assert res.returncode == 0, res.stdout


def test_rounding_for_metaflow_is_reported(tmp_path):
    nb = make_notebook(tmp_path / "nb.ipynb", LAYOUT)
    res = run_nbflow("export", nb, cwd=tmp_path)
    assert "cell 6, step 'left': --retry-delay 90 is rounded up to 2 minute(s)" in res.stderr
    assert "--timeout 2.5 is rounded up to 3 s" in res.stderr


def test_output_is_never_overwritten_without_force(tmp_path):
    nb = make_notebook(tmp_path / "nb.ipynb", LAYOUT)
    (tmp_path / "flow.py").write_text("mine\n")
    res = run_nbflow("export", nb, "-o", "flow.py", cwd=tmp_path)
    assert res.returncode == 2 and "--force" in res.stderr
    assert (tmp_path / "flow.py").read_text() == "mine\n"
    res = run_nbflow("export", nb, "-o", "flow.py", "--force", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "class LayoutFlow(FlowSpec):" in (tmp_path / "flow.py").read_text()


def test_missing_notebook_is_bad_usage(tmp_path):
    res = run_nbflow("export", "nope.ipynb", cwd=tmp_path)
    assert res.returncode == 2 and "nope.ipynb" in res.stderr


UNEXPORTABLE = [
    ("%%flow BadFlow\nalpha = Parameter('alpha', default=1)\nindex = Parameter('idx', default=2)\n"
     "tag = Parameter('tag', default='x')\nDOUBLE = alpha * 2"),
    "%%step start -> Train\nself.x = 1\n%time y = 2",
    "%%step Train -> script_name --retry 5\nself.y = 2\n!ls",
    "%%step script_name -> end\nif current.is_interactive:\n    self.z = 1\nself.name = 'x'",
    "%%step end\nif self.y:\n    return\nself.w = alpha",
]


def test_magics_and_shell_lines_are_errors_naming_cell_and_line(tmp_path):
    nb = make_notebook(tmp_path / "bad.ipynb", UNEXPORTABLE)
    res = run_nbflow("export", nb, "-o", "flow.py", cwd=tmp_path)
    assert res.returncode == 1
    assert "cell 2, line 3, step 'start': IPython syntax '%time y = 2'" in res.stderr
    assert "cell 3, line 3, step 'Train': IPython syntax '!ls'" in res.stderr
    assert not (tmp_path / "flow.py").exists()


def test_what_metaflow_cannot_run_is_an_error_naming_cell_and_line(tmp_path):
    cells = [c.replace("\n%time y = 2", "").replace("\n!ls", "") for c in UNEXPORTABLE]
    with pytest.raises(ValidationErrors) as info:
        export_notebook(read_notebook(str(make_notebook(tmp_path / "bad.ipynb", cells))))
    text = info.value.render()
    for expected in [
        "cell 1, line 3: parameter variable 'index' would shadow FlowSpec.index",
        "cell 1, line 4: Metaflow reserves the parameter name 'tag'",
        "cell 1, line 5: 'alpha' is a parameter: read its value as self.alpha",
        "cell 3, step 'Train': Metaflow step names may hold only lower-case letters",
        "cell 3, step 'Train': '--retry 5': Metaflow allows at most @retry(times=4)",
        "cell 4, step 'script_name': a step named 'script_name' would shadow FlowSpec.script_name",
        "cell 4, line 2, step 'script_name': current.is_interactive exists only in nbflow",
        "cell 4, line 4, step 'script_name': self.name would shadow FlowSpec.name",
        "cell 5, line 3, step 'end': 'return' would skip the self.next(...)",
        "cell 5, line 4, step 'end': 'alpha' is a parameter: read its value as self.alpha",
    ]:
        assert expected in text, text


def test_an_invalid_graph_is_not_exported(tmp_path):
    nb = make_notebook(tmp_path / "nb.ipynb", ["%%step start -> ned\npass", "%%step end"])
    res = run_nbflow("export", nb, cwd=tmp_path)
    assert res.returncode == 1 and "did you mean 'end'?" in res.stderr and not res.stdout


def test_dunder_file_is_noted(tmp_path):
    nb = make_notebook(tmp_path / "nb.ipynb", [
        "%%flow F\nimport os\nHERE = os.path.dirname(__file__)", "%%step start -> end", "%%step end"])
    res = run_nbflow("export", nb, cwd=tmp_path)
    assert res.returncode == 0
    assert "cell 1, line 3: __file__ is the notebook's path in nbflow" in res.stderr


def test_future_imports_go_first(tmp_path):
    text = _export(tmp_path, ["%%flow F\nfrom __future__ import annotations\nimport os",
                              "%%step start -> end\nself.cwd = os.getcwd()", "%%step end"])
    code = [ln for ln in text.split("\n") if ln and not ln.startswith("#")]
    assert code[:3] == ["from __future__ import annotations", "import os",
                        "from metaflow import FlowSpec, step"]
    compile(text, "flow.py", "exec")



def test_a_return_inside_a_helper_defined_in_a_step_is_fine(tmp_path):
    """Only a return of the step body itself skips the appended self.next(...)."""
    text = _export(tmp_path, [
        "%%step start -> end\ndef twice(x):\n    return 2 * x\n"
        "class Box:\n    def get(self):\n        return 1\n"
        "self.y = twice(Box().get())\nself.f = sorted([3, 1], key=lambda v: -v)",
        "%%step end"])
    compile(text, "flow.py", "exec")
    cells = ["%%step start -> end\ndef twice(x):\n    return 2 * x\nif x:\n    return\n",
             "%%step end"]
    with pytest.raises(ValidationErrors) as info:
        export_notebook(read_notebook(str(make_notebook(tmp_path / "bad.ipynb", cells))))
    assert "cell 1, line 5, step 'start': 'return' would skip" in info.value.render()
