"""The same work for both tools: nbflow notebook cells and an equivalent Metaflow flow.

Each workload is (flow name, notebook cells, Metaflow source). Bodies are identical
text, so both tools run exactly the same Python."""
from __future__ import annotations

import textwrap


def _metaflow(name: str, steps: list[tuple[str, str, str, bool]], module: str = "") -> str:
    """steps: (name, body, next-call, is_join) -> a Metaflow flow file."""
    out = ["from metaflow import FlowSpec, step", module, "", f"class {name}(FlowSpec):"]
    for step_name, body, nxt, join in steps:
        args = "self, inputs" if join else "self"
        out.append("    @step")
        out.append(f"    def {step_name}({args}):")
        out.append(textwrap.indent(body.strip() or "pass", " " * 8))
        if nxt:
            out.append(f"        self.next({nxt})")
    out += ["", "", 'if __name__ == "__main__":', f"    {name}()", ""]
    return "\n".join(out)


def _cells(name: str, steps: list[tuple[str, str, str]], module: str = "") -> list[str]:
    cells = ["%load_ext nbflow", f"%%flow {name}\n{module}".rstrip()]
    cells += [f"%%step {header}\n{body.strip()}" for header, body, _ in steps]
    return cells


def write_notebook(path: str, cells: list[str]) -> str:
    """The cells as a notebook file at `path` (plain JSON: nbformat is not needed)."""
    import json

    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
          "cells": [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "outputs": [],
                     "execution_count": None, "source": c} for i, c in enumerate(cells)]}
    with open(path, "w") as f:
        json.dump(nb, f)
    return path


def hello():
    name = "BenchHelloFlow"
    nb = _cells(name, [("start -> hello", 'print("starting")', ""),
                       ("hello -> end", 'self.msg = "hi"\nprint(self.msg)', ""),
                       ("end", 'print("done")', "")])
    mf = _metaflow(name, [("start", 'print("starting")', "self.hello", False),
                          ("hello", 'self.msg = "hi"\nprint(self.msg)', "self.end", False),
                          ("end", 'print("done")', "", False)])
    return name, nb, mf


def foreach(width: int):
    name = "BenchForeachFlow"
    start = f"self.items = list(range({width}))"
    body = "self.y = self.input * 2"
    join = "self.total = sum(i.y for i in inputs)"
    nb = _cells(name, [("start -> body --foreach items", start, ""), ("body -> join", body, ""),
                       ("join -> end", join, ""), ("end", "print(self.total)", "")])
    mf = _metaflow(name, [("start", start, "self.body, foreach='items'", False),
                          ("body", body, "self.join", False), ("join", join, "self.end", True),
                          ("end", "print(self.total)", "", False)])
    return name, nb, mf


def array(mib: int, store: bool, read_in_next: bool):
    """start makes a float64 array of `mib` MiB (stored as self.x or kept local);
    mid reads it (printing how long the first access took) or not. Each step prints
    wall-clock stamps at its first and last line, so the time between one step's
    last line and the next step's first line (saving, and starting the next task)
    is measured the same way for both tools."""
    name = "BenchArrayFlow"
    module = "import numpy as np\nimport time"
    stamp = "print('{}', repr(time.time()))"
    make = f"x = np.random.default_rng(0).random({mib} * 2**20 // 8)"
    start = make + ("\nself.x = x" if store else "\ndel x") + "\n" + stamp.format("T_START_END")
    mid = stamp.format("T_MID_BEGIN") + "\n" + (
        "t = time.perf_counter()\nv = self.x\n"
        "print('LOAD_SECONDS', time.perf_counter() - t, v.nbytes)\n" if read_in_next else ""
    ) + stamp.format("T_MID_END")
    end = stamp.format("T_END_BEGIN")
    nb = _cells(name, [("start -> mid", start, ""), ("mid -> end", mid, ""), ("end", end, "")],
                module)
    mf = _metaflow(name, [("start", start, "self.mid", False), ("mid", mid, "self.end", False),
                          ("end", end, "", False)], module)
    return name, nb, mf


def half_array(mib: int = 200):
    """A whole run over an artifact that changes: start saves a float64 array of `mib`
    MiB as self.x, mid loads it and saves its first half as self.x again (a new value of
    the same artifact), end only finishes the run (it reads nothing)."""
    name = "BenchHalfArrayFlow"
    module = "import numpy as np"
    start = f"self.x = np.random.default_rng(0).random({mib} * 2**20 // 8)"
    mid = "x = self.x\nself.x = x[: len(x) // 2]\nprint('HALF_BYTES', self.x.nbytes)"
    end = "pass"
    nb = _cells(name, [("start -> mid", start, ""), ("mid -> end", mid, ""), ("end", end, "")],
                module)
    mf = _metaflow(name, [("start", start, "self.mid", False), ("mid", mid, "self.end", False),
                          ("end", end, "", False)], module)
    return name, nb, mf
