"""What checking every blob against its hash costs on load: a 1000 MiB float64 array
(random, so stored raw), loaded from a warm page cache with and without the check.

    python benchmarks/verify_cost.py [--mib 1000] [--reps 7]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import numpy as np

from nbflow.datastore import Datastore, serialize


def load(ds: Datastore, key: str, check: bool) -> float:
    t0 = time.perf_counter()
    with ds.storage.open_for_read(ds.blob_path(key)) as f:
        value = serialize.read(f, key if check else None)
    seconds = time.perf_counter() - t0
    del value
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as root:
        ds = Datastore(root)
        value = np.random.default_rng(0).random(args.mib * (1 << 20) // 8)
        key = ds.put_object(value)["key"]
        del value
        load(ds, key, False)  # warm the page cache
        times: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.reps):  # interleaved, so machine load hits both alike
            for check in (False, True):
                times[check].append(load(ds, key, check))
    plain, checked = (statistics.median(times[c]) for c in (False, True))
    best_plain, best_checked = min(times[False]), min(times[True])
    print(f"load of {args.mib} MiB, median of {args.reps} (min):")
    print(f"  unchecked  {plain:.3f} s ({best_plain:.3f} s)")
    print(f"  checked    {checked:.3f} s ({best_checked:.3f} s)")
    print(f"  cost       {100 * (checked / plain - 1):+.1f}% ({100 * (best_checked / best_plain - 1):+.1f}%)")


if __name__ == "__main__":
    main()
