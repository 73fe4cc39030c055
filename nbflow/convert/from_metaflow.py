"""A Metaflow flow.py -> notebook cells, read with `ast` (the file is never imported or run).

    module code + the class's parameters   -> one `%%flow Name` cell
    each @step method                      -> one `%%step name -> targets [options]` cell,
                                              the trailing self.next(...) taken out
    `from metaflow import` anywhere: nbflow's names (metaflow_imports); the __main__
    guard: dropped; comments between methods: kept at the top of the next step cell

Constructs a notebook cannot express (conditional or switch transitions, helper
methods, class constants) are errors; decorators that only say where a step runs
(@kubernetes, @batch, @conda, ...) are kept as comments and reported.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field

from ..errors import NbflowError, ValidationErrors
from ..notebook.params import param_variable
from . import cards, decorators, metaflow_imports, pypi, source
from .decorators import deco_name
from .metaflow_steps import NOTE, StepCell, is_docstring, read_step
from .to_metaflow import EXPORT_MARK, RUN_HINT


@dataclass
class Imported:
    flow_name: str
    cells: list[tuple[str, str]]            # (cell_type, source), in notebook order
    warnings: list[str] = field(default_factory=list)


def import_flow(text: str, filename: str = "flow.py") -> Imported:
    """Notebook cells for a flow file; raises ValidationErrors listing what has no notebook form."""
    try:
        tree = ast.parse(text, filename)
    except SyntaxError as e:
        raise NbflowError(f"{filename}, line {e.lineno}: syntax error: {e.msg}") from None
    errors: list[str] = []
    text = cards.unexport(text, tree)    # what export made of the displays, undone
    tree = ast.parse(text, filename)
    text = metaflow_imports.rewrite_nested(text, tree, errors)
    tree = ast.parse(text, filename)  # the same lines, with nested imports rewritten
    cls = _flow_class(tree, errors)
    if cls is None:
        raise ValidationErrors([NbflowError(f"{filename}: {m}") for m in errors])
    reader = _ClassReader(text, cls, errors)
    steps = reader.steps()
    flow_options, option_notes = _flow_options(cls, errors)
    flow_code, notes = _flow_cell_code(text, tree, cls, reader, errors)
    notes += option_notes
    warnings = [f"{filename}, {n}" if n.startswith("line ") else f"{filename}: {n}" for n in notes]
    header = " ".join([f"%%flow {cls.name}", *flow_options, *_production_options(cls, errors)])
    if errors:
        raise ValidationErrors([NbflowError(f"{filename}, {m}") for m in errors])
    cells = _doc_cell(tree, cls) + [("code", "%load_ext nbflow")]
    cells.append(("code", header + (f"\n{flow_code}" if flow_code else "")))
    for step in steps:
        cells.append(("code", step.source()))
        warnings += [f"{filename}, line {step.line}, step '{step.name}': {n}" for n in step.notes]
    return Imported(cls.name, cells, warnings)


def _flow_options(cls: ast.ClassDef, errors: list[str]) -> tuple[list[str], list[str]]:
    """`@pypi_base` / `@conda_base` on the class -> `%%flow` options (`--pypi`, `--python`)."""
    options: list[str] = []
    notes: list[str] = []
    for deco in cls.decorator_list:
        name = deco_name(deco)
        if name not in pypi.FLOW_DECORATORS:
            continue
        text = "@" + ast.unparse(deco)
        try:
            kwargs = decorators.literal_kwargs(deco)
            opts, python = pypi.options_from(name, kwargs, notes, text)
        except ValueError as e:
            errors.append(f"line {deco.lineno}: {text}: {e}")
            continue
        if "--pypi-disabled" in opts:
            errors.append(f"line {deco.lineno}: {text}: disabled=True on the flow has no nbflow "
                          "form; remove it")
            continue
        options += opts + ([f"--python {python}"] if python else [])
    return options, [f"line {cls.lineno}: {n}" for n in notes]


def _is_flowspec(base: ast.expr) -> bool:
    return (isinstance(base, ast.Name) and base.id == "FlowSpec") or \
        (isinstance(base, ast.Attribute) and base.attr == "FlowSpec")


def _flow_class(tree: ast.Module, errors: list[str]) -> ast.ClassDef | None:
    classes = [s for s in tree.body if isinstance(s, ast.ClassDef)
               and any(_is_flowspec(b) for b in s.bases)]
    if not classes:
        errors.append("no class derives from FlowSpec: this is not a Metaflow flow")
        return None
    if len(classes) > 1:
        errors.append(f"several flow classes ({', '.join(c.name for c in classes)}); a notebook "
                      "holds one flow")
        return None
    cls = classes[0]
    others = [ast.unparse(b) for b in cls.bases if not _is_flowspec(b)] + \
        [k.arg or "**" for k in cls.keywords]
    if others:
        errors.append(f"line {cls.lineno}: class {cls.name} also derives from "
                      f"{', '.join(others)}, which has no notebook form")
    return cls


class _ClassReader:
    """The flow class's body: parameters, steps, and what has no notebook form."""

    def __init__(self, text: str, cls: ast.ClassDef, errors: list[str]):
        self.text = text
        self.cls = cls
        self.errors = errors
        self.params: list[ast.stmt] = []
        self.methods: list[ast.FunctionDef] = []
        for i, stmt in enumerate(cls.body):
            self._classify(i, stmt)

    def _classify(self, i: int, stmt: ast.stmt) -> None:
        where = f"line {stmt.lineno}"
        if i == 0 and is_docstring(stmt):
            return  # the class docstring: a markdown cell
        if isinstance(stmt, ast.Pass):
            return
        if isinstance(stmt, ast.FunctionDef) and \
                any(deco_name(d) == "step" for d in stmt.decorator_list):
            self.methods.append(stmt)
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            self.errors.append(f"{where}: method '{stmt.name}' is not a @step; a notebook has no "
                               f"self.{stmt.name}(): make it a module-level function")
        elif param_variable(stmt) is not None:
            self.params.append(stmt)
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)) and \
                isinstance(stmt.value, ast.Call) and deco_name(stmt.value) == "Config":
            self.errors.append(f"{where}: Config has no notebook form; use a Parameter")
        else:
            targets = getattr(stmt, "targets", None) or [getattr(stmt, "target", None)]
            names = ", ".join(ast.unparse(t) for t in targets if t is not None) or \
                ast.unparse(stmt).split("\n")[0]
            self.errors.append(f"{where}: class attribute '{names}' has no notebook form (steps "
                               "would read it as self.X); make it a module-level constant or a "
                               "Parameter")

    def steps(self) -> list[StepCell]:
        parents: dict[str, int] = {}
        cells = [read_step(self.text, m, self.errors) for m in self.methods]
        for cell, method in zip(cells, self.methods):
            cell.comments = self.comments_before(method)
        for cell in cells:
            for t in cell.targets:
                parents[t] = parents.get(t, 0) + 1
        for cell in cells:
            cell.mark_join(parents.get(cell.name, 0))
        return cells

    def comments_before(self, stmt: ast.stmt) -> list[str]:
        """The comment lines between the class statement before `stmt` and `stmt` (its
        decorators included), dedented."""
        body = self.cls.body
        at = body.index(stmt)
        start = body[at - 1].end_lineno if at else self.cls.lineno
        first = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])])
        lines = self.text.split("\n")[start:first - 1]
        return [ln.strip() for ln in lines if ln.strip().startswith("#")]

    def param_text(self) -> str:
        chunks = []
        for stmt in self.params:
            lines = self.text.split("\n")[stmt.lineno - 1:stmt.end_lineno]
            chunks += self.comments_before(stmt)
            chunks.append(source.dedent("\n".join(lines), stmt.col_offset))
        return "\n".join(chunks)


def _flow_cell_code(text: str, tree: ast.Module, cls: ast.ClassDef, reader: _ClassReader,
                    errors: list[str]) -> tuple[str, list[str]]:
    """The module code with the class replaced by its parameters."""
    warnings: list[str] = []
    spans: list[tuple[int, int]] = []
    replace: dict[int, str] = {}
    for i, stmt in enumerate(tree.body):
        first = stmt.decorator_list[0].lineno if getattr(stmt, "decorator_list", None) else \
            stmt.lineno
        span = (first, stmt.end_lineno)
        if stmt is cls:
            notes = [f"{NOTE}@{ast.unparse(d)} on the flow has no nbflow form; "
                     "not applied" for d in cls.decorator_list
                     if deco_name(d) not in PRODUCTION_DECORATORS + pypi.FLOW_DECORATORS]
            warnings += [n[len(NOTE):] for n in notes]
            replace[first] = "\n".join(notes + [reader.param_text()])
        elif i == 0 and is_docstring(stmt):
            pass  # the module docstring: a markdown cell
        elif metaflow_imports.is_metaflow_from(stmt) and stmt.module == "metaflow":
            replace[first] = metaflow_imports.module_level(stmt, errors)
        elif _is_main_guard(stmt):
            if ast.unparse(stmt.body[0]) != f"{cls.name}()" or len(stmt.body) > 1 or stmt.orelse:
                warnings.append(f"line {stmt.lineno}: the `if __name__ == \"__main__\":` block is "
                                f"dropped, and it held more than {cls.name}()")
        else:
            continue
        spans.append(span)
    code = source.cut_lines(text, spans, replace)
    lines = [ln for ln in code.split("\n") if not ln.startswith(EXPORT_MARK) and ln != RUN_HINT]
    return source.squeeze_blank_lines(source.trim_blank_lines("\n".join(lines))), warnings


PRODUCTION_DECORATORS = ("project", "schedule")


def _production_options(cls: ast.ClassDef, errors: list[str]) -> list[str]:
    """@project(name=...) and @schedule(...) on the class -> `%%flow` options."""
    from ..notebook.production import from_decorator

    out = []
    for deco in cls.decorator_list:
        name = deco_name(deco)
        if name not in PRODUCTION_DECORATORS:
            continue
        try:
            kwargs = {k.arg: ast.literal_eval(k.value) for k in getattr(deco, "keywords", [])}
        except ValueError:
            kwargs = {"": None}
        option, problem = from_decorator(name, kwargs)
        if problem:
            errors.append(f"line {deco.lineno}: @{ast.unparse(deco)}: {problem}")
        else:
            out.append(option)
    return out


def _is_main_guard(stmt: ast.stmt) -> bool:
    if not isinstance(stmt, ast.If):
        return False
    test = stmt.test
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name)
            and test.left.id == "__name__" and len(test.comparators) == 1
            and isinstance(test.comparators[0], ast.Constant)
            and test.comparators[0].value == "__main__")


def _doc_cell(tree: ast.Module, cls: ast.ClassDef) -> list[tuple[str, str]]:
    docs = [d for d in (ast.get_docstring(tree), ast.get_docstring(cls)) if d]
    return [("markdown", "\n\n".join(docs))] if docs else []
