"""The artifact browser (`%nbflow inspect`) over a real run's store: a step's tasks listed
with their state and duration, previews that never load a big artifact (its size from the
store's metadata; a small one's head or first values), and the button that loads an artifact into a kernel variable."""
from __future__ import annotations

import re
import types

import pytest
from helpers import make_notebook, run_id_of, run_nbflow

from nbflow.datastore import Datastore
from nbflow.kernel.widgets import browser as B

CELLS = [
    "%%flow BrowseFlow",
    "%%step start -> each --foreach items\nimport numpy as np\n"
    "import pandas as pd\nself.big = np.arange(200_000, dtype='float64')\nself.small = [1, 2, 3]\n"
    "self.frame = pd.DataFrame({'a': range(50), 'b': ['x'] * 50})\nself.items = [1, 2]",
    "%%step each -> join\nself.sq = self.input ** 2",
    "%%step join -> end\nself.total = sum(i.sq for i in inputs)",
    "%%step end\npass",
]


@pytest.fixture
def run_id(workdir):
    make_notebook(workdir / "browse.ipynb", CELLS)
    r = run_nbflow("run", "browse.ipynb", cwd=workdir)
    assert r.returncode == 0, r.stderr
    return run_id_of(r.stdout + r.stderr)


@pytest.fixture
def loads(monkeypatch):
    """The artifacts the browser reads from the store (their names), in order."""
    seen: list[str] = []
    real = Datastore.get_object

    def get_object(self, key, *, artifact=None, task=None, columns=None):
        seen.append(artifact)
        return real(self, key, artifact=artifact, task=task, columns=columns)

    monkeypatch.setattr(Datastore, "get_object", get_object)
    return seen


def test_a_big_artifact_is_previewed_from_its_size_alone_and_loads_into_a_variable(
        workdir, run_id, loads, monkeypatch):
    monkeypatch.setattr(B, "PREVIEW_LIMIT", 100_000)   # the 1.6 MB array is "big" here
    shell = types.SimpleNamespace(user_ns={})
    b = B.ArtifactBrowser(shell, Datastore(str(workdir / ".nbflow")))
    b.open(f"BrowseFlow/{run_id}/start")
    table = b.table.value
    big_row = re.search(r"<tr><td>big</td>.*?</tr>", table)[0]
    assert "1.5 MiB" in big_row and "(large: load it to look)" in big_row
    assert "[1, 2, 3]" in table            # a small one is previewed
    assert "big" not in loads and "small" in loads

    # the chosen artifact: a small one shown (a DataFrame's head), a big one described
    # from the store's metadata, never read
    b.artifact.value = "frame"
    assert "DataFrame(50x2" in b.peek.value and re.search(r"\n9\s+9\s+x</pre>", b.peek.value)
    b.artifact.value = "big"
    assert b.variable.value == "big"       # the artifact's name suggested
    assert "big: numpy.ndarray, 1.5 MiB: load it to look" in b.peek.value
    assert "big" not in loads
    b.variable.value = "arr"
    b.load.click()
    assert shell.user_ns["arr"].shape == (200_000,) and shell.user_ns["arr"][-1] == 199_999
    assert "array(shape 200000, dtype float64)" in b.peek.value and "1.99999e+05]" in b.peek.value
    assert f"BrowseFlow/{run_id}/start/" in b.message.value and "<code>arr</code>" in b.message.value

    b.variable.value = "not a name"
    b.load.click()
    assert "not a valid variable name" in b.message.value


def test_a_steps_tasks_are_listed_with_state_and_duration(workdir, run_id):
    b = B.ArtifactBrowser(types.SimpleNamespace(user_ns={}), Datastore(str(workdir / ".nbflow")))
    b.open(f"BrowseFlow/{run_id}/each")
    labels = [label for label, _ in b.tasks.options]
    assert len(labels) == 2
    assert all(re.fullmatch(r"\d+ · done · \d+\.\d\d s", label) for label in labels), labels
    assert b.tasks.value == b.tasks.options[0][1]          # the first task chosen
    assert "sq" in b.artifact.options
    # a task opened by its id (a pathspec), as `%nbflow inspect Flow/run/step/task` does
    task = b.tasks.options[1][1]
    b.open(f"BrowseFlow/{run_id}/each/{task}")
    assert b.record().task_id == task
