"""The validation rules (docs/reference.md section 1): each reads the FlowGraph and appends findings
naming the cell and the step; `validate` runs them all and collects; `build` raises them.
Rules never change the graph."""
from __future__ import annotations

from ..errors import NbflowError, NotebookError, ValidationErrors
from ..names import did_you_mean, is_identifier
from ..notebook import code as codemod
from ..notebook.spec import NotebookSpec, StepSpec
from .facts import body_facts
from .flowgraph import FlowGraph, Structural, step_error
from .lineage import check_lineage


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
    if not any(isinstance(e, Structural) for e in errors):
        for rule in (check_cycles, check_reachable):
            rule(graph, errors)
    if not any(isinstance(e, Structural) for e in errors):
        for rule in (check_end_not_join, check_split_targets):
            rule(graph, errors)
    if not any(isinstance(e, Structural) for e in errors):
        check_split_join(graph, errors)
        if graph.complete and graph.split_problem is None:
            check_lineage(graph, errors)
    return errors


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
        facts = body_facts(spec)   # worked out once per body (facts.py)
        if facts is not None and facts.compiles:
            line = facts.self_next
        else:   # its error, in full
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


# Metaflow's reserved step names, and what `self` in a step already means
RESERVED_STEP_NAMES = ("name", "next", "input", "index", "cmd", "merge_artifacts", "foreach_stack")


def check_step_names(graph: FlowGraph, errors: list) -> None:
    for spec in graph.notebook.steps:
        if not is_identifier(spec.name) or spec.name in RESERVED_STEP_NAMES:
            errors.append(step_error(spec, f"'{spec.name}' is a reserved word and cannot name a step "
                                     "(as in Metaflow); choose another name"))


def check_duplicates(graph: FlowGraph, errors: list) -> None:
    seen: dict[str, StepSpec] = {}
    for spec in graph.notebook.steps:
        if spec.name in seen:
            errors.append(step_error(spec, f"step '{spec.name}' is defined twice: in cell "
                                     f"{seen[spec.name].cell} and in cell {spec.cell}; rename one",
                               structural=True))
        else:
            seen[spec.name] = spec


def check_start_end(graph: FlowGraph, errors: list) -> None:
    for required in ("start", "end"):
        if required not in graph.nodes:
            errors.append(Structural(f"the flow has no '{required}' step; add a cell "
                                      f"'%%step {required}{' -> NEXT' if required == 'start' else ''}'"))
    if "end" in graph.nodes and graph["end"].targets:
        errors.append(step_error(graph["end"], "the end step cannot have targets; write '%%step end'",
                           structural=True))
    if "start" in graph.nodes and graph["start"].parents:
        errors.append(step_error(graph["start"], "no step may lead to 'start' (it is where the flow "
                           f"begins), but {', '.join(graph['start'].parents)} does"))


def check_targets(graph: FlowGraph, errors: list) -> None:
    for node in graph:
        for t in node.targets:
            if t not in graph.nodes:
                close = did_you_mean(t, graph.nodes)
                hint = f"; did you mean '{close}'?" if close else \
                    f"; add a cell '%%step {t} -> ...' or fix the header"
                errors.append(step_error(node, f"target '{t}' is not a step{hint}", structural=True))


def check_foreach(graph: FlowGraph, errors: list) -> None:
    for node in graph:
        if node.foreach and len(node.targets) != 1:
            errors.append(step_error(node, f"'--foreach {node.foreach}' needs exactly one target, "
                                     f"got {len(node.targets)}", structural=True))


def check_end_not_join(graph: FlowGraph, errors: list) -> None:
    if graph["end"].is_join:
        why = "has several parents" if len(graph["end"].parents) > 1 else "reads `inputs`"
        errors.append(step_error(graph["end"], f"the end step cannot be a join (it {why}), as in "
                           "Metaflow; add a join step before it ('%%step join -> end')",
                           structural=True))


def check_split_targets(graph: FlowGraph, errors: list) -> None:
    """A branch needs at least one step: a split may not lead straight to a join."""
    for node in graph:
        if node.foreach or len(node.targets) > 1:
            for t in node.targets:
                if t in graph.nodes and graph[t].is_join:
                    errors.append(step_error(node, f"the split leads straight to join '{t}'; add at "
                                             f"least one step between '{node.name}' and '{t}'",
                                       structural=True))


def check_dead_ends(graph: FlowGraph, errors: list) -> None:
    for node in graph:
        if node.name != "end" and not node.targets:
            errors.append(step_error(node, f"step '{node.name}' has no target; add '-> NEXT' to its "
                                     "header (only 'end' has none)", structural=True))


def check_cycles(graph: FlowGraph, errors: list) -> None:
    cycle = _find_cycle(graph)
    if cycle:
        errors.append(step_error(graph[cycle[-1]], f"the steps form a cycle: {' -> '.join(cycle)}",
                                 structural=True))


def _find_cycle(graph: FlowGraph) -> list[str] | None:
    """The first cycle met walking targets depth-first in notebook order, as a path that
    ends where it starts; an explicit stack, so no recursion limit."""
    state: dict[str, int] = {}   # 1: on the path, 2: done
    for root in graph.nodes:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(graph[root].targets))]
        while stack:
            name, targets = stack[-1]
            for t in targets:
                if state.get(t) == 1:
                    path = [n for n, _ in stack]
                    return path[path.index(t):] + [t]
                if t not in state and t in graph.nodes:
                    state[t] = 1
                    stack.append((t, iter(graph[t].targets)))
                    break
            else:
                stack.pop()
                state[name] = 2
    return None


def check_reachable(graph: FlowGraph, errors: list) -> None:
    from_start = {"start"} | graph.descendants("start")
    to_end = {"end"} | graph.ancestors("end")
    for node in graph:
        if node.name not in from_start:
            errors.append(step_error(node, f"step '{node.name}' cannot be reached from 'start'",
                               structural=True))
        elif node.name not in to_end:
            errors.append(step_error(node, f"step '{node.name}' never reaches 'end'", structural=True))


def check_split_join(graph: FlowGraph, errors: list) -> None:
    """Every split closed by one join whose parents are exactly its branches (found while
    the graph was built: FlowGraph.split_problem)."""
    if graph.split_problem is not None:
        errors.append(graph.split_problem)
