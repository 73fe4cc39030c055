"""Notebook cells -> NotebookSpec. The one header grammar, shared by the CLI
(reading .ipynb files) and the kernel magics (reading one cell at a time).

    %%flow [Name]
    %%step NAME [-> TARGET[, TARGET...]] [--option VALUE ...]   # comment
"""
from __future__ import annotations

import ast
import math
import os
import re
import shlex
from collections.abc import Iterable

from ..errors import NbflowError, NotebookError
from ..lite_dataclass import dataclass
from ..names import is_identifier
from .spec import FlowCellSpec, NotebookSpec, StepOptions, StepSpec

RESOURCE_KEYS = ("cpu", "memory", "gpu")
STEP_OPTIONS = ("--foreach", "--retry", "--retry-delay", "--timeout", "--catch", "--resources",
                "--pypi", "--pypi-disabled", "--cache")
FLOW_OPTIONS = ("--pypi", "--python", "--schedule", "--project")
FLAG_OPTIONS = ("--pypi-disabled", "--cache")
ENV_OPTIONS = ("--pypi", "--pypi-disabled", "--python")


@dataclass(frozen=True)
class Header:
    kind: str                     # "step" or "flow"
    name: str | None
    targets: tuple[str, ...] = ()
    options: StepOptions = StepOptions()  # noqa: RUF009 - frozen, so sharing it is safe
    pypi: tuple[str, ...] = ()    # %%flow --pypi
    python: str | None = None     # %%flow --python
    schedule: str | None = None   # %%flow --schedule
    project: str | None = None    # %%flow --project


def cell_kind(source: str) -> str | None:
    """'step', 'flow' or None (a scratch cell) from a cell's first non-blank line."""
    first = _first_line(source)[1].strip()  # also a Windows "\r" at the end
    for kind in ("step", "flow"):
        if first == f"%%{kind}" or first.startswith((f"%%{kind} ", f"%%{kind}\t")):
            return kind
    return None


def _first_line(source: str) -> tuple[int, str]:
    """(index, text) of the first non-blank line: IPython drops leading blank lines."""
    lines = source.split("\n")
    for i, line in enumerate(lines):
        if line.strip():
            return i, line
    return 0, ""


def parse_header(line: str, cell: int | None = None) -> Header:
    """Parse a `%%step`/`%%flow` line. Raises NotebookError naming the cell."""
    text = line.split("#", 1)[0].strip()
    if text.startswith("%%flow"):
        return _parse_flow_header(text[len("%%flow"):].strip(), cell)
    if not text.startswith("%%step"):
        raise NotebookError("a step cell must start with '%%step NAME'", cell=cell)
    return _parse_step_header(text[len("%%step"):].strip(), cell)


def _parse_step_header(rest: str, cell: int | None) -> Header:
    usage = "expected '%%step NAME [-> TARGET[, TARGET...]] [OPTIONS]'"
    m = re.search(r"(^|\s)--", rest)
    head, opts = (rest[:m.start()], rest[m.start():]) if m else (rest, "")
    if "->" in head:
        name, targets_text = (p.strip() for p in head.split("->", 1))
        targets = tuple(t.strip() for t in targets_text.split(","))
        if not targets_text.strip():
            raise NotebookError(f"'->' is followed by no target; {usage}", cell=cell, step=name or None)
    else:
        name, targets = head.strip(), ()
    if not name:
        raise NotebookError(f"the step has no name; {usage}", cell=cell)
    if not name.isidentifier():
        raise NotebookError(f"'{name}' is not a valid step name (a Python identifier); {usage}",
                            cell=cell)
    for t in targets:
        if not t.isidentifier():
            raise NotebookError(f"'{t}' is not a valid target step name; {usage}", cell=cell,
                                step=name)
    dupes = sorted({t for t in targets if targets.count(t) > 1})
    if dupes:
        raise NotebookError(f"target '{dupes[0]}' is listed twice", cell=cell, step=name)
    return Header("step", name, targets, _parse_options(opts, cell, name))


def _tokens(text: str, cell: int | None, step: str | None) -> list[str]:
    """Shell-like words: `--pypi "pandas>=2,<3" six` keeps each requirement whole."""
    try:
        return shlex.split(text)
    except ValueError as e:
        raise NotebookError(f"the header's options cannot be read ({e})", cell=cell,
                            step=step) from None


def _collect(tokens: list[str], known: tuple[str, ...], cell: int | None,
             step: str | None) -> dict[str, list[str]]:
    """{option: its words}; flags (FLAG_OPTIONS) take none, the others at least one."""
    values: dict[str, list[str]] = {}
    i = 0
    while i < len(tokens):
        opt, _, inline = tokens[i].partition("=")
        if opt not in known:
            raise NotebookError(f"unknown option '{opt}'; known options: {', '.join(known)}",
                                cell=cell, step=step)
        if opt in values:
            raise NotebookError(f"option '{opt}' is given twice", cell=cell, step=step)
        j = i + 1
        while j < len(tokens) and not tokens[j].startswith("--"):
            j += 1
        words = ([inline] if inline else []) + tokens[i + 1:j]
        if opt in FLAG_OPTIONS and words:
            raise NotebookError(f"option '{opt}' takes no value, got '{' '.join(words)}'",
                                cell=cell, step=step)
        if opt not in FLAG_OPTIONS and not words:
            raise NotebookError(f"option '{opt}' needs a value", cell=cell, step=step)
        values[opt], i = words, j
    return values


def _parse_options(text: str, cell: int | None, step: str) -> StepOptions:
    values = _collect(_tokens(text, cell, step), STEP_OPTIONS, cell, step)
    kw = _pypi_values(values, cell, step)
    joined = {opt: "".join(words) for opt, words in values.items() if opt not in ENV_OPTIONS}
    return _option_values(joined, cell, step, kw)


def _pypi_values(values: dict[str, list[str]], cell, step) -> dict:
    kw: dict = {}
    if "--pypi" not in values and "--python" not in values and "--pypi-disabled" not in values:
        return kw   # (most cells: no environment options, nor their module's imports)
    from ..environment.requirements import check_python, check_requirement

    for req in values.get("--pypi", []):
        problem = check_requirement(req)
        if problem:
            raise NotebookError(f"option '--pypi': {problem}", cell=cell, step=step)
    if "--pypi" in values:
        kw["pypi"] = tuple(values["--pypi"])
    if "--pypi-disabled" in values:
        if "--pypi" in values:
            raise NotebookError("'--pypi' and '--pypi-disabled' contradict each other; keep one",
                                cell=cell, step=step)
        kw["pypi_disabled"] = True
    if "--python" in values:
        version = " ".join(values["--python"])
        problem = check_python(version)
        if problem:
            raise NotebookError(f"option '--python': {problem}", cell=cell, step=step)
        kw["python"] = version
    return kw


def _parse_flow_header(rest: str, cell: int | None) -> Header:
    """`%%flow [Name] [--pypi REQ...] [--python VERSION] [--schedule S] [--project P]`."""
    m = re.search(r"(^|\s)--", rest)
    name, opts = (rest[:m.start()].strip(), rest[m.start():]) if m else (rest.strip(), "")
    if name and not is_identifier(name):
        raise NotebookError(f"'%%flow {name}': the flow name must be a Python identifier "
                            "and not a keyword (e.g. %%flow MyFlow)", cell=cell)
    values = _collect(_tokens(opts, cell, None), FLOW_OPTIONS, cell, None)
    kw = _pypi_values(values, cell, None)
    return Header("flow", name or None, pypi=kw.get("pypi", ()), python=kw.get("python"),
                  **_production_values(values, cell))


def _production_values(values: dict[str, list[str]], cell) -> dict:
    from .production import check_project, check_schedule

    kw = {}
    for opt, check in (("--schedule", check_schedule), ("--project", check_project)):
        if opt in values:
            value = " ".join(values[opt])
            problem = check(value)
            if problem:
                raise NotebookError(f"option '{opt}': {problem}", cell=cell)
            kw[opt[2:]] = value
    return kw


def _number(opt: str, value: str, cell, step, *, integer=False, positive=False) -> float:
    kind = "a whole number" if integer else "a number"
    try:
        number = int(value) if integer else float(value)
    except ValueError:
        raise NotebookError(f"option '{opt}' needs {kind}, got '{value}'", cell=cell,
                            step=step) from None
    if not math.isfinite(number):
        raise NotebookError(f"option '{opt}' needs a finite number, got '{value}'", cell=cell,
                            step=step)
    if number < 0 or (positive and number == 0):
        raise NotebookError(f"option '{opt}' must be {'> 0' if positive else '>= 0'}, got '{value}'",
                            cell=cell, step=step)
    return number


def _option_values(values: dict[str, str], cell, step, kw: dict) -> StepOptions:
    for opt in ("--foreach", "--catch"):
        if opt in values:
            if not is_identifier(values[opt]):   # self.class would not compile
                raise NotebookError(f"option '{opt}' needs an artifact name (a Python identifier), "
                                    f"got '{values[opt]}'", cell=cell, step=step)
            kw[opt[2:]] = values[opt]
    if "--foreach" in values and "--catch" in values:  # Metaflow refuses @catch there too
        raise NotebookError("'--catch' cannot be used on a '--foreach' step (its splits need the "
                            "foreach artifact); put --catch on the steps inside the foreach",
                            cell=cell, step=step)
    if "--retry" in values:
        kw["retry"] = int(_number("--retry", values["--retry"], cell, step, integer=True))
    if "--retry-delay" in values:
        kw["retry_delay"] = _number("--retry-delay", values["--retry-delay"], cell, step)
    if "--timeout" in values:
        kw["timeout"] = _number("--timeout", values["--timeout"], cell, step, positive=True)
    if "--resources" in values:
        kw["resources"] = _parse_resources(values["--resources"], cell, step)
    if "--cache" in values:
        kw["cache"] = True
    return StepOptions(**kw)


def _parse_resources(text: str, cell, step) -> tuple[tuple[str, float], ...]:
    out = []
    for item in filter(None, text.split(",")):
        key, eq, value = item.partition("=")
        if key not in RESOURCE_KEYS or not eq:
            raise NotebookError(f"option '--resources' takes {','.join(k + '=N' for k in RESOURCE_KEYS)}; "
                                f"got '{item}'", cell=cell, step=step)
        number = _number(f"--resources {key}", value, cell, step)
        out.append((key, int(number) if number == int(number) else number))
    return tuple(out)


def flow_name_from_path(path: str) -> str:
    """`wine_classifier.ipynb` -> `WineClassifierFlow`."""
    stem = os.path.splitext(os.path.basename(path))[0]
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", stem) if p]
    name = "".join(p[:1].upper() + p[1:] for p in parts) or "Notebook"
    if name[0].isdigit():
        name = "Nb" + name
    return name if name.endswith("Flow") else name + "Flow"


def split_cell(source: str) -> tuple[str, str, int]:
    """(header line, body, line number where the body starts) of a magic cell."""
    idx, header = _first_line(source)
    lines = source.split("\n")
    return header, "\n".join(lines[idx + 1:]), idx + 2


def docstring_of(body: str) -> str | None:
    try:
        return ast.get_docstring(ast.parse(body))
    except SyntaxError:
        return None


def parse_cells(cells: Iterable[tuple[str, str]], *, flow_name: str | None = None,
                path: str | None = None) -> NotebookSpec:
    """Parse (cell_type, source) pairs in notebook order. Errors are collected."""
    errors: list[NbflowError] = []
    steps: list[StepSpec] = []
    flow_cell: FlowCellSpec | None = None
    for position, (cell_type, source) in enumerate(cells, start=1):
        if cell_type != "code":
            continue
        kind = cell_kind(source)
        if kind is None:
            continue
        header_line, body, body_line = split_cell(source)
        try:
            header = parse_header(header_line.strip(), position)
        except NotebookError as e:
            errors.append(e)
            continue
        if kind == "flow":
            if flow_cell is not None:
                errors.append(NotebookError(
                    f"a notebook has at most one %%flow cell; cell {flow_cell.cell} is one too",
                    cell=position))
                continue
            flow_cell = FlowCellSpec(header.name, body, position, body_line, pypi=header.pypi,
                                     python=header.python, schedule=header.schedule,
                                     project=header.project)
            continue
        steps.append(StepSpec(name=header.name, targets=header.targets, options=header.options,
                              body=body, cell=position, header=header_line.strip(),
                              body_line=body_line, docstring=docstring_of(body)))
    name = (flow_cell.name if flow_cell and flow_cell.name else None) or flow_name
    if name is None:
        name = flow_name_from_path(path) if path else "NotebookFlow"
    return NotebookSpec(flow_name=name, steps=tuple(steps), flow_cell=flow_cell, path=path,
                        errors=tuple(errors))


def read_notebook(path: str) -> NotebookSpec:
    """Read an .ipynb file from disk (as saved) into a NotebookSpec."""
    if not os.path.exists(path):
        raise NotebookError(f"notebook '{path}' does not exist")
    path = os.fspath(path)
    if path.endswith(".py"):
        cells = _read_percent_py(path)
        return parse_cells(cells, path=os.path.abspath(path))
    try:
        cells = _read_cells(path)
    except Exception as e:  # noqa: BLE001 - json and nbformat raise several kinds
        raise NotebookError(f"'{path}' is not a readable notebook: {e}") from None
    return parse_cells(cells, path=os.path.abspath(path))


def _read_percent_py(path: str) -> list[tuple[str, str]]:
    """A notebook saved as a jupytext percent-format `.py` (`# %%step start -> end` cells);
    any other .py file is a flow.py, which `nbflow import` turns into a notebook."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if not re.search(r"^# %%", text, re.M):
        raise NotebookError(f"'{path}' is a Python file, not a notebook; a Metaflow flow.py "
                            f"becomes one with `nbflow import {path} -o "
                            f"{os.path.splitext(path)[0]}.ipynb`")
    try:
        import jupytext
    except ImportError:
        raise NotebookError(f"'{path}' is a percent-format notebook: reading it needs jupytext "
                            "(pip install jupytext)") from None
    nb = jupytext.reads(text, fmt="py:percent")
    return [(c.cell_type, c.source) for c in nb.cells]


def _read_cells(path: str) -> list[tuple[str, str]]:
    """(cell_type, source) pairs. A v4 notebook is plain JSON: reading it directly
    skips nbformat's schema validation (~100 ms); older formats go through nbformat."""
    import json

    with open(path, encoding="utf-8") as f:
        nb = json.load(f)
    if nb.get("nbformat", 0) < 4 or not isinstance(nb.get("cells"), list):
        import nbformat

        nb = nbformat.read(path, as_version=4)
    out = []
    for cell in nb["cells"]:
        source = cell.get("source", "")
        out.append((cell.get("cell_type", "code"), "".join(source) if isinstance(source, list)
                    else source))
    return out
