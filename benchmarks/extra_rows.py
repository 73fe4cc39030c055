"""Rows that need more than one command: the client in a new process, and a kernel."""
from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import harness
import workloads

NBFLOW_READ = ("from nbflow import Flow\n"
               "assert Flow('BenchHelloFlow').latest_run.data.msg == 'hi'\n")
METAFLOW_READ = ("from metaflow import Flow, namespace\nnamespace(None)\n"
                 "assert Flow('BenchHelloFlow').latest_run.data.msg == 'hi'\n")


def _time_python(code: str, cwd: Path, env: dict, reps: int) -> list[float]:
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, check=True)
        out.append(time.perf_counter() - t0)
    return out


def client_seconds(reps: int, with_mf: bool):
    name, nb, mf = workloads.hello()
    d = Path(tempfile.mkdtemp(prefix="bench-client-"))
    try:
        harness.run_nbflow(name, nb, workdir=d)
        nbf = _time_python(NBFLOW_READ, d, harness.nbflow_env(), reps)
        mfl = None
        if with_mf:
            harness.run_metaflow(name, mf, workdir=d)
            mfl = _time_python(METAFLOW_READ, d, harness.metaflow_env(d), reps)
        return nbf, mfl
    finally:
        shutil.rmtree(d, ignore_errors=True)


def interactive_step_seconds(reps: int) -> list[float]:
    """Milliseconds from execute request to reply for `%%step` cells with empty bodies."""
    from jupyter_client.manager import start_new_kernel

    d = Path(tempfile.mkdtemp(prefix="bench-kernel-"))
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(d), env=harness.nbflow_env())
    try:
        def execute(code: str) -> float:
            t0 = time.perf_counter()
            reply = kc.execute_interactive(code, timeout=120, output_hook=lambda msg: None)
            if reply["content"]["status"] != "ok":
                raise RuntimeError(f"{code!r} failed: {reply['content']}")
            return (time.perf_counter() - t0) * 1000

        execute("%load_ext nbflow")
        execute("%%step start -> end\n")  # warm-up: the first step also starts the run
        execute("%%step end\n")
        return [execute("%%step start -> end\n") for _ in range(reps)]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        shutil.rmtree(d, ignore_errors=True)


def median_ms(values):
    return statistics.median(values)
