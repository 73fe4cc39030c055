"""Writes the example notebooks in this folder (nbformat v4, python3 kernel, no outputs).

    python notebooks/_make_notebooks.py           # (re)write every notebook
    python notebooks/_make_notebooks.py --check   # exit 1 if a notebook differs from this script

Each notebook is the notebook form of a Metaflow tutorial or documentation flow: a markdown
cell explaining it, `%load_ext nbflow`, an optional `%%flow Name` cell, one `%%step` cell per
step, and scratch cells (no `%%step`/`%%flow`) that a flow run ignores. Cell ids are stable,
so regenerating an unchanged notebook changes no byte.
"""
from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
LOAD = "%load_ext nbflow"


def md(text: str) -> tuple[str, str]:
    return ("markdown", text)


def code(text: str) -> tuple[str, str]:
    return ("code", text)


def _clean(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


HELLO_WORLD = [
    md("""
    # Hello, world

    The notebook form of Metaflow's first tutorial (`00-helloworld`): three steps in a line,
    `start -> hello -> end`. Each `%%step` cell is one step; its header names the next step.

    This notebook has no `%%flow` cell, so the flow's name comes from the file name:
    `HelloWorldFlow`. Run it as a flow from a shell:

        nbflow run notebooks/hello_world.ipynb

    or run the step cells one by one in the notebook.
    """),
    code(LOAD),
    code('''
    %%step start -> hello
    """This is the 'start' step. All flows must have a step named 'start' that
    is the first step in the flow."""
    print("HelloWorldFlow is starting.")
    '''),
    code('''
    %%step hello -> end
    """A step for nbflow to introduce itself."""
    self.message = "nbflow says: Hi!"
    print(self.message)
    '''),
    code('''
    %%step end
    """This is the 'end' step. All flows must have an 'end' step, which is the
    last step in the flow."""
    print("HelloWorldFlow is all done.")
    '''),
    md("""
    A scratch cell: no `%%step` header, so a flow run never runs it. After running the
    step cells above in the notebook, `self` shows the last task's artifacts.
    """),
    code("self.message"),
]

COUNTER_BRANCH = [
    md("""
    # A counter along a static branch

    The counter from Metaflow's *Creating Flows* guide: `start` sets `self.count = 0`, two
    branches run in parallel and each increments its own copy, and the join step sees both
    copies through `inputs` (by position, or by step name: `inputs.add_one.count`).

    A join starts with no artifacts of its own (Metaflow's rule): the join below decides what
    `count` is after the merge, the larger of the two.

        nbflow run notebooks/counter_branch.ipynb
    """),
    code(LOAD),
    code("%%flow CounterBranchFlow"),
    code('''
    %%step start -> add_one, add_two
    """Start counting from zero, then branch."""
    self.count = 0
    '''),
    code('''
    %%step add_one -> join
    """One branch adds one."""
    self.count += 1
    print("add_one: count is", self.count)
    '''),
    code('''
    %%step add_two -> join
    """The other branch adds two."""
    self.count += 2
    print("add_two: count is", self.count)
    '''),
    code('''
    %%step join -> end
    """Merge the branches: keep each branch's count and take the larger."""
    self.branch_counts = {"add_one": inputs.add_one.count, "add_two": inputs.add_two.count}
    self.count = max(inp.count for inp in inputs)
    print("counts from the branches:", self.branch_counts)
    '''),
    code('''
    %%step end
    """Print the merged count."""
    print("The final count is", self.count)
    '''),
    md("Scratch: after running the cells above, look at the merged count."),
    code("self.count, self.branch_counts"),
]

PARAMETERS = [
    md("""
    # Parameters

    Metaflow's `ParameterFlow`: a string, an integer and a float parameter with defaults.
    A top-level name in the `%%flow` cell bound to a `Parameter` is readable as
    `self.<name>` in every step; the command-line option is the parameter's first argument.

        nbflow run notebooks/parameters.ipynb --alpha 0.5 --who Ada --num-epochs 4
        NBFLOW_RUN_ALPHA=0.5 NBFLOW_RUN_NUM_EPOCHS=2 nbflow run notebooks/parameters.ipynb

    The type comes from the default (`0.01` -> float, `3` -> int, `"world"` -> str). Values
    come from the command line, then `NBFLOW_RUN_<OPTION>` (upper case, `-` -> `_`), then the
    default.
    """),
    code(LOAD),
    code('''
    %%flow ParameterFlow
    alpha = Parameter("alpha", help="Learning rate", default=0.01)
    who = Parameter("who", help="Whom to greet", default="world")
    num_epochs = Parameter("num-epochs", help="Number of epochs", default=3)
    '''),
    code('''
    %%step start -> end
    """Greet, and halve the learning rate after every epoch."""
    print("alpha is %f" % self.alpha)
    self.greeting = f"Hello, {self.who}!"
    self.schedule = [self.alpha / 2 ** epoch for epoch in range(self.num_epochs)]
    '''),
    code('''
    %%step end
    """Parameters are readable in every step."""
    print(self.greeting, "schedule:", self.schedule)
    '''),
]

JSON_PARAMETER = [
    md("""
    # A JSON parameter

    Metaflow's `JSONParameterFlow`: `type=JSONType` parses the value as JSON, so a
    parameter can be a dictionary or a list.

        nbflow run notebooks/json_parameter.ipynb --gdp '{"US": 1939, "NL": 1009}' --country NL
    """),
    code(LOAD),
    code('''
    %%flow JSONParameterFlow
    gdp = Parameter("gdp", help="Country-GDP Mapping", type=JSONType, default='{"US": 1939}')
    country = Parameter("country", help="Choose a country", default="US")
    '''),
    code('''
    %%step start -> end
    """Look the chosen country up in the mapping."""
    self.country_gdp = self.gdp[self.country]
    print("The GDP of %s is $%dB" % (self.country, self.country_gdp))
    '''),
    code('''
    %%step end
    """Nothing left to do."""
    print("countries in the mapping:", sorted(self.gdp))
    '''),
]

# Module code shared by the two flows that read data/movies.csv, as in Metaflow's tutorials.
SCRIPT_PATH = '''
import os


def script_path(filename):
    """The path of a file beside this notebook, so the flow runs from any directory."""
    return os.path.join(os.path.dirname(__file__), filename)
'''

INCLUDE_FILE = [
    md("""
    # A movie playlist (IncludeFile)

    Metaflow's tutorial `01-playlist`: `IncludeFile` reads a CSV file when the run starts
    and stores its contents as the artifact `self.movie_data`, so the run keeps the exact
    data it used. Two branches run in parallel (the movies of a genre, and a random bonus
    movie from another genre) and the join takes one artifact from each.

    As in the tutorial, the default path is `data/movies.csv` beside the notebook
    (`__file__` is the notebook's path); a path given on the command line is relative
    to the working directory:

        nbflow run notebooks/include_file.ipynb --genre comedy
        nbflow run notebooks/include_file.ipynb --movie_data my_movies.csv
    """),
    code(LOAD),
    code("%%flow PlayListFlow\n" + _clean(SCRIPT_PATH) + "\n\n\n" + _clean('''
    movie_data = IncludeFile("movie_data", help="The path to a movie metadata file.",
                             default=script_path("data/movies.csv"))
    genre = Parameter("genre", help="Filter movies for a particular genre.", default="Sci-Fi")
    recommendations = Parameter("recommendations",
                                help="The number of movies to recommend in the playlist.", default=5)
    ''')),
    code('''
    %%step start -> bonus_movie, genre_movies
    """Parse the CSV file and load the values into a dictionary of lists."""
    import csv

    # For this example, we only need the movie title and the genres.
    self.dataframe = {"movie_title": [], "genres": []}
    for row in csv.DictReader(self.movie_data.splitlines()):
        self.dataframe["movie_title"].append(row["movie_title"])
        self.dataframe["genres"].append(row["genres"])
    '''),
    code('''
    %%step bonus_movie -> join
    """Choose a random movie from a different genre."""
    from random import choice

    movies = [(movie, genres)
              for movie, genres in zip(self.dataframe["movie_title"], self.dataframe["genres"])
              if self.genre.lower() not in genres.lower()]
    self.bonus = choice(movies)
    '''),
    code('''
    %%step genre_movies -> join
    """Filter the movies by genre, in random order."""
    from random import shuffle

    self.movies = [movie
                   for movie, genres in zip(self.dataframe["movie_title"], self.dataframe["genres"])
                   if self.genre.lower() in genres.lower()]
    shuffle(self.movies)
    '''),
    code('''
    %%step join -> end
    """Join the parallel branches: take one artifact from each."""
    self.playlist = inputs.genre_movies.movies
    self.bonus = inputs.bonus_movie.bonus
    '''),
    code('''
    %%step end
    """Print out the playlist and the bonus movie."""
    print("Playlist for movies in genre '%s'" % self.genre)
    self.picks = self.playlist[: self.recommendations]
    for pick, movie in enumerate(self.picks, start=1):
        print("Pick %d: '%s'" % (pick, movie))
    print("Bonus Pick: '%s' from '%s'" % (self.bonus[0], self.bonus[1]))
    '''),
    md("Scratch: the playlist of the last `end` task run in this kernel."),
    code("self.picks"),
]

FOREACH = [
    md("""
    # Statistics per genre (foreach)

    Metaflow's tutorial `02-statistics`: `start` finds the genres in `data/movies.csv`, and
    `--foreach genres` fans out to one `compute_statistics` task per genre, in parallel;
    each task sees its genre as `self.input`. The join collects the results of all tasks
    into one dictionary.

        nbflow run notebooks/foreach.ipynb
    """),
    code(LOAD),
    code("%%flow MovieStatsFlow\n" + _clean(SCRIPT_PATH) + "\n\n\n" + _clean('''
    movie_data = IncludeFile("movie_data", help="The path to a movie metadata file.",
                             default=script_path("data/movies.csv"))
    ''')),
    code('''
    %%step start -> compute_statistics --foreach genres
    """Load the movie metadata, find the genres, and fan out over them."""
    import csv

    self.dataframe = {"movie_title": [], "title_year": [], "genres": [], "gross": []}
    for row in csv.DictReader(self.movie_data.splitlines()):
        self.dataframe["movie_title"].append(row["movie_title"])
        self.dataframe["title_year"].append(int(row["title_year"]))
        self.dataframe["genres"].append(row["genres"])
        self.dataframe["gross"].append(int(row["gross"]))

    # The column 'genres' holds several genres per movie, separated by '|'.
    self.genres = sorted({genre for genres in self.dataframe["genres"] for genre in genres.split("|")})
    '''),
    code('''
    %%step compute_statistics -> join
    """Compute statistics for a single genre."""
    self.genre = self.input
    print("Computing statistics for %s" % self.genre)

    # Keep only the movies of this genre (this changes the inherited dataframe in place:
    # the task stores it as a new version of the artifact).
    selector = [self.genre in genres.split("|") for genres in self.dataframe["genres"]]
    for col in self.dataframe.keys():
        self.dataframe[col] = [value for value, keep in zip(self.dataframe[col], selector) if keep]

    # Sort by gross box office and drop an unused column.
    order = sorted(range(len(self.dataframe["gross"])), key=self.dataframe["gross"].__getitem__)
    for col in self.dataframe.keys():
        self.dataframe[col] = [self.dataframe[col][i] for i in order]
    del self.dataframe["title_year"]

    # Quartiles of the gross box office of this genre.
    n_points = len(self.dataframe["movie_title"])
    self.quartiles = [self.dataframe["gross"][min(int(n_points * cut), n_points - 1)]
                      for cut in (0.25, 0.5, 0.75)]
    '''),
    code('''
    %%step join -> end
    """Merge the genre-specific results into one dictionary."""
    self.genre_stats = {inp.genre.lower(): {"quartiles": inp.quartiles, "dataframe": inp.dataframe}
                        for inp in inputs}
    '''),
    code('''
    %%step end
    """Print the genres by median gross."""
    for genre, stats in sorted(self.genre_stats.items(), key=lambda kv: -kv[1]["quartiles"][1]):
        print("%-12s median gross $%d" % (genre, stats["quartiles"][1]))
    '''),
]

BRANCH_MERGE_MANUAL = [
    md("""
    # A static branch, merged by hand

    Metaflow's `BranchFlow`: `start` splits into `a` and `b`, which run in parallel, and the
    join step reads both through `inputs`. A join starts with no artifacts of its own:
    whatever should go on after the join is assigned there explicitly. Here `x` is taken
    from branch `a`, `base` is carried over from either input (they agree), and `only_a`,
    which the join does not assign, does not go on.

        nbflow run notebooks/branch_merge_manual.ipynb
    """),
    code(LOAD),
    code("%%flow BranchFlow"),
    code('''
    %%step start -> a, b
    """Set an artifact both branches inherit, then branch."""
    self.base = 10
    '''),
    code('''
    %%step a -> join
    """Branch a."""
    self.x = self.base + 1
    self.only_a = "set in a"
    '''),
    code('''
    %%step b -> join
    """Branch b."""
    self.x = self.base + 2
    '''),
    code('''
    %%step join -> end
    """Merge by hand: every artifact that goes on is assigned here."""
    print("a is %s" % inputs.a.x)
    print("b is %s" % inputs.b.x)
    self.total = sum(inp.x for inp in inputs)
    self.x = inputs.a.x
    self.base = inputs[0].base
    print("total is %d" % self.total)
    '''),
    code('''
    %%step end
    """Show what came through the join."""
    print("x =", self.x, "total =", self.total, "base =", self.base)
    '''),
]

BRANCH_MERGE_ARTIFACTS = [
    md("""
    # A static branch, merged with `merge_artifacts`

    Metaflow's `MergeArtifactsFlow`: instead of assigning every artifact in the join,
    `self.merge_artifacts(inputs, exclude=[...])` copies the artifacts on which all inputs
    agree (or that only one input has). An artifact that differs between the inputs must
    be assigned in the join first (`x` below) or excluded (`y`); otherwise the join fails
    with an error naming it.

        nbflow run notebooks/branch_merge_artifacts.ipynb
    """),
    code(LOAD),
    code("%%flow MergeArtifactsFlow"),
    code('''
    %%step start -> a, b
    """An artifact both branches inherit unchanged."""
    self.pass_down = "a"
    '''),
    code('''
    %%step a -> join
    """Branch a."""
    self.common = 5
    self.x = 1
    self.y = 3
    self.from_a = 6
    '''),
    code('''
    %%step b -> join
    """Branch b."""
    self.common = 5
    self.x = 2
    self.y = 4
    '''),
    code('''
    %%step join -> end
    """Resolve the conflict on x by hand, leave y out, and merge the rest."""
    self.x = inputs.a.x
    self.merge_artifacts(inputs, exclude=["y"])
    print("x is %s" % self.x)
    print("pass_down is %s" % self.pass_down)
    print("common is %d" % self.common)
    print("from_a is %d" % self.from_a)
    '''),
    code('''
    %%step end
    """The merged artifacts are ordinary artifacts downstream."""
    print(self.x, self.pass_down, self.common, self.from_a)
    '''),
]

WIDE_FOREACH = [
    md("""
    # A 1000-way foreach

    A wide fan-out with trivial bodies: one task per number, 1000 tasks in all, then a join
    that collects every result in foreach order. A foreach may start at most 100 tasks
    unless told otherwise, so this one needs the option:

        nbflow run notebooks/wide_foreach.ipynb --max-num-splits 1000
    """),
    code(LOAD),
    code("%%flow WideForeachFlow"),
    code('''
    %%step start -> square --foreach numbers
    """Fan out over 1000 numbers."""
    self.numbers = list(range(1000))
    '''),
    code('''
    %%step square -> join
    """One task per number."""
    self.square = self.input * self.input
    '''),
    code('''
    %%step join -> end
    """Collect the squares in foreach order."""
    self.squares = [inp.square for inp in inputs]
    self.total = sum(self.squares)
    '''),
    code('''
    %%step end
    """Print the sum of the squares."""
    print("%d squares, sum %d" % (len(self.squares), self.total))
    '''),
]

WINE_CLASSIFIER = [
    md("""
    # A wine classifier

    Two models trained in parallel on scikit-learn's bundled wine data set (178 wines,
    13 chemical measurements, 3 cultivars): a k-nearest-neighbours classifier and a
    support vector machine on standardized features. The join keeps the model with the
    better accuracy on the held-out test set.

    The `%%flow` cell is module code: its imports run in every task.

        nbflow run notebooks/wine_classifier.ipynb
        nbflow run notebooks/wine_classifier.ipynb --n-neighbors 3 --test-size 0.3
    """),
    code(LOAD),
    code('''
    %%flow WineClassifierFlow
    from sklearn.datasets import load_wine
    from sklearn.model_selection import train_test_split
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    test_size = Parameter("test-size", help="Fraction of the wines held out for testing", default=0.25)
    seed = Parameter("seed", help="Random seed of the train/test split", default=42)
    n_neighbors = Parameter("n-neighbors", help="Neighbours of the KNN classifier", default=5)
    '''),
    code('''
    %%step start -> train_knn, train_svm
    """Load the wine data and split it into a training and a test set."""
    X, y = load_wine(return_X_y=True)
    self.X_train, self.X_test, self.y_train, self.y_test = train_test_split(
        X, y, test_size=self.test_size, random_state=self.seed, stratify=y)
    print("training on %d wines, testing on %d" % (len(self.y_train), len(self.y_test)))
    '''),
    code('''
    %%step train_knn -> choose_model
    """A k-nearest-neighbours classifier on the raw features."""
    self.model_name = "knn"
    self.model = KNeighborsClassifier(n_neighbors=self.n_neighbors).fit(self.X_train, self.y_train)
    self.accuracy = float(self.model.score(self.X_test, self.y_test))
    print("KNN accuracy: %.3f" % self.accuracy)
    '''),
    code('''
    %%step train_svm -> choose_model
    """A support vector machine on standardized features."""
    self.model_name = "svm"
    self.model = make_pipeline(StandardScaler(), SVC()).fit(self.X_train, self.y_train)
    self.accuracy = float(self.model.score(self.X_test, self.y_test))
    print("SVM accuracy: %.3f" % self.accuracy)
    '''),
    code('''
    %%step choose_model -> end
    """Keep the model with the better test accuracy."""
    self.scores = {inp.model_name: inp.accuracy for inp in inputs}
    best = max(inputs, key=lambda inp: inp.accuracy)
    self.best_model_name = best.model_name
    self.best_model = best.model
    self.best_accuracy = best.accuracy
    # The data sets are the same in both branches: merge them instead of copying by hand.
    self.merge_artifacts(inputs, exclude=["model", "model_name", "accuracy"])
    '''),
    code('''
    %%step end
    """Report the chosen model."""
    print("scores:", self.scores)
    print("best model: %s (accuracy %.3f)" % (self.best_model_name, self.best_accuracy))
    '''),
    md("Scratch: try the chosen model on a few test wines."),
    code("self.best_model.predict(self.X_test[:5]), self.y_test[:5]"),
]

REPORT_CARDS = [
    md("""
    # Plots and tables from steps: cards

    Every step runs in its own process, yet what it displays is not lost: `display(...)`,
    `plt.show()` and a figure left open at the end of a step show under the cell when the
    cell runs, and every task keeps them as its **card** (`Task.card`, `nbflow card`).
    `current.card.append(...)` builds a report on purpose, with Metaflow's component
    names (`from nbflow.cards import Markdown, Table`). Exported to Metaflow, the steps
    get `@card` and the same outputs.

        nbflow run notebooks/report_cards.ipynb
        nbflow card notebooks/report_cards.ipynb <run_id>/plot -o plot.html
    """),
    code(LOAD),
    code('''
    %%flow ReportCardsFlow
    import matplotlib.pyplot as plt
    import pandas as pd
    from IPython.display import display
    from nbflow.cards import Markdown, Table
    '''),
    code('''
    %%step start -> plot
    """Make a small table of monthly sales and show it."""
    self.sales = pd.DataFrame({"month": ["Jan", "Feb", "Mar", "Apr"],
                               "units": [120, 135, 160, 150]})
    print("months:", len(self.sales))
    display(self.sales)
    '''),
    code('''
    %%step plot -> end
    """Plot the sales; the figure is the task's card."""
    fig, ax = plt.subplots(figsize=(4, 2.5))
    ax.bar(self.sales["month"], self.sales["units"])
    ax.set_title("Units sold")
    plt.show()
    self.total = int(self.sales["units"].sum())
    '''),
    code('''
    %%step end
    """A report built on purpose with card components."""
    best = self.sales.loc[self.sales["units"].idxmax()]
    current.card.append(Markdown(f"## Sales report\\n{self.total} units; best month **{best.month}**"))
    current.card.append(Table.from_dataframe(self.sales))
    print("total", self.total)
    '''),
    md("Scratch: a task's card is a list of mime bundles that shows itself."),
    code('''
    from nbflow import Flow
    Flow("ReportCardsFlow").latest_run["plot"].task.card
    '''),
]

NOTEBOOKS = {
    "hello_world.ipynb": HELLO_WORLD,
    "counter_branch.ipynb": COUNTER_BRANCH,
    "parameters.ipynb": PARAMETERS,
    "json_parameter.ipynb": JSON_PARAMETER,
    "include_file.ipynb": INCLUDE_FILE,
    "branch_merge_manual.ipynb": BRANCH_MERGE_MANUAL,
    "branch_merge_artifacts.ipynb": BRANCH_MERGE_ARTIFACTS,
    "foreach.ipynb": FOREACH,
    "wide_foreach.ipynb": WIDE_FOREACH,
    "wine_classifier.ipynb": WINE_CLASSIFIER,
    "report_cards.ipynb": REPORT_CARDS,
}


def build(name: str, cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    """One notebook: stable cell ids (`<stem>-<n>`), a python3 kernelspec, no outputs."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    stem = name.removesuffix(".ipynb").replace("_", "-")
    for i, (kind, text) in enumerate(cells, start=1):
        new = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
        cell = new(_clean(text))
        cell["id"] = f"{stem}-{i}"
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name, cells in NOTEBOOKS.items():
        text = nbformat.writes(build(name, cells)) + "\n"
        path = HERE / name
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print("out of date (run python notebooks/_make_notebooks.py):", ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
