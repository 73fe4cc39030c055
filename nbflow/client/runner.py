"""`Runner`: run a notebook as a flow from Python, with Metaflow's Runner names.

    with Runner("flow.ipynb", env={...}, datastore=...) as runner:
        result = runner.run(alpha=0.5, tags=["nightly"])     # blocks
        result.run, result.status, result.stdout, result.stderr, result.returncode
        runner.resume(step="train")
    running = await Runner("flow.ipynb").async_run(alpha=0.5)  # returns once it started
    async for position, line in running.stream_log("stdout"): ...
    await running.wait(timeout=60, stream="stdout")

Like Metaflow's, it runs `python -m nbflow run NOTEBOOK ...` in a subprocess (so a
crash in a run never takes the caller down), with its output in temporary log
files. Keyword arguments become options: `alpha=0.5` -> `--alpha 0.5`,
`max_workers=4` -> `--max-workers 4`, `tags=[...]` -> `--tag` per item,
`decospecs=["retry:times=3"]` -> `--with` per item; True is a bare flag.
"""
from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

from ..errors import NbflowError, UsageError

_RUN_ID = re.compile(r"Workflow starting \(run-id (\w+)\)")
_RENAMED = {"tags": "tag", "decospecs": "with"}
_POLL = 0.05      # seconds between looks at a log file being written
_GRACE = 10.0     # seconds a run gets to end its tasks after an interrupt


class NotebookNotFound(UsageError, FileNotFoundError):
    """Runner on a notebook that does not exist (a FileNotFoundError too)."""


def _options(kwargs: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for key, value in kwargs.items():
        if value is None or value is False:
            continue
        flag = "--" + _RENAMED.get(key, key).replace("_", "-")
        if value is True:
            out.append(flag)
        elif isinstance(value, (list, tuple)):
            for item in value:
                out += [flag, str(item)]
        else:
            out += [flag, str(value)]
    return out


class _Command:
    """One `nbflow` subprocess: its output copied to log files (and echoed if asked)."""

    def __init__(self, argv: list[str], env: dict, cwd: str, show_output: bool):
        self.tmp = tempfile.mkdtemp(prefix="nbflow-runner-")
        self.log_files = {s: os.path.join(self.tmp, f"{s}.log") for s in ("stdout", "stderr")}
        self.timeout = False
        self.process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, start_new_session=True)
        self._pumps = [threading.Thread(target=self._pump, args=(s, show_output), daemon=True)
                       for s in ("stdout", "stderr")]
        for t in self._pumps:
            t.start()

    def _pump(self, stream: str, echo: bool) -> None:
        out = sys.stdout if stream == "stdout" else sys.stderr
        with open(self.log_files[stream], "wb") as log:
            for line in getattr(self.process, stream):
                log.write(line)
                log.flush()
                if echo:
                    out.write(line.decode("utf-8", "replace"))
                    out.flush()

    @property
    def done(self) -> bool:
        return self.process.poll() is not None and not any(t.is_alive() for t in self._pumps)

    def sync_wait(self, timeout: float | None = None) -> None:
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.timeout = True
            self.kill()
        except KeyboardInterrupt:
            self.kill()
            raise
        for t in self._pumps:
            t.join()

    def kill(self) -> None:
        """An interrupt first (the run ends its tasks), then the whole group."""
        if self.process.poll() is not None:
            return
        try:
            os.kill(self.process.pid, signal.SIGINT)
            self.process.wait(_GRACE)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()

    def read(self, stream: str) -> str:
        try:
            with open(self.log_files[stream], encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def cleanup(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


class ExecutingRun:
    """A run started by a Runner: `.run` (the client's Run, None if no run was created),
    `.status`, `.returncode`, `.stdout`, `.stderr`, `wait()`, `stream_log()`."""

    def __init__(self, runner: Runner, command: _Command, run_obj):
        self.runner = runner
        self.command_obj = command
        self.run = run_obj

    def __enter__(self) -> ExecutingRun:
        return self

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        self.runner.__exit__(exc_type, exc_value, traceback)

    def __repr__(self):
        return f"<ExecutingRun {self.run.pathspec if self.run else None} {self.status}>"

    @property
    def returncode(self) -> int | None:
        return self.command_obj.process.poll()

    @property
    def status(self) -> str:
        """'timeout', 'running', 'failed' or 'successful', as Metaflow's."""
        if self.command_obj.timeout:
            return "timeout"
        code = self.returncode
        return "running" if code is None else "failed" if code else "successful"

    @property
    def stdout(self) -> str:
        return self.command_obj.read("stdout")

    @property
    def stderr(self) -> str:
        return self.command_obj.read("stderr")

    async def wait(self, timeout: float | None = None, stream: str | None = None
                   ) -> ExecutingRun:
        """Until the run ends (killed after `timeout` seconds), printing `stream` if given."""
        async def printing():
            if stream:
                async for _, line in self.stream_log(stream):
                    print(line)
        loop = asyncio.get_running_loop()
        printer = asyncio.ensure_future(printing())
        await loop.run_in_executor(None, self.command_obj.sync_wait, timeout)
        await printer
        return self

    async def stream_log(self, stream: str, position: int | None = None
                         ) -> AsyncIterator[tuple[int, str]]:
        """(position, line) for each line of `stream` ('stdout' or 'stderr') as it is
        written, until the run ends; `position` resumes from an earlier one."""
        if stream not in self.command_obj.log_files:
            raise UsageError(f"stream_log: stream must be 'stdout' or 'stderr', not {stream!r}")
        position = position or 0
        while True:
            done = self.command_obj.done   # read before the file: nothing is missed
            lines, position = _read_lines(self.command_obj.log_files[stream], position)
            for pos, line in lines:
                yield pos, line
            if done and not lines:
                return
            if not lines:
                await asyncio.sleep(_POLL)


def _read_lines(path: str, position: int) -> tuple[list[tuple[int, str]], int]:
    """Whole lines from `position` on (a partial last line waits for its newline)."""
    try:
        with open(path, "rb") as f:
            f.seek(position)
            data = f.read()
    except FileNotFoundError:
        return [], position
    out = []
    while b"\n" in data:
        line, data = data.split(b"\n", 1)
        position += len(line) + 1
        out.append((position, line.decode("utf-8", "replace")))
    return out, position


class Runner:
    """Metaflow's Runner for a notebook. `show_output` echoes the run's output in
    `run`/`resume`; `env` adds environment variables; `cwd` is where the run starts;
    other keyword arguments are options of every command (`datastore=`, `executor=`,
    `max_workers=`, `decospecs=[...]`, ...)."""

    def __init__(self, notebook: str, show_output: bool = True, env: dict | None = None,
                 cwd: str | None = None, file_read_timeout: int = 3600, **kwargs: Any):
        self.cwd = os.path.abspath(cwd or os.getcwd())
        path = notebook if os.path.isabs(notebook) else os.path.join(self.cwd, notebook)
        if not os.path.isfile(path):
            raise NotebookNotFound(f"Runner: notebook '{notebook}' does not exist (looked for "
                                   f"{path})")
        from ..graph import build
        from ..notebook.parse import read_notebook

        self.spec = read_notebook(path)
        build(self.spec)               # an invalid notebook fails here, before anything runs
        self.notebook = path
        self.show_output = show_output
        self.env_vars = {**os.environ, **(env or {})}
        self.file_read_timeout = file_read_timeout
        self.top_level_kwargs = kwargs
        self._commands: list[_Command] = []

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        self.cleanup()

    async def __aenter__(self) -> Runner:
        return self

    async def __aexit__(self, exc_type, exc_value, traceback) -> None:
        self.cleanup()

    def cleanup(self) -> None:
        """Delete the log files (a run still going is left running)."""
        for command in self._commands:
            command.cleanup()

    # -- commands ------------------------------------------------------------------
    def run(self, **kwargs: Any) -> ExecutingRun:
        """Run the notebook to the end: parameters and run options as keywords."""
        return self._sync("run", [], kwargs)

    def resume(self, step: str | None = None, **kwargs: Any) -> ExecutingRun:
        """Resume the latest (or `origin_run_id=`) run, from `step` if given."""
        return self._sync("resume", self._step(step, kwargs), kwargs)

    async def async_run(self, **kwargs: Any) -> ExecutingRun:
        """Start the run; returns once it has a run id (or has ended)."""
        return await self._async("run", [], kwargs)

    async def async_resume(self, step: str | None = None, **kwargs: Any) -> ExecutingRun:
        return await self._async("resume", self._step(step, kwargs), kwargs)

    # -- plumbing ------------------------------------------------------------------
    @staticmethod
    def _step(step: str | None, kwargs: dict) -> list[str]:
        step = step or kwargs.pop("step_to_rerun", None)   # Metaflow's name for it
        return [step] if step else []

    def _start(self, command: str, positional: list[str], kwargs: dict,
               show_output: bool) -> _Command:
        argv = [sys.executable, "-m", "nbflow", command, self.notebook, *positional,
                *_options({**self.top_level_kwargs, **kwargs})]
        started = _Command(argv, self.env_vars, self.cwd, show_output)
        self._commands.append(started)
        return started

    def _sync(self, command: str, positional: list[str], kwargs: dict) -> ExecutingRun:
        started = self._start(command, positional, kwargs, self.show_output)
        started.sync_wait()
        return ExecutingRun(self, started, self._run_of(started, kwargs))

    async def _async(self, command: str, positional: list[str], kwargs: dict) -> ExecutingRun:
        started = self._start(command, positional, kwargs, False)
        deadline = time.monotonic() + self.file_read_timeout
        while not _RUN_ID.search(started.read("stdout")) and not started.done:
            if time.monotonic() > deadline:
                started.kill()
                raise NbflowError(f"Runner: no run started within {self.file_read_timeout} s")
            await asyncio.sleep(_POLL)
        return ExecutingRun(self, started, self._run_of(started, kwargs))

    def _run_of(self, started: _Command, kwargs: dict):
        """The client's Run for the run id the command printed (None if none started)."""
        found = _RUN_ID.search(started.read("stdout"))
        if not found:
            return None
        from ..datastore import Datastore
        from .core import Run

        store = Datastore(self._store({**self.top_level_kwargs, **kwargs}))
        return Run(f"{self.spec.flow_name}/{found.group(1)}", _datastore=store, _check=False)

    def _store(self, kwargs: dict) -> str:
        """Where the run went: as `nbflow run` decides, from the runner's point of view."""
        url = kwargs.get("datastore") or self.env_vars.get("NBFLOW_DATASTORE")
        if not url:
            return os.path.join(os.path.dirname(self.notebook), ".nbflow")
        return url if "://" in str(url) else os.path.join(self.cwd, str(url))
