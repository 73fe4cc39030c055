"""The Dask executor: each task attempt runs as `python -m nbflow.task` in its own
process on a Dask worker, so a step stays isolated wherever it runs.

The cluster: NBFLOW_DASK_ADDRESS (a running scheduler, e.g. tcp://host:8786), else
a LocalCluster started for the run (one single-threaded worker process per core).
The datastore must be reachable from the workers (a shared folder, or s3:// ...).
Output reaches the console when the task ends, not line by line (Dask returns
results, it does not stream them). A task past its --timeout, or cancelled (the run
stopped, its client went away, its worker is closing) is killed on its worker with
every process it started."""
from __future__ import annotations

import json
import os

from ..keeper import LIFELINE_ENV
from ..taskopts import KILL_GRACE
from .base import Executor, ExitCallback, OutputCallback, TaskHandle, kill_group


def run_task_process(request_json: str, kill_after: float | None = None
                     ) -> tuple[int, bytes, bytes, int]:
    """On a worker: run one task attempt in a fresh interpreter.

    Output goes to temporary files, not pipes, so a process the task left behind
    cannot keep us waiting. The task is ended with every process it started when it is
    past `kill_after` seconds, when the run no longer wants it (cancelled: the run
    stopped, or its client went away), or when this worker process ends however (the
    task's keeper holds a lifeline pipe whose only write end is here)."""
    import subprocess
    import sys
    import tempfile
    import time

    life_r, life_w = os.pipe()
    env = dict(os.environ, PYTHONUNBUFFERED="1", **{LIFELINE_ENV: str(life_r)})
    wanted = _wanted_check()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen([sys.executable, "-m", "nbflow.task"], stdin=subprocess.PIPE,
                                    stdout=out, stderr=err, env=env, pass_fds=[life_r],
                                    start_new_session=True)
        finally:
            os.close(life_r)
        try:
            proc.stdin.write(request_json.encode())
            proc.stdin.close()
            deadline = time.monotonic() + kill_after if kill_after else None
            while proc.poll() is None and wanted():
                if deadline and time.monotonic() >= deadline:
                    break
                try:
                    proc.wait(timeout=WATCH_EVERY)
                except subprocess.TimeoutExpired:
                    pass
            kill_group(proc.pid)  # a timed-out or unwanted task, or what a finished one left
        finally:
            os.close(life_w)
        code = proc.wait()
        out.seek(0)
        err.seek(0)
        return code, out.read(), err.read(), proc.pid


WATCH_EVERY = 0.5   # seconds between two looks at whether the run still wants the task


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
        return ts is not None and ts.state not in ("cancelled", "released", "forgotten")
    return wanted


class DaskHandle(TaskHandle):
    def __init__(self, future):
        super().__init__()
        self.future = future

    def kill(self, sig: int = 9) -> None:
        self.future.cancel()


class DaskExecutor(Executor):
    name = "dask"

    def __init__(self, address: str | None = None, n_workers: int | None = None):
        self.address = address or os.environ.get("NBFLOW_DASK_ADDRESS")
        self.n_workers = n_workers or os.cpu_count() or 1
        self.client = None
        self.cluster = None

    def start(self) -> None:
        if self.client is not None:
            return
        from distributed import Client, LocalCluster

        if self.address:
            self.client = Client(self.address)
        else:
            self.cluster = LocalCluster(n_workers=self.n_workers, threads_per_worker=1,
                                        processes=True, dashboard_address=None)
            self.client = Client(self.cluster)

    def launch(self, request: dict, on_output: OutputCallback, on_exit: ExitCallback) -> TaskHandle:
        self.start()
        timeout = request.get("timeout")
        kill_after = timeout + KILL_GRACE if timeout else None
        future = self.client.submit(run_task_process, json.dumps(request), kill_after, pure=False)
        handle = DaskHandle(future)

        def done(fut):
            try:
                code, out, err, pid = fut.result()
            except BaseException as e:  # cancelled, or the worker died
                code, out, err, pid = -9, b"", f"dask: {e!r}\n".encode(), None
            handle.pid, handle.returncode = pid, code
            for stream, data in (("stdout", out), ("stderr", err)):
                if data:
                    on_output(stream, data)
                on_output(stream, b"")
            on_exit(code)

        future.add_done_callback(done)
        return handle

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None
