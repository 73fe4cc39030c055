"""Notebook -> a Metaflow flow.py that the real `metaflow` package runs unchanged.

    # header comment
    from metaflow import FlowSpec, step, ...      (only the names the code uses)
    <flow cell's module code, parameters taken out>

    class <FlowName>(FlowSpec):
        <parameters as class attributes>

        @retry(...)                               (header options)
        @step
        def <name>(self[, inputs]):               (inputs on joins)
            <body, indented; its docstring stays first>
            self.next(self.a[, foreach="var"])    (from the header)

    if __name__ == "__main__":
        <FlowName>()

Deterministic: the same notebook always gives the same bytes.
"""
from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass, field

from ..errors import ValidationErrors
from ..graph import FlowGraph, build
from ..notebook.spec import NotebookSpec, StepSpec
from . import cards, checks, decorators, imports, pypi, source

EXPORT_MARK = "# Exported by nbflow from "
RUN_HINT = "# Run it with Metaflow: python <this file> run"


@dataclass
class Exported:
    text: str
    warnings: list[str] = field(default_factory=list)


def export_notebook(notebook: NotebookSpec) -> Exported:
    """The flow.py text; raises ValidationErrors listing everything that cannot be exported."""
    graph = build(notebook)
    fc = notebook.flow_cell
    flow_tree = ast.parse(fc.code) if fc is not None and fc.code.strip() else None
    params = checks.find_param_statements(flow_tree) if flow_tree is not None else []
    step_trees = {s.name: ast.parse(s.body) for s in notebook.steps}  # build() parsed them
    found = checks.check_notebook(notebook, graph, flow_tree, step_trees, params)
    if found.errors:
        raise ValidationErrors(sorted(found.errors, key=lambda e: (e.cell or 0, e.line or 0)))
    return _Renderer(notebook, graph, flow_tree, step_trees, params, found.warnings).render()


class _Renderer:
    def __init__(self, notebook: NotebookSpec, graph: FlowGraph, flow_tree, step_trees, params,
                 warnings):
        self.nb = notebook
        self.graph = graph
        self.flow_tree = flow_tree
        self.step_trees = step_trees
        self.params = params
        self.warnings = list(warnings)
        self.decorators_used: set[str] = set()
        self.hoisted: set[str] = set()
        self.card_helpers: set[str] = set()    # module-level helpers the cards need
        trees = ([flow_tree] if flow_tree is not None else []) + list(step_trees.values())
        self.plt_names = cards.pyplot_aliases(trees)

    def render(self) -> Exported:
        # (in this order: the import line names what the module code and the steps need)
        future, module_code = self._module_code()
        class_lines = self._class_lines()
        if self.card_helpers and not cards.uses_name(module_code + "\n" + "\n".join(class_lines),
                                                     "display"):
            module_code = cards.drop_display_import(module_code)
            class_lines = cards.drop_display_import("\n".join(class_lines)).split("\n")
        module_code = _with_helpers(module_code, self.card_helpers)
        top = imports.place(module_code, imports.import_line(self._import_names()))
        parts = [self._header()] + ([future, ""] if future else []) + [top]
        text = "\n".join(parts) + "\n"
        text += "\n\n" + "\n".join(class_lines) + "\n"
        text += f'\n\nif __name__ == "__main__":\n    {self.nb.flow_name}()\n'
        return Exported(text, self.warnings)

    def _header(self) -> str:
        origin = os.path.basename(self.nb.path) if self.nb.path else "a notebook"
        return f"{EXPORT_MARK}{origin} (`nbflow export`).\n{RUN_HINT}"

    def _module_code(self) -> tuple[str, str]:
        """(`from __future__` lines, the rest) of the flow cell, parameters taken out."""
        if self.flow_tree is None:
            return "", ""
        code = self.nb.flow_cell.code
        future = [s for s in self.flow_tree.body
                  if isinstance(s, ast.ImportFrom) and s.module == "__future__"]
        hoisted = [s for s in self.flow_tree.body if _plain_nbflow_import(s)]
        self.hoisted = {a.name for s in hoisted for a in s.names}  # joined to our import
        spans = [(p.first, p.last) for p in self.params]
        spans += [(s.lineno, s.end_lineno) for s in future + hoisted]
        future_text = "\n".join(ast.get_source_segment(code, s) for s in future)
        rest = source.cut_lines(_rename_nbflow_imports(code, self.flow_tree), spans)
        return future_text, source.squeeze_blank_lines(source.trim_blank_lines(rest))

    def _import_names(self) -> list[str]:
        trees = [self.flow_tree] if self.flow_tree is not None else []
        used = {n.id for tree in trees + list(self.step_trees.values())
                for n in ast.walk(tree) if isinstance(n, ast.Name)}
        if "card" in self.decorators_used:
            used.add("current")
        return (["FlowSpec", "step"] + [n for n in checks.PREDEFINED if n in used]
                + sorted(self.hoisted | self.decorators_used))

    def _class_lines(self) -> list[str]:
        base = self._flow_decorators() + self._pypi_base()
        lines = [f"class {self.nb.flow_name}(FlowSpec):"]
        code = self.nb.module_code
        for p in self.params:
            text = "\n".join(code.split("\n")[p.first - 1:p.last])
            lines.append(source.indent(text, "    "))
        for spec in self.nb.steps:
            if len(lines) > 1:
                lines.append("")
            lines.extend(self._step_lines(spec))
        return base + lines

    def _pypi_base(self) -> list[str]:
        fc = self.nb.flow_cell
        if fc is None or not (fc.pypi or fc.python):
            return []
        deco, problems = pypi.decorator("pypi_base", fc.pypi, fc.python)
        self._pypi_used("pypi_base", problems, f"cell {fc.cell}")
        return [deco]

    def _pypi_used(self, name: str, problems: list[str], where: str) -> None:
        if not self.decorators_used & {"pypi", "pypi_base"}:
            self.warnings.append("the flow pins packages: run it with "
                                 "`python flow.py --environment=pypi run` (Metaflow's @pypi)")
        self.decorators_used.add(name)
        self.warnings += [f"{where}: {p}; left out" for p in problems]

    def _flow_decorators(self) -> list[str]:
        """`%%flow --project/--schedule` as Metaflow's @project and @schedule."""
        from ..notebook.production import schedule_decorator

        fc = self.nb.flow_cell
        out = []
        if fc is not None and fc.project:
            out.append(f'@project(name="{fc.project}")')
        if fc is not None and fc.schedule:
            out.append(schedule_decorator(fc.schedule))
        self.decorators_used |= {d[1:].split("(", 1)[0] for d in out}
        return out

    def _step_lines(self, spec: StepSpec) -> list[str]:
        decos, notes = decorators.to_decorators(spec.options)
        if spec.options.pypi is not None or spec.options.pypi_disabled:
            deco, problems = pypi.decorator("pypi", spec.options.pypi or (),
                                            disabled=spec.options.pypi_disabled)
            self._pypi_used("pypi", problems, f"cell {spec.cell}, step '{spec.name}'")
            decos.append(deco)
        tree = self.step_trees[spec.name]
        card = cards.rewrite_step(_rename_nbflow_imports(spec.body, tree), tree, self.plt_names)
        body = card.body
        if card.uses_card:
            decos.insert(0, "@card")
            self.card_helpers |= card.helpers
        self.warnings += [f"cell {spec.cell}, step '{spec.name}': {n}" for n in notes + card.notes]
        self.decorators_used |= {d[1:].split("(", 1)[0] for d in decos}
        args = "self, inputs" if self.graph[spec.name].is_join else "self"
        lines = [f"    {d}" for d in decos] + ["    @step", f"    def {spec.name}({args}):"]
        if spec.targets and all(isinstance(s, ast.Pass) for s in tree.body):
            body = source.cut_lines(body, [(s.lineno, s.end_lineno) for s in tree.body])
        body = source.trim_blank_lines(body)
        if body:
            lines.append(source.indent(body, "        "))
        if spec.targets:
            lines.append(f"        {_next_call(spec)}")
        elif not tree.body:
            lines.append("        pass")
        return lines


def _with_helpers(module_code: str, helpers: set[str]) -> str:
    """The cards' helper functions after the flow cell's code (in a fixed order)."""
    if not helpers:
        return module_code
    text = "\n\n\n".join(sorted(helpers))
    return f"{module_code}\n\n\n{text}" if module_code.strip() else text


def _next_call(spec: StepSpec) -> str:
    targets = ", ".join(f"self.{t}" for t in spec.targets)
    if spec.options.foreach:
        return f'self.next({targets}, foreach="{spec.options.foreach}")'
    return f"self.next({targets})"


def _plain_nbflow_import(stmt: ast.stmt) -> bool:
    """`from nbflow import a, b` (no `as`): its names join the exported `from metaflow import`."""
    return (isinstance(stmt, ast.ImportFrom) and stmt.module == "nbflow" and stmt.level == 0
            and all(a.asname is None for a in stmt.names))


def _rename_nbflow_imports(code: str, tree: ast.Module | None) -> str:
    """`from nbflow import current` -> `from metaflow import current`, `import nbflow as m`
    -> `import metaflow as m` (the checks made sure every name exists in metaflow)."""
    if tree is None:
        return code
    lines = code.split("\n")
    for node in ast.walk(tree):
        if (isinstance(node, ast.ImportFrom) and node.module in ("nbflow", "nbflow.cards")
                and node.level == 0) \
                or (isinstance(node, ast.Import) and node.names[0].name == "nbflow"):
            line = lines[node.lineno - 1]
            head, tail = line[:node.col_offset], line[node.col_offset:]
            tail = re.sub(r"\bnbflow\b", "metaflow", tail, count=1)
            lines[node.lineno - 1] = head + re.sub(r"^import metaflow as metaflow\b",
                                                   "import metaflow", tail)
    return "\n".join(lines)
