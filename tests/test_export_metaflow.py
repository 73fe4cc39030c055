"""Export and import against the real `metaflow` package.

Every notebook in notebooks/ (and a few of our own) is exported, the flow.py runs with
real Metaflow in a temporary METAFLOW_HOME and working directory, and the end step's
artifacts are compared with an nbflow run of the same notebook. Both sides are read
with their own client API (`from metaflow import Flow` / `from nbflow import Flow`, the
same reader code) in a subprocess, so neither client's global state leaks into pytest.
Hand-written Metaflow flows go the other way: Metaflow runs them, `nbflow import` turns
them into notebooks, nbflow runs those, and the artifacts must agree.

Unseeded random choices (the playlist's bonus movie) must agree too: every process
of both systems starts with `random` seeded by a sitecustomize module, which seeds a
forked child the same way (CPython reseeds `random` after a fork, and a task runs the
user's code in a child of its first process), so the user code draws the same numbers.
Artifacts that still differ between two nbflow runs (times, ids) are compared by type only. The 1000-way foreach (wide_foreach.ipynb) is not run
under Metaflow: 1000 Metaflow tasks take minutes here; its export is still compiled,
linted and round-tripped through import.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import cloudpickle
import pytest
from helpers import NOTEBOOKS, cli_env, make_notebook, run_id_of, run_nbflow

from nbflow.notebook.parse import read_notebook

pytest.importorskip("metaflow")

TOO_SLOW_FOR_METAFLOW = {"wide_foreach.ipynb"}  # 1000 Metaflow tasks: minutes
# the example notebooks that are flows (a walkthrough notebook with no %%step cell is not)
DISCOVERED = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb") if read_notebook(str(p)).steps)

READER = r'''
import sys, cloudpickle
from {package} import Flow, namespace
namespace(None)
flow, run_id, out = sys.argv[1:4]
run = Flow(flow)[run_id] if run_id != "latest" else Flow(flow).latest_run
task = run["end"].task
values = {{a.id: a.data for a in task if not a.id.startswith("_") and a.id != "name"}}
with open(out, "wb") as f:
    cloudpickle.dump({{"successful": run.successful, "artifacts": values}}, f)
'''


# -- running both sides --------------------------------------------------------------
def seeded(env: dict, cwd: Path) -> dict:
    """`env` with a sitecustomize that seeds `random` in every new interpreter."""
    seed_dir = cwd / "seeded"
    seed_dir.mkdir(exist_ok=True)
    # a forked child reseeds `random` (CPython's at-fork hook): seed it the same way there
    (seed_dir / "sitecustomize.py").write_text(
        "import os, random\nrandom.seed(2024)\n"
        "os.register_at_fork(after_in_child=lambda: random.seed(2024))\n")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(seed_dir), env.get("PYTHONPATH")]))
    return env


def metaflow_env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("METAFLOW_")}
    home.mkdir(exist_ok=True)
    env.update(USERNAME="tester", METAFLOW_HOME=str(home), METAFLOW_DEFAULT_METADATA="local",
               METAFLOW_DEFAULT_DATASTORE="local")
    return seeded(env, home.parent)


def run_metaflow(flow_py: Path, *args, cwd: Path) -> str:
    """`python flow.py run ARGS` with real Metaflow; returns the run id."""
    res = subprocess.run([sys.executable, str(flow_py), "--no-pylint", "run", *args], cwd=cwd,
                         env=metaflow_env(cwd / "mfhome"), capture_output=True, text=True,
                         timeout=600, check=False)
    assert res.returncode == 0, f"Metaflow run failed:\n{res.stdout}\n{res.stderr}"
    return run_id_of(res.stdout + res.stderr)


def read_end(package: str, flow: str, run_id: str, cwd: Path) -> dict:
    """The end task's artifacts through `package`'s client API, in a subprocess."""
    out = cwd / f"end-{package}-{run_id}.pkl"
    env = metaflow_env(cwd / "mfhome") if package == "metaflow" else cli_env()
    res = subprocess.run([sys.executable, "-c", READER.format(package=package), flow, run_id,
                          str(out)], cwd=cwd, env=env, capture_output=True, text=True,
                         timeout=300, check=False)
    assert res.returncode == 0, res.stderr
    with open(out, "rb") as f:
        data = cloudpickle.load(f)
    assert data["successful"], f"{package} run {flow}/{run_id} did not succeed"
    return data["artifacts"]


def nbflow_run(notebook: Path, *args, cwd: Path, fork: bool = False) -> str:
    """`nbflow run`; with fresh interpreters unless `fork` (which reseeds `random`)."""
    spawn = () if fork else ("--no-fork",)
    res = run_nbflow("run", notebook.name, *args, *spawn, cwd=cwd, env=seeded(cli_env(), cwd))
    assert res.returncode == 0, res.stdout + res.stderr
    return run_id_of(res.stdout)


def export(notebook: Path, out: Path, cwd: Path) -> Path:
    res = run_nbflow("export", notebook.name, "-o", out.name, cwd=cwd)
    assert res.returncode == 0, res.stderr
    return out


def import_flow(flow_py: Path, out: Path, cwd: Path) -> Path:
    res = run_nbflow("import", flow_py.name, "-o", out.name, cwd=cwd)
    assert res.returncode == 0, res.stderr
    return out


# -- comparing values ----------------------------------------------------------------
def same(a, b) -> bool:
    """Equal values, for the kinds of artifacts flows hold (arrays, frames, models...)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    module = type(a).__module__
    if module.startswith("numpy"):
        import numpy as np

        return np.array_equal(a, b)
    if module.startswith("pandas"):
        return a.equals(b)
    if hasattr(a, "get_params"):  # a scikit-learn estimator: same settings, same fit
        fitted = {k: v for k, v in vars(a).items() if k.endswith("_") and not k.startswith("_")}
        return same(a.get_params(), b.get_params()) and \
            all(same(v, getattr(b, k, None)) for k, v in fitted.items())
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # e.g. objects whose == returns an array
        return repr(a) == repr(b)


def assert_same_artifacts(expected: dict, got: dict, *, unstable: set[str] = frozenset()):
    assert sorted(got) == sorted(expected)
    for name, value in expected.items():
        if name in unstable:
            assert type(got[name]) is type(value), name
        else:
            assert same(got[name], value), f"artifact {name!r}: {got[name]!r} != {value!r}"


def nbflow_reference(notebook: Path, *args, cwd: Path,
                     fork: bool = False) -> tuple[str, dict, set[str]]:
    """(flow name, end artifacts, names that differ between two runs) of a notebook."""
    flow = read_notebook(str(notebook)).flow_name
    first = read_end("nbflow", flow, nbflow_run(notebook, *args, cwd=cwd, fork=fork), cwd)
    second = read_end("nbflow", flow, nbflow_run(notebook, *args, cwd=cwd, fork=fork), cwd)
    unstable = {k for k in first if k in second and not same(first[k], second[k])}
    return flow, first, unstable


def ruff_clean(path: Path) -> None:
    """py_compile always; ruff's classic rules plus import order, where ruff is installed.
    (Style rules about the user's own code, e.g. %-formatting, are the user's business.)"""
    subprocess.run([sys.executable, "-m", "py_compile", str(path)], check=True)
    ruff = shutil.which("ruff")
    if ruff:
        res = subprocess.run([ruff, "check", "--isolated", "--select", "E4,E7,E9,F,I,W",
                              "--ignore", "F401", str(path)], check=False, capture_output=True, text=True)
        assert res.returncode == 0, res.stdout


# -- our own notebooks -----------------------------------------------------------------
OWN = {
    "shapes.ipynb": [
        "md:# every kind of step",
        "%load_ext nbflow",
        ("%%flow ShapesFlow\nimport math\n\nfrom nbflow import current\n\n"
         "alpha = Parameter('alpha', default=0.5)\n"
         "mapping = Parameter('mapping', type=JSONType, default='{\"a\": [1, 2]}')\n\n\n"
         "def helper(x):\n    return math.floor(x + 1)"),
        ('%%step start -> a, b  # a static split\n"""The start."""\nself.x = helper(1)\n'
         'self.text = """line one\n  line two\n\tline three"""\nself.flow = current.flow_name'),
        "%%step a -> join --retry 2 --retry-delay 30\nself.y = self.x * 10",
        "%%step b -> join --timeout 30 --resources cpu=1,memory=500\nself.y = self.x * 100",
        ('%%step join -> fe\nself.ys = sorted(i.y for i in inputs)\n'
         'self.merge_artifacts(inputs, exclude=["y"])\nself.things = list("abc")'),
        "%%step fe -> inner --foreach things\npass",
        "%%step inner -> body --foreach pair\nself.pair = [self.input, self.input * 2]",
        "%%step body -> ijoin --catch err\nself.up = self.input.upper() * (self.index + 1)",
        ('%%step ijoin -> fjoin\nself.ups = [i.up for i in inputs]\n'
         'self.merge_artifacts(inputs, exclude=["up"])'),
        ('%%step fjoin -> tail\nself.all = [i.ups for i in inputs]\n'
         'self.merge_artifacts(inputs, include=["ys", "x", "flow"])'),
        "%%step tail -> end\nself.n = len(self.all) * self.alpha",
        "%%step end\nself.final = (self.n, self.ys, self.mapping, self.flow)",
    ],
    "inferred_join.ipynb": [
        "%%flow InferredJoinFlow\nfiles = IncludeFile('table', default='table.csv')",
        "%%step start -> square --foreach rows\nself.rows = self.files.splitlines()",
        "%%step square -> collected\nself.sq = int(self.input) ** 2",
        "%%step collected -> end\nself.done = True",
        "%%step end\nself.summary = ('done', self.done, self.files)",
    ],
}


def own_notebook(name: str, cwd: Path) -> Path:
    (cwd / "table.csv").write_text("1\n2\n3\n")
    return make_notebook(cwd / name, OWN[name])


def example_notebook(name: str, cwd: Path) -> Path:
    for item in NOTEBOOKS.iterdir():
        if item.name in ("data",) or item.name == name:
            (shutil.copytree if item.is_dir() else shutil.copy)(item, cwd / item.name)
    return cwd / name


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in DISCOVERED if n not in TOO_SLOW_FOR_METAFLOW]
                         + sorted(OWN))
def test_export_runs_under_metaflow_with_the_same_artifacts(name, workdir):
    notebook = own_notebook(name, workdir) if name in OWN else example_notebook(name, workdir)
    flow, expected, unstable = nbflow_reference(notebook, cwd=workdir)
    flow_py = export(notebook, workdir / "flow.py", workdir)
    ruff_clean(flow_py)
    got = read_end("metaflow", flow, run_metaflow(flow_py, cwd=workdir), workdir)
    assert_same_artifacts(expected, got, unstable=unstable)


@pytest.mark.parametrize("name", DISCOVERED + sorted(OWN))
def test_import_of_export_runs_under_nbflow_with_the_same_artifacts(name, workdir):
    notebook = own_notebook(name, workdir) if name in OWN else example_notebook(name, workdir)
    wide = name in TOO_SLOW_FOR_METAFLOW  # 1000 tasks: forked (no randomness in it)
    args = ("--max-num-splits", "1000") if wide else ()
    flow, expected, unstable = nbflow_reference(notebook, *args, cwd=workdir, fork=wide)
    flow_py = export(notebook, workdir / "flow.py", workdir)
    ruff_clean(flow_py)
    back = import_flow(flow_py, workdir / "back.ipynb", workdir)
    assert read_notebook(str(back)).flow_name == flow
    got = read_end("nbflow", flow, nbflow_run(back, *args, cwd=workdir, fork=wide), workdir)
    assert_same_artifacts(expected, got, unstable=unstable)


def test_parameters_given_on_the_command_line_reach_both(workdir):
    notebook = own_notebook("shapes.ipynb", workdir)
    args = ("--alpha", "2.5", "--mapping", '{"b": 3}')
    flow, expected, unstable = nbflow_reference(notebook, *args, cwd=workdir)
    assert expected["final"][0] == 3 * 2.5 and expected["final"][2] == {"b": 3}
    flow_py = export(notebook, workdir / "flow.py", workdir)
    got = read_end("metaflow", flow, run_metaflow(flow_py, *args, cwd=workdir), workdir)
    assert_same_artifacts(expected, got, unstable=unstable)


# -- hand-written Metaflow flows, in the tutorials' styles ---------------------------------
HAND_WRITTEN = {
    "helloworld.py": '''
        """A flow where Metaflow prints 'Hi'.

        Run this flow to validate that Metaflow is installed correctly.
        """
        from metaflow import FlowSpec, step


        class HelloFlow(FlowSpec):
            """The class docstring."""

            @step
            def start(self):
                """This is the 'start' step."""
                print("HelloFlow is starting.")
                self.next(self.hello)

            @step
            def hello(self):
                """A step for metaflow to introduce itself."""
                self.message = "Metaflow says: Hi!"
                print(self.message)
                self.next(self.end)

            @step
            def end(self): print("HelloFlow is all done.")


        if __name__ == "__main__":
            HelloFlow()
    ''',
    "playlist.py": '''
        from metaflow import FlowSpec, IncludeFile, Parameter, step, current, JSONType


        def script_path(filename):
            import os
            return os.path.join(os.path.dirname(__file__), filename)


        class PlayListFlow(FlowSpec):
            movie_data = IncludeFile("movie_data", help="The path to a movie metadata file.",
                                     default=script_path("movies.csv"))
            genre = Parameter("genre", help="Filter movies for a particular genre.",
                              default="Sci-Fi")
            weights = Parameter("weights", type=JSONType, default='{"Sci-Fi": 2}')

            @step
            def start(self):
                import csv
                self.dataframe = {"movie_title": [], "genres": []}
                for row in csv.DictReader(self.movie_data.splitlines()):
                    self.dataframe["movie_title"].append(row["movie_title"])
                    self.dataframe["genres"].append(row["genres"])
                self.next(self.bonus_movie, self.genre_movies)

            @step
            def bonus_movie(self):
                self.bonus = sorted(t for t, g in zip(self.dataframe["movie_title"],
                                                      self.dataframe["genres"])
                                    if self.genre not in g)[0]
                self.next(self.join)

            @step
            def genre_movies(self):
                self.movies = [t for t, g in zip(self.dataframe["movie_title"],
                                                 self.dataframe["genres"]) if self.genre in g]
                self.next(self.join)

            @step
            def join(self, inputs):
                """Join our parallel branches and merge results."""
                self.playlist = inputs.genre_movies.movies
                self.bonus = inputs.bonus_movie.bonus
                self.weight = self.weights.get(self.genre, 1)
                self.flow = current.flow_name
                self.next(self.end)

            @step
            def end(self):
                for i, movie in enumerate(self.playlist):
                    print("Pick %d: %s" % (i + 1, movie))


        if __name__ == '__main__':
            PlayListFlow()
    ''',
    "foreach_retry.py": '''
        from metaflow import FlowSpec, step, retry, catch, resources, timeout

        SCALE = 10


        class ForeachRetryFlow(FlowSpec):

            @resources(memory=2000, cpu=1)
            @step
            def start(self):
                self.items = [1, 2, 3]
                self.common = "same everywhere"
                self.next(self.work, foreach="items")

            @retry(times=1, minutes_between_retries=0)
            @timeout(minutes=2)
            @step
            def work(self):
                text = """a triple-quoted string
            with an indented line
        and a dedented one"""
                self.text = text
                self.value = self.input * SCALE
                self.next(self.join)

            @step
            def join(
                self, branches
            ):
                self.values = [b.value for b in branches]
                self.merge_artifacts(branches, exclude=["value", "text"])
                self.next(self.split)

            @step
            def split(self):
                self.next(self.left, self.right)

            @catch(var="left_failed")
            @step
            def left(self):
                self.side = "left"
                self.next(self.meet)

            @step
            def right(self):
                self.side = "right"
                self.next(self.meet)

            @step
            def meet(self, inputs):
                self.sides = sorted(i.side for i in inputs)
                self.merge_artifacts(inputs, exclude=["side", "left_failed"])
                self.next(self.fan)

            @step
            def fan(self):
                self.next(self.each, foreach="sides")

            @step
            def each(self):
                self.upper = self.input.upper()
                self.next(self.quiet_join)

            @step
            def quiet_join(self, inputs):
                self.joined = True
                self.next(self.end)

            @step
            def end(self):
                self.result = self.joined


        if __name__ == "__main__":
            ForeachRetryFlow()
    ''',
}


def hand_written(name: str, cwd: Path) -> Path:
    (cwd / "movies.csv").write_text("movie_title,genres\nAlien,Sci-Fi|Horror\nHeat,Crime\n"
                                    "Dune,Sci-Fi\nUp,Animation\n")
    path = cwd / name
    path.write_text(textwrap.dedent(HAND_WRITTEN[name]).lstrip())
    return path


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HAND_WRITTEN))
def test_imported_flow_gives_metaflows_artifacts_under_nbflow(name, workdir):
    flow_py = hand_written(name, workdir)
    notebook = import_flow(flow_py, workdir / "imported.ipynb", workdir)
    flow = read_notebook(str(notebook)).flow_name
    expected = read_end("metaflow", flow, run_metaflow(flow_py, cwd=workdir), workdir)
    got = read_end("nbflow", flow, nbflow_run(notebook, cwd=workdir), workdir)
    assert_same_artifacts(expected, got)
