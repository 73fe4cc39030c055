"""The graph as text (`nbflow show`), with docstrings."""
from __future__ import annotations

from .flowgraph import FlowGraph


def render_graph(graph: FlowGraph, artifacts: bool = False) -> str:
    """`artifacts`: each step's reads and writes too (lineage.py; the graph must be complete)."""
    lineage = None
    if artifacts and graph.complete:
        from .lineage import analyze

        lineage = analyze(graph)
    lines = [f"Flow {graph.name}", ""]
    for node in graph.notebook.steps:
        n = graph.nodes.get(node.name)
        kind = n.type if n is not None else "step"
        lines.append(f"Step {node.name}  (cell {node.cell}, {kind})")
        doc = (node.docstring or "").strip()
        for doc_line in (doc.splitlines() if doc else ["?"]):
            lines.append(f"    {doc_line}".rstrip())
        if node.targets:
            arrow = ", ".join(node.targets)
            if node.options.foreach:
                arrow += f"  (foreach over self.{node.options.foreach})"
            lines.append(f"    => {arrow}")
        if lineage is not None and n is not None and n.spec is node:
            from .lineage import describe

            lines.extend(describe(lineage, graph, node.name))
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
