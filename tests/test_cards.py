"""Cards (docs/reference.md section 1, "Whatever a step displays"): what a step displays is shown
under its cell in a real kernel, kept in the store, read back as `Task.card`, and
written as one self-contained HTML page by `nbflow card`."""
from __future__ import annotations

import base64
import json
import subprocess
import sys

import nbformat
import pytest
from helpers import cli_env, make_notebook, run_id_of, run_nbflow

pytest.importorskip("matplotlib")
pytestmark = pytest.mark.timeout(300)

FLOW = """%%flow PlotsFlow
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display"""

PLOT_STEP = """%%step start -> end
print("before the plot")
fig, ax = plt.subplots()
ax.plot([1, 2, 3], [3, 1, 2])
plt.show()
print("between")
display(pd.DataFrame({"animal": ["cat", "dog"], "legs": [4, 4]}))
print("unended", end="")
display(Markdown("# Weekly report\\nall **good**"))
print("after")
self.x = 1"""

QUIET_END = """%%step end
print("nothing displayed here")"""

KINDS = [["image/png", "text/plain"], ["text/html", "text/plain"],
         ["text/markdown", "text/plain"]]


def plots_notebook(folder):
    return make_notebook(folder / "plots.ipynb", ["%load_ext nbflow", FLOW, PLOT_STEP, QUIET_END])


def headless(folder, name="plots.ipynb", *args, ok=True, env=None):
    proc = run_nbflow("run", name, *args, cwd=folder, env=env)
    assert (proc.returncode == 0) == ok, proc.stdout + proc.stderr
    return run_id_of(proc.stdout), proc


def task_of(folder, flow, run_id, step):
    from nbflow import client

    client.set_datastore(str(folder / ".nbflow"))
    return client.Task(f"{flow}/{run_id}/{step}/{_task_id(folder, flow, run_id, step)}")


def _task_id(folder, flow, run_id, step):
    from nbflow.datastore import Datastore, records

    [task_id] = records.list_tasks(Datastore(str(folder / ".nbflow")), flow, run_id, step)
    return task_id


def test_interactive_cell_shows_outputs_in_order_with_printed_text(workdir, monkeypatch):
    from nbclient import NotebookClient

    path = make_notebook(workdir / "plots.ipynb", [
        "%load_ext nbflow", FLOW, PLOT_STEP, QUIET_END,
        "from nbflow import Flow\ntask = Flow('PlotsFlow').latest_run['start'].task\ntask.card",
        "%nbflow card {task.pathspec} -o card.html",
        "%nbflow run",
        "from nbflow.cards import Markdown as M\ncurrent.card.append(M('in a scratch cell'))",
        "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([1, 2, 3], [3, 1, 2])"])
    monkeypatch.setenv("JPY_SESSION_NAME", str(path))
    nb = nbformat.read(str(path), as_version=4)
    NotebookClient(nb, timeout=240, kernel_name="python3",
                   resources={"metadata": {"path": str(workdir)}}).execute()
    outputs = nb.cells[2].outputs
    seen = []
    for o in outputs:
        if o.output_type == "stream":
            seen += [line for line in o.text.splitlines() if not line.startswith("(")]
        else:
            assert o.output_type == "display_data"
            seen.append(next(m for m in o.data if m != "text/plain"))
    assert seen == ["before the plot", "image/png", "between", "text/html", "unended",
                    "text/markdown", "after"]
    png = next(o for o in outputs if "image/png" in o.get("data", {}))
    assert base64.b64decode(png.data["image/png"]).startswith(b"\x89PNG")
    html = next(o for o in outputs if "text/html" in o.get("data", {}))
    assert "<table" in html.data["text/html"] and "cat" in html.data["text/html"]
    # the end cell displayed nothing: only its printed line
    assert [o.output_type for o in nb.cells[3].outputs] == ["stream"]
    # Task.card as a cell's value shows the same outputs; so does %nbflow card
    shown = [next(m for m in o.data if m != "text/plain") for o in nb.cells[4].outputs]
    assert shown == ["image/png", "text/html", "text/markdown"]
    shown = [next(m for m in o.data if m != "text/plain") for o in nb.cells[5].outputs
             if o.output_type == "display_data"]
    assert shown == ["image/png", "text/html", "text/markdown"]
    assert "<h1>Weekly report</h1>" in (workdir / "card.html").read_text()
    # a whole run keeps the outputs quietly: none shows in the cell, all are in the store
    kinds = {m for o in nb.cells[6].outputs for m in o.get("data", {})}
    assert not kinds & {"image/png", "text/markdown"}, kinds
    from nbflow import client

    client.set_datastore(str(workdir / ".nbflow"))
    run = client.Flow("PlotsFlow").latest_run
    assert "interactive" not in run.system_tags
    assert [list(b) for b in run["start"].task.card] == KINDS
    # outside a step, current.card.append shows the component at once
    [shown] = nb.cells[7].outputs
    assert shown.data["text/markdown"] == "in a scratch cell"
    # the step's figure is the PNG the notebook's own inline backend makes of it
    [inline] = [o for o in nb.cells[8].outputs if "image/png" in o.get("data", {})]
    assert inline.data["image/png"] == png.data["image/png"]


def test_headless_run_keeps_the_card_and_nbflow_card_writes_html(workdir):
    plots_notebook(workdir)
    run_id, proc = headless(workdir)
    assert "image/png" not in proc.stdout and "nbflow-display" not in proc.stdout
    task = task_of(workdir, "PlotsFlow", run_id, "start")
    card = task.card
    assert [list(b) for b in card] == KINDS
    assert card[2]["text/markdown"] == "# Weekly report\nall **good**"
    assert "legs" in card[1]["text/html"]
    assert card[0]["text/plain"].startswith("<Figure size")
    # printed text stays the task's stdout, without the outputs
    assert task.stdout == "before the plot\nbetween\nunendedafter\n"

    end = task_of(workdir, "PlotsFlow", run_id, "end")
    assert list(end.card) == []
    assert not list((workdir / ".nbflow" / "PlotsFlow" / run_id / "end").glob("*.card"))

    proc = run_nbflow("card", f"PlotsFlow/{run_id}/start/{task.id}", "-o", "card.html",
                      cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    page = (workdir / "card.html").read_text()
    assert "<table" in page and "cat" in page
    assert "<h1>Weekly report</h1>" in page and "<strong>good</strong>" in page
    assert 'src="data:image/png;base64,' in page
    assert "http://" not in page and "https://" not in page and "<script" not in page
    again = run_nbflow("card", f"PlotsFlow/{run_id}/start/{task.id}", "-o", "card.html",
                       cwd=workdir)
    assert again.returncode == 2 and "--force" in again.stderr
    # a notebook and run_id/step also name the task
    proc = run_nbflow("card", "plots.ipynb", f"{run_id}/start", cwd=workdir)
    assert proc.returncode == 0 and "<h1>Weekly report</h1>" in proc.stdout


REPORT = """%%step start -> end
from nbflow.cards import Image, Markdown, Table
import os
current.card.append(Markdown("dropped"))
current.card.clear()
current.card.append(Markdown("## Scores"))
current.card.append(Table([["knn", 0.9], ["svm", 0.95]], headers=["model", "score"]))
big = b"\\x89PNG\\r\\n\\x1a\\n" + os.urandom(10 << 20)
current.card.append(Image(big, label="noise"))
display(Image(big, label="noise again"))
self.size = len(big)

class Broken:
    def __repr__(self):
        return "Broken()"
    def _repr_html_(self):
        raise ValueError("no html today")
display(Broken())
figure_left_open = plt.figure()
plt.plot([0, 1])"""


def test_report_components_blobs_and_broken_reprs(workdir):
    make_notebook(workdir / "report.ipynb", ["%%flow ReportFlow\nimport matplotlib.pyplot as plt",
                                             REPORT, "%%step end\npass"])
    run_id, proc = headless(workdir, "report.ipynb")
    assert "Broken._repr_html_ raised ValueError: no html today" in proc.stderr
    task = task_of(workdir, "ReportFlow", run_id, "start")
    card = task.card
    kinds = [next(m for m in b if m != "text/plain") if len(b) > 1 else "text/plain"
             for b in card]
    assert kinds == ["text/markdown", "text/html", "image/png", "image/png", "text/plain",
                     "image/png"]
    assert card[0]["text/markdown"] == "## Scores"
    assert "<th>score</th>" in card[1]["text/html"] and "svm" in card[1]["text/plain"]
    png = base64.b64decode(card[2]["image/png"])
    assert len(png) == task.data.size and card[3]["image/png"] == card[2]["image/png"]
    assert card[4]["text/plain"] == "Broken()\n[Broken._repr_html_ raised ValueError: no html today]"
    # the 10 MB image is one blob, not inlined in the card file or the record
    folder = workdir / ".nbflow" / "ReportFlow" / run_id / "start"
    [card_file] = folder.glob("*.card")
    assert card_file.stat().st_size < 200_000
    refs = [r for b in json.loads(card_file.read_text())["bundles"] for r in b["refs"].values()]
    assert len(refs) == 2 and refs[0]["key"] == refs[1]["key"]
    # the task record names the blob, so the store's walk (fsck, du, gc) keeps it
    from nbflow.datastore import Datastore
    from nbflow.datastore.walk import walk_store

    referenced = walk_store(Datastore(str(workdir / ".nbflow"))).referenced()
    assert f"ReportFlow/{run_id}" in referenced[refs[0]["key"]]


def test_unkeepable_bundle_and_card_limit(workdir):
    step = """%%step start -> end
class Odd:
    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/html": object()}
display("first")
display("x" * 5000)
display("third")
try:
    display(Odd())
except TypeError as e:
    print("refused:", e)"""
    make_notebook(workdir / "limits.ipynb", [step, "%%step end\npass"])
    run_id, proc = headless(workdir, "limits.ipynb", env=cli_env(NBFLOW_CARD_LIMIT="4KB"))
    assert "refused: display(): cannot keep the output of Odd: its text/html form is of " \
        "type object, not text, bytes or JSON" in proc.stdout
    card = task_of(workdir, "LimitsFlow", run_id, "start").card
    assert [b["text/plain"] for b in card][:1] == ["'first'"]
    assert len(card) == 2 and "card cut here" in card[1]["text/plain"]
    assert "NBFLOW_CARD_LIMIT" in card[1]["text/plain"]


def test_task_startup_imports_neither_ipython_nor_matplotlib():
    code = ("import sys, tempfile, nbflow.task.runtime\n"
            "from nbflow.cards import capture\n"
            "from nbflow.datastore import Datastore\n"
            "capture.install(Datastore(tempfile.mkdtemp())); capture.finish()\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in "
            "('IPython', 'matplotlib', 'pandas', 'ipywidgets')]\n"
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, env=cli_env())


def test_resume_reuses_a_task_with_its_card(workdir):
    make_notebook(workdir / "again.ipynb", [
        "%%step start -> end\nfrom nbflow.cards import Markdown\n"
        "current.card.append(Markdown('kept across resume'))",
        "%%step end\nimport os\nassert os.path.exists('ok'), 'not yet'"])
    origin, _ = headless(workdir, "again.ipynb", ok=False)
    (workdir / "ok").write_text("")
    proc = run_nbflow("resume", "again.ipynb", cwd=workdir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    resumed = run_id_of(proc.stdout)
    assert resumed != origin
    card = task_of(workdir, "AgainFlow", resumed, "start").card
    assert [b["text/markdown"] for b in card] == ["kept across resume"]



def markdown_shown(result) -> list[str]:
    return [m["content"]["data"]["text/markdown"] for m in result.messages
            if m["msg_type"] == "display_data" and "text/markdown" in m["content"]["data"]]


def test_status_widget_offers_each_tasks_card_with_one_click(workdir):
    """`%nbflow run` (and the lab button, which shows the same widgets) keeps the outputs
    quietly; the status widget has a button per task that displayed something, past
    CARD_BUTTONS a list; a click (or a choice in the list) shows that card below."""
    from test_kernel_interactive import KernelDriver

    from nbflow.kernel.widgets.status import CARD_BUTTONS

    path = make_notebook(workdir / "wide.ipynb", [
        "%%flow WideFlow\nfrom IPython.display import Markdown",
        "%%step start -> each --foreach items\n"
        f"self.items = list(range({CARD_BUTTONS + 3}))\ndisplay(Markdown('# the start'))",
        "%%step each -> join\ndisplay(Markdown(f'item **{self.input}**'))",
        "%%step join -> end\nprint('nothing displayed')",
        "%%step end\npass"])
    with KernelDriver(workdir, path) as k:
        r = k.run("run = %nbflow run --cache")
        assert markdown_shown(r) == []
        r = k.run("from nbflow.kernel.widgets import LiveWidgets\n"
                  "s = LiveWidgets.last.status\n"
                  "buttons = [c for c in s.cards.children if hasattr(c, 'click')]\n"
                  "print([b.description for b in buttons])\n"
                  "print([label for label, _ in s.more_cards.options])\n"
                  "buttons[0].click()")
        labels, more = (eval(line) for line in r.stdout.splitlines()[:2])  # noqa: S307
        assert markdown_shown(r) == ["# the start"]
        # start and the 23 foreach tasks have a card; join and end none
        assert len(labels) == CARD_BUTTONS and labels[0] == "start/1"
        assert all(x.startswith("each/") for x in labels[1:] + more[1:]), (labels, more)
        assert more[0] == "" and len(more) == 1 + 4
        r = k.run("buttons[1].click()")
        [shown] = markdown_shown(r)
        assert shown.startswith("item **")
        r = k.run("s.more_cards.value = s.more_cards.options[-1][1]")
        [shown] = markdown_shown(r)
        assert shown.startswith("item **")
        # the artifact browser shows a task's card too
        r = k.run("from nbflow.kernel.widgets.browser import ArtifactBrowser\n"
                  "from nbflow.datastore import Datastore\n"
                  "b = ArtifactBrowser(get_ipython(), Datastore('.nbflow'))\n"
                  "b.open(f'WideFlow/{run.id}/start')\nb.card.click()")
        assert markdown_shown(r) == ["# the start"]
        # a run that reuses every task (--cache) offers the reused tasks' cards too
        r = k.run("again = %nbflow run --cache\ns = LiveWidgets.last.status\n"
                  "buttons = [c for c in s.cards.children if hasattr(c, 'click')]\n"
                  "print(len(buttons), len(s.more_cards.options), "
                  "sum(x.reused for x in s.model.steps.values()))\nbuttons[0].click()")
        assert f"\n{CARD_BUTTONS} 5 {CARD_BUTTONS + 6}\n" in r.stdout, r.stdout   # 26 reused
        assert markdown_shown(r) == ["# the start"]


METAFLOW_CARDS = '''from metaflow import FlowSpec, card, current, step
from metaflow.cards import Markdown, Table


class CardFlow(FlowSpec):

    @card(type="blank")
    @card(id="scores")
    @step
    def start(self):
        current.card.append(Markdown("# Scores"))
        current.card["scores"].append(Table([["knn", 0.9]], headers=["model", "score"]))
        current.card["scores"] = [Markdown("*kept*")]
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    CardFlow()
'''


def test_import_maps_a_metaflow_flows_cards_back(workdir):
    """A Metaflow flow with @card and metaflow.cards components, imported: the notebook
    runs with nbflow and each task's card holds what the flow appended."""
    (workdir / "cardflow.py").write_text(METAFLOW_CARDS)
    proc = run_nbflow("import", "cardflow.py", "-o", "cards.ipynb", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    cells = ["".join(c["source"]) for c in json.loads((workdir / "cards.ipynb").read_text())["cells"]]
    assert "from nbflow.cards import Markdown, Table" in cells[1]
    assert not any("@card" in c for c in cells)
    run_id, _ = headless(workdir, "cards.ipynb")
    card = task_of(workdir, "CardFlow", run_id, "start").card
    assert [b.get("text/markdown") or b.get("text/html")[:6] for b in card] == \
        ["# Scores", "<table", "*kept*"]
    assert list(task_of(workdir, "CardFlow", run_id, "end").card) == []
