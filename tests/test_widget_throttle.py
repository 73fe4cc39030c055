"""The live widgets throttle their redraws on a wide foreach: a real run's events replayed
into them on a clock the test sets (so nothing here depends on the machine's speed).
A step changing state redraws at once; counts alone at most every MIN_INTERVAL."""
from __future__ import annotations

import types

from helpers import make_notebook

import nbflow.kernel.widgets as W
from nbflow.notebook.parse import read_notebook
from nbflow.run.runner import RunOptions, run_notebook

WIDTH = 200
CELLS = ["%%flow WideFlow",
         f"%%step start -> each --foreach items\nself.items = list(range({WIDTH}))",
         "%%step each -> join\nself.sq = self.input ** 2",
         "%%step join -> end\nself.total = sum(i.sq for i in inputs)",
         "%%step end\npass"]


def test_redraws_follow_state_changes_not_task_events(workdir, monkeypatch, capsys):
    make_notebook(workdir / "wide.ipynb", CELLS)
    events = []
    result = run_notebook(read_notebook(workdir / "wide.ipynb"), RunOptions(max_num_splits=WIDTH, max_workers=2),
                          listeners=[events.append])
    assert result.successful, result.message
    assert len(events) > 2 * WIDTH          # each task's start and end, at least

    clock = [0.0]
    monkeypatch.setattr(W, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))

    def replay(seconds_apart: float) -> W.LiveWidgets:
        live = W.LiveWidgets()
        for i, ev in enumerate(events):
            clock[0] = i * seconds_apart
            live(ev)
        return live

    burst = replay(0.0)             # every event at once: only state changes redraw
    assert burst.model.tasks_done() == burst.model.tasks_total() == WIDTH + 3
    assert burst.redraws < 40, burst.redraws
    assert f">{WIDTH}/{WIDTH}</text>" in W.graph.model_html(burst.model)   # the last state drawn
    slow = replay(2 * W.MIN_INTERVAL)   # events further apart than the interval: each redraws
    assert slow.redraws == len(events)
    capsys.readouterr()
