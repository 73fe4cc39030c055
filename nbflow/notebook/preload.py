"""Which modules a notebook's tasks will import: the top-level `import` statements of
its flow and step cells. The zygote imports them once, so forked tasks start with
them loaded. Packages known to be unsafe to use after fork are left out."""
from __future__ import annotations

import ast
import sys

from .spec import NotebookSpec

# import-then-fork is known to hang or break these (threads or GPU state at import)
FORK_UNSAFE = {"torch", "tensorflow", "jax", "jaxlib", "cupy", "mxnet", "ray", "pyspark"}


def modules_to_preload(notebook: NotebookSpec) -> list[str]:
    sources = [notebook.module_code] + [s.body for s in notebook.steps]
    found: list[str] = []
    for source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for stmt in tree.body:
            names = []
            if isinstance(stmt, ast.Import):
                names = [a.name for a in stmt.names]
            elif isinstance(stmt, ast.ImportFrom) and stmt.module and not stmt.level:
                names = [stmt.module]
            for name in names:
                if name.split(".")[0] not in FORK_UNSAFE and name not in found \
                        and name not in sys.builtin_module_names:
                    found.append(name)
    return found
