"""Cell source -> compiled code with the cell's own line numbers.

A step body is compiled as the body of `def <step>(self, inputs)`, exactly the
method a Metaflow `flow.py` would have, built from the AST so that no text is
re-indented (triple-quoted strings keep their content). Stdlib only: the task
subprocess imports this.
"""
from __future__ import annotations

import ast
import functools
import linecache
import re

from ..errors import NotebookError

IPYTHON_LINE = re.compile(r"^\s*(%|!)")


def cell_filename(notebook: str | None, cell: int) -> str:
    import os

    name = os.path.basename(notebook) if notebook else "notebook"
    return f"{name}, cell {cell}"


def register_source(filename: str, cell_source: str) -> None:
    """Let tracebacks show the cell's lines (linecache knows no notebooks)."""
    lines = [line + "\n" for line in cell_source.split("\n")]
    linecache.cache[filename] = (len(cell_source), None, lines, filename)


def parse_body(body: str, *, cell: int, step: str | None, body_line: int) -> ast.Module:
    """Parse a cell body; syntax errors name the cell and the cell's line."""
    try:
        tree = ast.parse(body, filename=f"cell {cell}")
    except SyntaxError as e:
        line = (e.lineno or 1) + body_line - 1
        src_line = body.split("\n")[(e.lineno or 1) - 1] if body else ""
        if IPYTHON_LINE.match(src_line):
            raise NotebookError(
                f"IPython syntax '{src_line.strip()}' cannot run in a flow task "
                "(tasks run plain Python); move it to a scratch cell",
                cell=cell, step=step, line=line) from None
        raise NotebookError(f"syntax error: {e.msg}", cell=cell, step=step, line=line) from None
    ast.increment_lineno(tree, body_line - 1)
    return tree


def find_self_next(tree: ast.AST) -> int | None:
    """Line of a `self.next(...)` call, which only headers may express."""
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "next" and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "self"):
            return node.lineno
    return None


def uses_inputs(tree: ast.AST) -> bool:
    """True if the body reads `inputs` without binding it: it is a join."""
    loads = stores = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == "inputs":
            if isinstance(node.ctx, ast.Load):
                loads = True
            else:
                stores = True
    return loads and not stores


@functools.lru_cache(maxsize=256)
def compile_step(body: str, *, name: str, cell: int, body_line: int, filename: str):
    """A code object for `def <name>(self, inputs): <body>` with cell line numbers.

    Returns the module code that defines the function when executed. Memoized (code
    objects are immutable): the zygote compiles each step once, before it forks the
    step's tasks, and they find it here (a parse and compile cost ~0.8 ms per task)."""
    tree = parse_body(body, cell=cell, step=name, body_line=body_line)
    line = _top_level_yield(tree)
    if line is not None:
        raise NotebookError("'yield' cannot be used in a step body: it would make the step a "
                            "generator that never runs", cell=cell, step=name, line=line)
    # an empty cell body (allowed) becomes `pass`, with a complete location for compile()
    stmts = tree.body or [ast.Pass(lineno=body_line, col_offset=0, end_lineno=body_line,
                                   end_col_offset=0)]
    args = ast.arguments(posonlyargs=[], args=[ast.arg("self"), ast.arg("inputs")],
                         kwonlyargs=[], kw_defaults=[], defaults=[])
    func = ast.FunctionDef(name=name, args=args, body=stmts, decorator_list=[], returns=None,
                           type_params=[], lineno=max(body_line - 1, 1), col_offset=0,
                           # a complete location: fix_missing_locations would copy the
                           # module's line 1, invalid when the header is not the cell's 1st line
                           end_lineno=max(st.end_lineno or body_line for st in stmts),
                           end_col_offset=0)
    module = ast.Module(body=[func], type_ignores=[])
    ast.fix_missing_locations(module)
    return _compile(module, filename, cell=cell, step=name)


@functools.lru_cache(maxsize=64)
def compile_module(code: str, *, cell: int, body_line: int, filename: str):
    """The flow cell's module code (memoized, as compile_step is)."""
    tree = parse_body(code, cell=cell, step=None, body_line=body_line)
    return _compile(tree, filename, cell=cell, step=None)


def _compile(tree: ast.Module, filename: str, *, cell: int, step: str | None):
    """Errors only the compiler finds ('return' outside a function, 'await' outside
    async, a bad nonlocal) name the cell and line like parse errors do."""
    try:
        return compile(tree, filename, "exec")
    except SyntaxError as e:
        raise NotebookError(f"syntax error: {e.msg}", cell=cell, step=step,
                            line=e.lineno) from None


def _top_level_yield(tree: ast.AST) -> int | None:
    """Line of a yield in the body itself (not in a function or class it defines)."""
    todo = list(ast.iter_child_nodes(tree))
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Yield, ast.YieldFrom)):
            return node.lineno
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            todo.extend(ast.iter_child_nodes(node))
    return None
