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


def big_notebook(path: Path, cells: int) -> str:
    """A chain of `cells` step cells (start -> s1 -> ... -> end), each setting an artifact,
    but the middle one, which is empty; returns that middle cell's source."""
    import nbformat

    names = ["start"] + [f"s{i}" for i in range(1, cells - 1)] + ["end"]
    mid = cells // 2
    sources = []
    for i, name in enumerate(names):
        header = "%%step end" if name == "end" else f"%%step {name} -> {names[i + 1]}"
        sources.append(f"{header}\n" if name == "end" or i == mid else
                       f"{header}\nself.v{i} = {i}\n")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(src) for src in sources]
    nbformat.write(nb, str(path))
    return sources[mid]


def interactive_step_seconds(reps: int, cells: int = 2) -> list[float]:
    """Milliseconds from execute request to reply for `%%step` cells with empty bodies.
    cells > 2: the kernel belongs to a saved notebook of that many step cells (a chain),
    all run once; then its empty middle cell is run again and again."""
    from jupyter_client.manager import start_new_kernel

    d = Path(tempfile.mkdtemp(prefix="bench-kernel-"))
    env = harness.nbflow_env()
    sources = None
    if cells > 2:
        nb = d / "big.ipynb"
        timed = big_notebook(nb, cells)
        import nbformat

        sources = [c.source for c in nbformat.read(str(nb), as_version=4).cells]
        env["JPY_SESSION_NAME"] = str(nb)   # the notebook the kernel belongs to
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(d), env=env)
    try:
        def execute(code: str) -> float:
            t0 = time.perf_counter()
            reply = kc.execute_interactive(code, timeout=120, output_hook=lambda msg: None)
            if reply["content"]["status"] != "ok":
                raise RuntimeError(f"{code!r} failed: {reply['content']}")
            return (time.perf_counter() - t0) * 1000

        execute("%load_ext nbflow")
        if sources is None:
            timed = "%%step start -> end\n"
            sources = [timed, "%%step end\n"]   # warm-up: the first step also starts the run
        for source in sources:
            execute(source)
        return [execute(timed) for _ in range(reps)]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        shutil.rmtree(d, ignore_errors=True)


def median_ms(values):
    return statistics.median(values)
