"""Metaflow's core-test harness, for notebooks.

Metaflow's `test/core` crosses graph shapes (`graphs/*.json`) with test bodies
(`tests/*.py`): each body says which steps it fills (by qualifier: start, join,
foreach-inner, ... with a priority), the harness writes one flow per (graph, test),
runs it and calls the test's check on the finished run. Here the flow is a notebook
(a `%%flow` cell with the test's module code and parameters, a `%%step` cell per
node) run by `nbflow run` in a subprocess, and the check reads the run through
nbflow's client. The shapes and the intent of each test follow Metaflow's; the code
is nbflow's own.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from helpers import make_notebook

# Helpers every generated notebook has (module code runs in every task).
PRELUDE = '''\
import importlib   # the error a failed merge_artifacts raises, in nbflow or (exported) Metaflow
ArtifactError = (importlib.import_module("nbflow.errors").ArtifactError
                 if type(current).__module__.startswith("nbflow") else
                 importlib.import_module("metaflow.exception").MetaflowException)

class ResumeFromHere(Exception):
    """Raised on purpose: the test resumes the run from here."""

class TestRetry(Exception):
    """Raised on purpose: the step is retried."""

def assert_equals(expected, got):
    assert expected == got, f"expected {expected!r}, got {got!r}"

def is_resumed():
    return current.origin_run_id is not None

def assert_raises(kind, fn):
    """Metaflow's assert_exception: the error `fn()` raises, which must be a `kind`."""
    try:
        fn()
    except kind as e:
        return e
    raise AssertionError(f"no {kind.__name__} was raised")'''


@dataclass
class Node:
    targets: tuple[str, ...] = ()
    foreach: tuple[str, str] | None = None     # (artifact, its value as code)
    join: bool = False
    inside_foreach: bool = False
    quals: tuple[str, ...] = ()


# The graph shapes of Metaflow's test/core/graphs that a notebook can express
# (switches have no notebook form; @parallel neither).
GRAPHS: dict[str, dict[str, Node]] = {
    "branch": {
        "start": Node(("a", "b"), quals=("split-and",)),
        "a": Node(("join",), quals=("single-branch-split",)),
        "b": Node(("join",), quals=("single-branch-split",)),
        "join": Node(("end",), join=True, quals=("join-and",)),
        "end": Node(),
    },
    "foreach": {
        "start": Node(("foreach_split",)),
        "foreach_split": Node(("foreach_inner_first",), foreach=("arr", "[1, 2, 3]"),
                              quals=("foreach-split",)),
        "foreach_inner_first": Node(("foreach_inner_second",), inside_foreach=True,
                                    quals=("foreach-inner",)),
        "foreach_inner_second": Node(("foreach_join",), inside_foreach=True,
                                     quals=("foreach-inner",)),
        "foreach_join": Node(("end",), join=True, quals=("foreach-join",)),
        "end": Node(),
    },
    "small_foreach": {
        "start": Node(("foreach_split",)),
        "foreach_split": Node(("foreach_inner",), foreach=("arr", "[1, 2, 3]"),
                              quals=("foreach-split-small", "foreach-split")),
        "foreach_inner": Node(("foreach_join",), inside_foreach=True,
                              quals=("foreach-inner-small",)),
        "foreach_join": Node(("end",), join=True, quals=("foreach-join-small",)),
        "end": Node(),
    },
    "nested_foreach": {
        "start": Node(("foreach_split_x",)),
        "foreach_split_x": Node(("foreach_split_y",), foreach=("x", "'abc'"),
                                quals=("foreach-split",)),
        "foreach_split_y": Node(("foreach_split_z",), foreach=("y", "'de'"),
                                inside_foreach=True, quals=("foreach-split",)),
        "foreach_split_z": Node(("foreach_inner",), foreach=("z", "'fghijk'"),
                                inside_foreach=True,
                                quals=("foreach-nested-split", "foreach-split")),
        "foreach_inner": Node(("foreach_join_z",), inside_foreach=True,
                              quals=("foreach-nested-inner", "foreach-inner")),
        "foreach_join_z": Node(("foreach_join_y",), join=True, inside_foreach=True,
                               quals=("foreach-nested-join",)),
        "foreach_join_y": Node(("foreach_join_x",), join=True, inside_foreach=True),
        "foreach_join_x": Node(("end",), join=True),
        "end": Node(),
    },
    # Beyond Metaflow's shapes (in the spirit of its harness): a foreach inside a branch,
    # and a branch inside a foreach.
    "foreach_in_branch": {
        "start": Node(("a", "b"), quals=("split-and",)),
        "a": Node(("foreach_inner",), foreach=("arr", "[1, 2, 3]"), quals=("foreach-split",)),
        "foreach_inner": Node(("foreach_join",), inside_foreach=True, quals=("foreach-inner",)),
        "foreach_join": Node(("join",), join=True, quals=("foreach-join",)),
        "b": Node(("join",), quals=("single-branch-split",)),
        "join": Node(("end",), join=True, quals=("join-and",)),
        "end": Node(),
    },
    "branch_in_foreach": {
        "start": Node(("foreach_split",)),
        "foreach_split": Node(("inner",), foreach=("arr", "[1, 2, 3]"),
                              quals=("foreach-split",)),
        "inner": Node(("x", "y"), inside_foreach=True, quals=("split-and", "foreach-inner")),
        "x": Node(("inner_join",), inside_foreach=True, quals=("foreach-inner",)),
        "y": Node(("inner_join",), inside_foreach=True, quals=("foreach-inner",)),
        "inner_join": Node(("foreach_join",), join=True, inside_foreach=True,
                           quals=("join-and",)),
        "foreach_join": Node(("end",), join=True, quals=("foreach-join",)),
        "end": Node(),
    },
}


@dataclass
class Body:
    """One step body of a test: used for the nodes whose qualifiers it names."""
    prio: int
    quals: tuple[str, ...]
    code: str
    options: str = ""          # header options (Metaflow's @retry, @catch ... as a tag)
    required: bool = False     # the crossing is only valid if this body is used


@dataclass
class CoreTest:
    name: str
    bodies: list[Body]
    check: Callable          # check(run, graph) with the client's Run
    module_code: str = ""    # parameters and constants of the flow cell
    graphs: tuple[str, ...] = tuple(GRAPHS)
    should_fail: bool = False
    resume: bool = False
    resume_args: tuple[str, ...] = ()           # e.g. the step to resume from
    env: dict = field(default_factory=dict)
    run_args: tuple[str, ...] = ()
    files: dict = field(default_factory=dict)   # written beside the notebook before the run
    flow_options: str = ""     # on the %%flow header (Metaflow's flow decorators: --project)
    opt_in: str = ""           # run only when this environment variable is set (heavy tests)


def node_quals(name: str, node: Node) -> set[str]:
    quals = {"all", *node.quals}
    if name in ("start", "end"):
        quals |= {name, f"singleton-{name}"}
    if node.join:
        quals.add("join")
    if len(node.targets) == 1 and node.foreach is None:
        quals.add("linear")
    if not node.inside_foreach:
        quals.add("singleton")
    return quals


def choose(test: CoreTest, name: str, node: Node) -> Body | None:
    quals = node_quals(name, node)
    for body in sorted(test.bodies, key=lambda b: b.prio):
        if quals & set(body.quals):
            return body
    return None


def cells(test: CoreTest, graph: str) -> list[str] | None:
    """The notebook's cells for (test, graph); None when the crossing is not valid."""
    used: list[Body] = []
    out = ["%load_ext nbflow",
           f"%%flow {flow_name(test, graph)} {test.flow_options}".rstrip() +
           f"\n{PRELUDE}\n{test.module_code}".rstrip()]
    for name, node in GRAPHS[graph].items():
        body = choose(test, name, node)
        if body is None:
            return None
        used.append(body)
        header = f"%%step {name}"
        if node.targets:
            header += " -> " + ", ".join(node.targets)
        if node.foreach:
            header += f" --foreach {node.foreach[0]}"
        if body.options:
            header += " " + body.options
        lines = [header]
        if node.foreach:
            lines.append(f"self.{node.foreach[0]} = {node.foreach[1]}")
        lines.append(body.code.strip("\n") or "pass")
        out.append("\n".join(lines))
    if any(b.required and b not in used for b in test.bodies):
        return None
    return out


def flow_name(test: CoreTest, graph: str) -> str:
    camel = "".join(p.title() for p in f"{test.name}_{graph}".split("_"))
    return f"{camel}Flow"


def crossings(tests: list[CoreTest]) -> list[tuple[CoreTest, str]]:
    return [(t, g) for t in tests for g in t.graphs if cells(t, g) is not None]


def write(test: CoreTest, graph: str, where) -> str:
    for name, content in test.files.items():
        (where / name).write_bytes(content.encode() if isinstance(content, str) else content)
    path = where / f"{test.name}_{graph}.ipynb"
    make_notebook(path, cells(test, graph))
    return str(path)


def parents(graph: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {name: [] for name in GRAPHS[graph]}
    for name, node in GRAPHS[graph].items():
        for target in node.targets:
            out[target].append(name)
    return out
