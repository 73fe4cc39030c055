"""Task output goes to the store's log files as it arrives; the scheduler holds a bounded
buffer, so what a task prints does not grow the scheduler's memory."""
from __future__ import annotations

import subprocess
import sys
import time

from faultkit import Marked, start, wait_for
from helpers import make_notebook, run_id_of

from nbflow import client
from nbflow.datastore import Datastore, records


def test_a_log_is_in_the_store_while_the_task_runs(workdir):
    nb = make_notebook(workdir / "log.ipynb", [
        "%%flow LogFlow",
        ("%%step start -> end\nimport os, sys, time\nprint('first line')\n"
         "print('to stderr', file=sys.stderr)\n"
         "while not os.path.exists('go'):\n    time.sleep(0.05)\nprint('last line')"),
        "%%step end",
    ])
    marked = Marked()
    proc = start("run", nb, workdir, env=marked.env())
    try:
        log = wait_for(lambda: next((workdir / ".nbflow" / "LogFlow").glob("*/start/1.0.out"),
                                    None), proc)
        wait_for(lambda: "first line" in log.read_text(), proc)
        ds = Datastore(str(workdir / ".nbflow"))
        run_id = log.parent.parent.name
        wait_for(lambda: records.read_log(ds, "LogFlow", run_id, "start", "1", 0, "stderr"), proc)
        assert records.read_log(ds, "LogFlow", run_id, "start", "1", 0, "stdout") == \
            b"first line\n"
        assert records.read_log(ds, "LogFlow", run_id, "start", "1", 0, "stderr") == \
            b"to stderr\n"
        client.context.reset_defaults()
        client.namespace(None)
        (workdir / "go").write_text("")
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, out + err
        assert client.Flow("LogFlow")[run_id_of(out)]["start"].task.stdout == \
            "first line\nlast line\n"
    finally:
        client.context.reset_defaults()
        marked.kill_all()


def peak_rss_mb(proc) -> float:
    peak = 0
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                peak = max([peak] + [int(line.split()[1]) for line in f
                                     if line.startswith("VmHWM:")])
        except OSError:
            pass
        time.sleep(0.05)
    return peak / 1024


def test_printing_100_mb_does_not_grow_the_scheduler(workdir):
    """Loose bound (the scheduler used to hold all of it: ~2x what was printed)."""
    peaks = {}
    for name, body in [("quiet", "pass"), ("loud", "import sys\nline = 'x' * 999 + '\\n'\n"
                                                   "for _ in range(100_000):\n"
                                                   "    sys.stdout.write(line)")]:
        nb = make_notebook(workdir / f"{name}.ipynb", [
            f"%%flow {name.capitalize()}Flow", f"%%step start -> end\n{body}", "%%step end"])
        proc = subprocess.Popen([sys.executable, "-m", "nbflow", "run", str(nb), "--quiet"],
                                cwd=workdir, env=Marked().env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        peaks[name] = peak_rss_mb(proc)
        assert proc.returncode == 0
    assert peaks["loud"] - peaks["quiet"] < 60, peaks
    logs = list((workdir / ".nbflow" / "LoudFlow").glob("*/start/1.0.out"))
    assert logs[0].stat().st_size == 100_000_000
