"""Where a forked task's cost goes: one `nbflow run` of the N-way foreach, timed from inside.

    python benchmarks/task_anatomy.py            # the 1000-way foreach, 2 workers
    python benchmarks/task_anatomy.py --width 200 --workers 2

The run is the benchmark's foreach workload (benchmarks/workloads.py), in this process
(the CLI's main, with timers wrapped around the task runtime's phases: every task is
forked from the zygote, which is forked from this process, so they inherit the timers).
It prints, per task (medians over the tasks; CPU time of the task's own thread):
- the scheduler's process (this one: CPU / tasks), the zygote's (its forks and replies),
  and the task processes' total, as the zygote reaped them (`RUSAGE_CHILDREN`);
- of a task process: before our code runs (CPython's own after-fork work), each phase of
  the task runtime, and what is left after it calls `_exit` (the kernel tearing down a
  copy of the zygote's address space);
- page faults beside each: a forked task shares the zygote's memory copy-on-write, so the
  first write to each page (a refcount is a write) costs a fault and a 4 KiB copy. On the
  2-core VM these benchmarks ran on a fault costs ~2-3 us: faults are the most of a task.
A measuring tool, not a test: it wraps internal functions by name and skips the ones
that no longer exist.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workloads  # noqa: E402

# (module, attribute) of the task runtime's phases, in the order a task meets them
PHASES = [
    ("nbflow.task.runtime", "TaskRequest.from_json"),
    ("nbflow.task.keeper", "guard"),
    ("nbflow.task.runtime", "_bind_current"),
    ("nbflow.cards.capture", "install"),
    ("nbflow.task.runtime", "_module_namespace"),
    ("nbflow.task.runtime", "_make_self"),
    ("nbflow.task.runtime", "_step_function"),
    ("nbflow.task.selfview", "ForeachStack.value"),
    ("nbflow.task.runtime", "_foreach_split"),
    ("nbflow.task.runtime", "_persist"),
    ("nbflow.task.runtime", "_commit"),
    ("nbflow.task.keeper", "end_in_process"),
]


def _faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _cpu(usage) -> float:
    return usage.ru_utime + usage.ru_stime


class Figures:
    """What one task process measured of itself (written to a file before it exits)."""

    def __init__(self):
        self.phases: dict[str, list[int]] = {}   # name -> [ns, faults]

    def add(self, name: str, ns: int, faults: int) -> None:
        entry = self.phases.setdefault(name, [0, 0])
        entry[0] += ns
        entry[1] += faults


FIG = Figures()


def _wrap(owner, attr: str, name: str) -> None:
    fn = getattr(owner, attr)
    is_class_method = isinstance(owner.__dict__.get(attr), classmethod)
    raw = fn.__func__ if is_class_method else fn

    @functools.wraps(raw)
    def timed(*args, **kwargs):
        t, f = time.thread_time_ns(), _faults()
        try:
            return raw(*args, **kwargs)
        finally:
            FIG.add(name, time.thread_time_ns() - t, _faults() - f)

    setattr(owner, attr, classmethod(timed) if is_class_method else timed)


def instrument(out_dir: str) -> None:
    import importlib

    from nbflow.executors import zygote

    for module_name, path in PHASES:
        owner = importlib.import_module(module_name)
        *parents, attr = path.split(".")
        for p in parents:
            owner = getattr(owner, p, None)
        if owner is not None and hasattr(owner, attr):
            _wrap(owner, attr, path.rsplit(".", 1)[-1] if not parents else path)

    child = zygote._child

    def timed_child(*args, **kwargs):
        before = resource.getrusage(resource.RUSAGE_SELF)   # the process is new: all of it
        FIG.add("before our code (CPython's after-fork)", int(_cpu(before) * 1e9),
                before.ru_minflt)
        start, start_faults = time.thread_time_ns(), _faults()
        real_exit = os._exit

        def _exit(code):
            FIG.add("our code, in all", time.thread_time_ns() - start, _faults() - start_faults)
            with open(f"{out_dir}/{os.getpid()}.json", "w") as f:
                json.dump(FIG.phases, f)
            real_exit(code)

        os._exit = _exit
        child(*args, **kwargs)

    zygote._child = timed_child
    serve = zygote.serve

    def timed_serve(*args, **kwargs):
        try:
            serve(*args, **kwargs)
        finally:
            me, tasks = (resource.getrusage(w) for w in (resource.RUSAGE_SELF,
                                                         resource.RUSAGE_CHILDREN))
            with open(f"{out_dir}/zygote.json", "w") as f:
                json.dump({"cpu": _cpu(me), "faults": me.ru_minflt, "tasks_cpu": _cpu(tasks),
                           "tasks_faults": tasks.ru_minflt}, f)

    zygote.serve = timed_serve


def notebook(folder: str, width: int) -> str:
    _, cells, _ = workloads.foreach(width)
    return workloads.write_notebook(os.path.join(folder, "anatomy.ipynb"), cells)


def report(out_dir: str, main_cpu: float, main_faults: int, wall: float) -> None:
    tasks = [json.load(open(os.path.join(out_dir, n))) for n in os.listdir(out_dir)
             if n[0].isdigit()]
    zyg = json.load(open(os.path.join(out_dir, "zygote.json")))
    n = len(tasks)
    print(f"{n} tasks, {wall:.2f} s wall; load average {os.getloadavg()[0]:.1f}")
    print(f"{'per task':48s} {'CPU':>9s} {'faults':>7s}")

    def row(name, seconds, faults):
        print(f"{name:48s} {seconds * 1e3:7.2f} ms {faults:7.0f}")

    row("scheduler process (nbflow run)", main_cpu / n, main_faults / n)
    row("zygote (forks, replies, reaping)", zyg["cpu"] / n, zyg["faults"] / n)
    row("task process, in all", zyg["tasks_cpu"] / n, zyg["tasks_faults"] / n)
    names = sorted({k for t in tasks for k in t} - {"our code, in all"})
    ours = statistics.median(t["our code, in all"][0] for t in tasks) / 1e9
    before = statistics.median(t["before our code (CPython's after-fork)"][0]
                               for t in tasks) / 1e9
    row("  before our code (CPython's after-fork)", before,
        statistics.median(t["before our code (CPython's after-fork)"][1] for t in tasks))
    row("  our code (fork to _exit), median", ours,
        statistics.median(t["our code, in all"][1] for t in tasks))
    for name in sorted((k for k in names if not k.startswith("before")),
                       key=lambda k: -statistics.median(t.get(k, [0, 0])[0] for t in tasks)):
        row(f"    {name}", statistics.median(t.get(name, [0, 0])[0] for t in tasks) / 1e9,
            statistics.median(t.get(name, [0, 0])[1] for t in tasks))
    row("  after _exit (address space torn down), by difference",
        zyg["tasks_cpu"] / n - ours - before, float("nan"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--width", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        out_dir = os.path.join(folder, "figures")
        os.mkdir(out_dir)
        nb = notebook(folder, args.width)
        os.chdir(folder)
        os.environ.pop("NBFLOW_DATASTORE", None)
        instrument(out_dir)
        from nbflow.cli.main import main as nbflow_main

        sys.argv = ["nbflow", "run", nb, "--quiet", "--max-workers", str(args.workers),
                    "--max-num-splits", str(max(args.width, 100))]
        start = time.perf_counter()
        try:
            nbflow_main()
        except SystemExit as e:
            if e.code:
                raise
        wall = time.perf_counter() - start
        me = resource.getrusage(resource.RUSAGE_SELF)
        time.sleep(0.5)   # the zygote writes its figures as it exits, after the run
        report(out_dir, _cpu(me), me.ru_minflt, wall)
    return 0


if __name__ == "__main__":
    sys.exit(main())
