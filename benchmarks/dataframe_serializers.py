"""A ~1 GiB pandas DataFrame with mixed dtypes stored as an artifact: the Arrow serializer
beside the pickle path (cloudpickle protocol 5, out-of-band buffers), both directions.

    python benchmarks/dataframe_serializers.py                 # 1 GiB, 3 repeats
    python benchmarks/dataframe_serializers.py --mib 128 --repeat 1

Each measurement runs in a fresh process (so its peak RSS is its own): `save` builds the
frame, then times `Datastore.put_object` (encode, hash, write); `load` times
`Datastore.get_object` (read, hash check, decode) in a new process, from the page cache
(the blob was just written); `load 2 cols` reads two of the columns. Memory is the
process's peak RSS (VmHWM, reset just before the operation) minus its RSS then (for save:
beyond the frame itself), as a multiple of the frame's size; for loads also the anonymous
memory the loaded value holds (RssAnon after minus before: the Arrow path's mapped file
pages are page cache, counted in RSS but not in RssAnon). Pairs run alternately, medians
reported.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

CHILD = r'''
import json, os, sys, time
sys.path.insert(0, os.environ["NBFLOW_SRC"])
import numpy as np
import pandas as pd
from nbflow.datastore import Datastore, serializers

def status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024

def rss():
    with open("/proc/self/clear_refs", "w") as f:   # VmHWM (the peak) starts again from here
        f.write("5")
    return status("VmRSS")

def peak():
    return status("VmHWM")

def frame(mib):
    rows = int(mib * 2**20 / 72)
    rng = np.random.default_rng(0)
    words = np.array([f"item-{i:05d}" for i in range(50_000)], dtype=object)
    df = pd.DataFrame({
        "a": rng.normal(size=rows), "b": rng.normal(size=rows),
        "c": rng.random(size=rows), "d": np.where(rng.random(rows) < 0.01, np.nan, 1.0),
        "i": np.arange(rows, dtype="int64"), "j": rng.integers(0, 1 << 30, rows, dtype="int32"),
        "s": pd.array(words[rng.integers(0, len(words), rows)], dtype="str"),
        "cat": pd.Categorical.from_codes(rng.integers(0, 8, rows),
                                         ["red", "green", "blue", "cyan", "m", "y", "k", "w"]),
        "t": pd.date_range("2020-01-01", periods=rows, freq="s", tz="UTC"),
        "flag": rng.random(rows) < 0.5,
    })
    return df

mode, how, store, mib = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
if how == "pickle":
    serializers._BUILTIN.clear()      # the pickle path, as before the Arrow serializer
ds = Datastore(store)
out = {}
if mode == "save":
    df = frame(mib)
    out["frame_bytes"] = int(df.memory_usage(index=True, deep=True).sum())
    before = rss(); t0 = time.perf_counter()
    ref = ds.put_object(df)
    out["seconds"] = time.perf_counter() - t0
    out["extra"] = max(peak() - before, 0)
    out["key"] = ref["key"]; out["serializer"] = ref.get("serializer", "pickle")
    out["blob_bytes"] = os.path.getsize(os.path.join(store, ds.blob_path(ref["key"])))
else:
    key = sys.argv[5]
    columns = ["a", "s"] if mode == "cols" else None
    import pyarrow  # noqa: F401 - imported before the clock (pandas imports it anyway)
    before = rss(); anon = status("RssAnon"); t0 = time.perf_counter()
    df = ds.get_object(key, columns=columns)
    out["seconds"] = time.perf_counter() - t0
    out["extra"] = max(peak() - before, 0)
    out["anon"] = max(status("RssAnon") - anon, 0)   # what the value holds, not the mapped file
    out["shape"] = list(df.shape)
print(json.dumps(out))
'''


def child(*args) -> dict:
    env = dict(os.environ, NBFLOW_SRC=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    res = subprocess.run([sys.executable, "-c", CHILD, *map(str, args)], env=env,
                         capture_output=True, text=True)
    if res.returncode:
        raise SystemExit(res.stderr)
    return json.loads(res.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=float, default=1024)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    results: dict = {h: {"save": [], "load": [], "cols": []} for h in ("arrow", "pickle")}
    info: dict = {}
    for _ in range(args.repeat):
        for how in ("arrow", "pickle"):
            store = tempfile.mkdtemp(prefix=f"nbflow-bench-{how}-")
            try:
                saved = child("save", how, store, args.mib)
                info[how] = saved
                results[how]["save"].append(saved)
                results[how]["load"].append(child("load", how, store, args.mib, saved["key"]))
                results[how]["cols"].append(child("cols", how, store, args.mib, saved["key"]))
            finally:
                shutil.rmtree(store, ignore_errors=True)
    size = info["arrow"]["frame_bytes"]
    print(f"frame: {size / 2**20:.0f} MiB in memory; blob: arrow "
          f"{info['arrow']['blob_bytes'] / 2**20:.0f} MiB, pickle "
          f"{info['pickle']['blob_bytes'] / 2**20:.0f} MiB; {args.repeat} repeat(s), medians")
    print("| operation | Arrow | pickle | pickle / Arrow |")
    print("|---|---|---|---|")
    for op, label in (("save", "save (put_object)"), ("load", "load (get_object), new process"),
                      ("cols", "load 2 of 10 columns")):
        a = statistics.median(r["seconds"] for r in results["arrow"][op])
        p = statistics.median(r["seconds"] for r in results["pickle"][op])
        print(f"| {label}: time | {a:.2f} s | {p:.2f} s | {p / a:.1f}x |")
        a = statistics.median(r["extra"] for r in results["arrow"][op]) / size
        p = statistics.median(r["extra"] for r in results["pickle"][op]) / size
        print(f"| {label}: peak RSS beyond {'the frame' if op == 'save' else 'start'} "
              f"/ frame size | {a:.2f} x | {p:.2f} x | |")
        if op != "save":
            a = statistics.median(r["anon"] for r in results["arrow"][op]) / size
            p = statistics.median(r["anon"] for r in results["pickle"][op]) / size
            print(f"| {label}: anonymous memory held after / frame size | {a:.2f} x | "
                  f"{p:.2f} x | |")


if __name__ == "__main__":
    main()
