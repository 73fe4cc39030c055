"""Live displays for `%nbflow run`: ipywidgets when the front end has them, else text.

Fed only by RunEvents (and the store); one module per widget."""
from __future__ import annotations

import os
import sys
import time

from ...cli.console import ConsolePrinter
from ...records import EventKind

MIN_INTERVAL = 0.1   # seconds between redraws: a 1000-task foreach is not 4000 messages


def widgets_available() -> bool:
    if os.environ.get("NBFLOW_NO_WIDGETS") == "1":
        return False
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class LiveWidgets:
    """The graph (an HTML display updated in place) and the status widget. A step
    changing state redraws at once; counts alone at most every MIN_INTERVAL, so a
    1000-task foreach redraws about 10 times a second, not once per event.
    `LiveWidgets.last` is the latest run's (its status widget's card buttons, say)."""

    last: LiveWidgets | None = None

    def __init__(self):
        from .graph import GraphDisplay
        from .model import RunModel
        from .status import StatusWidget

        self.model = RunModel()
        self.graph = GraphDisplay(self.model)
        self.status = StatusWidget(self.model)
        self._last = 0.0
        self._seen: tuple = ()
        self.redraws = 0
        LiveWidgets.last = self

    def __call__(self, ev) -> None:
        self.model(ev)
        if ev.kind == EventKind.RUN_STARTED:   # shown once the run exists (not for a notebook in error)
            from IPython.display import display

            self.graph.show()
            display(self.status.widget)
        now = time.monotonic()
        sig = self.model.signature()
        if ev.kind in (EventKind.RUN_STARTED, EventKind.RUN_FINISHED) or sig != self._seen or \
                now - self._last >= MIN_INTERVAL:
            self._last, self._seen = now, sig
            self.redraws += 1
            self.graph.refresh()
            self.status.refresh()


class TextProgress:
    """The plain-text fallback's summary line at the end of a run."""

    def __init__(self):
        from .model import RunModel

        self.model = RunModel()

    def __call__(self, ev) -> None:
        self.model(ev)
        if ev.kind == EventKind.TASK_CLONED:   # resume
            print(f"[{ev.run_id}/{ev.step}/{ev.task_id}] {ev.text}.")
        if ev.kind == EventKind.RUN_FINISHED:
            from .status import status_text

            print(status_text(self.model), file=sys.stdout)


def live_display() -> list:
    """Listeners for one run: widgets plus task output, or Metaflow-style text lines."""
    if widgets_available():
        return [LiveWidgets(), ConsolePrinter(quiet=True)]
    return [ConsolePrinter(), TextProgress()]
