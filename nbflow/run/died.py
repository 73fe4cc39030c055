"""The record the scheduler writes for a task attempt that ended without its own commit:
killed (from outside, or lost with its zygote), lost with its Dask worker, ended by the
run after another task failed, or timed out and killed."""
from __future__ import annotations

from ..records import TaskRecord
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


def ended_record(graph, r, code: int) -> TaskRecord:
    """`r`: the scheduler's Running entry (its TaskRequest); `code`: the exit status
    (negative: a signal)."""
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
        message = (taskopts.timeout_message(r.task.step, graph[r.task.step].spec.options.timeout)
                   + "; it did not stop, so it was killed with every process it started")
    return TaskRecord.of_attempt(r.request, started_at=r.started, pid=r.handle.pid,
                                 successful=False,
                                 exception={"type": kind, "message": message,
                                            "traceback": message})
