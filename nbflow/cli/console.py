"""Metaflow-style progress lines for a terminal: `[run_id/step/task_id (pid N)] message`."""
from __future__ import annotations

import sys
import threading

from ..records import EventKind, RunEvent


QUIET = (EventKind.TASK_STARTED, EventKind.TASK_CLONED)   # what --quiet prints nothing of


class ConsolePrinter:
    """A scheduler listener that prints every event as a line."""

    def __init__(self, out=None, err=None, quiet: bool = False):
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.quiet = quiet
        self.lock = threading.Lock()

    def _line(self, text: str, stream=None) -> None:
        with self.lock:
            (stream or self.out).write(text + "\n")
            (stream or self.out).flush()

    def __call__(self, ev: RunEvent) -> None:
        if ev.kind == EventKind.RUN_STARTED:
            self.flow, self.store = ev.info.get("flow"), ev.info.get("datastore")
        if self.quiet and (ev.kind in QUIET or ev.kind == EventKind.TASK_FINISHED and ev.successful):
            return   # what most tasks' events print: nothing
        prefix = f"[{ev.run_id}/{ev.step}/{ev.task_id} (pid {ev.pid if ev.pid is not None else '?'})]"
        if ev.kind == EventKind.RUN_STARTED:
            self._line(f"Workflow starting (run-id {ev.run_id}):")
        elif ev.kind == EventKind.TASK_STARTED and not self.quiet:
            again = f" (retry {ev.attempt})" if ev.attempt else ""
            self._line(f"{prefix} Task is starting{again}.")
        elif ev.kind == EventKind.TASK_OUTPUT:
            self._line(f"{prefix} {ev.text}", self.err if ev.stream == "stderr" else self.out)
        elif ev.kind == EventKind.TASK_FINISHED:
            if ev.successful:
                if not self.quiet:
                    self._line(f"{prefix} Task finished successfully.")
            elif ev.info.get("ended"):   # not failed: the run stopped it
                self._line(f"{prefix} Task {ev.text}.", self.err)
            else:
                self._line(f"{prefix} Task failed: {ev.text}", self.err)
        elif ev.kind == EventKind.TASK_RETRYING:
            delay = ev.info.get("delay") or 0
            self._line(f"{prefix} Retrying (attempt {ev.attempt + 1})"
                       + (f" in {delay:g} s." if delay else "."), self.err)
        elif ev.kind == EventKind.RUN_FINISHED:
            if not self.quiet and getattr(self, "store", None):   # "Done!" stays the last line
                self._line(stored_line(self.flow, ev.run_id, self.store))
            if ev.successful:
                self._line("Done!")
            else:
                self._line(f"Workflow failed: {ev.text}", self.err)


def stored_line(flow: str, run_id: str, store: str) -> str:
    """Where the run is and how to read it: `Run stored in notebooks/.nbflow: ...`."""
    import os

    where = store
    if "://" not in store:
        rel = os.path.relpath(store)
        where = rel if not rel.startswith("..") else store
    return f"Run stored in {where}: Flow('{flow}')['{run_id}']"
