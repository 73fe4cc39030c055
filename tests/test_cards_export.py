"""Cards in export and import (docs/reference.md section 5: `current.card` steps as `@card`): the
exported flow runs on real Metaflow and its `card get` has the step's Markdown and
table; importing the flow.py gives the notebook's displays back."""
from __future__ import annotations

import base64
import json
import re
import subprocess
import sys

import pytest
from helpers import make_notebook, run_nbflow
from test_export_metaflow import metaflow_env, run_metaflow

pytest.importorskip("metaflow")
pytest.importorskip("matplotlib")
pytestmark = pytest.mark.timeout(600)

CELLS = [
    "%load_ext nbflow",
    "%%flow ReportFlow\nimport matplotlib.pyplot as plt\nimport pandas as pd\n"
    "from IPython.display import HTML, Markdown, display",
    "%%step start -> end\n"
    "fig, ax = plt.subplots()\nax.plot([1, 2], [2, 1])\nplt.show()\n"
    "display(pd.DataFrame({'animal': ['cat', 'dog'], 'legs': [4, 4]}))\n"
    "display(Markdown('# Weekly report'))\n"
    "display(HTML('<b>bold</b>'))\n"
    "self.x = 1",
    "%%step end\n"
    "from nbflow.cards import Markdown, Table\n"
    "current.card.append(Markdown('## The end'))\n"
    "current.card.append(Table([['knn', 0.9]], headers=['model', 'score']))",
]


def test_export_maps_displays_to_metaflow_cards(workdir):
    make_notebook(workdir / "report.ipynb", CELLS)
    proc = run_nbflow("export", "report.ipynb", "-o", "flow.py", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    assert "HTML: no Metaflow card component" in proc.stderr
    text = (workdir / "flow.py").read_text()
    assert "from metaflow import FlowSpec, card, current, step" in text
    assert text.count("    @card\n    @step") == 2
    assert "current.card.extend(_nbflow_figures())\n" in text
    assert "current.card.append(_nbflow_card(Markdown('# Weekly report')))" in text
    assert "# nbflow export: HTML has no Metaflow card component (shown by its repr)" in text
    assert "from metaflow.cards import Markdown, Table" in text
    assert "display(" not in text.split("class ReportFlow")[1]

    run_id = run_metaflow(workdir / "flow.py", cwd=workdir)
    start = card_components(workdir, f"{run_id}/start/1")
    assert "# Weekly report" in [c.get("source") for c in start if c["type"] == "markdown"]
    tables = [c for c in start if c["type"] == "table" and "animal" in c.get("columns", [])]
    assert tables and ["cat", 4] == tables[0]["data"][0][-2:]
    assert any(c["type"] == "image" and c["src"].startswith("data:image/png") for c in start)
    end = card_components(workdir, f"{run_id}/end/2")
    assert "## The end" in [c.get("source") for c in end if c["type"] == "markdown"]
    assert any(c["type"] == "table" and c.get("columns") == ["model", "score"] for c in end)

    # and back: the notebook's displays, @card gone, nbflow's components
    proc = run_nbflow("import", "flow.py", "-o", "back.ipynb", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    cells = ["".join(c["source"]) for c in json.loads((workdir / "back.ipynb").read_text())["cells"]]
    assert "_nbflow_card" not in "".join(cells) and "@card" not in "".join(cells)
    start_cell = next(c for c in cells if c.startswith("%%step start"))
    assert "plt.show()\ndisplay(pd.DataFrame(" in start_cell
    assert "display(Markdown('# Weekly report'))" in start_cell
    end_cell = next(c for c in cells if c.startswith("%%step end"))
    assert "from nbflow.cards import Markdown, Table" in end_cell


def card_components(cwd, pathspec: str) -> list[dict]:
    """The components of a task's default card, from the HTML `card get` writes."""
    out = cwd / f"{pathspec.replace('/', '_')}.html"
    res = subprocess.run([sys.executable, "flow.py", "--no-pylint", "card", "get", pathspec,
                          str(out)], cwd=cwd, env=metaflow_env(cwd / "mfhome"),
                         capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr
    data = re.search(r'window.__MF_DATA__\["[^"]+"\] = "([^"]+)"', out.read_text()).group(1)
    found: list[dict] = []
    _walk(json.loads(base64.b64decode(data))["components"], found)
    return found


def _walk(node, found: list) -> None:
    if isinstance(node, dict):
        if "type" in node:
            found.append(node)
        for value in node.values():
            _walk(value, found)
    elif isinstance(node, list):
        for value in node:
            _walk(value, found)
