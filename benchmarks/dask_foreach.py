"""The 200-way foreach on a 2-worker Dask LocalCluster versus the local executor.

    python benchmarks/dask_foreach.py [--width 200] [--workers 2] [--skip-spawn]

Wall times of `nbflow run` (process start to exit, the same notebook, a fresh local
store each): the local executor (forked tasks, then --no-fork); `--executor dask`
starting its own TLS LocalCluster (cluster start-up counted); `--scheduler` on a
cluster already running (TLS, started by this script, not counted); each also as a
ratio to the first row (the goal: Dask within 3x of the local executor). `--skip-spawn`
leaves out the two --no-fork rows, the slowest. A script, not a test: the figures
depend on the machine and its load."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import nbformat


def notebook(path: str, width: int) -> None:
    nb = nbformat.v4.new_notebook()
    cells = ["%%flow DaskForeachFlow",
             f"%%step start -> work --foreach items\nself.items = list(range({width}))",
             "%%step work -> join\nself.square = self.input * self.input",
             "%%step join -> end\nself.total = sum(i.square for i in inputs)",
             "%%step end\nprint('total', self.total)"]
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, path)


def timed_run(folder: str, width: int, *args, env=None) -> float:
    shutil.rmtree(os.path.join(folder, ".nbflow"), ignore_errors=True)
    start = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "nbflow", "run", "flow.ipynb", "--quiet",
                          "--max-num-splits", str(width), *args], cwd=folder,
                         env=env or os.environ, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if res.returncode != 0:
        raise SystemExit(res.stdout + res.stderr)
    return seconds


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--width", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--skip-spawn", action="store_true", help="leave out the --no-fork rows")
    a = ap.parse_args()
    from distributed import LocalCluster
    from distributed.security import Security

    folder = tempfile.mkdtemp(prefix="nbflow-dask-bench-")
    notebook(os.path.join(folder, "flow.ipynb"), a.width)
    rows = [("local executor (tasks forked from a warm zygote)", timed_run(folder, a.width))]
    if not a.skip_spawn:
        rows += [("local executor --no-fork (a fresh interpreter per task)",
                  timed_run(folder, a.width, "--no-fork")),
                 (f"local executor --no-fork --max-workers {a.workers} (Dask's concurrency)",
                  timed_run(folder, a.width, "--no-fork", "--max-workers", str(a.workers)))]
    rows.append((f"dask, own LocalCluster ({a.workers} workers, start-up counted)",
                 timed_run(folder, a.width, "--executor", "dask",
                           env=dict(os.environ, NBFLOW_DASK_WORKERS=str(a.workers)))))
    sec = Security.temporary()
    with LocalCluster(n_workers=a.workers, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=None, security=sec) as cluster:
        env = dict(os.environ, NBFLOW_DASK_SECURITY=json.dumps({
            "require_encryption": True, "tls_ca_file": sec.tls_ca_file,
            "tls_client_cert": sec.tls_client_cert, "tls_client_key": sec.tls_client_key}))
        rows.append((f"dask, running LocalCluster ({a.workers} workers)",
                     timed_run(folder, a.width, "--scheduler", cluster.scheduler_address,
                               "--datastore-shared", env=env)))
    shutil.rmtree(folder, ignore_errors=True)
    print(f"| {a.width}-way foreach ({a.width + 3} tasks), {os.cpu_count()} cores | wall time "
          "| per task | / local executor |")
    print("|---|---|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.1f} s | {1000 * seconds / (a.width + 3):.0f} ms "
              f"| {seconds / rows[0][1]:.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
