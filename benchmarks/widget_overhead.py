"""Run time of `%nbflow run` on the 1000-way foreach in a real kernel, with the live graph
and status widgets and without them (task output listener only), alternating, N rounds;
also how many redraws and display/comm messages the widgets sent.

    python benchmarks/widget_overhead.py [N]     (from the repository root)"""
import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from test_kernel_interactive import KernelDriver

N = int(sys.argv[1]) if len(sys.argv) > 1 else 3
work = tempfile.mkdtemp(prefix="ui-measure-")
shutil.copy("notebooks/wide_foreach.ipynb", work)
nb = os.path.join(work, "wide_foreach.ipynb")
TIMED = ("import time, nbflow.kernel.widgets as W\n"
         "ConsolePrinter = W.ConsolePrinter\n"
         "_orig = W.live_display\n"
         "_made = []\n"
         "def _with():\n    ls = _orig(); _made.append(ls[0]); return ls\n"
         "def _without():\n    return [ConsolePrinter(quiet=True)]\n")
with KernelDriver(work, nb) as k:
    k.run(TIMED)
    k.run(f"%nbflow run {nb} --max-num-splits 1000")   # warm up: zygote, imports
    times = {"with": [], "without": []}
    for _ in range(N):
        for mode in ("with", "without"):
            r = k.run(f"W.live_display = _{mode}\nt0 = time.perf_counter()\n"
                      f"_r = get_ipython().run_line_magic('nbflow', 'run {nb} --max-num-splits 1000')\n"
                      "print('ELAPSED', time.perf_counter() - t0, _r.successful)\n"
                      "print('REDRAWS', _made[-1].redraws if _made and "
                      f"{mode == 'with'} else 0)")
            el = float(re.search(r"ELAPSED ([\d.]+) True", r.stdout).group(1))
            times[mode].append(el)
            red = re.search(r"REDRAWS (\d+)", r.stdout).group(1)
            msgs = sum(1 for m in r.messages
                       if m["msg_type"] in ("update_display_data", "comm_msg", "display_data"))
            print(mode, f"{el:.2f}s", "redraws", red, "display/comm messages", msgs, flush=True)
for mode, ts in times.items():
    ts = sorted(ts)
    print(mode, "median", f"{ts[len(ts)//2]:.2f}s", "all", [f"{t:.2f}" for t in ts])
