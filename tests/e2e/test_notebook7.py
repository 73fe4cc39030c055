"""Notebook 7 smoke test: in a real Jupyter Notebook 7 server and headless Chromium, a
notebook's `%nbflow run` cell shows the drawn graph, every step done, and the status
widget (the ipywidgets front end works there as in JupyterLab).

Skipped without the `notebook` package or /usr/bin/chromium."""
from __future__ import annotations

import pytest
import test_lab_button
from helpers import make_notebook
from test_kernel_graph import CELLS
from test_lab_button import (
    WAIT_MS,
    chromium_page,
    click_run,
    jupyter_server,
    shot,
    wait_until,
)

pytest.importorskip("notebook")

pytestmark = test_lab_button.pytestmark   # e2e, slow, a timeout; skipped without Chromium


@pytest.fixture(scope="module")
def nb7(tmp_path_factory):
    """A real Notebook 7 server serving a fresh folder."""
    with jupyter_server("notebook", tmp_path_factory.mktemp("nb7")) as served:
        yield served


@pytest.fixture
def page(nb7, tmp_path):
    with chromium_page(tmp_path / "profile") as p:
        yield p


def test_nbflow_run_draws_the_graph_in_notebook_7(nb7, page):
    url, root = nb7
    make_notebook(root / "shape.ipynb", CELLS)
    make_notebook(root / "run.ipynb", ["print('kernel ready')", "%load_ext nbflow",
                                       "%nbflow run shape.ipynb"])
    page.goto(f"{url}/notebooks/run.ipynb")
    cells = page.locator(".jp-Notebook .jp-Cell")
    cells.first.wait_for(timeout=WAIT_MS)

    def ready() -> bool:   # run the first cell until the kernel answers
        if "kernel ready" in cells.first.locator(".jp-OutputArea").inner_text():
            return True
        cells.first.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Control+Enter")
        page.wait_for_timeout(3000)
        return "kernel ready" in cells.first.locator(".jp-OutputArea").inner_text()

    wait_until(page, ready, "the kernel")
    cells.nth(1).locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")   # %load_ext nbflow, then %nbflow run
    page.keyboard.press("Control+Enter")
    last = cells.nth(2)
    try:
        done = last.locator("g.nbflow-node.nbflow-done")
        wait_until(page, lambda: done.count() == 7, "every step drawn done")
        last.locator(".widget-html", has_text="tasks done").first.wait_for(timeout=WAIT_MS)
    finally:
        shot(page, "notebook7.png")


def test_run_as_flow_shows_the_run_in_notebook_7s_side_panel(nb7, page):
    url, root = nb7
    (root / "side").mkdir()
    make_notebook(root / "side" / "shape.ipynb", CELLS)
    page.goto(f"{url}/notebooks/side/shape.ipynb")
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=WAIT_MS)
    click_run(page)
    done = page.locator(".nbflow-run-panel g.nbflow-node.nbflow-done")
    try:
        wait_until(page, lambda: done.count() == 7, "every step drawn done in the side panel")
    finally:
        shot(page, "notebook7_panel.png")
