"""A `%%step` cell run in JupyterLab before `%load_ext nbflow`: the extension loads nbflow
in the kernel just before the cell runs (so it runs, instead of IPython's "Cell magic
`%%step` not found"), and a notification says to add `%load_ext nbflow` as the first cell.
The notebook is not edited. Real JupyterLab, headless Chromium (see test_lab_button.py)."""
from __future__ import annotations

import pytest
from test_lab_button import (  # noqa: F401 - fixtures
    CHROMIUM,
    WAIT_MS,
    cells_of,
    lab,
    open_notebook,
    page,
    run_cell,
    shot,
    wait_until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

CELLS = ["%%flow HintFlow", "%%step start -> end\nself.x = 41", "%%step end\nprint('x is', self.x + 1)"]


def test_a_step_cell_run_before_load_ext_runs_and_says_to_add_it(lab, page):  # noqa: F811
    panel, folder = open_notebook(page, lab, "noload", CELLS, "hint.ipynb")
    before = cells_of(folder / "hint.ipynb")
    try:
        for i in range(len(CELLS)):              # each cell by hand, as a user would
            cell = panel.locator(".jp-Cell").nth(i)
            run_cell(page, cell, "Shift+Enter")   # again if a busy page dropped the keys
            prompt = cell.locator(".jp-InputPrompt")
            wait_until(page, lambda p=prompt: any(ch.isdigit() for ch in p.inner_text()),
                       f"cell {i + 1} to run")
        outputs = panel.locator(".jp-Cell").nth(2).locator(".jp-OutputArea-output")
        wait_until(page, lambda: "x is 42" in " ".join(outputs.all_inner_texts()), "the end cell's output")
        toast = page.locator(".Toastify__toast", has_text="nbflow was not loaded")
        toast.wait_for(timeout=WAIT_MS)
    finally:
        shot(page, "load_ext_hint.png")
    assert "Add a first cell `%load_ext nbflow` so the notebook also runs outside JupyterLab." \
        in toast.inner_text()
    assert "not found" not in panel.inner_text()
    assert cells_of(folder / "hint.ipynb") == before       # the notebook is not edited
