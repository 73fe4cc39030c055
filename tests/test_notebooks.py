"""The example notebooks in notebooks/: valid, output-free files that run as flows.

Each notebook runs with the real CLI from a temporary copy of notebooks/ (so its
default store, `.nbflow/` beside the notebook, is temporary too), and the end step's
artifacts are compared with values computed here, independently of the flow."""
from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from helpers import NOTEBOOKS, StoreReader, cli_env, run_id_of, run_nbflow

from nbflow.notebook.parse import read_notebook

EXAMPLES = {  # notebook -> flow name; every notebook in notebooks/ must be listed (and tested)
    "hello_world.ipynb": "HelloWorldFlow",
    "counter_branch.ipynb": "CounterBranchFlow",
    "parameters.ipynb": "ParameterFlow",
    "json_parameter.ipynb": "JSONParameterFlow",
    "include_file.ipynb": "PlayListFlow",
    "branch_merge_manual.ipynb": "BranchFlow",
    "branch_merge_artifacts.ipynb": "MergeArtifactsFlow",
    "foreach.ipynb": "MovieStatsFlow",
    "wide_foreach.ipynb": "WideForeachFlow",
    "wine_classifier.ipynb": "WineClassifierFlow",
    "report_cards.ipynb": "ReportCardsFlow",
}
# Walkthroughs drive the `nbflow` CLI from scratch cells (no flow of their own); each has a test.
WALKTHROUGHS = {"resume_walkthrough.ipynb": "tests/test_resume.py"}


class Example:
    """A temporary copy of notebooks/ and a way to run one of them as `nbflow run notebooks/X`."""

    def __init__(self, root: Path):
        self.root = root
        self.dir = root / "notebooks"
        shutil.copytree(NOTEBOOKS, self.dir,
                        ignore=shutil.ignore_patterns(".nbflow", ".ipynb_checkpoints", "__pycache__"))
        self.store = StoreReader(self.dir / ".nbflow")

    def run(self, name: str, *args, env=None, timeout: int = 240):
        """`nbflow run notebooks/<name> ARGS` from the copy's root, as in the README: the working
        directory is not the notebook's. Returns (result, run_id)."""
        res = run_nbflow("run", f"notebooks/{name}", *args, cwd=self.root, env=env, timeout=timeout)
        assert res.returncode == 0, res.stdout + res.stderr
        return res, run_id_of(res.stdout)

    def end(self, name: str, run_id: str) -> dict:
        return self.store.artifacts(EXAMPLES[name], run_id, "end")


@pytest.fixture
def example(workdir) -> Example:
    return Example(workdir)


# -- the files -------------------------------------------------------------------------------

def test_every_notebook_is_listed_and_tested():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted([*EXAMPLES, *WALKTHROUGHS])
    assert (NOTEBOOKS / "data" / "movies.csv").is_file()


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_notebook_is_valid_v4_without_outputs(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=nbformat.NO_CONVERT)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.cells[0].cell_type == "markdown"
    sources = [c.source for c in nb.cells if c.cell_type == "code"]
    assert "%load_ext nbflow" in sources
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (name, cell.source)
    spec = read_notebook(str(NOTEBOOKS / name))
    assert spec.flow_name == EXAMPLES[name]
    for step in spec.steps:
        assert (step.docstring or "").strip(), f"{name}: step '{step.name}' has no docstring"


def test_generator_matches_the_notebooks():
    res = subprocess.run([sys.executable, str(NOTEBOOKS / "_make_notebooks.py"), "--check"],
                         check=False, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr


# -- the runs ------------------------------------------------------------------------------

def test_hello_world(example):
    res, run_id = example.run("hello_world.ipynb")
    assert f"[{run_id}/hello/" in res.stdout and "nbflow says: Hi!" in res.stdout
    assert "HelloWorldFlow is all done." in res.stdout
    # the trailing scratch cell (`self.message`) is not run: it would fail as module code
    assert example.end("hello_world.ipynb", run_id)["message"] == "nbflow says: Hi!"


def test_counter_branch_as_in_the_readme(example):
    res, run_id = example.run("counter_branch.ipynb")
    end = example.end("counter_branch.ipynb", run_id)
    assert end["count"] == 2
    assert end["branch_counts"] == {"add_one": 1, "add_two": 2}
    # the branches changed their own copies: start's artifact is still 0
    assert example.store.artifacts("CounterBranchFlow", run_id, "start")["count"] == 0
    assert "The final count is 2" in res.stdout


def test_parameters_defaults(example):
    _, run_id = example.run("parameters.ipynb")
    end = example.end("parameters.ipynb", run_id)
    assert (end["alpha"], end["who"], end["num_epochs"]) == (0.01, "world", 3)
    assert end["greeting"] == "Hello, world!"
    assert end["schedule"] == [0.01, 0.005, 0.0025]


def test_parameters_on_the_command_line(example):
    _, run_id = example.run("parameters.ipynb", "--alpha", "0.5", "--who", "Ada", "--num-epochs", "4")
    end = example.end("parameters.ipynb", run_id)
    assert type(end["alpha"]) is float and type(end["num_epochs"]) is int
    assert (end["alpha"], end["who"], end["num_epochs"]) == (0.5, "Ada", 4)
    assert end["greeting"] == "Hello, Ada!"
    assert end["schedule"] == [0.5, 0.25, 0.125, 0.0625]


def test_parameters_from_the_environment(example):
    env = cli_env(NBFLOW_RUN_ALPHA="0.25", NBFLOW_RUN_WHO="Grace", NBFLOW_RUN_NUM_EPOCHS="2")
    _, run_id = example.run("parameters.ipynb", "--who", "Ada", env=env)  # the command line wins
    end = example.end("parameters.ipynb", run_id)
    assert (end["alpha"], end["who"], end["num_epochs"]) == (0.25, "Ada", 2)
    assert end["schedule"] == [0.25, 0.125]


def test_json_parameter(example):
    _, run_id = example.run("json_parameter.ipynb")
    end = example.end("json_parameter.ipynb", run_id)
    assert end["gdp"] == {"US": 1939} and end["country_gdp"] == 1939
    mapping = {"US": 1939, "NL": 1009}
    res, run_id = example.run("json_parameter.ipynb", "--gdp", json.dumps(mapping), "--country", "NL")
    end = example.end("json_parameter.ipynb", run_id)
    assert end["gdp"] == mapping and end["country"] == "NL" and end["country_gdp"] == 1009
    assert "The GDP of NL is $1009B" in res.stdout


def _movies(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _check_playlist(end: dict, movies: list[dict], genre: str, recommendations: int) -> None:
    in_genre = [m["movie_title"] for m in movies if genre.lower() in m["genres"].lower()]
    others = {(m["movie_title"], m["genres"]) for m in movies if genre.lower() not in m["genres"].lower()}
    assert sorted(end["playlist"]) == sorted(in_genre)          # shuffled, all of the genre
    assert end["picks"] == end["playlist"][:recommendations]
    assert tuple(end["bonus"]) in others


def test_include_file_default_beside_the_notebook(example):
    """The default CSV is found beside the notebook (`__file__`), from any working directory."""
    _, run_id = example.run("include_file.ipynb")
    end = example.end("include_file.ipynb", run_id)
    csv_path = example.dir / "data" / "movies.csv"
    assert end["movie_data"] == csv_path.read_text(encoding="utf-8")
    assert end["genre"] == "Sci-Fi" and end["recommendations"] == 5
    _check_playlist(end, _movies(csv_path), "Sci-Fi", 5)


def test_include_file_relative_to_the_working_directory(example):
    own = example.root / "my_movies.csv"
    own.write_text("movie_title,title_year,genres,gross\n"
                   "Alien,1979,Horror|Sci-Fi,78900000\nGet Out,2017,Horror|Mystery,176040665\n"
                   "Up,2009,Animation|Comedy,293004164\n", encoding="utf-8")
    _, run_id = example.run("include_file.ipynb", "--movie_data", "my_movies.csv",
                            "--genre", "horror", "--recommendations", "1")
    end = example.end("include_file.ipynb", run_id)
    assert end["movie_data"] == own.read_text(encoding="utf-8")
    _check_playlist(end, _movies(own), "horror", 1)
    assert end["bonus"][0] == "Up" and len(end["picks"]) == 1


def test_branch_merge_manual(example):
    _, run_id = example.run("branch_merge_manual.ipynb")
    end = example.end("branch_merge_manual.ipynb", run_id)
    assert (end["x"], end["total"], end["base"]) == (11, 23, 10)
    # a join starts empty: what it does not assign does not go on
    assert "only_a" in example.store.artifacts("BranchFlow", run_id, "a")
    assert "only_a" not in end


def test_branch_merge_artifacts(example):
    res, run_id = example.run("branch_merge_artifacts.ipynb")
    end = example.end("branch_merge_artifacts.ipynb", run_id)
    assert (end["x"], end["pass_down"], end["common"], end["from_a"]) == (1, "a", 5, 6)
    assert "y" not in end  # excluded
    assert "from_a is 6" in res.stdout


def _genre_stats(movies: list[dict]) -> dict:
    """What 02-statistics computes, written independently."""
    stats = {}
    genres = sorted({g for m in movies for g in m["genres"].split("|")})
    for genre in genres:
        rows = sorted((m for m in movies if genre in m["genres"].split("|")), key=lambda m: int(m["gross"]))
        gross = [int(m["gross"]) for m in rows]
        quartiles = [gross[min(int(len(gross) * cut), len(gross) - 1)] for cut in (0.25, 0.5, 0.75)]
        stats[genre.lower()] = {"quartiles": quartiles, "dataframe": {
            "movie_title": [m["movie_title"] for m in rows],
            "genres": [m["genres"] for m in rows], "gross": gross}}
    return stats


def test_foreach_statistics_per_genre(example):
    _, run_id = example.run("foreach.ipynb")
    movies = _movies(example.dir / "data" / "movies.csv")
    expected = _genre_stats(movies)
    end = example.end("foreach.ipynb", run_id)
    assert end["genre_stats"] == expected
    tasks = example.store.tasks("MovieStatsFlow", run_id, "compute_statistics")
    assert len(tasks) == len(expected)
    # the foreach tasks changed the inherited dataframe in place; start's version is intact
    start = example.store.artifacts("MovieStatsFlow", run_id, "start")
    assert start["dataframe"]["movie_title"] == [m["movie_title"] for m in movies]


def test_wide_foreach_needs_max_num_splits(example):
    res = run_nbflow("run", "notebooks/wide_foreach.ipynb", cwd=example.root)
    assert res.returncode == 1
    assert "--max-num-splits 1000" in res.stdout + res.stderr


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_wide_foreach_1000_splits(example):
    _, run_id = example.run("wide_foreach.ipynb", "--max-num-splits", "1000", timeout=840)
    end = example.end("wide_foreach.ipynb", run_id)
    assert end["squares"] == [i * i for i in range(1000)]
    assert end["total"] == sum(i * i for i in range(1000))
    assert len(example.store.tasks("WideForeachFlow", run_id, "square")) == 1000


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_wine_classifier_keeps_the_better_model(example):
    import numpy as np
    from sklearn.datasets import load_wine
    from sklearn.model_selection import train_test_split
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    _, run_id = example.run("wine_classifier.ipynb", timeout=540)
    end = example.end("wine_classifier.ipynb", run_id)

    X, y = load_wine(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=42, stratify=y)
    expected = {
        "knn": KNeighborsClassifier(n_neighbors=5).fit(X_train, y_train).score(X_test, y_test),
        "svm": make_pipeline(StandardScaler(), SVC()).fit(X_train, y_train).score(X_test, y_test),
    }
    assert end["scores"] == pytest.approx(expected)
    assert all(0.0 <= s <= 1.0 for s in end["scores"].values())
    best = max(expected, key=expected.get)
    assert end["best_model_name"] == best
    assert end["best_accuracy"] == pytest.approx(expected[best])
    # the data merged through the join are the split computed here; the stored model works
    assert np.array_equal(end["X_test"], X_test) and np.array_equal(end["y_train"], y_train)
    assert end["best_model"].score(X_test, y_test) == pytest.approx(expected[best])
    assert not {"model", "model_name", "accuracy"} & set(end)


def test_report_cards_keeps_what_each_step_displays(example):
    res, run_id = example.run("report_cards.ipynb")
    assert "total 565" in res.stdout
    from nbflow import client

    client.set_datastore(str(example.dir / ".nbflow"))
    run = client.Run(f"ReportCardsFlow/{run_id}")
    assert [next(m for m in b if m != "text/plain") for b in run["start"].task.card] == ["text/html"]
    assert [list(b) for b in run["plot"].task.card] == [["image/png", "text/plain"]]
    report = run["end"].task.card
    assert report[0]["text/markdown"] == "## Sales report\n565 units; best month **Mar**"
    assert "<th>units</th>" in report[1]["text/html"]
    page = run_nbflow("card", "notebooks/report_cards.ipynb", f"{run_id}/plot", cwd=example.root)
    assert page.returncode == 0 and 'src="data:image/png;base64,' in page.stdout
