"""Artifact lineage (pure): which `self.x` each step can have, and reads nobody produced.

Walks the steps in topological order with what may be set after each (Metaflow's rules:
a step inherits its parent's artifacts; a join starts with none, and only what it assigns
or merges with `self.merge_artifacts(inputs)` is there after it; parameters are everywhere).
A read is an error only when *no* path can have produced it, so a finding is always a
mistake: a typo (`self.dataa`), or an artifact assigned in parallel branches and read after
a join that did not merge it. What the AST cannot follow makes a step opaque (uses.py).
"""
from __future__ import annotations

import ast
from dataclasses import field

from ..errors import NotebookError
from ..lite_dataclass import dataclass
from ..names import did_you_mean
from ..notebook import code as codemod
from ..notebook.params import param_variable
from .facts import body_facts
from .flowgraph import FlowGraph
from .uses import StepUses, step_uses


@dataclass
class Avail:
    """Artifacts that may be set at a point of the flow; `anything`: a step before it
    may set names the check cannot see."""

    names: frozenset = frozenset()
    anything: bool = False

    def has(self, name: str) -> bool:
        return self.anything or name in self.names


@dataclass
class Lineage:
    uses: dict[str, StepUses | None]         # None: the body does not parse
    params: frozenset | None                 # None: the flow cell's parameters are not plain
    after: dict[str, Avail] = field(default_factory=dict)    # may be set after each step
    errors: list[NotebookError] = field(default_factory=list)


def flow_parameters(graph: FlowGraph) -> frozenset | None:
    """The parameters' artifact names, read from the flow cell without running it; None
    when some Parameter is declared in a way only running the cell would show."""
    fc = graph.notebook.flow_cell
    if fc is None or not fc.code.strip():
        return frozenset()
    try:
        tree = ast.parse(fc.code)
    except SyntaxError:
        return None
    found, direct = set(), set()
    for stmt in tree.body:
        name = param_variable(stmt)
        if name is not None:
            found.add(name)
            direct.add(id(stmt.value.func))
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in ("Parameter", "IncludeFile") \
                and id(node) not in direct:
            return None
    return frozenset(found)


def analyze(graph: FlowGraph) -> Lineage:
    """Uses per step, what may be set after each, and the findings (graph must be complete)."""
    lin = Lineage({}, flow_parameters(graph))
    for node in graph:
        facts = body_facts(node.spec)   # once per body (facts.py); None: it does not parse
        lin.uses[node.name] = None if facts is None else facts.uses
    params = Avail(lin.params or frozenset(), lin.params is None)
    for name in graph.topological():
        node, uses = graph[name], lin.uses[name]
        before = _before(lin, graph, name, params)
        own = set() if uses is None else set(uses.writes)
        if node.spec.options.catch:
            own.add(node.spec.options.catch)
        anything = before.anything or uses is None or uses.opaque_writes is not None
        lin.after[name] = before if own <= before.names and anything == before.anything \
            else Avail(before.names | own, anything)   # a chain shares one set
        if uses is not None:
            _check_step(lin, graph, name, before)
    return lin


def _before(lin: Lineage, graph: FlowGraph, name: str, params: Avail) -> Avail:
    node = graph[name]
    if not node.parents:
        return params
    if not node.is_join:
        return lin.after[node.parents[0]]
    uses = lin.uses[name]
    merged, anything = set(params.names), params.anything
    for include in ([] if uses is None else uses.merges):
        for p in node.parents:
            have = lin.after[p]
            merged |= have.names if include is None else {n for n in include if have.has(n)}
            anything |= have.anything and include is None
    return Avail(frozenset(merged), anything)


def _check_step(lin: Lineage, graph: FlowGraph, name: str, before: Avail) -> None:
    node, uses = graph[name], lin.uses[name]
    spec = node.spec
    after = lin.after[name]
    if uses.opaque_reads is None and not before.anything:
        for artifact, line in uses.reads.items():
            if artifact in uses.optional or before.has(artifact) or artifact in uses.writes:
                continue
            lin.errors.append(NotebookError(_missing_message(lin, graph, name, artifact),
                                            cell=spec.cell, step=name, line=line))
    if node.is_join:
        _check_inputs(lin, graph, name)
    var = node.foreach
    if var and not after.has(var):
        close = did_you_mean(var, after.names)
        hint = f"; did you mean '--foreach {close}'?" if close else ""
        lin.errors.append(NotebookError(
            f"'--foreach {var}': neither '{name}' nor a step before it sets self.{var}{hint}",
            cell=spec.cell, step=name, line=max(spec.body_line - 1, 1)))


def _missing_message(lin: Lineage, graph: FlowGraph, step: str, artifact: str) -> str:
    join = _blocking_join(lin, graph, step, artifact)
    if join == step:
        return (f"reads self.{artifact}, but a join starts with no artifacts of its own (as in "
                f"Metaflow): read inputs[i].{artifact}, or call self.merge_artifacts(inputs) "
                "before reading it")
    if join is not None:
        producers = [s for s in graph.topological() if s in graph.ancestors(join)
                     and lin.uses.get(s) and artifact in lin.uses[s].writes]
        where = (f"step(s) {', '.join(producers)} assign it" if producers
                 else "it is set")
        return (f"reads self.{artifact}, but it is not set after join '{join}': {where} "
                "before the join, and a join starts with no artifacts of its own (as in "
                f"Metaflow); in '{join}' call self.merge_artifacts(inputs) or assign "
                f"self.{artifact}")
    known = set(lin.after[step].names)
    close = did_you_mean(artifact, known)
    hint = f"; did you mean self.{close}?" if close else ""
    return (f"reads self.{artifact}, but no step before '{step}' sets it and no parameter "
            f"is named '{artifact}'{hint}")


def _blocking_join(lin: Lineage, graph: FlowGraph, step: str, artifact: str) -> str | None:
    """The latest join on the way to `step` whose parents may have `artifact`."""
    candidates = graph.ancestors(step) | {step}
    for name in reversed(graph.topological()):
        node = graph[name]
        if name in candidates and node.is_join and \
                any(lin.after[p].has(artifact) for p in node.parents):
            return name
    return None


def _check_inputs(lin: Lineage, graph: FlowGraph, name: str) -> None:
    node, uses = graph[name], lin.uses[name]
    spec = node.spec
    for step, line in uses.input_steps:
        if step not in node.parents:
            close = did_you_mean(step, node.parents)
            hint = f"; did you mean inputs.{close}?" if close else ""
            lin.errors.append(NotebookError(
                f"inputs.{step}: '{step}' is not a parent of this join (its parents: "
                f"{', '.join(node.parents)}){hint}", cell=spec.cell, step=name, line=line))
    reported = set()
    for parent, artifact, line in uses.input_reads:
        if parent is not None and parent not in node.parents:
            continue   # reported above
        parents = [parent] if parent is not None else node.parents
        if any(lin.after[p].has(artifact) for p in parents) or (parent, artifact) in reported \
                or f"inputs.{artifact}" in uses.optional:
            continue
        reported.add((parent, artifact))
        known = set().union(*(lin.after[p].names for p in parents))
        close = did_you_mean(artifact, known)
        hint = f"; did you mean .{close}?" if close else ""
        what = f"inputs.{parent}.{artifact}" if parent else f"the input's .{artifact}"
        lin.errors.append(NotebookError(
            f"reads {what}, but no parent ({', '.join(parents)}) or step before it sets "
            f"self.{artifact}{hint}", cell=spec.cell, step=name, line=line))


def check_lineage(graph: FlowGraph, errors: list) -> None:
    """The validation rule (rules.py): every read has a possible producer."""
    errors.extend(analyze(graph).errors)


def describe(lin: Lineage, graph: FlowGraph, step: str) -> list[str]:
    """`nbflow show --artifacts`: what `step` reads (and from where) and writes."""
    uses = lin.uses.get(step)
    if uses is None:
        return ["    reads: ? (the cell does not parse)"]
    node = graph[step]

    def origin(name: str, start: list[str]) -> str:
        found = _producers(lin, graph, name, start)
        if found:
            return f"from {', '.join(found)}"
        if lin.params and name in lin.params:
            return "parameter"
        return "own" if name in uses.writes else "optional" if name in uses.optional else "?"

    own_start = [] if node.is_join and not _merges(uses, "") else list(node.parents)
    reads = [f"{n} ({'own' if n in uses.writes else origin(n, own_start)})"
             for n in sorted(uses.reads)]
    reads += [f"inputs{'.' + p if p else ''}.{n} ({origin(n, [p] if p else node.parents)})"
              for p, n in sorted({(p or "", n) for p, n, _ in uses.input_reads})]
    if uses.opaque_reads is not None:
        reads.append(f"? (a computed getattr or self passed on, line {uses.opaque_reads})")
    merged = [("all" if m is None else ", ".join(sorted(m))) for m in uses.merges]
    writes = sorted(uses.writes) + [f"merged from inputs: {m}" for m in merged]
    if uses.opaque_writes is not None:
        writes.append(f"? (a computed setattr or self passed on, line {uses.opaque_writes})")
    return [f"    reads: {', '.join(reads) or '-'}", f"    writes: {', '.join(writes) or '-'}"]


def _merges(uses: StepUses | None, name: str) -> bool:
    """Does the join merge `name` ("" : anything at all)?"""
    return uses is not None and any(m is None or not name or name in m for m in uses.merges)


def _producers(lin: Lineage, graph: FlowGraph, name: str, start: list[str]) -> list[str]:
    """The nearest steps from `start` upwards that assign `name`, through joins that merge it."""
    found, seen, todo = set(), set(), list(start)
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        uses = lin.uses.get(n)
        if uses is not None and name in uses.writes:
            found.add(n)
        elif not graph[n].is_join or _merges(uses, name):
            todo.extend(graph[n].parents)
    return [s for s in graph.topological() if s in found]


def check_cell(spec, is_join: bool, parents: dict[str, frozenset | None],
               params: frozenset | None) -> list[NotebookError]:
    """A kernel cell about to run: its reads against what its parents' tasks really have
    (`parents`: step -> artifact names, None if unknown) and the parameters."""
    try:
        tree = codemod.parse_body(spec.body, cell=spec.cell, step=spec.name,
                                  body_line=spec.body_line)
    except NotebookError:
        return []   # the code rule reports it
    uses = step_uses(tree)
    have = {p: Avail(n or frozenset(), n is None) for p, n in parents.items()}
    base = Avail(params or frozenset(), params is None)
    if is_join:
        for include in uses.merges:
            for a in have.values():
                names = a.names if include is None else {n for n in include if a.has(n)}
                base = Avail(base.names | names, base.anything or (a.anything and include is None))
    elif have:
        a = next(iter(have.values()))
        base = Avail(base.names | a.names, base.anything or a.anything)
    errors: list[NotebookError] = []
    if uses.opaque_reads is None and not base.anything:
        for artifact, line in uses.reads.items():
            if artifact in uses.optional or base.has(artifact) or artifact in uses.writes:
                continue
            errors.append(NotebookError(_cell_message(artifact, is_join, have, base, uses),
                                        cell=spec.cell, step=spec.name, line=line))
    for parent, artifact, line in uses.input_reads if is_join else []:
        if f"inputs.{artifact}" in uses.optional:
            continue
        sources = [have[parent]] if parent in have else list(have.values())
        if sources and not any(a.has(artifact) for a in sources):
            close = did_you_mean(artifact, set().union(*(a.names for a in sources)))
            errors.append(NotebookError(
                f"reads inputs{'.' + parent if parent else '[i]'}.{artifact}, but the parent "
                f"task(s) have no artifact '{artifact}'" + (f"; did you mean .{close}?" if close
                                                            else ""),
                cell=spec.cell, step=spec.name, line=line))
    return errors


def _cell_message(artifact: str, is_join: bool, have: dict, base: Avail, uses) -> str:
    if is_join and any(a.has(artifact) for a in have.values()):
        return (f"reads self.{artifact}, but a join starts with no artifacts of its own (as in "
                f"Metaflow): read inputs[i].{artifact}, or call self.merge_artifacts(inputs) "
                "before reading it")
    close = did_you_mean(artifact, set(base.names) | set(uses.writes))
    tasks = f"the tasks of {', '.join(have)} have" if have else "there is"
    return (f"reads self.{artifact}, but {tasks} no artifact '{artifact}' and no parameter is "
            f"named '{artifact}'" + (f"; did you mean self.{close}?" if close else ""))
