"""What checking every blob against its hash costs on load: a 1000 MiB float64 array
(random, so stored raw), loaded from a warm page cache with and without the check.

Two ways a blob is loaded, each timed unchecked and checked:
- mapped: a local blob's big section is memory-mapped. Unchecked, the load reads nothing
  (pages come in when the step first uses them) while the check reads every page to
  hash it; so the load is timed up to a first touch of every page of the array (one
  value per 4 KiB page, as any use of the whole array does).
- read: the bytes are read into memory (as from an object store, or a file that cannot
  be mapped), then touched the same way.
The lazy unchecked map alone (no touch) is shown too: against it, the check is all of it.

    python benchmarks/verify_cost.py [--mib 1000] [--reps 7]
"""
from __future__ import annotations

import argparse
import io
import os
import statistics
import tempfile
import time

import numpy as np

from nbflow.datastore import Datastore, serialize


class Unmappable(io.RawIOBase):
    """A local file that cannot be mapped (no fileno): the reader copies its bytes."""

    def __init__(self, path: str):
        self.f = open(path, "rb", buffering=0)

    def readable(self):
        return True

    def readinto(self, b):
        return self.f.readinto(b)

    def seekable(self):
        return True

    def seek(self, pos, whence=0):
        return self.f.seek(pos, whence)

    def tell(self):
        return self.f.tell()

    def close(self):
        self.f.close()
        super().close()


def load(path: str, key: str, check: bool, how: str) -> float:
    t0 = time.perf_counter()
    f = open(path, "rb") if how != "read" else io.BufferedReader(Unmappable(path), 1 << 20)
    with f:
        value = serialize.read(f, key if check else None)
    if how != "lazy":
        float(value[::512].sum())   # one float64 of each 4 KiB page
    seconds = time.perf_counter() - t0
    del value
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    cases = [("mapped", False), ("mapped", True), ("read", False), ("read", True),
             ("lazy", False)]
    times: dict[tuple, list[float]] = {c: [] for c in cases}
    with tempfile.TemporaryDirectory() as root:
        ds = Datastore(root)
        value = np.random.default_rng(0).random(args.mib * (1 << 20) // 8)
        key = ds.put_object(value)["key"]
        del value
        path = os.path.join(root, ds.blob_path(key))
        load(path, key, False, "mapped")  # warm the page cache
        for _ in range(args.reps):  # interleaved, so machine load hits every case alike
            for how, check in cases:
                times[how, check].append(load(path, key, check, how))
    med = {c: statistics.median(t) for c, t in times.items()}
    best = {c: min(t) for c, t in times.items()}
    print(f"load of {args.mib} MiB then a touch of every page; median of {args.reps} (min), "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores:")
    for how in ("mapped", "read"):
        plain, checked = (how, False), (how, True)
        print(f"  {how:7} unchecked {med[plain]:.3f} s ({best[plain]:.3f} s)   checked "
              f"{med[checked]:.3f} s ({best[checked]:.3f} s)   cost "
              f"{100 * (med[checked] / med[plain] - 1):+.0f}% "
              f"({100 * (best[checked] / best[plain] - 1):+.0f}%)")
    print(f"  the unchecked map alone, untouched: {med['lazy', False]:.4f} s")


if __name__ == "__main__":
    main()
