"""The Dask executor: each task attempt runs as a process (and process group) of its own
on a Dask worker, forked from the worker's zygote (a warm process that has imported the
task runtime, as with the local executor), so a step stays isolated wherever it runs.

The cluster (see dask_cluster.py): `--scheduler` / NBFLOW_DASK_SCHEDULER, else a
LocalCluster with TLS started for the run. The datastore must be reachable from the
workers (s3://..., or a shared folder).

- Live output: the worker follows the task's output and publishes new bytes with
  their offsets on the run's Dask event topic; the client delivers each byte once,
  whether it comes live or with the task's result.
- The end: the worker publishes the exit status after the last output; the client
  ends the attempt on it, without fetching the task's result (a round trip through the
  scheduler per task). A future that ends otherwise (lost, cancelled) ends it too.
- Ending tasks: kill() asks every worker to kill the task's process group (a task
  not started yet is refused when it starts), then cancels its future.
- A lost worker: the attempt ends with `handle.fault` set; the scheduler retries it
  (within --retry, once at least). A rerun Dask makes on its own is reported."""
from __future__ import annotations

import json
import os
import threading
import uuid
from dataclasses import replace

from ..records import TaskRequest
from ..task.keeper import LIFELINE_ENV
from ..task.options import KILL_GRACE
from .base import Executor, ExitCallback, OutputCallback, TaskHandle, kill_group

POLL = 0.1            # seconds between looks at a running task's output on its worker
CHUNK = 1 << 20       # most bytes one output event carries

# -- on a worker ---------------------------------------------------------------------
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


# -- on the client ---------------------------------------------------------------------
class DaskHandle(TaskHandle):
    """One attempt on the cluster. Output arrives live and with the result: each byte is
    delivered once, by offset. The attempt ends on its "exit" event when every byte of its
    output came before it (no fetch of the result: that is a round trip through the
    scheduler per task), else when its future ends. `fault`: why the attempt was lost,
    when it was not the task."""

    def __init__(self, executor: DaskExecutor, token: str, on_output: OutputCallback,
                 on_exit: ExitCallback):
        super().__init__()
        self.executor, self.token, self.on_output, self.on_exit = executor, token, on_output, on_exit
        self.future = None
        self.worker: str | None = None
        self.execution: str | None = None
        self.sent = {"stdout": 0, "stderr": 0}
        self.finished = False
        self.fault: str | None = None
        self.lock = threading.Lock()

    def kill(self, sig: int = 9) -> None:
        if not self.finished:
            self.executor.end([self])

    def on_event(self, msg: dict) -> None:
        ended = False
        with self.lock:
            if self.finished:
                return
            if msg["kind"] == "start":
                if self.execution is not None:  # Dask reran it: its worker was lost
                    note = (f"[nbflow] the Dask worker {self.worker} running this task was lost; "
                            f"Dask reran it on {msg['worker']}\n").encode()
                    self.on_output("stderr", note)
                    self.sent = {"stdout": 0, "stderr": 0}
                self.execution, self.worker, self.pid = msg["run"], msg["worker"], msg["pid"]
            elif msg["kind"] == "output":
                self._deliver(msg["stream"], msg["offset"], msg["data"])
            elif msg["kind"] == "exit" and msg["run"] == self.execution and msg["sent"] == self.sent:
                self.finished = ended = True   # else output went missing: the result has it all
        if ended:
            self.executor._complete(self, msg["code"])

    def _deliver(self, stream: str, offset: int, data: bytes) -> None:
        have = self.sent[stream]
        if offset <= have < offset + len(data):
            self.on_output(stream, data[have - offset:])
            self.sent[stream] = offset + len(data)

    def finish(self, out: bytes, err: bytes) -> bool:
        """Deliver what did not come live; False if the attempt had ended already."""
        with self.lock:
            if self.finished:
                return False
            self._deliver("stdout", 0, out)
            self._deliver("stderr", 0, err)
            self.finished = True
            return True


class DaskExecutor(Executor):
    name = "dask"

    def __init__(self, address: str | None = None, n_workers: int | None = None):
        from .dask_cluster import scheduler_address

        self.address = scheduler_address(address)
        # the LocalCluster's worker processes (single-threaded): NBFLOW_DASK_WORKERS, else a core each
        self.n_workers = n_workers or int(os.environ.get("NBFLOW_DASK_WORKERS") or 0) \
            or os.cpu_count() or 1
        self.client = None
        self.cluster = None
        self.topic = f"nbflow-{uuid.uuid4().hex}"
        self.handles: dict[str, DaskHandle] = {}
        self._workers: dict[str, dict] | None = None
        self.preload_modules: tuple = ()

    def start(self) -> None:
        if self.client is not None:
            return
        from .dask_cluster import connect

        self.client, self.cluster = connect(self.address, self.n_workers)
        self.client.subscribe_topic(self.topic, self._on_event)
        try:
            self.client.run(warm_zygote, self._task_env(), wait=False)
        except Exception:  # noqa: BLE001 - only a head start: the first task starts it anyway
            pass

    @staticmethod
    def _task_env() -> dict:
        """The variables a task needs from this process that a worker may not have."""
        options = os.environ.get("NBFLOW_DATASTORE_OPTIONS")
        return {"NBFLOW_DATASTORE_OPTIONS": options} if options else {}

    def check(self, graph) -> None:
        """Refuse, before the run starts, a step that no worker could ever run."""
        from .dask_cluster import check_fits

        self.start()
        self._workers = self._worker_resources()
        for name, node in graph.nodes.items():
            check_fits(name, node.spec.options.resources_dict(), self._workers)

    def preload(self, modules: list[str]) -> None:
        """The notebook's imports: each worker's zygote imports them before forking tasks."""
        self.preload_modules = tuple(modules)

    def _worker_resources(self) -> dict:
        from .dask_cluster import worker_resources

        return worker_resources(self.client)

    def _on_event(self, event) -> None:
        _, msg = event
        handle = self.handles.get(msg.get("token"))
        if handle is not None:
            handle.on_event(msg)

    def launch(self, request: TaskRequest, on_output: OutputCallback, on_exit: ExitCallback) -> TaskHandle:
        from .dask_cluster import restrictions

        self.start()
        timeout = request.timeout
        kill_after = timeout + KILL_GRACE if timeout else None
        token = f"{request.pathspec}.{request.attempt}-{uuid.uuid4().hex[:8]}"
        handle = self.handles[token] = DaskHandle(self, token, on_output, on_exit)
        env = self._task_env()
        if env:   # the workers need them too
            request = replace(request, extra=dict(request.extra, env=env))
        if self._workers is None:
            self._workers = self._worker_resources()
        handle.future = self.client.submit(
            run_task_process, json.dumps(request.to_json()), token, self.topic, kill_after,
            self.preload_modules, key=f"nbflow-{token}", pure=False,
            resources=restrictions(request.resources, self._workers) or None)
        handle.future.add_done_callback(lambda fut: self._done(handle, fut))
        return handle

    def _done(self, handle: DaskHandle, fut) -> None:
        from distributed import KilledWorker

        if handle.finished:
            return   # ended on its exit event: the result is not fetched
        out, err, fault = b"", b"", None
        try:
            code, out, err, pid, worker = fut.result()
            handle.pid, handle.worker = pid or handle.pid, worker or handle.worker
        except KilledWorker as e:
            code = -9
            fault = (f"the Dask worker running the task was lost ({handle.worker or e}); "
                     "the task did not finish")
        except BaseException as e:  # cancelled (the run ended it), or Dask could not run it
            code = -9
            if not fut.cancelled():
                err = f"[nbflow] dask: {e!r}\n".encode()
        if handle.finish(out, err):
            handle.fault = fault
            self._complete(handle, code)

    def _complete(self, handle: DaskHandle, code: int) -> None:
        if handle.fault:
            handle.on_output("stderr", f"[nbflow] {handle.fault}\n".encode())
        self.handles.pop(handle.token, None)
        handle.returncode = code
        for stream in ("stdout", "stderr"):
            handle.on_output(stream, b"")
        handle.on_exit(code)

    def end(self, handles: list[DaskHandle]) -> None:
        """Kill these tasks on whichever worker runs them, then cancel their futures."""
        tokens = [h.token for h in handles]
        try:
            self.client.run(end_tasks, tokens, on_error="ignore")
        except Exception:  # noqa: BLE001 - a cluster going away: the futures still end below
            pass
        for h in handles:
            if h.future is not None:
                h.future.cancel()

    def close(self) -> None:
        if self.client is not None:
            live = [h for h in self.handles.values() if not h.finished]
            if live:
                self.end(live)
            self.client.close()
            self.client = None
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None
