"""What cards cost a step that displays nothing.

1. End to end: the 1000-way foreach (notebooks/wide_foreach.ipynb, --max-num-splits 1000)
   run headless by the code just before cards landed and by the code with them (two
   `git archive` snapshots of this repository), interleaved, each run in a fresh folder.
2. Per task, in process: what the task runtime adds (capture.install before the step,
   capture.finish after it, the card write that writes nothing).

    python benchmarks/cards_cost.py [--reps 3] [--before COMMIT] [--after COMMIT]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BEFORE = "3fa8ef1"   # main just before the first cards commit landed
AFTER = "HEAD"


def snapshot(commit: str, into: Path) -> Path:
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", commit], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def one_run(tree: Path, work: Path) -> float:
    folder = work / f"run-{time.time_ns()}"
    folder.mkdir()
    shutil.copy(REPO / "notebooks" / "wide_foreach.ipynb", folder)
    env = dict(os.environ, PYTHONPATH=str(tree), NBFLOW_USER="bench")
    env.pop("NBFLOW_DATASTORE", None)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "nbflow", "run", "wide_foreach.ipynb",
                    "--max-num-splits", "1000", "--quiet"], cwd=folder, env=env, check=True,
                   capture_output=True)
    seconds = time.perf_counter() - t0
    shutil.rmtree(folder)
    return seconds


def per_task_overhead(tree: Path, n: int = 20000) -> float:
    code = f"""
import time, tempfile
from nbflow.cards import capture
from nbflow.datastore import Datastore
from nbflow.datastore.cards import write_card
ds = Datastore(tempfile.mkdtemp())
t0 = time.perf_counter()
for i in range({n}):
    capture.install(ds, stream=False)
    capture.finish()
    write_card(ds, "F/1/s/1.0", capture.card.stored())
print((time.perf_counter() - t0) / {n})
"""
    out = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=str(tree)),
                         check=True, capture_output=True, text=True).stdout
    return float(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--before", default=BEFORE)
    ap.add_argument("--after", default=AFTER)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        trees = {"without cards": snapshot(args.before, work / "before"),
                 "with cards": snapshot(args.after, work / "after")}
        times: dict[str, list[float]] = {k: [] for k in trees}
        one_run(trees["with cards"], work)   # warm the page cache and imports
        for _ in range(args.reps):           # interleaved: machine load hits both alike
            for name, tree in trees.items():
                times[name].append(one_run(tree, work))
        overhead = per_task_overhead(trees["with cards"])
    print(f"1000-way foreach (1003 tasks), median of {args.reps} runs each, interleaved:")
    for name, ts in times.items():
        print(f"  {name:14s} {statistics.median(ts):7.2f} s   (runs: "
              + ", ".join(f"{t:.2f}" for t in ts) + ")")
    ratio = statistics.median(times["with cards"]) / statistics.median(times["without cards"])
    print(f"  ratio with/without: {ratio:.3f}")
    print(f"per task, in process: install + finish + no card file = {overhead * 1e6:.1f} us "
          f"({overhead * 1003 * 1e3:.1f} ms over 1003 tasks)")


if __name__ == "__main__":
    main()
