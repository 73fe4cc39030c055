"""FlowGraph: the steps as a DAG, complete when built. Pure: no I/O, no execution.

Construction computes everything callers read, as Metaflow's FlowGraph does: each step's
parents; which steps are joins (several parents, or a body that reads `inputs`); each step's
open splits (`split_stack`) and each join's `matching_split`. The validation rules
(rules.py) only read the graph and return findings. Every walk is iterative: a chain of
10,000 steps is as fine as one of three.
"""
from __future__ import annotations

from dataclasses import field

from ..errors import NbflowError, NotebookError
from ..lite_dataclass import dataclass
from ..notebook.spec import NotebookSpec, StepSpec
from .facts import reads_inputs


@dataclass
class Node:
    spec: StepSpec
    parents: list[str] = field(default_factory=list)
    is_join: bool = False
    split_stack: tuple = ()          # ((split_step, branch), ...) open around this step
    matching_split: str | None = None  # for joins: the split they close

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def targets(self) -> tuple[str, ...]:
        return self.spec.targets

    @property
    def foreach(self) -> str | None:
        return self.spec.options.foreach

    @property
    def type(self) -> str:
        if self.name == "end":
            return "end"
        if self.is_join:
            return "join"
        if self.foreach:
            return "foreach"
        if len(self.targets) > 1:
            return "split"
        return "start" if self.name == "start" else "linear"


class FlowGraph:
    def __init__(self, notebook: NotebookSpec):
        self.notebook = notebook
        self.nodes: dict[str, Node] = {}
        for s in notebook.steps:
            self.nodes.setdefault(s.name, Node(s))   # a second definition is a rule's finding
        for node in self.nodes.values():
            for t in node.targets:
                if t in self.nodes and node.name not in self.nodes[t].parents:
                    self.nodes[t].parents.append(node.name)
        for node in self.nodes.values():
            node.is_join = len(node.parents) > 1 or _reads_inputs(node.spec)
        self.order, self.cycle = _topological(self)
        # the split structure, where the shape allows one (else the rules say why not)
        self.split_problem: NbflowError | None = None
        self.complete = self._shape_ok()
        if self.complete:
            self.split_problem = _annotate_splits(self)

    def __getitem__(self, name: str) -> Node:
        return self.nodes[name]

    def __iter__(self):
        return iter(self.nodes.values())

    def __contains__(self, name: str) -> bool:
        return name in self.nodes

    @property
    def name(self) -> str:
        return self.notebook.flow_name

    def topological(self) -> list[str]:
        """Steps in an order where parents come first (notebook order breaks ties)."""
        return list(self.order)

    def descendants(self, name: str) -> set[str]:
        return _reach(self, [name], lambda n: self.nodes[n].targets)

    def ancestors(self, name: str) -> set[str]:
        return _reach(self, [name], lambda n: self.nodes[n].parents)

    def _shape_ok(self) -> bool:
        """A start, every target a step, no cycle, every step reached from start, each
        foreach with one target."""
        if "start" not in self.nodes or "end" not in self.nodes or self.cycle:
            return False
        if any(t not in self.nodes for n in self for t in n.targets):
            return False
        if any(n.foreach and len(n.targets) != 1 for n in self):
            return False   # a foreach has one target (a rule's finding): no split structure
        return len(self.descendants("start") | {"start"}) == len(self.nodes)


def _reads_inputs(spec: StepSpec) -> bool:
    return reads_inputs(spec)   # once per body (facts.py)


def _reach(graph: FlowGraph, start: list[str], nexts) -> set[str]:
    out, todo = set(), list(start)
    while todo:
        for t in nexts(todo.pop()):
            if t in graph.nodes and t not in out:
                out.add(t)
                todo.append(t)
    return out


def _topological(graph: FlowGraph) -> tuple[list[str], list[str]]:
    """(order, a cycle if there is one). Depth-first over parents, in notebook order, with an
    explicit stack; a step on a cycle is placed when the walk first returns to it."""
    order: list[str] = []
    state: dict[str, int] = {}     # 1: on the current path, 2: placed
    cycle: list[str] = []
    for root in graph.nodes:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(graph.nodes[root].parents))]
        while stack:
            name, parents = stack[-1]
            for p in parents:
                if p not in graph.nodes:
                    continue
                if state.get(p) == 1:
                    if not cycle:
                        path = [n for n, _ in stack]
                        cycle = list(reversed(path[path.index(p):])) + [p]
                    continue
                if p not in state:
                    state[p] = 1
                    stack.append((p, iter(graph.nodes[p].parents)))
                    break
            else:
                stack.pop()
                state[name] = 2
                order.append(name)
    return order, cycle


class Structural(NotebookError):
    """An error that makes the later graph rules meaningless."""


def step_error(node_or_spec, message: str, structural: bool = False) -> NotebookError:
    spec = node_or_spec.spec if isinstance(node_or_spec, Node) else node_or_spec
    cls = Structural if structural else NotebookError
    return cls(message, cell=spec.cell, step=spec.name)


def _annotate_splits(graph: FlowGraph) -> NbflowError | None:
    """Give each step its open splits and each join its split; infer the joins of foreaches
    whose join never reads `inputs`. Returns what makes the splits and joins unbalanced.

    A foreach whose join reads nothing from `inputs` is closed by the last plain steps
    before the point where it must be closed (end, or an outer join)."""
    for _ in range(len(graph.nodes) + 1):
        problem = _assign_split_stacks(graph)
        if problem is None:
            return None
        if isinstance(problem, NbflowError):
            return problem
        if not _infer_foreach_joins(graph, *problem):
            node, parent, count = problem
            open_splits = [f[0] for f in graph[parent].split_stack][-count:]
            return step_error(graph[open_splits[-1]],
                              f"the foreach split at step '{open_splits[-1]}' is never joined "
                              f"before '{node}'; add a join step that reads `inputs` "
                              "(e.g. self.results = [i.x for i in inputs])")
    return None


def _out_stack(node: Node, stack: tuple) -> tuple:
    """The splits open after `node` (a split's branch frames are added per child)."""
    return stack[:-1] if node.is_join else stack


def _assign_split_stacks(graph: FlowGraph):
    """Walk in topological order giving each step its open splits.

    Returns None when balanced, an error, or (step, parent, n) when `step` needs
    n more foreach joins on the path from `parent`."""
    for n in graph.order:
        node = graph[n]
        if n == "start":
            node.split_stack = ()
            continue
        incoming = []
        for p in node.parents:
            parent = graph[p]
            stack = _out_stack(parent, parent.split_stack)
            if parent.type in ("split", "foreach"):
                stack = stack + ((p, n),)
            incoming.append((p, stack))
        if node.is_join:
            problem = _check_join(graph, node, incoming)
            if problem is not None:
                return problem
            node.split_stack = incoming[0][1]
        else:
            node.split_stack = incoming[0][1]
        if n == "end" and node.split_stack:
            parent = node.parents[0]
            if all(graph[s].foreach for s, _ in node.split_stack):
                return (n, parent, len(node.split_stack))
            s = node.split_stack[-1][0]
            return step_error(graph[s], f"the split at step '{s}' is never joined: its branches must "
                                  "meet in one join step before 'end'")
    return None


def _check_join(graph: FlowGraph, node: Node, incoming):
    if any(not stack for _, stack in incoming):
        why = "reads `inputs`" if len(incoming) == 1 else "has several parents"
        return step_error(node, f"step '{node.name}' is a join (it {why}) but no split is open before it")
    # a foreach left open inside a static branch: close it first
    if len(incoming) > 1:
        for p, stack in incoming:
            if graph[stack[-1][0]].foreach:
                count = 0
                for s, _ in reversed(stack):
                    if not graph[s].foreach:
                        break
                    count += 1
                return (node.name, p, count)
    splits = {stack[-1][0] for _, stack in incoming}
    outer = {stack[:-1] for _, stack in incoming}
    if len(splits) != 1 or len(outer) != 1:
        names = ", ".join(sorted(splits))
        return step_error(node, f"join '{node.name}' joins branches of different splits ({names}); "
                          "each split must be closed by its own join (no crossing edges)")
    split = graph[splits.pop()]
    branches = sorted(b for _, stack in incoming for b in [stack[-1][1]])
    if split.foreach:
        if len(incoming) != 1:
            return step_error(node, f"join '{node.name}' closes the foreach at '{split.name}' and "
                              "must have exactly one parent")
    elif branches != sorted(split.targets):
        missing = sorted(set(split.targets) - set(branches))
        extra = sorted(b for b in set(branches) if branches.count(b) > 1)
        detail = (f"the branch(es) starting at {', '.join(missing)} do not reach it" if missing
                  else f"branch {', '.join(extra)} reaches it twice")
        return step_error(node, f"join '{node.name}' must join exactly the branches of split "
                          f"'{split.name}' ({', '.join(split.targets)}): {detail}")
    node.matching_split = split.name
    return None


def _infer_foreach_joins(graph: FlowGraph, step: str, parent: str, count: int) -> bool:
    """Mark the last `count` plain steps before `step` as foreach joins."""
    chain, n = [], parent
    while len(chain) < count:
        node = graph[n]
        if node.is_join or node.type in ("split", "foreach") or len(node.parents) != 1 \
                or len(node.targets) != 1:
            return False
        parent_node = graph[node.parents[0]]
        if parent_node.foreach and len(chain) < count:
            return False  # the first step of a foreach body cannot be its join
        chain.append(node)
        n = node.parents[0]
    for node in chain:
        node.is_join = True
    return True
