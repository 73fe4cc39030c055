"""Local executors: every task attempt is its own process on this machine.

LocalExecutor forks tasks from a warm "zygote" process that has already imported
the task runtime (fresh memory per task, ~ms to start); SpawnExecutor starts a new
`python -m nbflow.task` per task (used where fork is unsafe, or with --no-fork).
Both give a task its own process group, so kill() ends everything it started.
"""
from __future__ import annotations

import json
import os
import selectors
import socket
import sys
import threading
import time
from typing import TYPE_CHECKING

from ..cards import MPL_BACKEND
from ..records import TaskRequest
from ..task.keeper import LIFELINE_ENV
from .base import Executor, ExitCallback, OutputCallback, TaskHandle

if TYPE_CHECKING:   # imported where a process is spawned: `nbflow run` forks, and starts faster
    import subprocess

EXIT_GRACE = 0.5  # seconds to drain pipes that a task's own children keep open


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


def watch(handle: TaskHandle, fds: dict[str, int], wake_fd: int, on_output: OutputCallback,
          on_exit: ExitCallback, request_bytes: bytes | None = None, stdin_fd: int | None = None,
          reap=None) -> threading.Thread:
    """One thread per task: feed its stdin, pump its stdout/stderr, notice its exit."""

    def run():
        if stdin_fd is not None:
            try:
                _write_all(stdin_fd, request_bytes)
            except OSError:
                pass
            finally:
                os.close(stdin_fd)
        sel = selectors.DefaultSelector()
        for stream, fd in fds.items():
            sel.register(fd, selectors.EVENT_READ, stream)
        sel.register(wake_fd, selectors.EVENT_READ, None)
        open_streams, exited_at = set(fds), None
        while open_streams or exited_at is None:
            timeout = None if exited_at is None else max(0.0, exited_at + EXIT_GRACE - time.monotonic())
            events = sel.select(timeout)
            if not events and exited_at is not None:
                break  # the task exited; its own children still hold the pipes
            for key, _ in events:
                if key.data is None:
                    sel.unregister(wake_fd)
                    exited_at = time.monotonic()
                    continue
                chunk = os.read(key.fd, 65536)
                if chunk:
                    on_output(key.data, chunk)
                else:
                    sel.unregister(key.fd)
                    open_streams.discard(key.data)
        sel.close()
        for stream, fd in fds.items():
            os.close(fd)
            on_output(stream, b"")
        code = reap()
        handle.returncode = code
        on_exit(code)

    t = threading.Thread(target=run, daemon=True, name="nbflow-task-watch")
    t.start()
    return t


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


class SpawnExecutor(Executor):
    """Each task a new interpreter. They hold the read end of one lifeline pipe whose write
    end only this process holds: when it ends, however, their keepers end them."""

    name = "spawn"

    def __init__(self):
        self._lifeline: tuple[int, int] | None = None

    def launch(self, request: TaskRequest, on_output: OutputCallback, on_exit: ExitCallback) -> TaskHandle:
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
        wake_r = _exit_notifier(proc)
        watch(handle, {"stdout": out_r, "stderr": err_r}, wake_r, on_output, on_exit,
              json.dumps(request.to_json()).encode(), in_w, reap=lambda: _reap_popen(proc, wake_r))
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
                 environment: dict | None = None):
        if fork is None:
            fork = sys.platform.startswith("linux") and os.environ.get("NBFLOW_NO_FORK") != "1"
        self.fork = fork
        self.environment = environment   # a --pypi environment: the zygote runs its Python
        self._envs: dict[str, LocalExecutor] = {}   # one zygote per pinned environment
        self.preload_modules = preload or []
        self._spawn = SpawnExecutor()
        self._zygote: subprocess.Popen | None = None
        self._zygote_pid: int | None = None
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._next_id = 0
        self._pending: dict[int, tuple] = {}
        self._reader: threading.Thread | None = None
        self._broken = False   # the zygote hung up (it died): start another before launching

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
        self._reader = threading.Thread(target=self._read_replies, args=(ours,), daemon=True,
                                        name="nbflow-zygote-replies")
        self._reader.start()

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

    def launch(self, request: TaskRequest, on_output: OutputCallback, on_exit: ExitCallback) -> TaskHandle:
        environment = request.environment
        if not self.fork:
            return self._spawn.launch(request, on_output, on_exit)
        if environment and environment["hash"] != (self.environment or {}).get("hash"):
            return self._env_executor(environment).launch(request, on_output, on_exit)
        if self._sock is None or self._broken:
            self._restart()  # the zygote died (killed): a new one serves the next tasks
        handle = TaskHandle()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        in_r, in_w = os.pipe()
        wake_r, wake_w = os.pipe()
        started = threading.Event()
        for tries in (1, 2):
            with self._lock:
                self._next_id += 1
                tid = self._next_id
                self._pending[tid] = (handle, wake_w, started)
                try:
                    socket.send_fds(self._sock, [json.dumps({"id": tid}).encode()],
                                    [in_r, out_w, err_w])
                    break
                except OSError:  # the zygote just died
                    self._pending.pop(tid, None)
                    if tries == 2:
                        raise
            self._restart()
        for fd in (in_r, out_w, err_w):
            os.close(fd)
        started.wait()
        watch(handle, {"stdout": out_r, "stderr": err_r}, wake_r, on_output, on_exit,
              json.dumps(request.to_json()).encode(), in_w, reap=lambda: _reap_forked(handle, wake_r))
        return handle

    def _read_replies(self, sock: socket.socket) -> None:
        while True:
            try:
                data = sock.recv(4096)
            except OSError:
                data = b""
            if not data:
                self._fail_all()
                self._broken = True   # after: a new zygote's tasks are not failed here
                return
            msg = json.loads(data)
            with self._lock:
                entry = self._pending.get(msg["id"])
            if entry is None:
                continue
            handle, wake_w, started = entry
            if "pid" in msg:
                handle.pid = msg["pid"]
                started.set()
            if "exit" in msg:
                handle.exit_code = msg["exit"]
                with self._lock:
                    self._pending.pop(msg["id"], None)
                os.write(wake_w, b"x")
                os.close(wake_w)

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
                    fork=True, environment=environment)
        return executor

    def _restart(self) -> None:
        envs, self._envs = self._envs, {}
        self.close()
        self._envs = envs   # the pinned environments' zygotes are not the one that died
        self._spawn = SpawnExecutor()
        self._broken = False
        self.start()

    def _fail_all(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        for handle, wake_w, started in pending.values():
            handle.exit_code = -9
            handle.lost = "the zygote process that started it ended, and its tasks with it"
            started.set()
            try:
                os.write(wake_w, b"x")
                os.close(wake_w)
            except OSError:
                pass

    def close(self) -> None:
        """Hang up: the zygote ends its leftover tasks and exits by itself."""
        self._spawn.close()
        envs, self._envs = self._envs, {}
        for executor in envs.values():
            executor.close()
        if self._sock is not None:
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


def _waitpid(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _reap_forked(handle: TaskHandle, wake_fd: int) -> int:
    os.close(wake_fd)
    return getattr(handle, "exit_code", -9)
