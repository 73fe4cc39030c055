"""Where a big artifact's save and persist go, in process, and why the save row's range is
wide on a virtual machine. Plain script, not a test; run from a tree (PYTHONPATH=<tree>).

    python benchmarks/artifact_costs.py split [MIB] [REPS]    # the save: make, hash, write
    python benchmarks/artifact_costs.py persist [MIB] [REPS]  # a step that only read it
    python benchmarks/artifact_costs.py backing [REPS]        # the write, pages backed or not
    python benchmarks/artifact_costs.py run [ROUNDS]          # the same in the real save row

- split: a float64 array made (its first touch), encoded (pickle and xxh3: the key),
  written into the store (fallocate, 1 MiB writes), freed; wall time and minor faults.
- persist: TaskSelf.persist() after a step read an inherited array without changing it
  (the task's own cost, without the hand-off to the next task): wall and CPU.
- backing: this VM's balloon reports free memory to the host (free page reporting), and
  a page the host took back costs a host fault when it is used again. The 1000 MiB
  page-cache write right after freeing 1000 MiB, and 3 s after, with the MiB reported
  to the host meanwhile (/sys/module/page_reporting/parameters/reported_kib).
- run: the save row's workload (workloads.array) as the row runs it, and with its start
  step touching and freeing 1100 MiB just before it ends (so that the page cache the save
  fills gets pages the host still backs), interleaved; the save as the row measures it.
"""
from __future__ import annotations

import os
import resource
import statistics
import sys
import tempfile
import time

MIB = 1 << 20
REPORTED = "/sys/module/page_reporting/parameters/reported_kib"


def _reported_mib() -> int | None:
    try:
        with open(REPORTED) as f:
            return int(f.read()) // 1024
    except OSError:
        return None


def _faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def split(mib: int = 1000, reps: int = 4) -> None:
    import shutil

    import numpy as np

    from nbflow.datastore import Datastore, serialize

    for i in range(reps):
        d = tempfile.mkdtemp(prefix="nbflow-split-")
        ds = Datastore(d)
        t0 = time.perf_counter()
        x = np.random.default_rng(i).random(mib * MIB // 8)
        t1 = time.perf_counter()
        f0 = _faults()
        encoded = serialize.encode(x)
        t2, f1 = time.perf_counter(), _faults()
        ds.put_encoded(encoded, artifact="x")
        t3, f2 = time.perf_counter(), _faults()
        del encoded, x
        t4 = time.perf_counter()
        print(f"{mib} MiB: make {t1 - t0:.3f} s, encode (hash) {t2 - t1:.3f} s [{f1 - f0} faults], "
              f"write {t3 - t2:.3f} s [{f2 - f1} faults], free {t4 - t3:.3f} s; {_load()}",
              flush=True)
        shutil.rmtree(d)
        time.sleep(0.5)


def persist(mib: int = 1000, reps: int = 5) -> None:
    import shutil

    import numpy as np

    from nbflow.datastore import Datastore
    from nbflow.task.selfview import TaskSelf

    d = tempfile.mkdtemp(prefix="nbflow-persist-")
    ds = Datastore(d)
    ref = ds.put_object(np.random.default_rng(0).random(mib * MIB // 8))
    walls, cpus = [], []
    for _ in range(reps):
        me = TaskSelf(ds, "s", {"x": ref}, {})
        float(me.x.sum())
        c0, t0 = time.process_time(), time.perf_counter()
        out = me.persist(ds)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        assert out["x"] == ref
        del me
    shutil.rmtree(d)
    print(f"persist after a read, {mib} MiB: wall median {statistics.median(walls) * 1e3:.1f} ms "
          f"({min(walls) * 1e3:.1f}-{max(walls) * 1e3:.1f}), CPU median "
          f"{statistics.median(cpus) * 1e3:.1f} ms; {_load()}")


def backing(reps: int = 4) -> None:
    import numpy as np

    from nbflow.datastore.storage import _LocalFile, _preallocate

    data = memoryview(np.random.default_rng(0).random(1000 * MIB // 8)).cast("B")

    def write(path: str) -> None:
        with _LocalFile(path, "w") as f:
            _preallocate(f.fileno(), data.nbytes)
            f.write(data)

    got: dict[float, list] = {0.0: [], 3.0: []}
    with tempfile.TemporaryDirectory(prefix="nbflow-backing-") as d:
        path = os.path.join(d, "blob")
        for _ in range(reps):
            for pause in got:
                write(path)
                os.unlink(path)            # 1000 MiB of page cache freed
                r0 = _reported_mib()
                time.sleep(pause)
                r1 = _reported_mib()
                c0, t0 = time.process_time(), time.perf_counter()
                write(path)
                got[pause].append((time.perf_counter() - t0, time.process_time() - c0,
                                   None if r0 is None else r1 - r0))
                os.unlink(path)
    for pause, runs in got.items():
        print(f"write 1000 MiB {pause:.0f} s after freeing 1000 MiB: wall "
              f"{[round(w, 3) for w, _, _ in runs]} s, CPU {[round(c, 3) for _, c, _ in runs]} s, "
              f"MiB reported to the host meanwhile {[r for _, _, r in runs]}; {_load()}")


def run(rounds: int = 4) -> None:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import harness
    import workloads
    from reaping import become_subreaper

    def cells(store: bool, touch: bool) -> tuple[str, list]:
        name, nb, _ = workloads.array(1000, store, False)
        nb = list(nb)
        at = next(i for i, c in enumerate(nb) if c.startswith("%%step start"))
        mark = nb[at].index("print('T_START_END'")
        extra = "_w = np.ones(1100 * 2**20 // 8)\ndel _w\n" if touch else ""
        nb[at] = nb[at][:mark] + extra + nb[at][mark:]
        return name, nb

    become_subreaper()
    harness.cache_bytecode()
    saves: dict[bool, list] = {False: [], True: []}
    control: dict[bool, list] = {False: [], True: []}
    reported: dict[bool, list] = {False: [], True: []}
    for _ in range(rounds):
        for touch in (False, True):
            m = harness.run_nbflow(*cells(False, touch))
            control[touch].append(harness.handoff(m.output, "T_START_END", "T_MID_BEGIN"))
            r0 = _reported_mib()
            m = harness.run_nbflow(*cells(True, touch))
            r1 = _reported_mib()
            saves[touch].append(harness.handoff(m.output, "T_START_END", "T_MID_BEGIN"))
            reported[touch].append(None if r0 is None else r1 - r0)
    for touch in (False, True):
        base = statistics.median(control[touch])
        got = [s - base for s in saves[touch]]
        what = "touched and freed 1100 MiB first" if touch else "as the row runs"
        print(f"save, {what}: median {statistics.median(got):.3f} s "
              f"({', '.join(f'{s:.3f}' for s in got)}); MiB reported to the host per run "
              f"{reported[touch]}; {_load()}")


def main(argv: list[str]) -> int:
    what, args = (argv[0] if argv else "split"), [int(a) for a in argv[1:]]
    {"split": split, "persist": persist, "backing": backing, "run": run}[what](*args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
