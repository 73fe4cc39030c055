"""Where the start-up of `nbflow run` and of a task goes: interpreter, imports, the run.

    python benchmarks/startup.py            # medians of 10 fresh processes each
    python benchmarks/startup.py --repeat 20 --top 15

Rows (each a fresh interpreter, bytecode cached, wall time from a parent process, and the
CPU time of the whole process tree, forked tasks included: the figure to read on a loaded
machine, where other jobs stretch wall times far more):
- `python -c pass`, then `-S -E` (this installation's `site` is part of every command);
- the imports of a task started without the zygote (`python -m nbflow.task`);
- the imports `nbflow run` makes before it forks its zygote, and those after;
- the whole `nbflow run` of the 3-step hello notebook.
Then the slowest imports of the `nbflow run` process (`-X importtime`, the fastest of the
repeats for each module): which module to make lazy next.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workloads  # noqa: E402
from reaping import become_subreaper, reap_orphans  # noqa: E402

# what `nbflow run` imports before it forks the zygote (cli/run_commands.cmd_run)
BEFORE_FORK = "import nbflow.cli.main, nbflow.commands.running, nbflow.cli.console, " \
              "nbflow.executors.local"
AFTER_FORK = "import nbflow.notebook.parse, nbflow.graph, nbflow.run.scheduler, " \
             "nbflow.environment.requirements, nbflow.notebook.production, nbflow.run.withopts, " \
             "nbflow.notebook.preload, nbflow.run.cache, xxhash"
TASK = "import nbflow.task.runtime"
ZYGOTE = "import nbflow.executors.zygote"


def _env() -> dict:
    env = dict(os.environ, NBFLOW_USER="bench")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("NBFLOW_DATASTORE", None)
    return env


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _wall(cmd: list[str], cwd: str, reps: int) -> list[tuple[float, float]]:
    """(wall, CPU of the process tree) per run; orphans (a zygote a moment late) reaped."""
    env = _env()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)  # bytecode
    reap_orphans()
    out = []
    for _ in range(reps):
        c0, t0 = _cpu(), time.perf_counter()
        subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        reap_orphans()
        out.append((wall, _cpu() - c0))
    return out


def hello_notebook(folder: str) -> str:
    _, cells, _ = workloads.hello()
    return workloads.write_notebook(os.path.join(folder, "hello.ipynb"), cells)


def slowest_imports(cwd: str, reps: int, top: int) -> list[tuple[str, float, float]]:
    """(module, self ms, cumulative ms) of the `nbflow run` process tree, fastest of `reps`."""
    best: dict[str, tuple[float, float]] = {}
    for _ in range(reps):
        proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "nbflow", "run",
                               "hello.ipynb", "--quiet"], cwd=cwd, env=_env(),
                              capture_output=True, text=True, check=True)
        for line in proc.stderr.splitlines():
            if not line.startswith("import time:") or "cumulative" in line:
                continue
            own, cumulative, name = line[len("import time:"):].split("|")
            key = name.strip()
            low = best.get(key, (float("inf"), float("inf")))
            best[key] = (min(low[0], int(own) / 1000), min(low[1], int(cumulative) / 1000))
    ranked = sorted(best.items(), key=lambda kv: -kv[1][0])[:top]
    return [(name, own, cumulative) for name, (own, cumulative) in ranked]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--top", type=int, default=12, help="how many of the slowest imports")
    args = ap.parse_args(argv)
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="nbflow-startup-") as d:
        hello_notebook(d)
        rows = [
            ("`python -c pass`", [py, "-c", "pass"]),
            ("`python -S -E -c pass`", [py, "-S", "-E", "-c", "pass"]),
            ("task entry without the zygote: python + its imports", [py, "-c", TASK]),
            ("`nbflow run`, python + imports before the zygote's fork", [py, "-c", BEFORE_FORK]),
            ("  + the CLI's imports after the fork", [py, "-c", f"{BEFORE_FORK}; {AFTER_FORK}"]),
            ("  + the zygote's imports (had they been in one process)",
             [py, "-c", f"{BEFORE_FORK}; {AFTER_FORK}; {ZYGOTE}"]),
            ("whole `nbflow run` of hello world (3 tasks)",
             [py, "-m", "nbflow", "run", "hello.ipynb", "--quiet"]),
        ]
        become_subreaper()
        print("| start-up | median | fastest | CPU median | CPU least |")
        print("|---|---|---|---|---|")
        for label, cmd in rows:
            runs = _wall(cmd, d, args.repeat)
            wall, cpu = [w for w, _ in runs], [c for _, c in runs]
            print(f"| {label} | {statistics.median(wall) * 1e3:.1f} ms | "
                  f"{min(wall) * 1e3:.1f} ms | {statistics.median(cpu) * 1e3:.1f} ms | "
                  f"{min(cpu) * 1e3:.1f} ms |")
        print(f"\n(load average {os.getloadavg()[0]:.2f} when the rows were done)")
        print(f"\nslowest imports of `nbflow run` (its CLI and zygote processes; "
              f"fastest of {args.repeat}):\n")
        print("| module | self | cumulative |")
        print("|---|---|---|")
        for name, own, cumulative in slowest_imports(d, args.repeat, args.top):
            print(f"| {name} | {own:.2f} ms | {cumulative:.2f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
