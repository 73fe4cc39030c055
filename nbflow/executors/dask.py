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
from ..task.options import KILL_GRACE
from .base import Executor, ExitCallback, OutputCallback, TaskHandle
from .dask_worker import end_tasks, run_task_process, warm_zygote


# -- on the client (the worker side is dask_worker.py) -------------------------------
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
            run_task_process, request.encode().decode(), token, self.topic, kill_after,
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
