"""Every notebook in notebooks/ runs top to bottom in a real kernel under nbclient,
cell by cell, exactly as a user pressing "Run All": each %%step cell runs its step in
the kernel's interactive run. Proves the examples work interactively, not only headless."""
from __future__ import annotations

import shutil

import nbformat
import pytest
from helpers import NOTEBOOKS, StoreReader
from nbclient import NotebookClient

from nbflow.datastore import records
from nbflow.notebook.parse import read_notebook

# Walkthroughs drive the `nbflow` CLI from scratch cells (no %%step cell of their own) and
# have their own tests: resume_walkthrough.ipynb in test_resume.py.
WALKTHROUGHS = {"resume_walkthrough.ipynb"}
EXAMPLES = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")
                  if p.name not in WALKTHROUGHS) if NOTEBOOKS.is_dir() else []

# What a notebook needs before Run All works in a kernel, said here rather than skipped.
PREPARE = {
    # 1000 splits: more than the default --max-num-splits 100 (as for `nbflow run`)
    "wide_foreach.ipynb": "%nbflow params --max-num-splits 1000",
}


def test_there_are_example_notebooks():
    assert EXAMPLES, f"no notebooks found in {NOTEBOOKS}"


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", EXAMPLES)
def test_notebook_runs_cell_by_cell(name, workdir, monkeypatch):
    folder = workdir / "notebooks"
    shutil.copytree(NOTEBOOKS, folder, ignore=shutil.ignore_patterns(".nbflow", "*.py"))
    path = folder / name
    monkeypatch.setenv("JPY_SESSION_NAME", str(path))   # what JupyterLab tells the kernel
    nb = nbformat.read(str(path), as_version=4)
    if name in PREPARE:
        load = next(i for i, c in enumerate(nb.cells) if "%load_ext nbflow" in c.source)
        nb.cells.insert(load + 1, nbformat.v4.new_code_cell(PREPARE[name]))
    client = NotebookClient(nb, timeout=540, kernel_name="python3",
                            resources={"metadata": {"path": str(folder)}})
    client.execute()   # raises CellExecutionError, with the cell and its error, on any error

    spec = read_notebook(str(path))
    store = StoreReader(folder / ".nbflow")
    [run_id] = records.list_runs(store.ds, spec.flow_name)
    run = records.read_run(store.ds, spec.flow_name, run_id)
    assert "interactive" in run["sys_tags"]
    for step in spec.steps:
        tasks = store.tasks(spec.flow_name, run_id, step.name)
        assert tasks and all(t["successful"] for t in tasks), (step.name, tasks)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    # the kernel shut down: its interactive run is closed in the store
    assert store.run_end(spec.flow_name, run_id)["successful"]
