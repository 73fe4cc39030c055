"""What a `%%step` cell costs the kernel itself, by notebook size: an IPython shell in this
process (no kernel messages), a saved notebook of N step cells (a chain, each setting an
artifact; the middle one empty), all run once, then the empty middle cell run again R
times. Prints the wall time (the task included) and the kernel process's CPU time per
cell (its own work, and so far less disturbed by other jobs on a shared machine), medians.

    python benchmarks/kernel_cell_cost.py [N ...]      (default: 2 50 200; R=15)"""
from __future__ import annotations

import contextlib
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from extra_rows import big_notebook  # noqa: E402

REPS = int(os.environ.get("REPS", "15"))


def measure(cells: int) -> tuple[float, float]:
    import nbformat
    from IPython.core.interactiveshell import InteractiveShell

    d = Path(tempfile.mkdtemp(prefix="bench-cell-"))
    old = os.getcwd()
    os.chdir(d)
    shell = InteractiveShell.instance()
    quiet = contextlib.redirect_stdout(io.StringIO())   # the cells' own notes
    quiet.__enter__()
    try:
        nb = d / "big.ipynb"
        timed = big_notebook(nb, max(cells, 3))
        sources = [c.source for c in nbformat.read(str(nb), as_version=4).cells]
        if cells < 3:   # no saved notebook: two cells run in the kernel
            nb.unlink()
            timed, sources = "%%step start -> end\n", ["%%step start -> end\n", "%%step end\n"]
        else:
            os.environ["JPY_SESSION_NAME"] = str(nb)
        shell.run_cell("%load_ext nbflow")
        for source in sources:
            if not shell.run_cell(source).success:
                raise RuntimeError(f"{source!r} failed")
        walls, cpus = [], []
        for i in range(REPS + 3):
            t, c = time.perf_counter(), time.process_time()
            if not shell.run_cell(timed).success:
                raise RuntimeError(f"{timed!r} failed")
            if i >= 3:   # the first few warm up
                walls.append((time.perf_counter() - t) * 1000)
                cpus.append((time.process_time() - c) * 1000)
        return statistics.median(walls), statistics.median(cpus)
    finally:
        shell.run_line_magic("unload_ext", "nbflow")
        quiet.__exit__(None, None, None)
        InteractiveShell.clear_instance()
        os.environ.pop("JPY_SESSION_NAME", None)
        os.chdir(old)
        shutil.rmtree(d, ignore_errors=True)


def main(argv: list[str]) -> int:
    sizes = [int(a) for a in argv] or [2, 50, 200]
    print("| step cells in the notebook | wall per cell (task included) | kernel CPU per cell |")
    print("|---|---|---|")
    for n in sizes:
        wall, cpu = measure(n)
        print(f"| {n} | {wall:.1f} ms | {cpu:.1f} ms |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
