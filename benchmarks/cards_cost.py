"""What cards cost a step that displays nothing.

1. End to end: the 1000-way foreach (notebooks/wide_foreach.ipynb, --max-num-splits 1000)
   run headless by the same commit twice, as it is and with the cards feature taken out
   of the task runtime (no capture installed, no figures shown at the end, no card
   write): two `git archive` snapshots, the second one patched. Interleaved, each run in
   a fresh folder, so machine load falls on both alike.
2. Per task, in process: what the task runtime adds (capture.install before the step,
   capture.finish after it, the card write that writes nothing).

    python benchmarks/cards_cost.py [--reps 5] [--commit COMMIT]
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from reaping import become_subreaper, reap_orphans

REPO = Path(__file__).resolve().parent.parent
RUNTIME = "nbflow/task/runtime.py"
# the cards feature in the task runtime, and what the tree without it has instead
WITHOUT_CARDS = (
    ("capture.install(ds, stream=req.context.card_stream)", "pass"),
    ("capture.finish()", "pass"),
    ("card = write_card(ds, ds.task_prefix(req.flow, req.run_id, req.step, req.task_id,\n"
     "                                             req.attempt),\n"
     "                          capture.card.stored())", "card = None"),
)


def snapshot(commit: str, into: Path) -> Path:
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", commit], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def without_cards(tree: Path) -> Path:
    """The snapshot with the cards feature taken out of its task runtime."""
    path = tree / RUNTIME
    text = path.read_text()
    for old, new in WITHOUT_CARDS:
        if old not in text:
            raise SystemExit(f"{RUNTIME} changed: '{old.splitlines()[0]}' is not there; "
                             "update WITHOUT_CARDS")
        text = text.replace(old, new)
    path.write_text(text)
    return tree


def one_run(tree: Path, work: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the whole process tree, its orphans included: user +
    system)."""
    folder = work / f"run-{time.time_ns()}"
    folder.mkdir()
    shutil.copy(REPO / "notebooks" / "wide_foreach.ipynb", folder)
    env = dict(os.environ, PYTHONPATH=str(tree), NBFLOW_USER="bench")
    env.pop("NBFLOW_DATASTORE", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "nbflow", "run", "wide_foreach.ipynb",
                    "--max-num-splits", "1000", "--quiet"], cwd=folder, env=env, check=True,
                   capture_output=True)
    seconds = time.perf_counter() - t0
    reap_orphans()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    shutil.rmtree(folder)
    return seconds, cpu


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
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--commit", default="HEAD")
    args = ap.parse_args()
    become_subreaper()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        trees = {"without cards": without_cards(snapshot(args.commit, work / "without")),
                 "with cards": snapshot(args.commit, work / "with")}
        times: dict[str, list[tuple[float, float]]] = {k: [] for k in trees}
        for tree in trees.values():          # warm the page cache; compile each tree's bytecode
            one_run(tree, work)
        for _ in range(args.reps):           # interleaved: machine load hits both alike
            for name, tree in trees.items():
                times[name].append(one_run(tree, work))
        overhead = per_task_overhead(trees["with cards"])
    print(f"1000-way foreach (1003 tasks), median of {args.reps} runs each, interleaved:")
    med = {}
    for name, runs in times.items():
        wall, cpu = (statistics.median(r[i] for r in runs) for i in (0, 1))
        med[name] = wall, cpu
        print(f"  {name:14s} wall {wall:7.2f} s (runs: " + ", ".join(f"{r[0]:.2f}" for r in runs)
              + f"); CPU {cpu:7.2f} s (runs: " + ", ".join(f"{r[1]:.2f}" for r in runs) + ")")
    for i, what in ((0, "wall"), (1, "CPU")):
        diff = med["with cards"][i] - med["without cards"][i]
        print(f"  {what}: with/without {med['with cards'][i] / med['without cards'][i]:.3f}, "
              f"difference {diff * 1e3:+.0f} ms ({diff / 1003 * 1e3:+.2f} ms per task)")
    print(f"per task, in process: install + finish + no card file = {overhead * 1e6:.1f} us "
          f"({overhead * 1003 * 1e3:.1f} ms over 1003 tasks)")


if __name__ == "__main__":
    main()
