"""The `from metaflow import ...` line of an exported flow, placed where isort
(ruff's `I` rules) wants it among the flow cell's own leading imports.

The user's imports keep their order (import order can matter); only ours moves.
So a flow cell whose imports were sorted gives a sorted flow.py.
"""
from __future__ import annotations

import ast
import sys

LINE_LENGTH = 88  # ruff's default; a project's longer limit accepts it too
STDLIB, THIRD_PARTY = 1, 2


def import_line(names: list[str]) -> str:
    """`from metaflow import A, b` in isort's order (classes, then functions), wrapped
    one name per line when too long."""
    ordered = sorted(set(names), key=lambda n: (0 if n.isupper() else 1 if n[:1].isupper()
                                                else 2, n.lower(), n))
    line = f"from metaflow import {', '.join(ordered)}"
    if len(line) <= LINE_LENGTH:
        return line
    return "from metaflow import (\n" + "".join(f"    {n},\n" for n in ordered) + ")"


def _key(stmt: ast.stmt) -> tuple[int, int, str]:
    if isinstance(stmt, ast.Import):
        module, kind = stmt.names[0].name, 0
    else:
        module, kind = ("." * stmt.level) + (stmt.module or ""), 1
    top = module.split(".")[0]
    section = STDLIB if top in sys.stdlib_module_names or top == "__future__" else THIRD_PARTY
    return section, kind, module.lower()


def place(module_code: str, line: str) -> str:
    """The module code with our import inserted into its leading import block."""
    ours = (THIRD_PARTY, 1, "metaflow")
    tree = ast.parse(module_code) if module_code.strip() else ast.Module(body=[], type_ignores=[])
    lead = []
    for stmt in tree.body:
        if not isinstance(stmt, (ast.Import, ast.ImportFrom)):
            break
        lead.append(stmt)
    if not lead:
        if not tree.body:
            return line
        return line + "\n" * (_blank_lines_before(tree.body[0]) + 1) + module_code
    lines = module_code.split("\n")
    after = [s for s in lead if _key(s) > ours]
    if after:
        at = after[0].lineno - 1       # just before the first import that sorts after ours
        lines[at:at] = line.split("\n")
    else:
        prev = lead[-1]
        gap = [""] if _key(prev)[0] != THIRD_PARTY else []
        at = prev.end_lineno
        if len(tree.body) > len(lead):  # ours ends the block: the blank lines after it
            nxt = tree.body[len(lead)]
            start = min([nxt.lineno] + [d.lineno for d in getattr(nxt, "decorator_list", [])])
            have = sum(1 for ln in lines[at:start - 1] if not ln.strip())
            lines[at:at] = [""] * max(0, _blank_lines_before(nxt) - have)
        lines[at:at] = gap + line.split("\n")
    return "\n".join(lines)


def _blank_lines_before(stmt: ast.stmt) -> int:
    """isort's blank lines after an import block: two before a def or class, else one."""
    return 2 if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) else 1
