"""The physical limits of this machine, for the benchmark table: what no tool could beat.

    python benchmarks/limits.py            # medians, as a markdown table
    python benchmarks/limits.py --json     # the same figures as JSON (run_benchmarks.py reads them)

- fork + wait: a warm process (one that has imported nbflow's task runtime, as the
  zygote has) forks a child that exits at once, and waits for it;
- interpreter start: `python -c pass` as it is here (its `site`, with whatever .pth files
  this installation has), then `python -S -E -c pass` (no site, no environment): the
  floor of any fresh Python process;
- xxh3 (128-bit, what the store hashes with) over an in-memory buffer;
- page-cache write and read of a 1000 MiB file (no fsync: what a save costs before the
  kernel writes it back; the read right after finds it in the page cache), written as
  nbflow writes a blob: fallocate, then 1 MiB writes.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

MIB = 2**20


LAST_MIN: dict[str, float] = {}   # the fastest repeat of the last _median_seconds(fn)


def _median_seconds(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    LAST_MIN["seconds"] = min(times)
    return statistics.median(times)


def _with_min(value: float) -> tuple[float, float]:
    return value, LAST_MIN["seconds"]


def fork_wait_seconds(reps: int = 200, warm: bool = True) -> float:
    """One fork of this process (after importing the task runtime: the zygote's page
    tables) plus the child's exit and the parent's wait."""
    if warm:
        import nbflow.executors.zygote  # noqa: F401
        import nbflow.task.runtime  # noqa: F401

    def once():
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)

    once()
    return _median_seconds(once, reps)


def interpreter_seconds(flags: tuple[str, ...] = (), reps: int = 15) -> float:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cmd = [sys.executable, *flags, "-c", "pass"]
    subprocess.run(cmd, env=env, check=True)   # warm the page cache
    return _median_seconds(lambda: subprocess.run(cmd, env=env, check=True), reps)


def xxh3_gib_per_second(mib: int = 256, reps: int = 5) -> float:
    import xxhash

    buf = bytearray(os.urandom(MIB)) * mib
    view = memoryview(buf)
    xxhash.xxh3_128(view).digest()
    seconds = _median_seconds(lambda: xxhash.xxh3_128(view).digest(), reps)
    return mib / 1024 / seconds


def page_cache_seconds(mib: int = 1000, folder: str | None = None, reps: int = 3
                       ) -> tuple[float, float]:
    """(write, read) seconds of `mib` MiB, no fsync, written the way nbflow's local store
    writes a blob (nbflow/datastore/storage.py: the file's blocks reserved first with
    fallocate, then unbuffered writes of WRITE_CHUNK, 1 MiB, from the value's memory, here
    a 64 MiB buffer over and over); the file is removed (and its pages dropped) between
    repeats. One untimed write first: on a virtual machine the first touch of fresh memory
    pages can cost several times the copy (the host backs them), which is no property of
    the page cache."""
    from nbflow.datastore.storage import WRITE_CHUNK, _LocalFile, _preallocate

    chunk = bytearray(os.urandom(MIB)) * 64
    into = bytearray(len(chunk))
    writes, reads = [], []
    with tempfile.TemporaryDirectory(prefix="nbflow-limits-", dir=folder) as d:
        path = os.path.join(d, "blob")

        def write():
            with _LocalFile(path, "w") as f:
                _preallocate(f.fileno(), mib * MIB)
                left = mib * MIB
                while left > 0:   # _LocalFile hands the kernel WRITE_CHUNK at a time
                    left -= f.write(memoryview(chunk)[:min(left, len(chunk))])

        def read():
            with open(path, "rb", buffering=0) as f:
                while f.readinto(into):
                    pass

        assert WRITE_CHUNK == MIB   # what the docstring and the README say
        write()
        os.unlink(path)
        for _ in range(reps):
            writes.append(_median_seconds(write, 1))
            reads.append(_median_seconds(read, 1))
            os.unlink(path)
            time.sleep(0.5)   # let the write-back of the last file start
    return statistics.median(writes), statistics.median(reads)


def measure(quick: bool = False, folder: str | None = None) -> dict:
    """Every limit, in seconds (bandwidths in GiB/s)."""
    mib = 200 if quick else 1000
    write, read = page_cache_seconds(mib, folder, reps=1 if quick else 3)
    scale = 1000 / mib
    found = {"write_1000mib": write * scale, "read_1000mib": read * scale}
    found["fork_wait"], found["fork_wait_min"] = _with_min(fork_wait_seconds(50 if quick else 200))
    found["fork_wait_bare"] = _in_fresh_process("fork_wait_seconds(200, warm=False)")
    found["python"], found["python_min"] = _with_min(interpreter_seconds(reps=5 if quick else 15))
    found["python_S_E"], found["python_S_E_min"] = _with_min(
        interpreter_seconds(("-S", "-E"), reps=5 if quick else 15))
    found["xxh3_gib_s"] = xxh3_gib_per_second(64 if quick else 256)
    return found


def _in_fresh_process(expr: str) -> float:
    """A figure measured in a new interpreter (one that has imported nothing of ours)."""
    code = (f"import sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})\n"
            f"from limits import fork_wait_seconds\nprint({expr})")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return float(out.stdout.split()[-1])


def derived(lim: dict, row: str, workers: int = 2, width: int = 1000, mib: int = 1000
            ) -> float | None:
    """The least a benchmark row could cost on this machine, from the measured limits, in
    seconds (`peak`: a ratio); None where no physical limit applies (files, bytes).
    Latencies (fork, interpreter start) are the fastest repeat: what the machine can do,
    not what other jobs sharing it left; bandwidths are medians."""
    def hashing(mib: float) -> float:
        return mib / 1024 / lim["xxh3_gib_s"]

    def save(mib: float) -> float:   # hash it and write it (overlapped at best: the larger)
        return max(hashing(mib), lim["write_1000mib"] * mib / 1000)

    def load(mib: float) -> float:
        # check its hash: a local blob is mapped, not read (its pages in the page cache are
        # the value's memory, and the check reads each once)
        return hashing(mib)

    fork = lim.get("fork_wait_min", lim["fork_wait"])
    python = lim.get("python_min", lim["python"])
    return {
        # one interpreter, then three tasks, each a fork of a warm process, one after another
        "hello": python + 3 * fork,
        # width + 3 forks spread over the workers, after one interpreter start
        "foreach": python + (width + 3) * fork / workers,
        "foreach_per_task": fork,
        # a store must both hash and write (read and hash) an artifact
        "save": save(mib),
        "load": load(mib),
        # none: a mapped array is known unchanged from the page tables (datastore/unchanged.py),
        # no pass over its bytes (hashing it again, the way before, is hashing(mib))
        "persist": None,
        # hello world's start and 3 tasks, saving the array, loading it, saving half of it
        # (making the array, the same work for every tool, is not counted)
        "half": python + 3 * fork + save(mib) + load(mib) + save(mib / 2),
        "peak": 1.0,
        # a new interpreter (that then reads two small records)
        "client": python,
        # a cell's task: one fork of a warm process
        "interactive": fork,
    }.get(row)


def markdown(lim: dict) -> str:
    def ms(key: str) -> str:
        low = f" (fastest {lim[key + '_min'] * 1e3:.2f})" if key + "_min" in lim else ""
        return f"{lim[key] * 1e3:.2f} ms{low}"

    rows = [
        ("fork + wait, a warm process (the task runtime imported)", ms("fork_wait")),
        ("fork + wait, a bare interpreter", ms("fork_wait_bare")),
        ("interpreter start, `python -c pass`", ms("python")),
        ("interpreter start, `python -S -E -c pass`", ms("python_S_E")),
        ("xxh3-128 bandwidth, in memory", f"{lim['xxh3_gib_s']:.1f} GiB/s"),
        ("page-cache write, 1000 MiB (no fsync)", f"{lim['write_1000mib']:.3f} s"),
        ("page-cache read, 1000 MiB", f"{lim['read_1000mib']:.3f} s"),
    ]
    return "\n".join(["| limit | this machine (median) |", "|---|---|"] +
                     [f"| {a} | {b} |" for a, b in rows])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--quick", action="store_true", help="200 MiB files, fewer repeats")
    ap.add_argument("--folder", default=None, help="where the 1000 MiB file goes (default: tmp)")
    args = ap.parse_args(argv)
    lim = measure(args.quick, args.folder)
    print(json.dumps(lim) if args.json else markdown(lim))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.exit(main())
