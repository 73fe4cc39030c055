"""`from metaflow import X` anywhere in a flow file -> nbflow's names.

At module level the names a notebook predefines (Parameter, current, ...) and the
decorators (which become header options or notes) are dropped, and client names
come from nbflow. Inside functions and step bodies every name is imported from
nbflow, on the same lines (so line numbers in later messages stay right).
`import metaflow [as m]` becomes `import nbflow as metaflow` (`as m`).
A name nbflow does not offer is an error naming the line.
"""
from __future__ import annotations

import ast

# What `from nbflow import ...` offers of Metaflow's top-level names.
OFFERED = frozenset({
    "Flow", "Run", "Step", "Task", "DataArtifact", "Metaflow", "namespace", "get_namespace",
    "default_namespace", "get_metadata", "metadata", "default_metadata", "Parameter",
    "JSONType", "IncludeFile", "current", "Runner"})
# Only the flow class needs these; a notebook has no use for them.
CLASS_ONLY = frozenset({"FlowSpec", "step"})
# Metaflow decorators: header options (retry, ...) or reported as notes (kubernetes, ...).
DECORATORS = frozenset({
    "retry", "timeout", "catch", "resources", "pypi", "pypi_base", "conda", "conda_base",
    "card", "kubernetes", "batch", "environment", "project", "schedule", "trigger",
    "trigger_on_finish", "parallel", "secrets", "checkpoint", "model", "huggingface_hub",
    "uv", "exit_hook", "airflow_s3_key_sensor", "airflow_external_task_sensor"})
# Why some commonly imported names have no nbflow equivalent.
WHY_NOT = {
    "S3": "nbflow stores artifacts through fsspec; read S3 with fsspec or boto3",
    "Config": "use a Parameter (JSONType for structured values)",
    "config_expr": "use a Parameter",
    "NBRunner": "use nbflow's Runner on the notebook",
    "Deployer": "export the notebook (nbflow export) and deploy the flow.py with Metaflow",
    "NBDeployer": "export the notebook (nbflow export) and deploy the flow.py with Metaflow",
    "profile": "time the code with time.perf_counter()",
    "namespace_check": "namespaces are checked by nbflow's client objects",
}


def _shown(alias: ast.alias) -> str:
    return alias.name + (f" as {alias.asname}" if alias.asname else "")


def unknown_names(stmt: ast.ImportFrom, allowed: frozenset) -> list[str]:
    """Errors for the names of `stmt` that have no nbflow equivalent."""
    out = []
    for alias in stmt.names:
        if alias.name in allowed:
            continue
        why = WHY_NOT.get(alias.name, "it has no nbflow equivalent")
        out.append(f"line {stmt.lineno}: `from metaflow import {alias.name}`: {why} "
                   f"(nbflow offers {', '.join(sorted(OFFERED))})")
    return out


def module_level(stmt: ast.ImportFrom, errors: list[str]) -> str:
    """The module-level import rewritten: predefined names and decorators dropped, the
    client's names from nbflow."""
    errors += unknown_names(stmt, OFFERED | CLASS_ONLY | DECORATORS)
    from .checks import PREDEFINED

    keep = [_shown(a) for a in stmt.names if a.name in OFFERED and
            (a.asname is not None or a.name not in PREDEFINED)]
    return f"from nbflow import {', '.join(keep)}" if keep else ""


def is_metaflow_from(stmt: ast.AST) -> bool:
    return isinstance(stmt, ast.ImportFrom) and stmt.level == 0 and \
        (stmt.module or "").split(".")[0] == "metaflow"


def rewrite_nested(text: str, tree: ast.Module, errors: list[str]) -> str:
    """`text` with every Metaflow import that is not a module-level `from metaflow import`
    rewritten in place, line count unchanged."""
    edits: list[tuple[ast.stmt, str]] = []
    top = set(map(id, tree.body))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "metaflow"
                                                for a in node.names):
            edits.append((node, _plain_import(node, errors)))
        elif is_metaflow_from(node) and node.module == "metaflow.cards":
            edits.append((node, _cards_import(node, errors)))
        elif is_metaflow_from(node) and node.module != "metaflow":
            errors.append(f"line {node.lineno}: `from {node.module} import ...`: nbflow has no "
                          f"{node.module} module; write this part without Metaflow")
        elif is_metaflow_from(node) and id(node) not in top:
            errors += unknown_names(node, OFFERED)
            edits.append((node, f"from nbflow import {', '.join(map(_shown, node.names))}"))
    lines = text.split("\n")
    for node, new in sorted(edits, key=lambda e: (e[0].lineno, e[0].col_offset), reverse=True):
        _replace(lines, node, new)
    return "\n".join(lines)


def _cards_import(node: ast.ImportFrom, errors: list[str]) -> str:
    """`from metaflow.cards import Markdown, Table` -> nbflow.cards (same names and arguments)."""
    from .checks import CARD_COMPONENTS

    missing = [a.name for a in node.names if a.name not in CARD_COMPONENTS]
    if missing:
        errors.append(f"line {node.lineno}: `from metaflow.cards import {', '.join(missing)}`: "
                      f"nbflow.cards has {', '.join(sorted(CARD_COMPONENTS))}")
    return f"from nbflow.cards import {', '.join(map(_shown, node.names))}"


def _plain_import(node: ast.Import, errors: list[str]) -> str:
    parts = []
    for alias in node.names:
        if alias.name == "metaflow":
            parts.append(f"nbflow as {alias.asname or 'metaflow'}")
        elif alias.name.split(".")[0] == "metaflow":
            errors.append(f"line {node.lineno}: `import {alias.name}`: nbflow has no "
                          f"{alias.name} module; write this part without Metaflow")
        else:
            parts.append(_shown(alias))
    return f"import {', '.join(parts)}" if parts else "pass"


def _replace(lines: list[str], node: ast.stmt, new: str) -> None:
    """Replace the statement's text; the lines it spanned stay (blank)."""
    first, last = node.lineno - 1, node.end_lineno - 1
    head = lines[first][:node.col_offset]
    tail = lines[last][node.end_col_offset:]
    lines[first] = head + new + tail
    for i in range(first + 1, last + 1):
        lines[i] = ""
