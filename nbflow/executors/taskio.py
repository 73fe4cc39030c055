"""One event loop for every running task of a local executor: their stdin, stdout and
stderr pipes, their exits (a pidfd, or the zygote's reply) and the zygotes' sockets, all
in one poller (epoll, else poll: straight, without the selectors module's objects
per call), driven by the caller's thread (the scheduler's: `claim`, then `pump`),
else by one thread of its own started on first use (e.g. a Dask worker's threads launch
tasks and wait for their callbacks). No thread per task; the cost of a task here is a
few reads and one callback per event.
"""
from __future__ import annotations

import math
import os
import select
import threading
import time
from collections import deque
from collections.abc import Callable

from .base import ExitCallback, OutputCallback, TaskHandle

EXIT_GRACE = 0.5  # seconds to drain pipes that a task's own children keep open
CHUNK = 65536
READ, WRITE = select.POLLIN, select.POLLOUT   # the same bits as EPOLLIN, EPOLLOUT


class _Poller:
    """epoll where there is one (Linux), else poll (macOS): register, unregister, wait."""

    def __init__(self):
        self.epoll = hasattr(select, "epoll")
        self.p = select.epoll() if self.epoll else select.poll()

    def register(self, fd: int, events: int) -> None:
        self.p.register(fd, events)

    def unregister(self, fd: int) -> None:
        self.p.unregister(fd)

    def wait(self, timeout: float | None) -> list[tuple[int, int]]:
        if self.epoll:
            return self.p.poll(-1 if timeout is None else timeout)
        return self.p.poll(None if timeout is None else math.ceil(timeout * 1000))


class Watched:
    """A running task as the loop sees it."""

    __slots__ = ("handle", "streams", "on_output", "on_exit", "stdin", "data", "code",
                 "exited_at", "exit_fd", "reap")

    def __init__(self, handle: TaskHandle, streams: dict[int, str], on_output: OutputCallback,
                 on_exit: ExitCallback):
        self.handle = handle
        self.streams = streams           # open output fd -> "stdout" / "stderr"
        self.on_output, self.on_exit = on_output, on_exit
        self.stdin: int | None = None
        self.data = memoryview(b"")      # request bytes not yet written to stdin
        self.code: int | None = None     # exit status, once known
        self.exited_at = 0.0
        self.exit_fd: int | None = None  # a pidfd (spawned tasks)
        self.reap: Callable[[], int] | None = None   # its exit status, once exit_fd fired


class TaskIO:
    def __init__(self):
        self.poller = _Poller()
        self.fds: dict[int, object] = {}       # registered fd -> (Watched, fd) or a callback
        self.lingering: set[Watched] = set()   # exited, pipes still open (its children's)
        self.lock = threading.RLock()          # one pump at a time
        self.mode = ""                         # "pump" (a caller pumps) or "thread" (ours)
        self.thread: threading.Thread | None = None
        self.calls: deque = deque()            # for our thread to run (mode "thread")
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        self.source(self.wake_r, self._run_calls)

    # -- who drives the loop -------------------------------------------------------
    def claim(self) -> bool:
        """The caller's thread will pump from now on; False if our own thread already does."""
        if self.mode == "thread":
            return False
        self.mode = "pump"
        return True

    @property
    def threaded(self) -> bool:
        """Whether our own thread runs the loop (started now if nobody claimed it)."""
        if not self.mode:
            self.mode = "thread"
            self.thread = threading.Thread(target=self._forever, daemon=True,
                                           name="nbflow-task-io")
            self.thread.start()
        return self.mode == "thread"

    def call(self, fn: Callable[[], None]) -> None:
        """Run `fn` in the loop's thread (now, if that is this one)."""
        if not self.threaded or threading.current_thread() is self.thread:
            fn()
            return
        self.calls.append(fn)
        try:
            os.write(self.wake_w, b"x")
        except BlockingIOError:
            pass   # a wake-up is pending already

    def _forever(self) -> None:
        while True:
            self.pump(None)

    def _run_calls(self) -> None:
        os.read(self.wake_r, 4096)
        while self.calls:
            self.calls.popleft()()

    # -- registering ---------------------------------------------------------------
    def watch(self, handle: TaskHandle, out_r: int, err_r: int, on_output: OutputCallback,
              on_exit: ExitCallback, stdin: int | None, data: bytes | memoryview) -> Watched:
        """Pump the task's output, feed it `data` on `stdin` (then close it; None: done)."""
        w = Watched(handle, {out_r: "stdout", err_r: "stderr"}, on_output, on_exit)
        for fd in (out_r, err_r):
            self._register(fd, READ, (w, fd))
        if stdin is not None:
            w.stdin, w.data = stdin, memoryview(data)
            os.set_blocking(stdin, False)
            self._feed(w)
        if w.stdin is not None:
            self._register(stdin, WRITE, (w, stdin))
        return w

    def on_exit_fd(self, w: Watched, fd: int, reap: Callable[[], int]) -> None:
        """`fd` becomes readable when the task exits; `reap()` then gives its status."""
        w.exit_fd, w.reap = fd, reap
        self._register(fd, READ, (w, fd))

    def source(self, fd, callback: Callable[[], None]) -> None:
        """Call `callback()` whenever `fd` (an int, or a socket) is readable (a zygote's)."""
        self._register(fd if isinstance(fd, int) else fd.fileno(), READ, callback)

    def drop_source(self, fd) -> None:
        self._unregister(fd if isinstance(fd, int) else fd.fileno())

    def _register(self, fd: int, events: int, data) -> None:
        self.fds[fd] = data
        self.poller.register(fd, events)

    # -- the loop ------------------------------------------------------------------
    def pump(self, timeout: float | None) -> None:
        """Wait up to `timeout` for events and handle them (callbacks run in this thread)."""
        with self.lock:
            if self.lingering:
                soonest = min(w.exited_at for w in self.lingering) + EXIT_GRACE - time.monotonic()
                timeout = max(0.0, soonest if timeout is None else min(timeout, soonest))
            for fd, _ in self.poller.wait(timeout):
                data = self.fds.get(fd)
                if data is None:   # unregistered by an earlier callback of this batch
                    continue
                if callable(data):
                    data()
                    continue
                w, fd = data
                if fd == w.stdin:
                    self._feed(w)
                elif fd == w.exit_fd:
                    self._unregister(fd)
                    w.exit_fd = None
                    self.exited(w, w.reap())
                else:
                    self._read(w, fd)
            now = time.monotonic()
            for w in [w for w in self.lingering if now >= w.exited_at + EXIT_GRACE]:
                self._finish(w)   # the task exited; its own children still hold the pipes

    def exited(self, w: Watched, code: int) -> None:
        """The task's process ended with `code`: done once its pipes are drained."""
        if w.code is not None:
            return
        w.code, w.exited_at = code, time.monotonic()
        if w.streams:
            self.lingering.add(w)
        else:
            self._finish(w)

    @staticmethod
    def write_ahead(fd: int, data: bytes) -> tuple[int | None, memoryview]:
        """Write what the pipe takes now (a task's request, before its process exists):
        (the fd, still open, with what is left) or (None, nothing) when all went."""
        view = memoryview(data)
        os.set_blocking(fd, False)
        try:
            while view:
                view = view[os.write(fd, view):]
        except BlockingIOError:
            return fd, view
        except OSError:
            pass
        os.close(fd)
        return None, memoryview(b"")

    def _feed(self, w: Watched) -> None:
        try:
            while w.data:
                n = os.write(w.stdin, w.data)
                w.data = w.data[n:]
        except BlockingIOError:
            return
        except OSError:   # the task ended without reading it all
            pass
        if w.stdin is not None:
            self._unregister(w.stdin)
            os.close(w.stdin)
            w.stdin, w.data = None, memoryview(b"")

    def _read(self, w: Watched, fd: int) -> None:
        chunk = os.read(fd, CHUNK)
        if chunk:
            w.on_output(w.streams[fd], chunk)
            return
        self._unregister(fd)
        os.close(fd)
        stream = w.streams.pop(fd)
        w.on_output(stream, b"")
        if not w.streams and w.code is not None:
            self._finish(w)

    def _finish(self, w: Watched) -> None:
        self.lingering.discard(w)
        for fd, stream in list(w.streams.items()):
            self._unregister(fd)
            os.close(fd)
            w.on_output(stream, b"")
        w.streams.clear()
        if w.stdin is not None:
            self._unregister(w.stdin)
            os.close(w.stdin)
            w.stdin = None
        w.handle.returncode = w.code
        w.on_exit(w.code)

    def _unregister(self, fd: int) -> None:
        if self.fds.pop(fd, None) is not None:
            try:
                self.poller.unregister(fd)
            except (KeyError, ValueError, OSError):
                pass   # closed already: epoll forgot it by itself
