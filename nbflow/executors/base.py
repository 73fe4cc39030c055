"""What an executor gives the scheduler: launch a task, hear its output and its end."""
from __future__ import annotations

import signal
from collections.abc import Callable

from ..records import TaskRequest
from ..task.proctree import kill_tree

OutputCallback = Callable[[str, bytes], None]   # (stream, chunk); chunk b"" means EOF
ExitCallback = Callable[[int], None]            # exit status (negative: killed by signal)
ZYGOTE_MESSAGE_MAX = 1 << 20   # bytes of one message to a zygote (zygote.py; local.py)


class TaskHandle:
    """A running task attempt. `kill()` ends it and every process it started."""

    def __init__(self):
        self.pid: int | None = None
        self.returncode: int | None = None
        self.lost = ""   # why the executor lost the task (not the task's doing), if it did

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.pid is None or self.returncode is not None:
            return
        kill_group(self.pid, sig)


def kill_group(pid: int | None, sig: int = signal.SIGKILL) -> None:
    """End a task and every process it started: its process group (tasks lead their own)
    and, read from /proc first, every descendant, even one in a session of its own."""
    if pid:
        kill_tree(pid, sig)


class Executor:
    """Base: subclasses implement launch()."""

    name = "base"

    def start(self) -> None:
        pass

    def launch(self, request: TaskRequest, on_output: OutputCallback, on_exit: ExitCallback) -> TaskHandle:
        raise NotImplementedError

    def check(self, graph) -> None:
        """Before a run starts: refuse steps this executor could never run (UsageError)."""

    def preload(self, modules: list[str]) -> None:
        """A hint: the tasks will import these modules (executors may warm them up)."""

    def warm_environment(self, environment: dict) -> None:
        """A hint: tasks of a --pypi environment (pinned.launch_info) will be launched."""

    def close(self) -> None:
        pass

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()
