"""The record the scheduler writes for a task attempt that ended without its own commit:
killed (from outside, or lost with its zygote), lost with its Dask worker, ended by the
run after another task failed, or timed out and killed."""
from __future__ import annotations

import time

from ..task import options as taskopts

ENDED = "TaskEnded"      # the exception type of a task the run ended (it did not fail)


def signal_name(number: int) -> str:
    """'SIGKILL'; a crash says what it was ('SIGSEGV: a segmentation fault')."""
    import signal

    try:
        name = signal.Signals(number).name
    except ValueError:
        return "unknown signal"
    crashes = {"SIGSEGV": "a segmentation fault", "SIGBUS": "a bus error",
               "SIGFPE": "a floating-point error", "SIGILL": "an illegal instruction",
               "SIGABRT": "aborted"}
    return f"{name}: {crashes[name]}" if name in crashes else name


def ended_record(graph, run_id: str, r, code: int) -> dict:
    """`r`: the scheduler's Running entry; `code`: the exit status (negative: a signal)."""
    t = r.task
    how = f"killed by signal {-code} ({signal_name(-code)})" if code < 0 else \
        f"exited with status {code}"
    message = f"the task process {how} before it finished"
    kind = "TaskKilled"
    if r.handle.lost:
        message = f"{message}: {r.handle.lost}"
    elif getattr(r.handle, "fault", None):  # e.g. the Dask worker running it died
        kind, message = "WorkerLost", r.handle.fault
    elif r.ended:
        kind, message = ENDED, r.ended
    elif r.timed_out:
        kind = "TimeoutException"
        message = (taskopts.timeout_message(t.step, graph[t.step].spec.options.timeout)
                   + "; it did not stop, so it was killed with every process it started")
    return {"flow": graph.name, "run_id": run_id, "step": t.step,
            "task_id": t.task_id, "attempt": t.attempt,
            "pathspec": f"{graph.name}/{run_id}/{t.step}/{t.task_id}",
            "started_at": r.started, "finished_at": time.time(), "pid": r.handle.pid,
            "parents": [p["pathspec"] for p in t.parents], "foreach_stack": t.foreach_stack,
            "successful": False, "artifacts": {},
            "resources": graph[t.step].spec.options.resources_dict(),
            "exception": {"type": kind, "message": message, "traceback": message}}
