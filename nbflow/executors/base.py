"""What an executor gives the scheduler: launch a task, hear its output and its end."""
from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable

OutputCallback = Callable[[str, bytes], None]   # (stream, chunk); chunk b"" means EOF
ExitCallback = Callable[[int], None]            # exit status (negative: killed by signal)


class TaskHandle:
    """A running task attempt. `kill()` ends it and every process it started."""

    def __init__(self):
        self.pid: int | None = None
        self.returncode: int | None = None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.pid is None or self.returncode is not None:
            return
        try:
            os.killpg(self.pid, sig)  # tasks lead their own process group
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass


def pump(fd: int, stream: str, on_output: OutputCallback, done: Callable[[], None]) -> threading.Thread:
    """Read a pipe until EOF in a thread, handing chunks on as they come."""

    def run():
        try:
            while True:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                on_output(stream, chunk)
        finally:
            os.close(fd)
            on_output(stream, b"")
            done()

    t = threading.Thread(target=run, daemon=True, name=f"nbflow-{stream}-{fd}")
    t.start()
    return t


class Executor:
    """Base: subclasses implement launch()."""

    name = "base"

    def start(self) -> None:
        pass

    def launch(self, request: dict, on_output: OutputCallback, on_exit: ExitCallback) -> TaskHandle:
        raise NotImplementedError

    def preload(self, modules: list[str]) -> None:
        """A hint: the tasks will import these modules (executors may warm them up)."""

    def close(self) -> None:
        pass

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()
