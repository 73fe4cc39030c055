"""Local executors: every task attempt is its own process on this machine.

LocalExecutor forks tasks from a warm "zygote" process that has already imported
the task runtime (fresh memory per task, ~ms to start); SpawnExecutor starts a new
`python -m nbflow.task` per task (used where fork is unsafe, or with --no-fork).
Both give a task its own process group, so kill() ends everything it started. One
event loop (taskio.py), driven by the scheduler's thread through `pump`, serves every
task's pipes and exit: no thread per task.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..cards import MPL_BACKEND
from ..records import TaskRequest
from ..task.keeper import LIFELINE_ENV
from .base import (ZYGOTE_MESSAGE_MAX, Executor, ExitCallback, OutputCallback, TaskHandle,
                   kill_group)
from .taskio import TaskIO, Watched

if TYPE_CHECKING:   # imported where a process is spawned: `nbflow run` forks, and starts faster
    import subprocess


def task_env(environment: dict | None = None) -> dict:
    """The task's environment variables; a pinned step's task imports nbflow from its
    runtime folder first (its interpreter has only the pinned packages)."""
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env["MPLBACKEND"] = MPL_BACKEND   # not the kernel's inline backend: tasks have no front end
    if environment:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [environment["pythonpath"],
                                                          env.get("PYTHONPATH")]))
    return env


class SpawnExecutor(Executor):
    """Each task a new interpreter. They hold the read end of one lifeline pipe whose write
    end only this process holds: when it ends, however, their keepers end them."""

    name = "spawn"

    def __init__(self, io: TaskIO | None = None):
        self._lifeline: tuple[int, int] | None = None
        self.io = io or TaskIO()

    def pump(self, timeout: float | None) -> None:
        """Handle the tasks' output and exits for up to `timeout` seconds (taskio.py)."""
        self.io.pump(timeout)

    def launch(self, request: TaskRequest, on_output: OutputCallback, on_exit: ExitCallback,
               on_start=None) -> TaskHandle:
        handle = TaskHandle()
        if self._lifeline is None:
            self._lifeline = os.pipe()
        life_r = self._lifeline[0]
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        in_r, in_w = os.pipe()
        environment = request.environment   # a --pypi step: its own interpreter
        python = environment["python"] if environment else sys.executable
        import subprocess

        proc = subprocess.Popen([python, "-m", "nbflow.task"], stdin=in_r, stdout=out_w,
                                stderr=err_w, env=dict(task_env(environment),
                                                       **{LIFELINE_ENV: str(life_r)}),
                                pass_fds=[life_r], start_new_session=True)
        for fd in (out_w, err_w, in_r):
            os.close(fd)
        handle.pid = proc.pid
        data = request.encode()

        def attach():
            w = self.io.watch(handle, out_r, err_r, on_output, on_exit, in_w, data)
            wake_r = _exit_notifier(proc)
            self.io.on_exit_fd(w, wake_r, lambda: _reap_popen(proc, wake_r))

        self.io.call(attach)
        return handle

    def close(self) -> None:
        """Cut the lifeline: a task still running is ended by its keeper."""
        if self._lifeline is not None:
            for fd in self._lifeline:
                os.close(fd)
            self._lifeline = None


def _exit_notifier(proc: subprocess.Popen) -> int:
    """An fd that becomes readable when the process exits (pidfd, else a thread)."""
    if hasattr(os, "pidfd_open"):
        try:
            return os.pidfd_open(proc.pid)
        except OSError:
            pass
    r, w = os.pipe()

    def wait():
        proc.wait()
        os.write(w, b"x")
        os.close(w)

    threading.Thread(target=wait, daemon=True).start()
    return r


def _reap_popen(proc: subprocess.Popen, wake_fd: int) -> int:
    code = proc.wait()
    os.close(wake_fd)
    return code


class LocalExecutor(Executor):
    """Forks each task from a zygote; falls back to spawning where fork is unsafe."""

    name = "local"

    def __init__(self, fork: bool | None = None, preload: list[str] | None = None,
                 environment: dict | None = None, io: TaskIO | None = None):
        if fork is None:
            fork = sys.platform.startswith("linux") and os.environ.get("NBFLOW_NO_FORK") != "1"
        self.fork = fork
        self.environment = environment   # a --pypi environment: the zygote runs its Python
        self._envs: dict[str, LocalExecutor] = {}   # one zygote per pinned environment
        self.preload_modules = preload or []
        self.io = io or TaskIO()         # shared with the spawn and environment executors
        self._spawn = SpawnExecutor(self.io)
        self._zygote: subprocess.Popen | None = None
        self._zygote_pid: int | None = None
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()    # launches may come from several threads (Dask)
        self._next_id = 0
        self._pending: dict[int, _Forked] = {}   # request id -> the task, until its exit
        self._broken = False   # the zygote hung up (it died): start another before launching
        self._warmed: set[tuple] = set()   # steps (code, items) the zygote has warmed

    def pump(self, timeout: float | None) -> None:
        """Handle the tasks' output and exits for up to `timeout` seconds (taskio.py)."""
        self.io.pump(timeout)

    def claim_loop(self) -> bool:
        """The caller's thread will `pump` (the scheduler's); False if a thread of ours does."""
        return self.io.claim()

    def start(self) -> None:
        if not self.fork or self._sock is not None:
            return
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        if threading.active_count() == 1 and self.environment is None:
            self._zygote_pid = self._fork_zygote(ours, theirs)
        else:  # forking a threaded process (a kernel) is unsafe: start a fresh one
            python = self.environment["python"] if self.environment else sys.executable
            import subprocess

            self._zygote = subprocess.Popen(
                [python, "-m", "nbflow.executors.zygote", str(theirs.fileno()),
                 json.dumps(self.preload_modules)],
                pass_fds=[theirs.fileno()], env=task_env(self.environment),
                stdin=subprocess.DEVNULL,
                start_new_session=True)  # a kernel's interrupt (SIGINT to its group) spares it
        theirs.close()
        self._sock = ours
        self.io.source(ours, lambda: self._on_reply(ours))

    def preload(self, modules: list[str]) -> None:
        """Have the zygote import these (the notebook's imports) before its next fork."""
        if not self.fork or not modules:
            return
        if self._sock is None:
            self.start()
        with self._lock:
            self._sock.send(json.dumps({"preload": list(modules)}).encode())

    def _fork_zygote(self, ours: socket.socket, theirs: socket.socket) -> int:
        """Fork the zygote from this (still single-threaded) process: it skips an
        interpreter start, and imports the task runtime while we read the notebook."""
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid:
            return pid
        code = 0
        try:
            ours.close()
            os.environ["PYTHONUNBUFFERED"] = "1"
            devnull = os.open(os.devnull, os.O_RDONLY)
            os.dup2(devnull, 0)
            from .zygote import serve

            serve(theirs, self.preload_modules)
        except BaseException:
            code = 1
        finally:
            os._exit(code)

    def launch(self, request: TaskRequest, on_output: OutputCallback, on_exit: ExitCallback,
               on_start: Callable[[int | None], None] | None = None) -> TaskHandle:
        """`on_start(pid)`: called (in pump) once the task's process exists; the handle's
        pid may be None until then, when the caller pumps."""
        environment = request.environment
        if not self.fork:
            return self._spawn.launch(request, on_output, on_exit)   # its pid is known now
        if environment and environment["hash"] != (self.environment or {}).get("hash"):
            return self._env_executor(environment).launch(request, on_output, on_exit, on_start)
        if self._sock is None or self._broken:
            self._restart()  # the zygote died (killed): a new one serves the next tasks
        self._warm(request)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        in_r, in_w = os.pipe()
        # the request goes into its stdin now: the task reads it without waiting for us
        stdin, rest = self.io.write_ahead(in_w, request.encode())
        task = self._send(in_r, out_w, err_w)
        for fd in (in_r, out_w, err_w):
            os.close(fd)

        def attach():
            task.watched = self.io.watch(task.handle, out_r, err_r, on_output, on_exit, stdin,
                                         rest)
            if task.early is not None:   # it ended already (or the zygote died)
                self.io.exited(task.watched, task.early)
            if on_start is not None:
                on_start(task.handle.pid)

        if self.io.threaded:   # the caller wants the pid now (Dask's worker threads)
            task.started.wait()
            self.io.call(attach)
        else:   # its pipes are watched once the zygote said it forked (in pump)
            task.attach = attach
        return task.handle

    def _warm(self, request: TaskRequest) -> None:
        """Have the zygote compile the step's code and load its foreach items before it
        forks the step's first task (once per step, code and items: each task would
        otherwise parse and compile the code, and read and check the items' blob)."""
        cell, flow = request.step_cell, request.flow_cell or {}
        items = tuple(frame.key for frame in request.foreach_stack if frame.key)
        key = (request.step, request.notebook_path, cell.get("body"), cell.get("body_line"),
               cell.get("cell"), flow.get("code"), flow.get("body_line"), items)
        if key in self._warmed:
            return
        self._warmed.add(key)
        msg = json.dumps({"warm": {"step": request.step, "step_cell": cell,
                                   "flow_cell": request.flow_cell,
                                   "notebook_path": request.notebook_path,
                                   "datastore": request.datastore, "items": items}}).encode()
        if len(msg) > ZYGOTE_MESSAGE_MAX:
            return   # only a speed-up: the tasks compile it themselves
        with self._lock:
            try:
                self._sock.send(msg)
            except OSError:
                pass   # the zygote died: the launch that follows restarts it

    def _send(self, in_r: int, out_w: int, err_w: int) -> _Forked:
        """Ask the zygote for a task process with these stdin, stdout and stderr."""
        for tries in (1, 2):
            with self._lock:
                self._next_id += 1
                task = self._pending[self._next_id] = _Forked(self._next_id)
                try:
                    socket.send_fds(self._sock, [b"%d" % task.id],
                                    [in_r, out_w, err_w])
                    return task
                except OSError:  # the zygote just died
                    self._pending.pop(task.id, None)
                    if tries == 2:
                        raise
            self._restart()
        raise AssertionError("unreachable")

    def _on_reply(self, sock: socket.socket) -> None:
        """One message from the zygote: a task's pid, or its exit status."""
        try:
            data = sock.recv(4096)
        except OSError:
            data = b""
        if not data:
            self.io.drop_source(sock)
            if sock is self._sock:
                self._fail_all()
                self._broken = True   # after: a new zygote's tasks are not failed here
            return
        kind, tid, value = data[:1], *map(int, data[1:].split())   # zygote.py's protocol
        with self._lock:
            task = self._pending.get(tid)
            if kind == b"x":
                self._pending.pop(tid, None)
        if task is None:
            return
        if kind == b"p":
            task.handle.pid = value
            task.started.set()
            if task.handle.kill_requested:   # killed before its pid was known
                kill_group(value)
            self._attach(task)
        else:
            task.handle.exit_code = value
            self._ended(task, value)

    def _ended(self, task: _Forked, code: int) -> None:
        """In the loop's thread, as attach() is: the task is watched, or will be."""
        if task.watched is None:
            task.early = code
        else:
            self.io.exited(task.watched, code)

    def warm_environment(self, environment: dict) -> None:
        """Start the environment's zygote now, while the run's first tasks go."""
        if self.fork and self.environment is None:
            self._env_executor(environment).start()

    def _env_executor(self, environment: dict) -> LocalExecutor:
        """The zygote of a --pypi step's environment (its Python), started on first use."""
        with self._lock:
            executor = self._envs.get(environment["hash"])
            if executor is None:
                executor = self._envs[environment["hash"]] = LocalExecutor(
                    fork=True, environment=environment, io=self.io)
        return executor

    def _restart(self) -> None:
        envs, self._envs = self._envs, {}
        self.close()
        self._envs = envs   # the pinned environments' zygotes are not the one that died
        self._spawn = SpawnExecutor(self.io)
        self._broken = False
        self.start()

    def _fail_all(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        for task in pending.values():
            task.handle.exit_code = -9
            task.handle.lost = "the zygote process that started it ended, and its tasks with it"
            task.started.set()
            self._ended(task, -9)
            self._attach(task)

    @staticmethod
    def _attach(task: _Forked) -> None:
        attach, task.attach = task.attach, None
        if attach is not None:
            attach()

    def close(self) -> None:
        """Hang up: the zygote ends its leftover tasks and exits by itself."""
        self._spawn.close()
        envs, self._envs = self._envs, {}
        for executor in envs.values():
            executor.close()
        if self._sock is not None:
            self.io.drop_source(self._sock)
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._sock.close()
            self._sock = None
        zygote, pid = self._zygote, self._zygote_pid
        self._zygote = self._zygote_pid = None
        if zygote is not None or pid is not None:
            # reap it in the background: its interpreter teardown is not our wait
            threading.Thread(target=zygote.wait if zygote else lambda: _waitpid(pid),
                             daemon=True).start()


class _ForkedHandle(TaskHandle):
    kill_requested = False

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.pid is None:
            self.kill_requested = True   # the zygote has not forked it yet
        super().kill(sig)


class _Forked:
    """A task asked of the zygote: its pid comes first, its exit status last."""

    __slots__ = ("id", "handle", "watched", "early", "started", "attach")

    def __init__(self, tid: int):
        self.id = tid
        self.handle = _ForkedHandle()
        self.attach: Callable[[], None] | None = None   # watch its pipes, once it has a pid
        self.watched: Watched | None = None
        self.early: int | None = None   # its exit status, come before it was watched
        self.started = threading.Event()   # its pid came (or the zygote died)


def _waitpid(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
