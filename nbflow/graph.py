"""FlowGraph: the steps as a DAG, and the validation rules (SPEC section 1).

Pure structure: no I/O, no execution. Each rule is a small function that appends
errors naming the cell and the step; `validate` runs them all and collects.
"""
from __future__ import annotations

import keyword
from dataclasses import dataclass, field

from . import code as codemod
from .errors import NbflowError, NotebookError, ValidationErrors
from .spec import NotebookSpec, StepSpec


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
            self.nodes.setdefault(s.name, Node(s))
        for node in self.nodes.values():
            for t in node.targets:
                if t in self.nodes and node.name not in self.nodes[t].parents:
                    self.nodes[t].parents.append(node.name)
        for node in self.nodes.values():
            node.is_join = len(node.parents) > 1  # also when the body reads `inputs` (check_code)

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
        """Steps in an order where parents come first (notebook order breaks ties).
        Iterative (a depth-first walk up the parents with its own stack): no recursion
        limit on the length of a chain."""
        order, seen = [], set()
        for root in self.nodes:
            if root in seen:
                continue
            path, stack = {root}, [(root, iter(self.nodes[root].parents))]
            while stack:
                n, parents = stack[-1]
                for p in parents:
                    if p not in seen and p in self.nodes and p not in path:
                        path.add(p)
                        stack.append((p, iter(self.nodes[p].parents)))
                        break
                else:
                    stack.pop()
                    path.discard(n)
                    seen.add(n)
                    order.append(n)
        return order

    def ancestors(self, name: str) -> set[str]:
        out, todo = set(), [name]
        while todo:
            for p in self.nodes[todo.pop()].parents:
                if p in self.nodes and p not in out:
                    out.add(p)
                    todo.append(p)
        return out

    def descendants(self, name: str) -> set[str]:
        out, todo = set(), [name]
        while todo:
            for t in self.nodes[todo.pop()].targets:
                if t in self.nodes and t not in out:
                    out.add(t)
                    todo.append(t)
        return out


def build(notebook: NotebookSpec) -> FlowGraph:
    """Validate and return the graph; raises ValidationErrors listing every problem."""
    graph = FlowGraph(notebook)
    errors = validate(graph)
    if errors:
        raise ValidationErrors(errors)
    return graph


def validate(graph: FlowGraph) -> list[NbflowError]:
    errors: list[NbflowError] = list(graph.notebook.errors)
    for rule in (check_code, check_step_names, check_duplicates, check_start_end, check_targets,
                 check_foreach, check_dead_ends):
        rule(graph, errors)
    if not any(isinstance(e, _Structural) for e in errors):
        for rule in (check_cycles, check_reachable):
            rule(graph, errors)
    if not any(isinstance(e, _Structural) for e in errors):
        for rule in (check_end_not_join, check_split_targets):
            rule(graph, errors)
    if not any(isinstance(e, _Structural) for e in errors):
        check_split_join(graph, errors)
    return errors


class _Structural(NotebookError):
    """An error that makes the later graph rules meaningless."""


def _err(node_or_spec, message: str, structural: bool = False) -> NotebookError:
    spec = node_or_spec.spec if isinstance(node_or_spec, Node) else node_or_spec
    cls = _Structural if structural else NotebookError
    return cls(message, cell=spec.cell, step=spec.name)


def check_code(graph: FlowGraph, errors: list) -> None:
    fc = graph.notebook.flow_cell
    path = graph.notebook.path
    if fc is not None:
        try:
            codemod.compile_module(fc.code, cell=fc.cell, body_line=fc.body_line,
                                   filename=codemod.cell_filename(path, fc.cell))
        except NotebookError as e:
            errors.append(e)
    for spec in graph.notebook.steps:
        try:
            tree = codemod.parse_body(spec.body, cell=spec.cell, step=spec.name,
                                      body_line=spec.body_line)
            codemod.compile_step(spec.body, name=spec.name, cell=spec.cell,
                                 body_line=spec.body_line,
                                 filename=codemod.cell_filename(path, spec.cell))
        except NotebookError as e:
            errors.append(e)
            continue
        line = codemod.find_self_next(tree)
        if line is not None:
            errors.append(NotebookError(
                "self.next(...) is not allowed in a step body: transitions live in the header "
                f"('%%step {spec.name} -> TARGET')", cell=spec.cell, step=spec.name, line=line))
        if codemod.uses_inputs(tree) and spec.name in graph.nodes:
            graph.nodes[spec.name].is_join = True


# Metaflow's reserved step names, and what `self` in a step already means
RESERVED_STEP_NAMES = ("name", "next", "input", "index", "cmd", "merge_artifacts", "foreach_stack")


def check_step_names(graph: FlowGraph, errors: list) -> None:
    for spec in graph.notebook.steps:
        if keyword.iskeyword(spec.name) or spec.name in RESERVED_STEP_NAMES:
            errors.append(_err(spec, f"'{spec.name}' is a reserved word and cannot name a step "
                                     "(as in Metaflow); choose another name"))


def check_duplicates(graph: FlowGraph, errors: list) -> None:
    seen: dict[str, StepSpec] = {}
    for spec in graph.notebook.steps:
        if spec.name in seen:
            errors.append(_err(spec, f"step '{spec.name}' is defined twice: in cell "
                                     f"{seen[spec.name].cell} and in cell {spec.cell}; rename one",
                               structural=True))
        else:
            seen[spec.name] = spec


def check_start_end(graph: FlowGraph, errors: list) -> None:
    for required in ("start", "end"):
        if required not in graph.nodes:
            errors.append(_Structural(f"the flow has no '{required}' step; add a cell "
                                      f"'%%step {required}{' -> NEXT' if required == 'start' else ''}'"))
    if "end" in graph.nodes and graph["end"].targets:
        errors.append(_err(graph["end"], "the end step cannot have targets; write '%%step end'",
                           structural=True))
    if "start" in graph.nodes and graph["start"].parents:
        errors.append(_err(graph["start"], "no step may lead to 'start' (it is where the flow "
                           f"begins), but {', '.join(graph['start'].parents)} does"))


def check_targets(graph: FlowGraph, errors: list) -> None:
    for node in graph:
        for t in node.targets:
            if t not in graph.nodes:
                import difflib  # only on an error

                close = difflib.get_close_matches(t, list(graph.nodes), n=1)
                hint = f"; did you mean '{close[0]}'?" if close else \
                    f"; add a cell '%%step {t} -> ...' or fix the header"
                errors.append(_err(node, f"target '{t}' is not a step{hint}", structural=True))


def check_foreach(graph: FlowGraph, errors: list) -> None:
    for node in graph:
        if node.foreach and len(node.targets) != 1:
            errors.append(_err(node, f"'--foreach {node.foreach}' needs exactly one target, "
                                     f"got {len(node.targets)}", structural=True))


def check_end_not_join(graph: FlowGraph, errors: list) -> None:
    if graph["end"].is_join:
        why = "has several parents" if len(graph["end"].parents) > 1 else "reads `inputs`"
        errors.append(_err(graph["end"], f"the end step cannot be a join (it {why}), as in "
                           "Metaflow; add a join step before it ('%%step join -> end')",
                           structural=True))


def check_split_targets(graph: FlowGraph, errors: list) -> None:
    """A branch needs at least one step: a split may not lead straight to a join."""
    for node in graph:
        if node.foreach or len(node.targets) > 1:
            for t in node.targets:
                if t in graph.nodes and graph[t].is_join:
                    errors.append(_err(node, f"the split leads straight to join '{t}'; add at "
                                             f"least one step between '{node.name}' and '{t}'",
                                       structural=True))


def check_dead_ends(graph: FlowGraph, errors: list) -> None:
    for node in graph:
        if node.name != "end" and not node.targets:
            errors.append(_err(node, f"step '{node.name}' has no target; add '-> NEXT' to its "
                                     "header (only 'end' has none)", structural=True))


def check_cycles(graph: FlowGraph, errors: list) -> None:
    cycle = _find_cycle(graph)
    if cycle:
        start = cycle.index(cycle[-1])
        loop = " -> ".join(cycle[start:])
        errors.append(_err(graph[cycle[-1]], f"the steps form a cycle: {loop}", structural=True))


def _find_cycle(graph: FlowGraph) -> list[str] | None:
    """A path ending where it entered a cycle, or None (iterative depth-first walk)."""
    state: dict[str, int] = {}   # 1: on the current path, 2: done
    for root in graph.nodes:
        if root in state:
            continue
        state[root], path, stack = 1, [root], [iter(graph[root].targets)]
        while stack:
            for t in stack[-1]:
                if state.get(t) == 1:
                    return path + [t]
                if t not in state and t in graph.nodes:
                    state[t] = 1
                    path.append(t)
                    stack.append(iter(graph[t].targets))
                    break
            else:
                stack.pop()
                state[path.pop()] = 2
    return None


def check_reachable(graph: FlowGraph, errors: list) -> None:
    from_start = {"start"} | graph.descendants("start")
    to_end = {"end"} | graph.ancestors("end") if "end" in graph.nodes else set()
    for node in graph:
        if node.name not in from_start:
            errors.append(_err(node, f"step '{node.name}' cannot be reached from 'start'",
                               structural=True))
        elif node.name not in to_end:
            errors.append(_err(node, f"step '{node.name}' never reaches 'end'", structural=True))


def check_split_join(graph: FlowGraph, errors: list) -> None:
    """Every split closed by one join whose parents are exactly its branches.

    A step is a join when it has several parents or reads `inputs`. A foreach
    whose join reads nothing from `inputs` is closed by the last plain steps
    before the point where it must be closed (end, or an outer join)."""
    for _ in range(len(graph.nodes) + 1):
        problem = _assign_split_stacks(graph)
        if problem is None:
            return
        if isinstance(problem, NbflowError):
            errors.append(problem)
            return
        if not _infer_foreach_joins(graph, *problem):
            node, _parent, count = problem
            open_splits = ([f[0] for f in graph[_parent].split_stack][-count:]
                           or [f[0] for f in graph[node].split_stack][-count:] or [_parent])
            errors.append(_err(graph[open_splits[-1]],
                               f"the foreach split at step '{open_splits[-1]}' is never joined "
                               f"before '{node}'; add a join step that reads `inputs` "
                               "(e.g. self.results = [i.x for i in inputs])"))
            return


def _out_stack(node: Node, stack: tuple) -> tuple:
    if node.is_join:
        stack = stack[:-1]
    if node.type in ("split", "foreach"):
        pass  # branch frames are added per child in _assign_split_stacks
    return stack


def _assign_split_stacks(graph: FlowGraph):
    """Walk in topological order giving each step its open splits.

    Returns None when balanced, an error, or (step, parent, n) when `step` needs
    n more foreach joins on the path from `parent`."""
    for n in graph.topological():
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
            return _err(graph[s], f"the split at step '{s}' is never joined: its branches must "
                                  "meet in one join step before 'end'")
    return None


def _check_join(graph: FlowGraph, node: Node, incoming):
    if any(not stack for _, stack in incoming):
        why = "reads `inputs`" if len(incoming) == 1 else "has several parents"
        return _err(node, f"step '{node.name}' is a join (it {why}) but no split is open before it")
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
        return _err(node, f"join '{node.name}' joins branches of different splits ({names}); "
                          "each split must be closed by its own join (no crossing edges)")
    split = graph[splits.pop()]
    branches = sorted(b for _, stack in incoming for b in [stack[-1][1]])
    if split.foreach:
        if len(incoming) != 1:
            return _err(node, f"join '{node.name}' closes the foreach at '{split.name}' and "
                              "must have exactly one parent")
    elif branches != sorted(split.targets):
        missing = sorted(set(split.targets) - set(branches))
        extra = sorted(b for b in set(branches) if branches.count(b) > 1)
        detail = (f"the branch(es) starting at {', '.join(missing)} do not reach it" if missing
                  else f"branch {', '.join(extra)} reaches it twice")
        return _err(node, f"join '{node.name}' must join exactly the branches of split "
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
