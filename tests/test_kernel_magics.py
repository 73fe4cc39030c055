"""`%nbflow ...` in a real kernel: `run` with its live widget (or plain text), the CLI's
commands acting on the kernel's notebook, `params`, and the artifact browser."""
from __future__ import annotations

import json

import nbformat
import pytest
from helpers import StoreReader, make_notebook
from nbclient import NotebookClient
from test_kernel_interactive import KernelDriver

from nbflow.datastore import records

pytestmark = pytest.mark.timeout(300)

FLOW_CELLS = [
    "md:# a flow",
    "%load_ext nbflow",
    "%%flow MagicFlow\nalpha = Parameter('alpha', default=0.5)",
    '%%step start -> each --foreach items\n"""Fan out."""\nself.items = [1, 2, 3]',
    "%%step each -> join\nself.sq = self.input ** 2\nprint('square', self.sq)",
    "%%step join -> end\nself.total = sum(i.sq for i in inputs) * self.alpha",
    "%%step end\nprint('total', self.total)",
]


def runs_of(store: StoreReader, flow: str, interactive: bool) -> list[str]:
    return [r for r in records.list_runs(store.ds, flow)
            if ("interactive" in records.read_run(store.ds, flow, r)["sys_tags"]) == interactive]


def widget_texts(nb) -> str:
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    return json.dumps([m["state"] for m in state.values()])


def test_nbflow_run_shows_live_widgets_and_returns_the_run(workdir, store, monkeypatch):
    path = make_notebook(workdir / "magic.ipynb", FLOW_CELLS)
    monkeypatch.setenv("JPY_SESSION_NAME", str(path))
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("%load_ext nbflow"),
        nbformat.v4.new_code_cell("run = %nbflow run --alpha 2 --tag demo\n"
                                  "print(run.successful, run.data.total, sorted(run.tags))")])
    client = NotebookClient(nb, timeout=240, kernel_name="python3", store_widget_state=True,
                            resources={"metadata": {"path": str(workdir)}})
    client.execute()
    outputs = nb.cells[1].outputs
    text = "".join(o.get("text", "") for o in outputs)
    assert "True 28.0 ['demo', 'user:tester']" in text
    assert "square 9" in text   # task output, with its task's prefix
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)
    [run_id] = runs_of(store, "MagicFlow", interactive=False)
    assert store.run_end("MagicFlow", run_id)["successful"]
    widgets = widget_texts(nb)
    assert f"MagicFlow/{run_id}: done, 6/6 tasks done" in widgets
    assert "each" in widgets and "3/3" in widgets     # the foreach body's progress


def test_nbflow_run_plain_text_without_widgets(workdir, store):
    path = make_notebook(workdir / "magic.ipynb", FLOW_CELLS)
    with KernelDriver(workdir, path, NBFLOW_NO_WIDGETS="1") as k:
        r = k.run("%nbflow run")
    [run_id] = runs_of(store, "MagicFlow", interactive=False)
    assert f"Workflow starting (run-id {run_id})" in r.stdout
    assert f"[{run_id}/end/" in r.stdout and "total 7.0" in r.stdout and "Done!" in r.stdout
    assert f"MagicFlow/{run_id}: done, 6/6 tasks done" in r.stdout


def test_without_a_notebook_path_the_kernels_cells_are_used(workdir, store):
    # plain IPython or an editor that does not say; the store is pinned (a stray .nbflow/
    # above the test's folder would otherwise be "the nearest one")
    with KernelDriver(workdir, NBFLOW_DATASTORE=workdir / ".nbflow") as k:
        k.run("%%flow LooseFlow")
        k.run("%%step start -> end\nself.x = 3")
        k.run("%%step end\nprint('x is', self.x)")
        r = k.run("%nbflow run")
        assert "running the 2 step cell(s) run in this kernel" in r.stdout
        assert "x is 3" in r.stdout
        r = k.run("%nbflow show")
        assert "using the 2 step cell(s) run in this kernel" in r.stdout
        # the graph drawn, with the text where HTML is not shown
        assert "Step start" in r.results[-1] and "Step end" in r.results[-1]
    assert len(runs_of(store, "LooseFlow", interactive=False)) == 1


def test_cli_commands_act_on_the_kernels_notebook(workdir, store):
    path = make_notebook(workdir / "magic.ipynb", FLOW_CELLS)
    with KernelDriver(workdir, path, NBFLOW_NO_WIDGETS="1") as k:
        assert "Fan out." in k.run("%nbflow show").stdout
        assert "a valid flow" in k.run("%nbflow check").stdout
        k.run("%nbflow run --alpha 1")
        [run_id] = runs_of(store, "MagicFlow", interactive=False)
        assert run_id in k.run("%nbflow runs").stdout
        [end] = store.tasks("MagicFlow", run_id, "end")
        r = k.run(f"%nbflow logs {run_id}/end/{end['task_id']}")
        assert "total 14.0" in r.stdout
        r = k.run(f"%nbflow dump {run_id}/end/{end['task_id']} --name total")
        assert "total" in r.stdout and "14.0" in r.stdout
        k.run("%nbflow export -o flow.py")
        assert "class MagicFlow(FlowSpec)" in (workdir / "flow.py").read_text()
        r = k.run("%nbflow frobnicate", ok=False)
        assert "bad usage" in r.error_text and "frobnicate" in r.stderr
        r = k.run("%nbflow run --max-workers 0", ok=False)
        assert "--max-workers must be at least 1" in r.error_text


def test_inspect_browses_artifacts_and_loads_one_into_a_variable(workdir, store):
    path = make_notebook(workdir / "magic.ipynb", FLOW_CELLS)
    with KernelDriver(workdir, path) as k:
        k.run("%%step start -> each --foreach items\nself.items = [1, 2, 3]\nself.label = 'abc'")
        [run_id] = runs_of(store, "MagicFlow", interactive=True)
        [task] = store.tasks("MagicFlow", run_id, "start")
        pathspec = f"MagicFlow/{run_id}/start/{task['task_id']}"
        r = k.run(f"%nbflow inspect {pathspec}")
        assert any("VBox" in t for t in r.results)
        r = k.run("from nbflow.kernel.widgets.browser import ArtifactBrowser\n"
                  "from nbflow.datastore import Datastore\n"
                  "b = ArtifactBrowser(get_ipython(), Datastore('.nbflow'))\n"
                  f"b.open({pathspec!r})\n"
                  "print(b.table.value)\n"
                  "b.artifact.value = 'items'\nb.variable.value = 'loaded'\nb.load.click()\n"
                  "print('loaded =', loaded)")
        assert "<td>items</td><td>list</td>" in r.stdout and "[1, 2, 3]" in r.stdout
        assert "loaded = [1, 2, 3]" in r.stdout
        r = k.run("%nbflow inspect MagicFlow/nope", ok=False)
        assert "nope" in r.error_text


def test_a_step_renamed_in_its_cell_is_no_longer_part_of_the_flow(workdir, store):
    with KernelDriver(workdir, NBFLOW_DATASTORE=workdir / ".nbflow") as k:
        k.run("%%step start -> train\nself.x = 1", cell_id="cell-a")
        k.run("%%step train -> end\nself.y = 2", cell_id="cell-b")
        k.run("%%step start -> fit\nself.x = 1", cell_id="cell-a")
        k.run("%%step fit -> end\nself.y = 3", cell_id="cell-b")   # was `train`
        k.run("%%step end", cell_id="cell-c")
        r = k.run("%nbflow run", ok=True)
        assert "running the 3 step cell(s)" in r.stdout
    [run_id] = runs_of(store, "NotebookFlow", interactive=False)
    assert store.tasks("NotebookFlow", run_id, "fit")
    assert not store.tasks("NotebookFlow", run_id, "train")


def test_resume_from_the_kernel(workdir, store):
    cells = ["%load_ext nbflow", "%%flow ResumeFlow", "%%step start -> end\nself.x = 1",
             ("%%step end\nimport os\nassert not os.path.exists('broken'), 'broken'\n"
              "print('finished', self.x)")]
    path = make_notebook(workdir / "res.ipynb", cells)
    (workdir / "broken").touch()
    with KernelDriver(workdir, path, NBFLOW_NO_WIDGETS="1") as k:
        r = k.run("run = %nbflow run\nprint('ok?', run.successful)")
        assert "ok? False" in r.stdout
        (workdir / "broken").unlink()
        r = k.run("%nbflow resume")
        assert "Cloning results of a previously run task" in r.stdout and "/start/" in r.stdout
        assert "finished 1" in r.stdout
    runs = runs_of(store, "ResumeFlow", interactive=False)
    assert len(runs) == 2 and store.run_end("ResumeFlow", runs[0])["successful"]


def test_a_broken_notebook_is_reported_in_the_cell(workdir, store):
    path = make_notebook(workdir / "bad.ipynb", [
        "%load_ext nbflow", "%%step start -> trian\nself.x = 1", "%%step train -> end",
        "%%step end"])
    with KernelDriver(workdir, path) as k:
        r = k.run("%nbflow check")
        assert "cell 2, step 'start': target 'trian' is not a step; did you mean 'train'?" in r.stderr
        r = k.run("%nbflow run", ok=False)
        assert "cell 2, step 'start'" in r.error_text and "did you mean 'train'" in r.error_text
        assert "Traceback" not in r.error_text and not r.results   # no widget for no run
    assert not store.ds.storage.exists("BadFlow")


def test_interrupting_nbflow_run_ends_it_and_the_kernel_goes_on(workdir, store):
    path = make_notebook(workdir / "slow.ipynb", [
        "%load_ext nbflow", "%%flow SlowFlow",
        "%%step start -> end\nimport time\nprint('started', flush=True)\nwhile True: time.sleep(0.05)",
        "%%step end"])
    with KernelDriver(workdir, path, NBFLOW_NO_WIDGETS="1") as k:
        msg_id = k.send("run = %nbflow run")
        k.collect(msg_id, until=lambda res: "started" in res.stdout)
        k.km.interrupt_kernel()
        k.collect(msg_id)
        r = k.run("print(run.successful, run.finished)")
        assert r.stdout.split() == ["False", "True"]
    [run_id] = runs_of(store, "SlowFlow", interactive=False)
    [task] = store.tasks("SlowFlow", run_id, "start")
    assert task["successful"] is False
    assert "interrupted" in store.run_end("SlowFlow", run_id)["message"]
