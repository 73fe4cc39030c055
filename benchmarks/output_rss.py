"""Peak RSS of `nbflow run` (the scheduler's process) when a task prints a lot, against a
quiet run of the same flow: the scheduler streams output to the store and keeps a bounded
buffer, so the difference stays small whatever the task prints.

    python benchmarks/output_rss.py [MEGABYTES]     (default 500)

Samples VmHWM (the kernel's peak resident set size) of the CLI process until it exits.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from helpers import cli_env, make_notebook  # noqa: E402


def peak_rss_mb(cmd: list[str], cwd: str) -> tuple[float, float, int]:
    """(peak RSS in MB, seconds, exit status) of the process running `cmd`."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, env=cli_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    peak = 0
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
        except OSError:
            pass
        time.sleep(0.05)
    return peak / 1024, time.monotonic() - start, proc.returncode


def main() -> None:
    megabytes = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    lines = megabytes * 1000   # 1000-byte lines (999 characters and a newline)
    with tempfile.TemporaryDirectory() as tmp:
        for name, body in [("quiet", "pass"),
                           ("loud", f"import sys\nline = 'x' * 999 + '\\n'\n"
                                    f"for _ in range({lines}):\n    sys.stdout.write(line)")]:
            nb = make_notebook(os.path.join(tmp, f"{name}.ipynb"), [
                f"%%flow {name.capitalize()}Flow", f"%%step start -> end\n{body}", "%%step end"])
            rss, secs, code = peak_rss_mb([sys.executable, "-m", "nbflow", "run", str(nb)], tmp)
            log = [os.path.join(d, f) for d, _, fs in os.walk(os.path.join(tmp, ".nbflow"))
                   for f in fs if f.endswith(".out") and f"{name.capitalize()}Flow" in d]
            size = sum(os.path.getsize(p) for p in log) / 1e6
            print(f"{name:6s} peak RSS {rss:7.1f} MB  {secs:6.1f} s  exit {code}  "
                  f"stdout log {size:.0f} MB")


if __name__ == "__main__":
    main()
