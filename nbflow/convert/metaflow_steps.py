"""One Metaflow @step method -> one `%%step` cell: header from the trailing
self.next(...) and the decorators, body dedented with the self.next taken out."""
from __future__ import annotations

import ast
import io
import tokenize
from dataclasses import dataclass, field

from . import source
from .decorators import from_decorators

NOTE = "# nbflow import: "


@dataclass
class StepCell:
    name: str
    line: int
    targets: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)
    body: str = ""
    notes: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)   # comment lines above the method
    inputs_arg: str | None = None      # the join's second argument, when it has one
    reads_inputs: bool = False

    def mark_join(self, parents: int) -> None:
        """nbflow knows a join by its parents or by `inputs` being read: make it explicit."""
        if self.inputs_arg is None:
            return
        extra = []
        if self.inputs_arg != "inputs":
            extra.append(f"{self.inputs_arg} = inputs")
        elif parents < 2 and not self.reads_inputs:
            extra.append("inputs  # nbflow: reading `inputs` marks this step as a join")
        if extra:
            lines = self.body.split("\n") if self.body else []
            at = _docstring_end(self.body)
            self.body = "\n".join(lines[:at] + extra + lines[at:])

    def source(self) -> str:
        header = f"%%step {self.name}"
        if self.targets:
            header += " -> " + ", ".join(self.targets)
        if self.options:
            header += " " + " ".join(self.options)
        notes = [NOTE + n for n in self.notes]
        return "\n".join([header] + notes + self.comments + ([self.body] if self.body else []))


def _docstring_end(body: str) -> int:
    """The number of body lines up to the end of a leading docstring (0 without one)."""
    try:
        stmts = ast.parse(body).body
    except SyntaxError:
        return 0
    return stmts[0].end_lineno if stmts and is_docstring(stmts[0]) else 0


def is_docstring(stmt: ast.stmt) -> bool:
    """A string expression (a docstring when it is the first statement of its body)."""
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) \
        and isinstance(stmt.value.value, str)


def read_step(text: str, func: ast.FunctionDef, errors: list[str]) -> StepCell:
    cell = StepCell(func.name, func.lineno)
    decos = from_decorators(func.decorator_list, text)
    cell.options, cell.notes = list(decos.options), list(decos.notes)
    for e in decos.errors:
        errors.append(f"line {func.lineno}, step '{func.name}': {e}")
    _read_args(func, cell, errors)
    tail = _tail_next(func)
    _check_other_nexts(func, tail, errors)
    if tail is not None:
        _read_transition(tail, cell, errors)
    elif func.name != "end":
        errors.append(f"line {func.lineno}, step '{func.name}': it does not end with "
                      "self.next(...), so it has no transition a header can express")
    cell.body = _body_text(text, func, tail, errors)
    return cell


def _read_args(func: ast.FunctionDef, cell: StepCell, errors: list[str]) -> None:
    args = func.args
    names = [a.arg for a in args.posonlyargs + args.args]
    if len(names) == 2 and not (args.vararg or args.kwonlyargs or args.kwarg):
        cell.inputs_arg = names[1]
        cell.reads_inputs = any(isinstance(n, ast.Name) and n.id == names[1]
                                and isinstance(n.ctx, ast.Load) for n in ast.walk(func))
    elif len(names) != 1 or args.vararg or args.kwonlyargs or args.kwarg:
        errors.append(f"line {func.lineno}, step '{func.name}': a step takes (self) or, for a "
                      "join, (self, inputs)")


def _is_self_next(node: ast.AST) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "next" and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "self")


def _tail_next(func: ast.FunctionDef) -> ast.Call | None:
    last = func.body[-1]
    if isinstance(last, ast.Expr) and _is_self_next(last.value):
        return last.value
    return None


def _check_other_nexts(func: ast.FunctionDef, tail, errors: list[str]) -> None:
    for node in ast.walk(func):
        if _is_self_next(node) and node is not tail:
            errors.append(f"line {node.lineno}, step '{func.name}': a conditional or early "
                          "self.next(...) has no notebook form (a header names one fixed set "
                          "of targets); make the transition unconditional")
            return


def _read_transition(call: ast.Call, cell: StepCell, errors: list[str]) -> None:
    where = f"line {call.lineno}, step '{cell.name}'"
    for arg in call.args:
        if isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name) \
                and arg.value.id == "self":
            cell.targets.append(arg.attr)
        else:
            errors.append(f"{where}: self.next({ast.unparse(arg)}) has no notebook form (a "
                          "switch or a computed target); name steps as self.<step>")
            return
    for kw in call.keywords:
        if kw.arg == "foreach" and isinstance(kw.value, ast.Constant) and \
                isinstance(kw.value.value, str):
            cell.options.insert(0, f"--foreach {kw.value.value}")
        else:
            errors.append(f"{where}: self.next(..., {ast.unparse(kw)}) has no notebook form")


def _signature_end(text_lines: list[str], func: ast.FunctionDef) -> tuple[int, int]:
    """(line, column) just after the ':' that ends the def's signature."""
    chunk = "\n".join(line.lstrip() if i == 0 else line
                      for i, line in enumerate(text_lines[func.lineno - 1:func.end_lineno]))
    shift = len(text_lines[func.lineno - 1]) - len(text_lines[func.lineno - 1].lstrip())
    depth = 0
    try:
        for tok in tokenize.generate_tokens(io.StringIO(chunk).readline):
            if tok.type == tokenize.OP and tok.string in "([{":
                depth += 1
            elif tok.type == tokenize.OP and tok.string in ")]}":
                depth -= 1
            elif tok.type == tokenize.OP and tok.string == ":" and depth == 0:
                row, col = tok.end
                return func.lineno + row - 1, col + (shift if row == 1 else 0)
    except (tokenize.TokenError, IndentationError):
        pass
    return func.body[0].lineno - 1, len(text_lines[func.body[0].lineno - 2])


def _body_text(text: str, func: ast.FunctionDef, tail, errors: list[str]) -> str:
    lines = text.split("\n")
    line, col = _signature_end(lines, func)
    stmts = func.body[:-1] if tail is not None else func.body
    if tail is not None and stmts and stmts[-1].end_lineno >= tail.lineno:
        errors.append(f"line {tail.lineno}, step '{func.name}': put self.next(...) on a line "
                      "of its own")
        return ""
    end = (tail.lineno - 1) if tail is not None else func.end_lineno
    first = lines[line - 1][col:].strip()
    if first and not first.startswith("#"):  # `def end(self): pass`
        return first if stmts else ""
    body = "\n".join(lines[line:end])
    width = _indent_width(lines[func.body[0].lineno - 1])
    return source.trim_blank_lines(source.dedent(body, width))


def _indent_width(line: str) -> int:
    stripped = line.lstrip(" \t")
    return len(line[:len(line) - len(stripped)].expandtabs(8))
