"""The Dask executor's worker side (see dask.py): run one task attempt on a worker,
forked from the worker's zygote or spawned, follow its output and publish it on the run's
event topic, and end the tasks the client no longer wants."""
from __future__ import annotations

import json
import os
import threading
import uuid

from ..task.keeper import LIFELINE_ENV
from .base import kill_group

POLL = 0.1            # seconds between looks at a running task's output on its worker
CHUNK = 1 << 20       # most bytes one output event carries

_RUNNING: dict[str, int] = {}    # token -> pid (= process group) of its task on this worker
_ENDED: set[str] = set()         # tokens ended before they started here
_LOCK = threading.Lock()
_EXECUTORS: dict = {}            # extra environment (JSON) -> this worker's LocalExecutor (zygote)
_START_LOCK = threading.Lock()
_PRELOADED: dict[str, set] = {}  # extra environment (JSON) -> modules its zygote was asked to import


def end_tasks(tokens: list[str]) -> list[int]:
    """Run on every worker (Client.run): kill these tasks' process groups; remember the
    tokens so that one not started yet never starts. Returns the pids killed here."""
    killed = []
    with _LOCK:
        for token in tokens:
            _ENDED.add(token)
            pid = _RUNNING.get(token)
            if pid:
                kill_group(pid)
                killed.append(pid)
    return killed


def _publisher(topic: str, token: str):
    """Sends an event to the client subscribed to `topic` (or nothing, outside a worker)."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return None, lambda msg: None
    return worker.address, lambda msg: worker.log_event(topic, dict(msg, token=token))


def _forward(files: dict, sent: dict, send) -> None:
    for stream, f in files.items():
        while True:
            data = os.pread(f.fileno(), CHUNK, sent[stream])
            if not data:
                break
            send({"kind": "output", "stream": stream, "offset": sent[stream], "data": data})
            sent[stream] += len(data)


def run_task_process(request_json: str, token: str = "", topic: str = "",
                     kill_after: float | None = None,
                     preload: tuple = ()) -> tuple[int, bytes, bytes, int | None, str]:
    """On a worker: run one task attempt in a process of its own; stream its output.

    The task is forked from this worker's zygote (a warm process that has imported the
    task runtime, as with the local executor), else started as a fresh interpreter. It
    is ended with every process it started when it is past `kill_after` seconds, when
    the run no longer wants it (cancelled, or its client went away and the worker is
    closing), or when this worker process ends however (the zygote hangs up and ends
    its tasks; a spawned task's keeper holds a lifeline pipe whose write end is here).
    `preload`: the notebook's imports, imported by the zygote before it forks.
    Returns (exit status, stdout, stderr, pid, worker address)."""
    address, send = _publisher(topic, token)
    request = json.loads(request_json)
    env = request.get("env") or {}
    wanted = _wanted_check()
    executor = None if env and request.get("environment") else _executor(env, preload)
    if executor is not None:
        try:
            return _run_forked(executor, request, token, address, send, wanted, kill_after)
        except _ZygoteFailed:   # it could not fork this one: a fresh interpreter does
            pass
    return _run_spawned(request_json, env, token, address, send, wanted, kill_after)


class _ZygoteFailed(Exception):
    pass


async def warm_zygote(env: dict) -> None:
    """On a worker (Client.run, not awaited): start its zygote now, so that it imports the
    task runtime while the run's first tasks are on their way."""
    _executor(env)


def _executor(env: dict, preload=()):
    """This worker's zygote for tasks with these extra environment variables (started on
    first use, kept for the worker's life; it ends its tasks and itself when the worker
    process ends). None where fork is not available: tasks are then spawned."""
    from .local import LocalExecutor

    key = json.dumps(env, sort_keys=True)
    with _START_LOCK:
        executor = _EXECUTORS.get(key)
        if executor is None:
            executor = _EXECUTORS[key] = LocalExecutor()
            if executor.fork:
                saved = {name: os.environ.get(name) for name in env}
                os.environ.update(env)   # the zygote, and so its tasks, inherit them
                try:
                    executor.start()
                finally:
                    for name, value in saved.items():
                        if value is None:
                            os.environ.pop(name, None)
                        else:
                            os.environ[name] = value
        if executor.fork:
            done = _PRELOADED.setdefault(key, set())
            new = [name for name in preload if name not in done]
            if new:
                executor.preload(new)
                done.update(new)
    return executor if executor.fork else None


def _run_forked(executor, request: dict, token: str, address, send, wanted,
                kill_after: float | None):
    import time

    from ..records import TaskRequest

    output = {"stdout": bytearray(), "stderr": bytearray()}
    sent = {"stdout": 0, "stderr": 0}
    lock = threading.Lock()
    ended = threading.Event()
    codes: list[int] = []

    def on_output(stream: str, chunk: bytes) -> None:
        if chunk:
            with lock:
                output[stream] += chunk

    def on_exit(code: int) -> None:
        codes.append(code)
        ended.set()

    def forward() -> None:
        with lock:
            pending = {s: bytes(output[s][sent[s]:]) for s in output}
        for stream, data in pending.items():
            for at in range(0, len(data), CHUNK):
                send({"kind": "output", "stream": stream, "offset": sent[stream],
                      "data": data[at:at + CHUNK]})
                sent[stream] += len(data[at:at + CHUNK])

    with _LOCK:
        if token in _ENDED:
            return -9, b"", b"", None, address
    try:
        handle = executor.launch(TaskRequest.from_json(request), on_output, on_exit)
    except OSError as e:
        raise _ZygoteFailed(e) from e
    with _LOCK:
        _RUNNING[token] = handle.pid
        unwanted = token in _ENDED   # ended while it was starting
    if unwanted:
        handle.kill()
    execution = uuid.uuid4().hex
    send({"kind": "start", "pid": handle.pid, "worker": address, "run": execution})
    deadline = time.time() + kill_after if kill_after else None
    try:
        while not ended.wait(POLL):
            forward()
            if (deadline and time.time() > deadline) or not wanted():
                handle.kill()   # with every process it started
    finally:
        with _LOCK:
            _RUNNING.pop(token, None)
    forward()   # then the end: the client ends the task on it, not on fetching the result
    send({"kind": "exit", "code": codes[0], "run": execution, "sent": dict(sent)})
    with lock:
        return codes[0], bytes(output["stdout"]), bytes(output["stderr"]), handle.pid, address


def _run_spawned(request_json: str, env: dict, token: str, address, send, wanted,
                 kill_after: float | None):
    """A fresh interpreter for the task. Output goes to temporary files, not pipes, so a
    process the task left behind cannot keep us waiting."""
    import subprocess
    import sys
    import tempfile
    import time

    life_r, life_w = os.pipe()
    env = dict(os.environ, PYTHONUNBUFFERED="1", **{LIFELINE_ENV: str(life_r)}, **env)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        with _LOCK:
            if token in _ENDED:
                os.close(life_r)
                os.close(life_w)
                return -9, b"", b"", None, address
            try:
                proc = subprocess.Popen([sys.executable, "-m", "nbflow.task"],
                                        stdin=subprocess.PIPE, stdout=out, stderr=err, env=env,
                                        pass_fds=[life_r], start_new_session=True)
            finally:
                os.close(life_r)
            _RUNNING[token] = proc.pid
        execution = uuid.uuid4().hex
        send({"kind": "start", "pid": proc.pid, "worker": address, "run": execution})
        try:
            proc.stdin.write(request_json.encode())
            proc.stdin.close()
            files, sent = {"stdout": out, "stderr": err}, {"stdout": 0, "stderr": 0}
            deadline = time.time() + kill_after if kill_after else None
            while proc.poll() is None and not (deadline and time.time() > deadline) \
                    and wanted():
                _forward(files, sent, send)
                try:
                    proc.wait(timeout=POLL)
                except subprocess.TimeoutExpired:
                    pass
            kill_group(proc.pid)  # a timed-out task, or what a finished one left running
            code = proc.wait()
        finally:
            os.close(life_w)
            with _LOCK:
                _RUNNING.pop(token, None)
        _forward(files, sent, send)
        send({"kind": "exit", "code": code, "run": execution, "sent": dict(sent)})
        out.seek(0)
        err.seek(0)
        return code, out.read(), err.read(), proc.pid, address


def _wanted_check():
    """A function telling whether the Dask task running this code is still wanted."""
    try:
        from distributed import get_worker
        from distributed.worker import thread_state

        worker, key = get_worker(), thread_state.key
    except (ImportError, ValueError, AttributeError):
        return lambda: True

    def wanted() -> bool:
        if getattr(worker.status, "name", "running") not in ("running", "paused"):
            return False   # the worker is closing (its scheduler went away)
        ts = worker.state.tasks.get(key)
        return ts is None or ts.state not in ("cancelled", "released", "forgotten")
    return wanted


