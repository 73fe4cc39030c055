"""Count every process a benchmarked command started, even those that outlive it.

`nbflow run` can exit a moment before its zygote (and the zygote's tasks) are reaped; they
would be reparented to init and their CPU time and peak memory lost. A subreaper adopts
them instead, and reaping them adds their usage to RUSAGE_CHILDREN."""
from __future__ import annotations

import os
import time


def become_subreaper() -> None:
    """Orphaned descendants (a task runner that outlives `nbflow run` by a moment) become
    our children, so their CPU time is counted once reaped (Linux's PR_SET_CHILD_SUBREAPER)."""
    import ctypes

    if ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) != 0:
        raise SystemExit("prctl(PR_SET_CHILD_SUBREAPER) failed: CPU times would miss tasks")


def reap_orphans(wait: float = 60.0) -> None:
    deadline = time.monotonic() + wait
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            if time.monotonic() > deadline:
                raise SystemExit("a process of the run is still alive a minute after it")
            time.sleep(0.05)
