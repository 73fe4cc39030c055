"""Run a workload with nbflow or Metaflow from an empty store, and measure it:
wall time, peak RSS and CPU time of the process tree, files and bytes left in the store."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

# Runs the command, timing it from inside (the wrapper's own start is not counted), and
# reads the peak RSS and the CPU time of the whole process tree it started. The wrapper is
# a subreaper (reaping.become_subreaper): nbflow's zygote, forked by `nbflow run`, can
# outlive it by a moment and would be reaped by init, its tasks' memory and CPU with it;
# as our orphans they are reaped here (reaping.reap_orphans) and counted.
PEAK_WRAPPER = (
    "import resource, subprocess, sys, json, time\n"
    "sys.path.insert(0, sys.argv[1])\n"
    "from reaping import become_subreaper, reap_orphans\n"
    "become_subreaper()\n"
    "t0 = time.perf_counter()\n"
    "r = subprocess.run(sys.argv[3:], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)\n"
    "seconds = time.perf_counter() - t0\n"
    "reap_orphans()\n"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "open(sys.argv[2], 'w').write(json.dumps({'rc': r.returncode, 'seconds': seconds, "
    "'out': r.stdout.decode(errors='replace'), 'maxrss_kib': u.ru_maxrss, "
    "'cpu_seconds': u.ru_utime + u.ru_stime}))\n"
)
HERE = os.path.dirname(os.path.abspath(__file__))


@dataclass
class Measurement:
    seconds: float
    peak_mib: float
    files: int
    store_bytes: int
    output: str
    cpu_seconds: float = float("nan")   # user + system of the whole process tree


def metaflow_available() -> bool:
    try:
        import metaflow  # noqa: F401
    except ImportError:
        return False
    return True


def _store_stats(root: Path) -> tuple[int, int]:
    files = size = 0
    for dirpath, _, names in os.walk(root):
        for n in names:
            files += 1
            size += os.path.getsize(os.path.join(dirpath, n))
    return files, size


def cache_bytecode() -> None:
    """Compile nbflow once, so that every timed run starts "with bytecode cached" (the
    runs below also write the bytecode of what they import: PYTHONDONTWRITEBYTECODE off)."""
    import compileall

    import nbflow

    compileall.compile_dir(os.path.dirname(nbflow.__file__), quiet=2)


def _measure(cmd: list[str], cwd: Path, env: dict, store: Path) -> Measurement:
    report = cwd / "_report.json"
    env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-c", PEAK_WRAPPER, HERE, str(report), *cmd], cwd=cwd, env=env,
                   check=False)
    data = json.loads(report.read_text())
    seconds = data["seconds"]
    if data["rc"] != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{data['out'][-3000:]}")
    files, size = _store_stats(store)
    return Measurement(seconds, data["maxrss_kib"] / 1024, files, size, data["out"],
                       data["cpu_seconds"])


def run_nbflow(name: str, cells: list[str], args: list[str] = (), workdir: Path | None = None
               ) -> Measurement:
    keep = workdir is not None
    workdir = Path(workdir or tempfile.mkdtemp(prefix="nbflow-bench-"))
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, str(workdir / "bench.ipynb"))
    env = dict(os.environ, NBFLOW_USER="bench")
    env.pop("NBFLOW_DATASTORE", None)
    try:
        return _measure([sys.executable, "-m", "nbflow", "run", "bench.ipynb", "--quiet", *args],
                        workdir, env, workdir / ".nbflow")
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


def metaflow_env(workdir: Path) -> dict:
    home = workdir / "mfhome"
    home.mkdir(exist_ok=True)
    return dict(os.environ, USERNAME="bench", METAFLOW_HOME=str(home),
                METAFLOW_DEFAULT_METADATA="local", METAFLOW_DEFAULT_DATASTORE="local")


def nbflow_env() -> dict:
    env = dict(os.environ, NBFLOW_USER="bench")
    env.pop("NBFLOW_DATASTORE", None)
    return env


def run_metaflow(name: str, source: str, args: list[str] = (), workdir: Path | None = None
                 ) -> Measurement:
    keep = workdir is not None
    workdir = Path(workdir or tempfile.mkdtemp(prefix="metaflow-bench-"))
    (workdir / "flow.py").write_text(source)
    env = metaflow_env(workdir)
    try:
        return _measure([sys.executable, "flow.py", "--no-pylint", "run", *args], workdir, env,
                        workdir / ".metaflow")
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


def stamp(output: str, name: str) -> float:
    m = re.search(name + r" ([0-9.]+)", output)
    return float(m.group(1)) if m else float("nan")


def handoff(output: str, before: str, after: str) -> float:
    """Seconds from one step's last line to the next step's first line."""
    return stamp(output, after) - stamp(output, before)


def load_seconds(output: str) -> float:
    m = re.search(r"LOAD_SECONDS ([0-9.e-]+)", output)
    return float(m.group(1)) if m else float("nan")
