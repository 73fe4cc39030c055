"""The benchmark harness measures what its rows say (benchmarks/harness.py): the memory and
CPU of nbflow's forked tasks are counted, and the changing-array workload does its work.
Real `nbflow run` processes; no timed assertions (memory is counted, not timed)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import harness  # noqa: E402
import workloads  # noqa: E402

pytest.importorskip("numpy")


def test_peak_rss_counts_the_forked_task_that_saves_the_array():
    """A 64 MiB array is made and saved inside a task forked by nbflow's zygote: the
    process-tree peak must hold it (the wrapper missed forked tasks: ~19 MiB at 100 MiB)."""
    name, cells, _ = workloads.array(64, store=True, read_in_next=False)
    m = harness.run_nbflow(name, cells)
    assert m.peak_mib >= 64, m.peak_mib
    assert m.cpu_seconds > 0


def test_half_array_workload_saves_half_in_the_second_step():
    name, cells, source = workloads.half_array(8)
    m = harness.run_nbflow(name, cells)
    assert "HALF_BYTES 4194304" in m.output
    assert m.peak_mib >= 8
    assert "def mid(self):" in source and "self.x = x[: len(x) // 2]" in source


def test_task_anatomy_times_every_phase_of_the_task_runtime():
    """benchmarks/task_anatomy.py wraps the task runtime's phases by name: a renamed phase
    would silently drop out of its table."""
    import subprocess

    import task_anatomy

    out = subprocess.run([sys.executable, str(Path(task_anatomy.__file__)), "--width", "3",
                          "--workers", "1"], capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr
    assert "6 tasks" in out.stdout   # start, 3 splits, join, end
    for _module, path in task_anatomy.PHASES:
        assert f"    {path} " in out.stdout, path
    assert "zygote" in out.stdout and "after _exit" in out.stdout
