"""Cards in the browser: after "Run as flow" in a real JupyterLab (headless Chromium), the
run's status widget in the nbflow panel offers the card of each task that displayed
something; one click shows it there (the Markdown rendered, the table drawn).

Skipped without /usr/bin/chromium (see tests/e2e/test_lab_button.py)."""
from __future__ import annotations

import test_lab_button
from test_lab_button import WAIT_MS, click_run, lab, open_notebook, page, shot  # noqa: F401

pytestmark = test_lab_button.pytestmark   # e2e, slow, a timeout; skipped without Chromium

CELLS = [
    "%%flow CardsFlow\nfrom IPython.display import HTML, Markdown",
    "%%step start -> end\nprint('quiet text')\ndisplay(Markdown('# Weekly report'))\n"
    "display(HTML('<table class=\"scores\"><tr><td>knn</td><td>0.9</td></tr></table>'))",
    "%%step end\nprint('nothing displayed')",
]


def test_the_status_widget_shows_a_tasks_card_in_one_click(lab, page):  # noqa: F811
    open_notebook(page, lab, "cards", CELLS, "cards.ipynb")
    click_run(page)
    entry = page.locator(".nbflow-run-panel .nbflow-run-entry").first
    entry.locator(".nbflow-run-heading", has_text="done").wait_for(timeout=WAIT_MS)
    # the outputs were kept quietly: nothing of them in the panel before the click
    assert entry.locator("h1", has_text="Weekly report").count() == 0
    buttons = entry.locator("button", has_text="start/1")
    buttons.first.wait_for(timeout=WAIT_MS)
    assert entry.locator("button", has_text="end/").count() == 0   # end displayed nothing
    buttons.first.click()
    try:
        entry.locator("h1", has_text="Weekly report").wait_for(timeout=WAIT_MS)
        entry.locator("table.scores td", has_text="knn").wait_for(timeout=WAIT_MS)
    finally:
        shot(page, "status_widget_card.png")
