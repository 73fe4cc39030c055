"""The step options as they act inside a task: --timeout, --catch, --resources memory.

Imported by the task subprocess (and by the scheduler for the shared messages): keep it
light, standard library only.
"""
from __future__ import annotations

import signal
import sys
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..records import TaskRequest

# How long the scheduler lets a task outlive its --timeout (to store what it has
# and exit by itself) before it kills the task's whole process group.
KILL_GRACE = 5.0


class TimeoutException(Exception):
    """Raised inside a step when its --timeout expires (Metaflow's name for it)."""


def timeout_message(step: str, seconds: float) -> str:
    unit = "second" if seconds == 1 else "seconds"
    return f"step '{step}' timed out after {seconds:g} {unit} (--timeout {seconds:g})"


class Deadline:
    """`with Deadline(seconds, step):` raises TimeoutException in the main thread once
    `seconds` have passed, and at the end of the block if the step swallowed it."""

    def __init__(self, seconds: float | None, step: str):
        self.seconds = seconds
        self.step = step
        self.fired = False
        self._old = None

    def _active(self) -> bool:
        return bool(self.seconds) and threading.current_thread() is threading.main_thread()

    def _on_alarm(self, signum, frame):
        self.fired = True
        raise TimeoutException(timeout_message(self.step, self.seconds))

    def __enter__(self):
        if self._active():
            self._old = signal.signal(signal.SIGALRM, self._on_alarm)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self._active():
            return
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self._old or signal.SIG_DFL)
        if self.fired and not isinstance(exc, TimeoutException):
            # the step caught the timeout (e.g. `except Exception`) and went on: still a failure
            raise TimeoutException(timeout_message(self.step, self.seconds)) from exc


def is_last_attempt(req: TaskRequest) -> bool:
    return req.is_last_attempt


def catch_var(req: TaskRequest) -> str | None:
    """The --catch variable when this attempt's failure is to be caught, else None."""
    return req.catch if req.is_last_attempt else None


def caught_notice(var: str) -> str:
    return f"The error is caught by --catch {var}: self.{var} holds it and the flow goes on.\n"


# -- --resources memory=MB ---------------------------------------------------------
def limit_memory(resources: dict | None) -> None:
    """Cap the task process's data memory at `memory` MB where the OS allows (Linux).

    RLIMIT_DATA counts what a process allocates (heap, anonymous maps: arrays), not
    code, shared libraries or address space merely reserved, so it fails a step that
    allocates too much with a MemoryError instead of breaking imports. Each child
    process the step starts gets its own cap of the same size.
    """
    mb = (resources or {}).get("memory")
    if not mb or not sys.platform.startswith("linux"):
        return
    import resource

    limit = int(mb * 1024 * 1024)
    _soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))


def memory_hint(exc: BaseException, resources: dict | None) -> str | None:
    """A clearer message for a MemoryError under a --resources memory cap."""
    mb = (resources or {}).get("memory")
    if isinstance(exc, MemoryError) and mb and sys.platform.startswith("linux"):
        return (f"the step ran out of memory: it is limited to {mb:g} MB by "
                f"'--resources memory={mb:g}'; raise it if the step needs more")
    return None
