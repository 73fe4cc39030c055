"""The scheduler alone: its CPU per task and its memory versus foreach width, without task
processes (whose cost would hide it, and whose load would make it noisy).

    python benchmarks/sched_alone.py                 # widths 1,000 10,000 100,000
    python benchmarks/sched_alone.py 1000 10000 --cpu   # the body declares --resources cpu=1

Each width runs in a fresh process: the real Scheduler, planner and store, with an executor
that runs no process: each launch commits the task's record as a task would
(TaskRecord.of_attempt, records.write_task: a foreach split's, a body's artifact, a join's)
and reports the task's output end and exit through the scheduler's pump. The CPU of those
commits is subtracted; what is left is the scheduler's own: building requests, events,
reading records back, planning, the ready queue, the join's packed refs.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import deque

ITEMS = {"key": "e6051d07d8e7dca7240d4cb96e6e1349", "size": 29778, "type": "list"}


def _measure(width: int, cpu: bool) -> dict:
    from nbflow.datastore import Datastore, records
    from nbflow.executors.base import Executor, TaskHandle
    from nbflow.notebook.parse import parse_cells
    from nbflow.records import TaskRecord
    from nbflow.run.runner import RunOptions, create_run_record, execute, prepare

    class Instant(Executor):
        name = "instant"
        spent = 0.0   # thread CPU of the commits (the tasks' work, not the scheduler's)

        def __init__(self):
            self.inbox: deque = deque()

        def claim_loop(self) -> bool:
            return True

        def pump(self, timeout):
            while self.inbox:
                self.inbox.popleft()()

        def launch(self, req, on_output, on_exit, on_start=None):
            t0 = time.thread_time()
            arts, extra = {}, {}
            for p in req.parents:
                arts.update(p.artifacts)
            if req.step == "start":
                arts["items"] = ITEMS
                extra["foreach"] = {"var": "items", "num_splits": width, "key": None}
            elif req.step == "body":
                arts["y"] = {"key": "%032x" % req.foreach_stack[-1].index, "size": 5,
                             "type": "int"}
            records.write_task(Datastore(req.datastore), TaskRecord.of_attempt(
                req, started_at=time.time(), pid=None, successful=True, artifacts=arts, **extra))
            self.inbox.append(lambda: on_start and on_start(None))
            self.inbox.append(lambda: (on_output("stdout", b""), on_output("stderr", b""),
                                       on_exit(0)))
            Instant.spent += time.thread_time() - t0
            return TaskHandle()

    body = "%%step body -> join" + (" --resources cpu=1" if cpu else "")
    cells = ["%%flow AloneFlow", "%%step start -> body --foreach items\nself.items = [0]",
             body + "\nself.y = self.input", "%%step join -> end\nself.t = [i.y for i in inputs]",
             "%%step end\npass"]
    nb = parse_cells([("code", c) for c in cells], flow_name="AloneFlow")
    store = tempfile.mkdtemp(prefix="nbflow-sched-alone-")
    opts = RunOptions(max_workers=None if cpu else 2, max_num_splits=width + 1, datastore=store)
    graph, params, values = prepare(nb, opts)
    ds = Datastore(store)
    run_id, record = create_run_record(ds, nb, params, values, opts)
    before = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    result = execute(graph, ds, run_id, record, opts, [], executor=Instant())
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu_s = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    tasks = width + 3
    return {"width": width, "ok": result.successful, "wall": wall,
            "sched_us_per_task": (cpu_s - Instant.spent) / tasks * 1e6,
            "maxrss_mib": after.ru_maxrss / 1024}


def main(argv: list[str]) -> int:
    if argv[:1] == ["--one"]:
        print(json.dumps(_measure(int(argv[1]), argv[2] == "cpu")))
        return 0
    cpu = "--cpu" in argv
    widths = [int(a) for a in argv if a.isdigit()] or [1000, 10_000, 100_000]
    print("| foreach width | scheduler CPU per task | scheduler peak RSS | wall |")
    print("|---|---|---|---|")
    for width in widths:
        out = subprocess.run([sys.executable, __file__, "--one", str(width),
                              "cpu" if cpu else "plain"], capture_output=True, text=True,
                             check=True, env=dict(os.environ, NBFLOW_USER="bench"))
        m = json.loads(out.stdout)
        print(f"| {width:,} | {m['sched_us_per_task']:.0f} us | {m['maxrss_mib']:.1f} MiB | "
              f"{m['wall']:.2f} s |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
