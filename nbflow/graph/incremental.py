"""The graph of a notebook that changes a cell at a time (a kernel's step cells), rebuilt
only as far as the change reaches.

A kernel builds the flow's graph for every step cell it runs. Most cells leave the graph's
shape as it was (the same steps, targets, foreach variables and joins, in the same cells):
then the last graph's structure (parents, order, split stacks, joins, what is wrong with the
shape) still holds, and only the changed steps get new nodes; the nodes of unchanged steps
are shared. A change of shape builds the graph again (FlowGraph; each body's facts are
remembered, facts.py). Either way the graph is the one FlowGraph(notebook) gives."""
from __future__ import annotations

from ..notebook.spec import NotebookSpec, StepSpec
from .facts import reads_inputs
from .flowgraph import FlowGraph, Node


def _same_shape(a: StepSpec, b: StepSpec) -> bool:
    """What FlowGraph's construction reads of a step (error messages name its cell)."""
    return a is b or (a.name == b.name and a.targets == b.targets and a.cell == b.cell
                      and a.options.foreach == b.options.foreach
                      and reads_inputs(a) == reads_inputs(b))


class GraphKeeper:
    def __init__(self):
        self.graph: FlowGraph | None = None

    def graph_for(self, notebook: NotebookSpec) -> FlowGraph:
        old = self.graph
        if old is None or len(old.notebook.steps) != len(notebook.steps) or \
                not all(_same_shape(a, b) for a, b in zip(old.notebook.steps, notebook.steps)):
            graph = FlowGraph(notebook)
        else:
            graph = _respec(old, notebook)
        self.graph = graph
        return graph


def _respec(old: FlowGraph, notebook: NotebookSpec) -> FlowGraph:
    """`old`'s structure with `notebook`'s steps (of the same shape)."""
    graph = FlowGraph.__new__(FlowGraph)
    graph.__dict__.update(old.__dict__)
    graph.notebook = notebook
    nodes = dict(old.nodes)
    first: set[str] = set()
    for spec in notebook.steps:
        if spec.name in first:
            continue   # a second definition has no node (FlowGraph keeps the first)
        first.add(spec.name)
        node = nodes[spec.name]
        if node.spec is not spec:
            nodes[spec.name] = Node(spec, list(node.parents), node.is_join, node.split_stack,
                                    node.matching_split)
    graph.nodes = nodes
    return graph
