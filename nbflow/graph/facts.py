"""What the graph and its rules read from one step's body, worked out once per body.

Building and validating the graph parses and compiles every step body and walks its AST
(is it a join, does it call self.next, what does it read and write). Those facts are pure
functions of the body's text (and its first line), so they are kept here: after one cell
of a 200-cell notebook changed, the next graph parses that one body, not 200, and every
finding is still the one a fresh validation gives (a body that does not parse or compile
is worked out again each time, so its error is always the full one). The whole-graph
passes (parents, order, cycles, reachability, splits, lineage sets) are plain walks over
the steps, cheap next to parsing."""
from __future__ import annotations

from ..errors import NotebookError
from ..lite_dataclass import dataclass
from ..notebook import code as codemod

LIMIT = 4096   # bodies remembered; past it the memory starts again


@dataclass(frozen=True)
class BodyFacts:
    uses: object                  # uses.StepUses (read only: shared by every graph)
    self_next: int | None         # line of a self.next(...) call
    compiles: bool                # compile_step raised nothing


_reads_inputs: dict[str, bool] = {}
_facts: dict[tuple, BodyFacts] = {}


def _remember(memo: dict, key, value):
    if len(memo) >= LIMIT:
        memo.clear()
    memo[key] = value
    return value


def reads_inputs(spec) -> bool:
    """The body reads `inputs` without binding it (it is a join); False if it does not parse."""
    found = _reads_inputs.get(spec.body)
    if found is not None:
        return found
    tree = _parse(spec)   # None: the code rule reports it
    return _remember(_reads_inputs, spec.body, tree is not None and codemod.uses_inputs(tree))


def _parse(spec):
    """The body's syntax tree, or None when it does not parse."""
    try:
        return codemod.parse_body(spec.body, cell=spec.cell, step=spec.name,
                                  body_line=spec.body_line)
    except NotebookError:
        return None


def body_facts(spec) -> BodyFacts | None:
    """The body's facts; None when it does not parse (callers parse it for the error)."""
    from .uses import step_uses

    key = (spec.body, spec.body_line, spec.name)
    found = _facts.get(key)
    if found is not None:
        return found
    tree = _parse(spec)
    if tree is None:
        return None
    self_next = codemod.find_self_next(tree)
    uses = step_uses(tree)
    try:
        codemod.compile_step(spec.body, name=spec.name, cell=spec.cell, body_line=spec.body_line,
                             filename="<facts>")
        compiles = True
    except NotebookError:
        compiles = False
    return _remember(_facts, key, BodyFacts(uses, self_next, compiles))


def forget() -> None:
    """Start again (tests compare against a validation from nothing)."""
    _reads_inputs.clear()
    _facts.clear()
