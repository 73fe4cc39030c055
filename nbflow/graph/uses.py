"""What one step body reads and writes on `self` and on `inputs`, from its AST (pure).

Conservative by design: whatever the code could do that the AST cannot follow makes the
step *opaque* instead of guessed at, so the lineage check (lineage.py) never reports a
read that could work at run time:
- `getattr(self, name)` with a computed name: the step's reads are not checked;
- `setattr(self, name, v)` with a computed name, or `self` passed anywhere (a helper may
  set artifacts on it): the step may write anything, so what follows it is not checked;
- a read under `hasattr(self, 'x')` / inside `try: ... except AttributeError` / through
  `getattr(self, 'x', default)` is optional, never an error.
"""
from __future__ import annotations

import ast
from dataclasses import field

from ..lite_dataclass import dataclass

# attributes of `self` that are not artifacts (Metaflow's FlowSpec API, as in task/selfview.py)
SELF_API = frozenset(("input", "index", "next", "merge_artifacts", "foreach_stack",
                      "artifact_names", "persist"))
# builtins that may look at `self` without it escaping
HARMLESS = frozenset(("print", "str", "repr", "type", "id", "dir", "isinstance", "len", "bool",
                      "format", "hash"))
GUARDING = frozenset(("AttributeError", "Exception", "BaseException", "MissingArtifact",
                      "ArtifactError", "NbflowError"))


@dataclass
class StepUses:
    reads: dict[str, int] = field(default_factory=dict)        # self.x read -> first line
    writes: dict[str, int] = field(default_factory=dict)       # self.x assigned -> first line
    optional: set[str] = field(default_factory=set)            # reads that may fail on purpose
    input_reads: list[tuple[str | None, str, int]] = field(default_factory=list)
    # (parent step or None for any parent, artifact, line)
    input_steps: list[tuple[str, int]] = field(default_factory=list)   # inputs.NAME
    merges: list[frozenset | None] = field(default_factory=list)       # include=, None: all
    opaque_reads: int | None = None     # line that makes the reads uncheckable
    opaque_writes: int | None = None    # line after which the step may write anything


def step_uses(tree: ast.AST) -> StepUses:
    visitor = _Visitor(_single_aliases(tree))
    visitor.visit(tree)
    return visitor.uses


def _const_str(node) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _str_list(node) -> frozenset | None:
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        names = [_const_str(e) for e in node.elts]
        if all(n is not None for n in names):
            return frozenset(names)
    return None


def _single_aliases(tree: ast.AST) -> dict[str, str | None]:
    """`first = inputs[0]` / `a = inputs.train`, for names bound exactly once in the body."""
    bound: dict[str, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound[node.id] = bound.get(node.id, 0) + 1
        elif isinstance(node, ast.arg):
            bound[node.arg] = bound.get(node.arg, 0) + 1
    out: dict[str, str | None] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and \
                isinstance(node.targets[0], ast.Name) and bound.get(node.targets[0].id) == 1:
            view = _input_view(node.value)
            if view is not False:
                out[node.targets[0].id] = view
    return out


def _input_view(node) -> str | None | bool:
    """What an expression is, if it is one input of the join: its step (None: any), else False."""
    if isinstance(node, ast.Subscript) and _is_name(node.value, "inputs") and \
            not isinstance(node.slice, ast.Slice):
        return None
    if isinstance(node, ast.Attribute) and _is_name(node.value, "inputs") and \
            not node.attr.startswith("_"):
        return node.attr
    return False


def _is_name(node, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _guards(handler: ast.ExceptHandler) -> bool:
    kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    for k in kinds:
        if k is None:
            return True
        name = k.id if isinstance(k, ast.Name) else k.attr if isinstance(k, ast.Attribute) else ""
        if name in GUARDING:
            return True
    return False


def _suppresses(expr) -> bool:
    if not isinstance(expr, ast.Call):
        return False
    fn = expr.func.id if isinstance(expr.func, ast.Name) else \
        expr.func.attr if isinstance(expr.func, ast.Attribute) else ""
    return fn == "suppress" and any(_guards(ast.ExceptHandler(type=a)) for a in expr.args)


class _Visitor(ast.NodeVisitor):
    def __init__(self, aliases: dict[str, str | None]):
        self.uses = StepUses()
        self.aliases = [dict(aliases)]   # scopes of names that are one input of the join
        self.shadowed = 0                # inside a function whose own `self` is not the step's
        self.guarded = 0                 # inside a try that catches AttributeError

    # -- self ---------------------------------------------------------------------
    def _read(self, name: str, line: int, optional: bool = False) -> None:
        if name.startswith("_") or name in SELF_API:
            return
        self.uses.reads.setdefault(name, line)
        if optional or self.guarded:
            self.uses.optional.add(name)

    def _write(self, name: str, line: int) -> None:
        if not name.startswith("_"):
            self.uses.writes.setdefault(name, line)

    def _alias(self, name: str):
        for scope in reversed(self.aliases):
            if name in scope:
                return scope[name]
        return False

    def visit_Attribute(self, node: ast.Attribute):
        if self.shadowed:
            return self.generic_visit(node)
        if _is_name(node.value, "self"):
            if isinstance(node.ctx, ast.Store):
                self._write(node.attr, node.lineno)
            elif isinstance(node.ctx, ast.Load):
                self._read(node.attr, node.lineno)
            return None
        view = _input_view(node.value)
        if view is False and isinstance(node.value, ast.Name):
            view = self._alias(node.value.id)
        if view is not False and isinstance(node.ctx, ast.Load):
            if isinstance(node.value, ast.Attribute):
                self.uses.input_steps.append((node.value.attr, node.value.lineno))
            if not node.attr.startswith("_") and node.attr not in SELF_API and not self.guarded:
                self.uses.input_reads.append((view, node.attr, node.lineno))
            if isinstance(node.value, ast.Subscript):
                self.visit(node.value.slice)
            return None
        if _is_name(node.value, "inputs") and not node.attr.startswith("_"):
            self.uses.input_steps.append((node.attr, node.lineno))
            return None
        return self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign):
        if not self.shadowed and isinstance(node.target, ast.Attribute) and \
                _is_name(node.target.value, "self"):
            self._read(node.target.attr, node.lineno)
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name):
        if node.id == "self" and not self.shadowed:
            self._escape(node.lineno)

    def _escape(self, line: int) -> None:
        if self.uses.opaque_writes is None:
            self.uses.opaque_writes = line
        if self.uses.opaque_reads is None:
            self.uses.opaque_reads = line

    def visit_Call(self, node: ast.Call):
        if self.shadowed:
            return self.generic_visit(node)
        func = node.func
        if isinstance(func, ast.Attribute) and _is_name(func.value, "self") and \
                func.attr == "next":
            return None   # transitions: the code rule reports self.next(...)
        if isinstance(func, ast.Attribute) and _is_name(func.value, "self") and \
                func.attr == "merge_artifacts":
            include = next((k.value for k in node.keywords if k.arg == "include"), None)
            self.uses.merges.append(None if include is None else _str_list(include))
            for a in list(node.args[1:]) + [k.value for k in node.keywords]:
                self.visit(a)
            return None
        if isinstance(func, ast.Name) and func.id in ("exec", "eval"):
            self._escape(node.lineno)   # code in a string may read or set anything
        if isinstance(func, ast.Name) and node.args and _is_name(node.args[0], "self"):
            if self._self_builtin(func.id, node):
                for a in list(node.args[1:]) + [k.value for k in node.keywords]:
                    self.visit(a)
                return None
        if isinstance(func, ast.Name) and func.id in ("getattr", "hasattr") and \
                len(node.args) >= 2 and isinstance(node.args[0], ast.Name):
            view = self._alias(node.args[0].id)
            name = _const_str(node.args[1])
            if view is not False and name is not None and func.id == "getattr" \
                    and len(node.args) == 2 and not self.guarded:
                self.uses.input_reads.append((view, name, node.lineno))
            elif view is not False and name is not None:
                self.uses.optional.add(f"inputs.{name}")
        return self.generic_visit(node)

    def _self_builtin(self, fn: str, node: ast.Call) -> bool:
        """getattr/setattr/hasattr/delattr(self, ...) and harmless looks at `self`."""
        name = _const_str(node.args[1]) if len(node.args) > 1 else None
        if fn == "getattr":
            if name is None:
                self.uses.opaque_reads = self.uses.opaque_reads or node.lineno
            else:
                self._read(name, node.lineno, optional=len(node.args) > 2)
            return True
        if fn == "setattr":
            if name is None:
                self.uses.opaque_writes = self.uses.opaque_writes or node.lineno
            else:
                self._write(name, node.lineno)
            return True
        if fn == "hasattr":
            if name is not None:
                self.uses.optional.add(name)
            return True
        return fn in ("delattr",) or fn in HARMLESS

    # -- scopes ---------------------------------------------------------------------
    def _function(self, node):
        args = node.args
        names = {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
        names |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
        for d in getattr(node, "decorator_list", []):
            self.visit(d)
        for d in args.defaults + [d for d in args.kw_defaults if d is not None]:
            self.visit(d)
        shadow = "self" in names
        self.shadowed += shadow
        self.aliases.append({n: False for n in names})
        body = node.body if isinstance(node.body, list) else [node.body]
        for stmt in body:
            self.visit(stmt)
        self.aliases.pop()
        self.shadowed -= shadow

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_Try(self, node):
        guard = any(_guards(h) for h in node.handlers)
        self.guarded += guard
        for stmt in node.body:
            self.visit(stmt)
        self.guarded -= guard
        for part in node.handlers + node.orelse + node.finalbody:
            self.visit(part)

    visit_TryStar = visit_Try

    def visit_With(self, node):
        """`with contextlib.suppress(AttributeError):` guards its body like a try."""
        guard = any(_suppresses(item.context_expr) for item in node.items)
        for item in node.items:
            self.visit(item)
        self.guarded += guard
        for stmt in node.body:
            self.visit(stmt)
        self.guarded -= guard

    visit_AsyncWith = visit_With

    def visit_For(self, node):
        self.visit(node.iter)
        scope = _loop_aliases(node.target, node.iter)
        self.aliases.append(scope)
        self.visit(node.target)
        for stmt in node.body + node.orelse:
            self.visit(stmt)
        self.aliases.pop()

    visit_AsyncFor = visit_For

    def _comprehension(self, node):
        scope: dict = {}
        self.aliases.append(scope)
        for gen in node.generators:
            self.visit(gen.iter)
            scope.update(_loop_aliases(gen.target, gen.iter))
            self.visit(gen.target)
            for cond in gen.ifs:
                self.visit(cond)
        for part in ("elt", "key", "value"):
            if getattr(node, part, None) is not None:
                self.visit(getattr(node, part))
        self.aliases.pop()

    visit_ListComp = visit_SetComp = visit_GeneratorExp = visit_DictComp = _comprehension


def _loop_aliases(target, iterable) -> dict:
    """Names a loop binds to one input each (`for i in inputs`, `enumerate(inputs)`,
    `zip(inputs, ...)`); every other name it binds is not an input (shadowing outer ones)."""
    out = {n.id: False for n in ast.walk(target) if isinstance(n, ast.Name)}
    if _is_name(iterable, "inputs") and isinstance(target, ast.Name):
        out[target.id] = None
    elif isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Name) and \
            isinstance(target, ast.Tuple):
        fn, args = iterable.func.id, iterable.args
        if fn == "enumerate" and args and _is_name(args[0], "inputs") and \
                len(target.elts) == 2 and isinstance(target.elts[1], ast.Name):
            out[target.elts[1].id] = None
        elif fn == "zip" and len(args) == len(target.elts):
            for a, t in zip(args, target.elts):
                if _is_name(a, "inputs") and isinstance(t, ast.Name):
                    out[t.id] = None
    return out
