"""The zygote: a warm process that has imported the task runtime and forks one
child per task. Each child is a fresh process (its own memory, its own process
group) that runs exactly one task and exits; the zygote reports pids and exit codes.

Protocol over a SOCK_SEQPACKET unix socket (a task's messages in ASCII, the rest JSON):
  in:  b"<n>" with three fds attached: task n's stdin, stdout, stderr;
       {"preload": [module, ...]}: import these before the next fork;
       {"warm": {"step", "step_cell", "flow_cell", "notebook_path", "datastore", "items"}}:
       compile that step's code and load its foreach items (small local blobs) before the
       next fork (its tasks then find them ready: task/runtime.warm)
  out: b"p<n> <pid>", later b"x<n> <exit code>"
"""
from __future__ import annotations

import ctypes  # noqa: F401  (each task calls prctl through it: task/keeper.py)
import importlib
import json
import os
import select
import signal
import socket
import sys

import xxhash  # noqa: F401  (tasks hash their artifacts with it)

import nbflow.task.keeper
import nbflow.task.runtime  # noqa: F401  (the whole point: imported once, before forking)
from nbflow.task import proctree
from nbflow.executors.base import ZYGOTE_MESSAGE_MAX
from nbflow.task.proctree import kill_tree


def _child(fds: list[int], sock: socket.socket, wake_fds: tuple[int, int], zygote: int) -> None:
    os.setsid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.set_wakeup_fd(-1)
    # no keeper process: the task keeps itself, and ends if the zygote dies (keeper.py)
    nbflow.task.keeper.keep_in_process(zygote)
    sock.close()
    for fd in wake_fds:
        os.close(fd)
    for target, fd in zip((0, 1, 2), fds):
        os.dup2(fd, target)
        os.close(fd)
    sys.stdin = open(0, closefd=False)
    _reseed()
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr.reconfigure(line_buffering=True)
    code = 1
    try:
        nbflow.task.runtime.main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
            nbflow.task.keeper.end_in_process()   # nothing it started outlives the task
        finally:
            os._exit(code)


def _reseed() -> None:
    """A forked task must not draw the zygote's random numbers: Python reseeds `random` at
    fork, numpy's global generator (preloaded with the notebook's imports) is ours to
    reseed, as a fresh interpreter would seed it."""
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None:
        try:
            numpy_random.seed()
        except Exception:
            pass


def main() -> None:
    serve(socket.socket(fileno=int(sys.argv[1])), json.loads(sys.argv[2]) if len(sys.argv) > 2 else [])


def serve(sock: socket.socket, preload: list[str]) -> None:
    """The zygote's loop: fork a child per request until the scheduler hangs up. Lean on
    purpose: after each fork every page this loop writes is copied again (the children
    share them), so it touches few objects (epoll, no json for tasks)."""
    _preload(preload)
    # what a task that died abruptly left behind comes to us (and is ended: _reap)
    proctree.prctl(proctree.PR_SET_CHILD_SUBREAPER, 1)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, _on_child_signal)
    children: dict[int, int] = {}
    poller = select.epoll()
    poller.register(sock.fileno(), select.EPOLLIN)
    poller.register(wake_r, select.EPOLLIN)
    running = True
    zygote = os.getpid()
    later = ["cloudpickle"]   # tasks pickle most artifacts with it: imported after the first fork
    while running or children:
        for fd, _ in poller.poll():
            if fd == wake_r:
                os.read(wake_r, 4096)
                _reap(children, sock)
                continue
            try:
                msg, fds, _flags, _addr = socket.recv_fds(sock, ZYGOTE_MESSAGE_MAX, 3)
            except OSError:
                msg, fds = b"", []
            if not msg:
                running = False
                poller.unregister(sock.fileno())
                for pid in children:  # the scheduler is gone: end its tasks
                    kill_tree(pid)
                continue
            if msg[:1] == b"{":
                _control(json.loads(msg))
                continue
            tid = int(msg)
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _child(fds, sock, (wake_r, wake_w), zygote)
            for fd in fds:
                os.close(fd)
            children[pid] = tid
            _send(sock, b"p%d %d" % (tid, pid))
            if later:   # the first task runs meanwhile: it was not kept waiting for this
                _preload(later)
                later = []
        _reap(children, sock)


def _on_child_signal(*_args) -> None:
    pass   # installed so that SIGCHLD writes to the wake-up pipe


def _control(request: dict) -> None:
    if "preload" in request:
        _preload(request["preload"])
    elif "warm" in request:
        nbflow.task.runtime.warm(**request["warm"])


def _preload(names: list[str]) -> None:
    """Import what the notebook imports, once, so every forked task has it."""
    for name in names:
        try:
            importlib.import_module(name)
        except BaseException:
            pass  # only a speed-up: the task itself reports a real import error


def _reap(children: dict[int, int], sock: socket.socket) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        tid = children.pop(pid, None)
        if tid is not None:
            _send(sock, b"x%d %d" % (tid, os.waitstatus_to_exitcode(status)))
            _end_leftovers(children)


def _end_leftovers(children: dict[int, int]) -> None:
    """Our children that are not tasks were left by a task that died without ending them
    (a subreaper: they came to us when it died): end them, with what they started."""
    for pid in proctree.children(os.getpid(), known=children):
        kill_tree(pid)


def _send(sock: socket.socket, msg: bytes) -> None:
    try:
        sock.send(msg)
    except OSError:
        pass


if __name__ == "__main__":
    main()
