"""The live widgets' own CPU time on the 1000-way foreach, free of the machine's noise:
the run's events are recorded once (a real `nbflow` run, with their times), then fed to
the widgets and to the plain task-output listener again and again, each widget seeing the
run's own clock (so it throttles its redraws as it did live). No kernel: what is left out
is sending the widgets' messages to a front end (`widget_overhead.py` measures the whole,
in a real kernel).

    python benchmarks/widget_cpu.py [N]     (from the repository root; N replays, default 3)"""
import contextlib
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
import types

N = int(sys.argv[1]) if len(sys.argv) > 1 else 3
notebook = os.path.abspath("notebooks/wide_foreach.ipynb")
work = tempfile.mkdtemp(prefix="widget-cpu-")
shutil.copy(notebook, work)
os.chdir(work)

import nbflow.kernel.widgets as W  # noqa: E402
from nbflow.cli.console import ConsolePrinter  # noqa: E402
from nbflow.notebook.parse import read_notebook  # noqa: E402
from nbflow.run.runner import RunOptions, run_notebook  # noqa: E402

events, stamps = [], []
t0 = time.perf_counter()
result = run_notebook(read_notebook("wide_foreach.ipynb"),
                      RunOptions(max_num_splits=1000, max_workers=2),
                      listeners=[lambda ev: (events.append(ev), stamps.append(time.monotonic()))])
run_seconds = time.perf_counter() - t0
assert result.successful, result.message

clock = [0.0]
W.time = types.SimpleNamespace(monotonic=lambda: clock[0])   # the widgets see the run's clock


def replay(listener) -> float:
    t = time.process_time()
    with contextlib.redirect_stdout(io.StringIO()):
        for ev, at in zip(events, stamps):
            clock[0] = at
            listener(ev)
    return (time.process_time() - t) * 1000


widgets, text = [], []
for _ in range(N):
    live = W.LiveWidgets()
    widgets.append(replay(live))
    text.append(replay(ConsolePrinter(quiet=True)))
shutil.rmtree(work, ignore_errors=True)
assert live.graph is not None and live.model.graph is not None   # it read the run's graph
assert live.model.status == "done" and live.model.tasks_done() == live.model.tasks_total()
w, c = statistics.median(widgets), statistics.median(text)
print(f"run: {run_seconds:.2f} s, {len(events)} events; widgets redrew {live.redraws} times, "
      f"final state {live.model.tasks_done()}/{live.model.tasks_total()} tasks done")
print(f"widgets: {w:.1f} ms CPU for the whole run (median of {N}); task output only: {c:.1f} ms;"
      f" widgets / run time: {w / 1000 / run_seconds:.2%}")
