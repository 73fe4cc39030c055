"""What a notebook may do that a Metaflow flow.py cannot: each rule a small
function that appends an error naming the cell, the step and the line.

The graph rules (and IPython `%magic` / `!shell` lines, which are syntax errors
in plain Python) are already checked by `nbflow.graph.build`; these are the
extra rules for running under the real Metaflow.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from ..errors import NbflowError, NotebookError
from ..graph import RESERVED_STEP_NAMES
from ..notebook.params import param_variable
from ..notebook.spec import NotebookSpec
from .decorators import MAX_RETRY_TIMES

# Attributes of metaflow.FlowSpec that a step or a parameter would shadow.
FLOWSPEC_ATTRS = frozenset(RESERVED_STEP_NAMES) | {"script_name"}
# Parameter names Metaflow's command line reserves (metaflow/parameters.py).
RESERVED_OPTIONS = frozenset({
    "params", "with", "tag", "namespace", "obj", "tags", "decospecs", "run-id-file",
    "max-num-splits", "max-workers", "max-log-size", "user-namespace", "run-id", "task-id",
    "runner-attribute-file", "run_id_file", "max_num_splits", "max_workers", "max_log_size",
    "user_namespace", "run_id", "task_id", "runner_attribute_file"})
# Names nbflow predefines in flow and step cells; a flow.py imports them from metaflow.
PREDEFINED = ("Parameter", "JSONType", "IncludeFile", "current")
# Client names nbflow has too: `from metaflow import Flow` <-> `from nbflow import Flow`.
CLIENT_NAMES = frozenset({"Flow", "Run", "Step", "Task", "DataArtifact", "namespace",
                          "get_namespace", "default_namespace"})
# Names `from nbflow import ...` may bring in that `from metaflow import ...` has too.
METAFLOW_NAMES = CLIENT_NAMES | set(PREDEFINED) | {
    "Metaflow", "get_metadata", "metadata", "default_metadata", "Runner"}
# Components `from nbflow.cards import ...` that metaflow.cards has under the same name.
CARD_COMPONENTS = frozenset({"Markdown", "Table", "Image", "Artifact", "VegaChart"})
STEP_NAME = re.compile(r"^[a-z0-9][a-z0-9_]*$")


@dataclass
class ParamStmt:
    """`variable = Parameter(...)` / `IncludeFile(...)` at the top of the flow cell."""

    variable: str
    option: str | None
    first: int          # lines of the flow cell's body, 1-based, inclusive
    last: int
    stmt: ast.stmt


@dataclass
class Findings:
    errors: list[NbflowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def find_param_statements(tree: ast.Module) -> list[ParamStmt]:
    """Top-level parameter assignments of a flow cell parsed with body line numbers."""
    out = []
    for stmt in tree.body:
        variable = param_variable(stmt)
        if variable is not None:
            call = stmt.value
            first = call.args[0] if call.args else next(
                (k.value for k in call.keywords if k.arg == "name"), None)
            option = first.value if isinstance(first, ast.Constant) else None
            out.append(ParamStmt(variable, option, stmt.lineno, stmt.end_lineno, stmt))
    return out


def _cell_line(node: ast.AST, body_line: int) -> int:
    return node.lineno + body_line - 1


def check_step_names(nb: NotebookSpec, found: Findings) -> None:
    for spec in nb.steps:
        if not STEP_NAME.match(spec.name):
            found.errors.append(NotebookError(
                f"Metaflow step names may hold only lower-case letters, digits and '_' and not "
                f"start with '_'; rename step '{spec.name}' to export it", cell=spec.cell,
                step=spec.name))
        elif spec.name in FLOWSPEC_ATTRS:
            found.errors.append(NotebookError(
                f"a step named '{spec.name}' would shadow FlowSpec.{spec.name} in Metaflow; "
                "rename the step to export it", cell=spec.cell, step=spec.name))


def check_options(nb: NotebookSpec, found: Findings) -> None:
    for spec in nb.steps:
        if spec.options.retry > MAX_RETRY_TIMES:
            found.errors.append(NotebookError(
                f"'--retry {spec.options.retry}': Metaflow allows at most @retry(times="
                f"{MAX_RETRY_TIMES}); lower it to export", cell=spec.cell, step=spec.name))


def check_join_splits(graph, found: Findings) -> None:
    """Metaflow refuses a step that is a join and a split (or foreach) at once."""
    for node in graph:
        if node.is_join and (len(node.targets) > 1 or node.foreach):
            found.errors.append(NotebookError(
                "this step is a join and also a split; Metaflow refuses that: move the split "
                f"into a step of its own ('%%step {node.name} -> {node.name}_split')",
                cell=node.spec.cell, step=node.name))


def check_parameters(nb: NotebookSpec, tree: ast.Module, params: list[ParamStmt],
                     found: Findings) -> None:
    fc = nb.flow_cell
    steps = {s.name for s in nb.steps}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in ("Parameter", "IncludeFile")
                and not any(p.first <= node.lineno <= p.last for p in params)):
            found.errors.append(NotebookError(
                f"{node.func.id}(...) must be assigned to a name at the top level of the flow "
                "cell ('x = Parameter(...)') to become a class attribute of the exported flow",
                cell=fc.cell, line=_cell_line(node, fc.body_line)))
    param_stmts = {id(p.stmt) for p in params}
    for stmt in tree.body:
        if id(stmt) in param_stmts:
            continue
        shared = [p for p in params if p.first <= stmt.end_lineno and stmt.lineno <= p.last]
        if shared:
            found.errors.append(NotebookError(
                f"parameter '{shared[0].variable}' shares its line(s) with other code; put it on "
                "lines of its own", cell=fc.cell, line=_cell_line(stmt, fc.body_line)))
    for p in params:
        line = p.first + fc.body_line - 1
        if p.variable in FLOWSPEC_ATTRS or p.variable in steps:
            what = "a step" if p.variable in steps else f"FlowSpec.{p.variable}"
            found.errors.append(NotebookError(
                f"parameter variable '{p.variable}' would shadow {what} in the exported class; "
                "rename it", cell=fc.cell, line=line, artifact=p.variable))
        if p.option in RESERVED_OPTIONS:
            found.errors.append(NotebookError(
                f"Metaflow reserves the parameter name '{p.option}'; choose another",
                cell=fc.cell, line=line, artifact=p.variable))


def _own_scope(stmts: list[ast.stmt]):
    """Nodes of a function body, not descending into nested functions or classes."""
    todo = list(stmts)
    while todo:
        node = todo.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda,
                                 ast.ClassDef)):    # a helper defined in the step: its own
            todo.extend(ast.iter_child_nodes(node))


def check_code(tree: ast.Module, *, cell: int, body_line: int, step: str | None,
               param_vars: set[str], found: Findings) -> None:
    """Rules for one cell's code (a step body, or the flow cell with step=None)."""
    def error(node, message):
        found.errors.append(NotebookError(message, cell=cell, step=step,
                                          line=_cell_line(node, body_line)))

    # a step may have a local of the same name; in the flow cell the name is the parameter
    assigned = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)
                and not isinstance(n.ctx, ast.Load)} if step is not None else set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "is_interactive" and \
                isinstance(node.value, ast.Name) and node.value.id == "current":
            error(node, "current.is_interactive exists only in nbflow; Metaflow's current has "
                        "no such attribute (remove it to export)")
        elif isinstance(node, ast.Name) and node.id == "get_ipython":
            error(node, "get_ipython() exists only in a Jupyter kernel, not in a Metaflow task")
        elif isinstance(node, ast.Name) and node.id == "__file__":
            found.warnings.append(f"cell {cell}, line {_cell_line(node, body_line)}: __file__ is "
                                  "the notebook's path in nbflow and flow.py's path in the "
                                  "exported flow")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            _check_import(node, error)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) \
                and node.id in param_vars and node.id not in assigned:
            error(node, f"'{node.id}' is a parameter: read its value as self.{node.id} (the "
                        "module-level name becomes a class attribute in the exported flow)")
    if step is None:
        return
    for node in _own_scope(tree.body):
        if isinstance(node, ast.Return):
            error(node, "'return' would skip the self.next(...) that export appends to the "
                        "step; use if/else instead of an early return")
        elif isinstance(node, ast.Attribute) and not isinstance(node.ctx, ast.Load) and \
                isinstance(node.value, ast.Name) and node.value.id == "self" and \
                node.attr in FLOWSPEC_ATTRS:
            error(node, f"self.{node.attr} would shadow FlowSpec.{node.attr} in Metaflow; "
                        "use another artifact name")


def _check_import(node, error) -> None:
    if isinstance(node, ast.Import):
        if any(a.name.startswith("nbflow.") for a in node.names):
            error(node, "'import nbflow.<module>' has no place in a Metaflow flow; import the "
                        "names from metaflow instead")
    elif node.module == "nbflow" and node.level == 0:
        missing = [a.name for a in node.names if a.name not in METAFLOW_NAMES]
        if missing:
            error(node, f"{', '.join(missing)} from nbflow has no Metaflow equivalent")
    elif node.module == "nbflow.cards" and node.level == 0:
        missing = [a.name for a in node.names if a.name not in CARD_COMPONENTS]
        if missing:
            error(node, f"{', '.join(missing)} from nbflow.cards has no Metaflow equivalent")
    elif (node.module or "").startswith("nbflow."):
        error(node, f"'from {node.module} import ...' has no place in a Metaflow flow")


def check_notebook(nb: NotebookSpec, graph, flow_tree: ast.Module | None, step_trees: dict,
                   params: list[ParamStmt]) -> Findings:
    """Every rule. The trees are numbered from their cell's body (line 1), as
    `ast.parse` gives them."""
    found = Findings()
    check_step_names(nb, found)
    check_join_splits(graph, found)
    check_options(nb, found)
    param_vars = {p.variable for p in params}
    if flow_tree is not None:
        check_parameters(nb, flow_tree, params, found)
        check_code(flow_tree, cell=nb.flow_cell.cell, body_line=nb.flow_cell.body_line,
                   step=None, param_vars=param_vars, found=found)
        if any(_binds(stmt, nb.flow_name) for stmt in flow_tree.body):
            found.errors.append(NotebookError(
                f"the flow cell defines '{nb.flow_name}', the name of the exported flow class; "
                "rename it", cell=nb.flow_cell.cell))
    for spec in nb.steps:
        check_code(step_trees[spec.name], cell=spec.cell, body_line=spec.body_line,
                   step=spec.name, param_vars=param_vars, found=found)
    return found


def _binds(stmt: ast.stmt, name: str) -> bool:
    if isinstance(stmt, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
        return stmt.name == name
    return any(isinstance(n, ast.Name) and n.id == name and not isinstance(n.ctx, ast.Load)
               for n in ast.walk(stmt))

