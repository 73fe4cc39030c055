"""How cost grows: time and store size versus foreach width and artifact size.

Run through `python benchmarks/run_benchmarks.py --scaling [--quick]`. Metaflow is
measured up to 1,000 splits (10,000 would take it about 25 minutes here)."""
from __future__ import annotations

import harness
import workloads


def _foreach_table(widths, with_mf) -> list[str]:
    lines = ["| foreach width | nbflow time | nbflow files | nbflow MB | Metaflow time | Metaflow files "
             "| Metaflow MB |", "|---|---|---|---|---|---|---|"]
    for width in widths:
        name, nb, mf = workloads.foreach(width)
        args = ["--max-workers", "2", "--max-num-splits", str(width)]
        n = harness.run_nbflow(name, nb, args)
        m = harness.run_metaflow(name, mf, args) if with_mf and width <= 1000 else None
        mcols = (f"{m.seconds:.2f} s | {m.files} | {m.store_bytes / 1e6:.1f}" if m
                 else "not run | | ")
        lines.append(f"| {width} | {n.seconds:.2f} s | {n.files} | {n.store_bytes / 1e6:.2f} | {mcols} |")
    return lines


def _array_table(sizes, with_mf) -> list[str]:
    lines = ["| array MiB | nbflow save+load run | nbflow load | nbflow peak MiB | Metaflow run "
             "| Metaflow load | Metaflow peak MiB |", "|---|---|---|---|---|---|---|"]
    for mib in sizes:
        name, nb, mf = workloads.array(mib, True, True)
        n = harness.run_nbflow(name, nb)
        m = harness.run_metaflow(name, mf) if with_mf else None
        mcols = (f"{m.seconds:.2f} s | {harness.load_seconds(m.output):.2f} s | {m.peak_mib:.0f}"
                 if m else "not run | | ")
        lines.append(f"| {mib} | {n.seconds:.2f} s | {harness.load_seconds(n.output):.3f} s | "
                     f"{n.peak_mib:.0f} | {mcols} |")
    return lines


def main(quick: bool, with_mf: bool) -> int:
    widths = [10, 100] if quick else [100, 1000, 10000]
    sizes = [10, 100] if quick else [10, 100, 1000]
    for line in _foreach_table(widths, with_mf) + [""] + _array_table(sizes, with_mf):
        print(line, flush=True)
    return 0
