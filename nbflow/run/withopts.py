"""`--with NAME[:ATTR=VALUE,...]`: a step option for every step, as Metaflow's
`run --with retry:times=3`, with Metaflow's decorator and attribute names.

    --with retry[:times=N,minutes_between_retries=M]   -> --retry N --retry-delay 60*M
    --with timeout[:seconds=S,minutes=M,hours=H]       -> --timeout S+60M+3600H
    --with catch[:var=NAME]                            -> --catch NAME
    --with resources[:cpu=N,memory=MB,gpu=N]           -> --resources ...

An option written on a cell wins over `--with` (resources: per key). Metaflow refuses
@catch on a foreach step; `--with catch` leaves those steps out.
"""
from __future__ import annotations

import ast
import dataclasses

from ..errors import UsageError
from ..notebook.spec import NotebookSpec, StepOptions

ATTRIBUTES = {
    "retry": ("times", "minutes_between_retries"),
    "timeout": ("seconds", "minutes", "hours"),
    "catch": ("var",),
    "resources": ("cpu", "memory", "gpu"),
}


def parse_spec(spec: str) -> tuple[str, dict]:
    """'retry:times=3' -> ('retry', {'times': 3}); unknown names list the known ones."""
    name, _, rest = spec.strip().partition(":")
    if name not in ATTRIBUTES:
        raise UsageError(f"--with {spec}: unknown step option '{name}'; known: "
                         f"{', '.join(ATTRIBUTES)} (as Metaflow's decorators)")
    attrs: dict = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if key not in ATTRIBUTES[name] or not eq:
            raise UsageError(f"--with {spec}: '{item}' is not an attribute of {name}; known: "
                             f"{', '.join(a + '=...' for a in ATTRIBUTES[name])}")
        try:
            attrs[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            attrs[key] = value
    return name, attrs


def step_options(specs: list[str]) -> StepOptions:
    """The options the `--with` specs give every step (as a header would)."""
    from ..convert.decorators import _READERS
    from ..notebook.parse import _parse_options

    header: list[str] = []
    for spec in specs:
        name, attrs = parse_spec(spec)
        try:
            header += _READERS[name](attrs, [], f"--with {spec}")
        except (TypeError, ValueError) as e:
            raise UsageError(f"--with {spec}: a value is not a number ({e})") from None
    try:
        return _parse_options(" ".join(header), None, "--with")
    except Exception as e:  # noqa: BLE001 - a NotebookError about our own header
        raise UsageError(f"--with {' '.join(specs)}: {getattr(e, 'message', e)}") from None


def _merged(cell: StepOptions, given: StepOptions) -> StepOptions:
    base = StepOptions()
    kw: dict = {}
    if cell.retry == base.retry and given.retry:
        kw.update(retry=given.retry, retry_delay=given.retry_delay)
    if cell.timeout is None and given.timeout is not None:
        kw["timeout"] = given.timeout
    if cell.catch is None and given.catch and not cell.foreach:
        kw["catch"] = given.catch
    if given.resources:
        keys = dict(given.resources)
        keys.update(cell.resources)
        kw["resources"] = tuple(keys.items())
    return dataclasses.replace(cell, **kw)


def apply(notebook: NotebookSpec, specs: list[str] | None) -> NotebookSpec:
    """`notebook` with the `--with` options on every step (a cell's own option wins)."""
    if not specs:
        return notebook
    given = step_options(specs)
    steps = tuple(dataclasses.replace(s, options=_merged(s.options, given))
                  for s in notebook.steps)
    return dataclasses.replace(notebook, steps=steps)
