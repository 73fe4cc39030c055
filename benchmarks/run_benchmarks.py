"""Side-by-side benchmark: nbflow vs the real `metaflow` package on the same work.

    python benchmarks/run_benchmarks.py            # the full table (about 10 minutes with Metaflow)
    python benchmarks/run_benchmarks.py --quick    # small sizes, one repeat: a smoke run
    python benchmarks/run_benchmarks.py --scaling  # cost versus foreach width and artifact size

Every run starts from an empty store. Without metaflow installed (`pip install .[bench]`)
only nbflow's figures are printed. Prints a markdown table of medians, min-max and ratios.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
import limits  # noqa: E402
import workloads  # noqa: E402
from extra_rows import client_seconds, interactive_step_seconds  # noqa: E402


class Row:
    def __init__(self, label: str, unit: str, nbflow: list[float], metaflow: list[float] | None,
                 limit: float | None = None):
        self.label, self.unit, self.nbflow, self.metaflow = label, unit, nbflow, metaflow
        self.limit = limit   # the least this machine allows (limits.py), in `unit`

    @staticmethod
    def _fmt(values, unit):
        if not values:
            return "n/a"
        med = statistics.median(values)
        spread = f" ({min(values):.3g}-{max(values):.3g})" if len(values) > 1 else ""
        return f"{med:.3g} {unit}{spread}"

    def markdown(self) -> str:
        ratio = "n/a"
        if self.metaflow and self.nbflow:
            n, m = statistics.median(self.nbflow), statistics.median(self.metaflow)
            ratio = f"{m / n:.1f}x" if n > 0 else "inf"
        limit = to_limit = "n/a"
        if self.limit is not None:
            limit = f"{self.limit:.3g} {self.unit}"
            if self.nbflow and self.limit > 0:
                to_limit = f"{statistics.median(self.nbflow) / self.limit:.1f}x"
        return (f"| {self.label} | {self._fmt(self.metaflow, self.unit)} | "
                f"{self._fmt(self.nbflow, self.unit)} | {ratio} | {limit} | {to_limit} |")


LIMITS: dict = {}   # limits.measure(): filled by main() unless --no-limits


def limit(row: str, factor: float = 1.0, **sizes) -> float | None:
    """The row's physical limit (limits.derived) in the row's unit, or None."""
    if not LIMITS:
        return None
    value = limits.derived(LIMITS, row, **sizes)
    return None if value is None else value * factor


def repeat(fn, n):
    return [fn() for _ in range(n)]


def bench_hello(reps, with_mf):
    name, nb, mf = workloads.hello()
    nbf = repeat(lambda: harness.run_nbflow(name, nb), reps)
    mfl = repeat(lambda: harness.run_metaflow(name, mf), reps) if with_mf else None
    rows = [Row("hello world, 3 tasks, whole process", "s", [m.seconds for m in nbf],
                mfl and [m.seconds for m in mfl], limit("hello")),
            Row("  same, whole process / 3", "ms", [m.seconds / 3 * 1000 for m in nbf],
                mfl and [m.seconds / 3 * 1000 for m in mfl], limit("hello", 1000 / 3))]
    return rows


def bench_foreach(width, reps, with_mf, workers=2, cpu=False):
    name, nb, mf = workloads.foreach(width)
    args = ["--max-workers", str(workers), "--max-num-splits", str(width)]
    nbf = repeat(lambda: harness.run_nbflow(name, nb, args), reps)
    mfl = repeat(lambda: harness.run_metaflow(name, mf, args), reps) if with_mf else None
    tasks = width + 3
    return [
        Row(f"{width}-way foreach, trivial body, {workers} workers", "s", [m.seconds for m in nbf],
            mfl and [m.seconds for m in mfl], limit("foreach", workers=workers, width=width)),
        Row("  same, per-task overhead (wall x workers / tasks)", "ms",
            [m.seconds * workers / tasks * 1000 for m in nbf],
            mfl and [m.seconds * workers / tasks * 1000 for m in mfl],
            limit("foreach_per_task", 1000)),
        Row("  same, files in the datastore", "files", [m.files for m in nbf],
            mfl and [m.files for m in mfl]),
        Row("  same, files per task", "files", [m.files / tasks for m in nbf],
            mfl and [m.files / tasks for m in mfl]),
        Row("  same, bytes in the datastore", "MB", [m.store_bytes / 1e6 for m in nbf],
            mfl and [m.store_bytes / 1e6 for m in mfl]),
    ] + ([Row("  same, CPU time of the process tree per task (user + system)", "ms",
              [m.cpu_seconds / tasks * 1000 for m in nbf],
              mfl and [m.cpu_seconds / tasks * 1000 for m in mfl])] if cpu else [])


def bench_array(mib, reps, with_mf):
    rows = []
    results = {}
    for tool in ("nbflow", "metaflow"):
        if tool == "metaflow" and not with_mf:
            continue
        run = harness.run_nbflow if tool == "nbflow" else harness.run_metaflow

        def go(store, read, run=run, tool=tool):
            name, nb, mf = workloads.array(mib, store, read)
            return run(name, nb if tool == "nbflow" else mf)

        control = repeat(lambda: go(False, False), reps)
        saved = repeat(lambda: go(True, False), reps)
        loaded = repeat(lambda: go(True, True), reps)
        # what remains of a step change when nothing is stored: starting the next task
        start_next = statistics.median(
            harness.handoff(m.output, "T_START_END", "T_MID_BEGIN") for m in control)
        finish_next = statistics.median(
            harness.handoff(m.output, "T_MID_END", "T_END_BEGIN") for m in saved)
        results[tool] = {
            "save": [harness.handoff(m.output, "T_START_END", "T_MID_BEGIN") - start_next
                     for m in saved],
            "load": [harness.load_seconds(m.output) for m in loaded],
            "peak": [m.peak_mib / mib for m in saved],
            "persist_read": [harness.handoff(m.output, "T_MID_END", "T_END_BEGIN") - finish_next
                             for m in loaded],
        }
    mf = results.get("metaflow", {})
    nbf = results["nbflow"]
    rows.append(Row(f"save a {mib} MiB float64 array artifact", "s", nbf["save"], mf.get("save"),
                    limit("save", mib=mib)))
    rows.append(Row("  load it in the next step", "s", nbf["load"], mf.get("load"),
                    limit("load", mib=mib)))
    rows.append(Row("  peak memory of the saving task / artifact size", "x", nbf["peak"],
                    mf.get("peak"), limit("peak")))
    rows.append(Row("  persist it after a step read it unchanged (extra time)", "s",
                    nbf["persist_read"],
                    mf.get("persist_read"), limit("persist", mib=mib)))
    return rows


def bench_half_array(mib, reps, with_mf):
    """The whole run of workloads.half_array, nbflow and Metaflow interleaved (machine load
    falls on both alike): wall time, and the CPU time of each process tree."""
    name, nb, mf = workloads.half_array(mib)
    nbf, mfl = [], []
    for _ in range(reps):
        nbf.append(harness.run_nbflow(name, nb))
        if with_mf:
            mfl.append(harness.run_metaflow(name, mf))
    return [
        Row(f"whole run: save a {mib} MiB array, load it, save half of it (3 tasks)", "s",
            [m.seconds for m in nbf], with_mf and [m.seconds for m in mfl] or None,
            limit("half", mib=mib)),
        Row("  same, CPU time of the process tree (user + system)", "s",
            [m.cpu_seconds for m in nbf], with_mf and [m.cpu_seconds for m in mfl] or None),
    ]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    ap.add_argument("--repeat", type=int, default=None)
    ap.add_argument("--no-metaflow", action="store_true", help="nbflow's figures only")
    ap.add_argument("--only", choices=["hello", "foreach", "foreach10k", "array", "half",
                                       "client", "interactive"],
                    action="append", help="foreach10k (not in the default table): the "
                    "10,000-way foreach, nbflow alone (Metaflow would take ~25 minutes)")
    ap.add_argument("--scaling", action="store_true", help="cost versus size tables instead")
    ap.add_argument("--no-limits", action="store_true",
                    help="skip measuring this machine's limits (limits.py) and their columns")
    args = ap.parse_args(argv)
    with_mf = harness.metaflow_available() and not args.no_metaflow
    reps = args.repeat or (1 if args.quick else 3)
    harness.cache_bytecode()
    if args.scaling:
        from scaling import main as scaling_main

        return scaling_main(quick=args.quick, with_mf=with_mf)
    only = set(args.only or ["hello", "foreach", "array", "half", "client", "interactive"])
    if not args.no_limits:
        LIMITS.update(limits.measure(quick=args.quick))
        print(limits.markdown(LIMITS) + "\n")
    rows: list[Row] = []
    if "hello" in only:
        rows += bench_hello(max(reps, 3), with_mf)
    if "foreach" in only:
        rows += bench_foreach(100 if args.quick else 1000, reps if args.quick else 1, with_mf)
    if "foreach10k" in only:
        rows += bench_foreach(10_000, 1, False, cpu=True)
    if "array" in only:
        rows += bench_array(100 if args.quick else 1000, reps, with_mf)
    if "half" in only:
        rows += bench_half_array(200, reps, with_mf)
    if "client" in only:
        nbf, mfl = client_seconds(max(reps, 3), with_mf)
        rows.append(Row("client: latest run's end task data, new process", "s", nbf, mfl,
                        limit("client")))
    if "interactive" in only:
        rows.append(Row("interactive: empty %%step cell, execute to done", "ms",
                        interactive_step_seconds(max(reps, 5)), None, limit("interactive", 1000)))
        rows.append(Row("  same, in a 200-cell notebook (all cells run once)", "ms",
                        interactive_step_seconds(max(reps, 5), cells=200), None,
                        limit("interactive", 1000)))
    print("| work | Metaflow | nbflow | Metaflow / nbflow | limit | nbflow / limit |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(row.markdown())
    if not with_mf and not args.no_metaflow:
        print("\n(metaflow is not installed: `pip install .[bench]` for the side-by-side figures)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
