"""The drawn graph after real runs in a real kernel: states after a failure and after a
re-run upstream (stale), the drawing kept as static HTML in the saved notebook, and what
the JupyterLab extension asks the kernel (nbflow.kernel.lab): step badges, Run as flow."""
from __future__ import annotations

import json
import re

import nbformat
import pytest
from helpers import make_notebook
from nbclient import NotebookClient
from nbconvert import HTMLExporter
from test_kernel_interactive import KernelDriver

pytestmark = pytest.mark.timeout(300)

CELLS = [
    "%%flow ShapeFlow",
    '%%step start -> a, b\n"""Two ways."""\nself.n = 3',
    "%%step a -> join\nself.x = self.n + 1",
    "%%step b -> each --foreach items\nself.items = list(range(self.n))",
    "%%step each -> bjoin\nself.sq = self.input ** 2",
    "%%step bjoin -> join\nself.x = sum(i.sq for i in inputs)",
    "%%step join -> end\nself.total = sum(i.x for i in inputs)",
    "%%step end\nprint('total', self.total)",
]


def states(html: str) -> dict[str, str]:
    """step -> state, as drawn."""
    return {step: state for state, step in
            re.findall(r'<g class="nbflow-node nbflow-(\w+)" data-step="(\w+)"', html)}


def html_outputs(outputs) -> list[str]:
    return [o["data"]["text/html"] for o in outputs
            if o.get("output_type") in ("display_data", "execute_result")
            and "text/html" in o.get("data", {})]


def html_of(result) -> list[str]:
    """The text/html of a kernel reply's displays and their in-place updates, in order."""
    return [m["content"]["data"]["text/html"] for m in result.messages
            if m["msg_type"] in ("display_data", "update_display_data", "execute_result")
            and "text/html" in m["content"]["data"]]


def run_saved(workdir, cells: list[str]) -> nbformat.NotebookNode:
    """`%nbflow run` of a notebook file from another notebook, executed by nbclient."""
    path = make_notebook(workdir / "shape.ipynb", cells)
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("%load_ext nbflow"),
        nbformat.v4.new_code_cell(f"%nbflow run {path.name}")])
    NotebookClient(nb, timeout=240, kernel_name="python3",
                   resources={"metadata": {"path": str(workdir)}}).execute()
    return nb


def test_a_run_leaves_its_drawn_graph_in_the_saved_notebook(workdir, store):
    nb = nbformat.reads(nbformat.writes(run_saved(workdir, CELLS)), as_version=4)   # saved
    [html] = html_outputs(nb.cells[1].outputs)   # one display, updated in place
    assert "<svg" in html and 'class="nbflow-edge"' in html
    assert set(states(html).values()) == {"done"}
    assert set(states(html)) == {"start", "a", "b", "each", "bjoin", "join", "end"}
    assert ">3/3</text>" in html                  # the foreach body's tasks
    assert "Two ways." in html                    # a docstring, as a tooltip
    assert re.search(r"ShapeFlow/\d+: done, 9/9 tasks done", html)
    assert re.search(r'<svg [^>]*data-run="ShapeFlow/\d+"', html)   # its steps can be clicked
    # nbconvert's HTML page of the saved notebook shows the last drawing, no kernel needed
    page, _ = HTMLExporter().from_notebook_node(nb)
    assert states(page) == states(html) and ">3/3</text>" in page


def test_a_failed_run_is_drawn_failed(workdir, store):
    cells = [c.replace("self.x = self.n + 1", "raise ValueError('boom')") for c in CELLS]
    nb = run_saved(workdir, cells)
    [html] = html_outputs(nb.cells[1].outputs)
    drawn = states(html)
    assert drawn["a"] == "failed" and drawn["start"] == "done"
    assert drawn["join"] == "pending" and drawn["end"] == "pending"
    assert "failed" in html and "a/" in html      # the message names the failed task


def test_interactive_states_stale_failed_and_badges(workdir, store):
    path = make_notebook(workdir / "dev.ipynb", CELLS[:1] + [
        "%%step start -> a\nself.n = 1", "%%step a -> end\nself.x = self.n + 1",
        "%%step end\nprint(self.x)"])
    sources = [json.loads(path.read_text())["cells"][i]["source"] for i in range(4)]
    sources = ["".join(s) for s in sources] + ["print('scratch')", "%%step bad name here"]
    ask = f"import nbflow.kernel.lab as L\nprint(L.cells_info({json.dumps(sources)!r}))"
    with KernelDriver(workdir, path) as k:
        for cell in sources[1:4]:
            k.run(cell)
        k.run(sources[1])   # start again: a and end are stale now
        badges = json.loads(k.run(ask).stdout)
        assert badges[0] == {"kind": "flow", "name": "ShapeFlow", "targets": [],
                             "foreach": None, "state": None}
        assert [b.get("state") for b in badges[1:4]] == ["done", "stale", "stale"]
        assert badges[1]["targets"] == ["a"] and badges[4] == {"kind": None}
        assert badges[5]["kind"] == "step" and "bad" in badges[5]["error"]
        drawn = states(html_of(k.run("%nbflow show"))[0])
        assert drawn == {"start": "done", "a": "stale", "end": "stale"}
        k.run("%%step a -> end\nraise ValueError('boom')", ok=False)
        assert [b.get("state") for b in json.loads(k.run(ask).stdout)[1:4]] == \
            ["done", "failed", "stale"]
        assert states(html_of(k.run("%nbflow show"))[0])["a"] == "failed"


def test_run_as_flow_runs_the_saved_notebook_without_changing_it(workdir, store):
    path = make_notebook(workdir / "shape.ipynb", CELLS)
    before = path.read_bytes()
    (workdir / "elsewhere").mkdir()
    with KernelDriver(workdir / "elsewhere") as k:   # the kernel's folder is not the notebook's
        r = k.run(f"import nbflow.kernel.lab as L\nL.run_as_flow({str(path)!r})")
        assert set(states(html_of(r)[-1]).values()) == {"done"}
        assert any(t.startswith("Run('ShapeFlow/") for t in r.results)
        assert "total 9" in r.stdout
        run = next(t for t in r.results if t.startswith("Run('ShapeFlow/"))[5:-2]
        recent = json.loads(k.run(f"print(L.recent_runs({str(path)!r}))").stdout)
        assert [(x["pathspec"], x["status"]) for x in recent] == [(run, "successful")]
        out = k.run(f"print(L.export_flow({str(path)!r}))").stdout.strip()
        assert out == str(workdir / "shape_flow.py")
        assert "class ShapeFlow(FlowSpec)" in (workdir / "shape_flow.py").read_text()
    assert path.read_bytes() == before


def test_run_as_flow_reports_a_failed_run_as_an_error(workdir, store):
    cells = [c.replace("self.x = self.n + 1", "raise ValueError('boom')") for c in CELLS]
    path = make_notebook(workdir / "shape.ipynb", cells)
    with KernelDriver(workdir) as k:
        r = k.run(f"import nbflow.kernel.lab as L\nL.run_as_flow({str(path)!r})", ok=False)
        assert re.search(r"the run ShapeFlow/\d+ failed", r.error_text)
        assert states(html_of(r)[-1])["a"] == "failed"


def test_the_browser_shows_a_failed_tasks_error_logs_and_card(workdir, store):
    # `a` fails only once `b` has committed its record, so `b` is drawn done, never ended
    # (a and b run side by side: without the wait the run could end b first)
    wait_for_b = (f"import glob, time\nfrom nbflow import current\ndeadline = time.time() + 60\n"
                  f"while not glob.glob(f'{workdir}/.nbflow/ShapeFlow/{{current.run_id}}/b/*.json')"
                  f" and time.time() < deadline:\n    time.sleep(0.02)\n")
    cells = [c.replace("self.x = self.n + 1",
                       wait_for_b + "print('about to fail')\nraise ValueError('boom')")
             for c in CELLS]
    path = make_notebook(workdir / "shape.ipynb", cells)
    with KernelDriver(workdir, path) as k:
        k.run("run = %nbflow run")
        r = k.run("from nbflow.kernel.widgets.browser import ArtifactBrowser\n"
                  "from nbflow.datastore import Datastore\n"
                  "b = ArtifactBrowser(get_ipython(), Datastore('.nbflow'))\n"
                  "b.open(f'ShapeFlow/{run.id}/a')\n"
                  "print(b.graph.value)\nprint(b.table.value)\n"
                  "b.logs.click()\nb.card.click()")
    assert states(r.stdout)["a"] == "failed" and states(r.stdout)["b"] == "done"
    assert "(failed, " in r.stdout and "ValueError: boom" in r.stdout
    assert re.search(r"--- ShapeFlow/\d+/a/\d+ stdout ---\nabout to fail", r.stdout)
    assert "displayed nothing" in r.stdout


def test_steps_reused_by_cache_are_drawn_cached(workdir, store):
    path = make_notebook(workdir / "shape.ipynb", CELLS)
    with KernelDriver(workdir, path) as k:
        k.run("%nbflow run --cache")
        r = k.run("%nbflow run --cache")
    drawn = states(html_of(r)[-1])
    assert set(drawn.values()) == {"cached"}, drawn
