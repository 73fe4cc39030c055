"""The keeper: no process a task starts outlives the task, or the run.

A task process, once it has read its request, forks: the child runs the task; the
parent stays behind as its keeper. The keeper is the pid the scheduler knows, the
leader of the task's process group and session, and a child subreaper
(PR_SET_CHILD_SUBREAPER), so everything the task starts, even in a session of its
own, remains below it. It waits, doing nothing else, for one of:

- the task process ends: the keeper kills every process left below it (a finished
  task leaves nothing running) and exits with the task's status;
- the scheduler goes away: the lifeline pipe whose write end the scheduler's process
  holds reaches EOF (however that process ended), or the keeper's parent (the zygote)
  dies (PR_SET_PDEATHSIG sends the keeper SIGTERM), or it is sent SIGTERM/SIGHUP:
  it kills the task and everything below it, then itself (the scheduler sees -9).

If the keeper itself is SIGKILLed, the task dies with it (PR_SET_PDEATHSIG) and the
scheduler's kill reads the process tree first (proctree.kill_tree).
Linux only: elsewhere the task runs in the first process, and only its process group
is killed (a child in its own session survives, and so does a task whose scheduler was
SIGKILLed).

A task forked by the zygote has no keeper process (a second fork per task cost about as
much as the rest of the task): `keep_in_process` makes the task process keep itself. It
is a child subreaper, so what it starts stays below it; it ends all of that before it
exits (zygote.py); its parent, the zygote, is itself a subreaper that ends whatever a
task that died abruptly left behind; and the zygote's death sends the task DEATH_SIGNAL,
whose handler ends everything below the task, then the task. The scheduler's own
ending of a task (kill_tree) reads the tree first, as before. What this gives up against
a keeper: a task whose own code replaces the DEATH_SIGNAL handler, or blocks signals,
outlives a SIGKILLed zygote (the scheduler still records it as ended, and refuses its
late commit).
"""
from __future__ import annotations

import os
import select
import signal
import time

from . import proctree

LIFELINE_ENV = "NBFLOW_LIFELINE_FD"   # a pipe's read end: EOF when the scheduler is gone
PARENT_ENV = "NBFLOW_KEEPER_PARENT"   # the pid whose death ends the task (the zygote)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
DEATH_SIGNAL = getattr(signal, "SIGRTMIN", signal.SIGTERM) + 6   # the zygote died (in-process)
pids: dict[str, int] = {}   # "keeper" / "zygote": the processes this task's life depends on
_kept = ""                  # keep_in_process() ran: "on" (it keeps the task), "off" (disabled)


def _env_int(name: str) -> int | None:
    value = os.environ.pop(name, "")   # the step's own subprocesses must not see it
    return int(value) if value.isdigit() else None


def guard() -> None:
    """Become the keeper of a forked child, and return in that child (which runs the task).
    Returns at once, with no keeper, where the mechanisms are missing or NBFLOW_KEEPER=0."""
    lifeline, parent = _env_int(LIFELINE_ENV), _env_int(PARENT_ENV)
    if _kept or os.environ.get("NBFLOW_KEEPER") == "0" or not proctree.prctl(
            proctree.PR_SET_CHILD_SUBREAPER, 1):
        return
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    handlers = {s: signal.signal(s, _noop) for s in (signal.SIGCHLD, *STOP_SIGNALS)}
    signal.set_wakeup_fd(wake_w)
    if parent:
        proctree.die_with_parent(signal.SIGTERM, parent)
    keeper = os.getpid()
    child = os.fork()
    if child == 0:
        pids["keeper"] = keeper
        signal.set_wakeup_fd(-1)
        for s, h in handlers.items():
            signal.signal(s, h)
        for fd in (wake_r, wake_w, lifeline):
            if fd is not None:
                os.close(fd)
        proctree.prctl(proctree.PR_SET_PDEATHSIG, 0)
        proctree.die_with_parent(signal.SIGKILL, keeper)
        return
    _keep(child, wake_r, lifeline)


def _noop(*_args) -> None:
    pass


def keep_in_process(parent: int) -> None:
    """A forked task keeps itself (see the module's doc): a subreaper, ended with all it
    started when `parent` (the zygote, which forked it) dies. Nothing with NBFLOW_KEEPER=0
    or without prctl."""
    global _kept
    _kept = "off"   # guard() has nothing to do either way
    pids["zygote"] = parent
    if os.environ.get("NBFLOW_KEEPER") == "0" or not proctree.prctl(
            proctree.PR_SET_CHILD_SUBREAPER, 1):
        return
    _kept = "on"
    signal.signal(DEATH_SIGNAL, _parent_died)
    proctree.die_with_parent(DEATH_SIGNAL, parent)


def _parent_died(*_args) -> None:
    end_below(None)
    os.kill(os.getpid(), signal.SIGKILL)


def end_in_process() -> None:
    """A task that kept itself is ending: nothing it started outlives it."""
    if _kept == "on":
        end_below(None)


def _keep(child: int, wake_r: int, lifeline: int | None) -> None:
    """The keeper's whole life; it never returns."""
    code: int | None = None
    stop = False
    try:
        fds = [wake_r] + ([lifeline] if lifeline is not None else [])
        while code is None and not stop:
            code = _reap(child)
            if code is not None:
                break
            ready, _, _ = select.select(fds, [], [])
            if wake_r in ready:
                got = os.read(wake_r, 512)
                stop = any(s in got for s in STOP_SIGNALS)
            if lifeline in ready and not os.read(lifeline, 512):
                stop = True   # EOF: the scheduler's process has ended
        end_below(child if code is None else None)
    finally:
        _exit_like(None if stop else code)


def _exit_like(code: int | None) -> None:
    """Exit with the task's status: its exit code, or death by its signal (None: SIGKILL)."""
    sig = signal.SIGKILL if code is None else -code if code < 0 else 0
    if sig:
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
        os.kill(os.getpid(), sig)
    os._exit(code if code is not None and code >= 0 else 1)


def _reap(child: int) -> int | None:
    """Reap every child that ended; the task process's exit code if it was one of them."""
    return _reap_all(child)[0]


def _reap_all(child: int) -> tuple[int | None, bool]:
    """Reap every child that ended: (`child`'s exit code if it was one of them, whether no
    child at all is left)."""
    code = None
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return code, True
        if pid == 0:
            return code, False
        if pid == child:
            code = os.waitstatus_to_exitcode(status)


def end_below(task: int | None, limit: float = 10.0) -> None:
    """Kill the task (if still alive) and every process below this one, and reap them."""
    me = os.getpid()
    if task is not None:
        try:
            os.kill(task, signal.SIGKILL)
        except ProcessLookupError:
            pass
    elif _no_child_left():
        return   # it started nothing (the usual task): no tree to read
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        proctree.kill_tree(me, include_root=False)
        if _no_child_left():
            return
        time.sleep(0.005)


def _no_child_left() -> bool:
    """Reap what ended; True once this process has no child at all. An empty reading of the
    tree is not enough: a dying child's own children are handed to us (a subreaper) only as
    it exits, and may be listed under neither for that moment. While any process remains
    below us, one of our children is alive or unreaped."""
    return _reap_all(-1)[1]
