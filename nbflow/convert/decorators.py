"""Header options <-> Metaflow step decorators, both ways, in one place.

    --retry N --retry-delay S        @retry(times=N, minutes_between_retries=M)
    --timeout S                      @timeout(seconds=S)
    --catch VAR                      @catch(var="VAR")
    --resources cpu=N,memory=MB,...  @resources(cpu=N, memory=MB, gpu=N)
    --pypi REQ... / --pypi-disabled  @pypi(packages={...}) / @pypi(disabled=True)  (pypi.py;
                                     @conda on import, as pip pins)

Metaflow reads minutes between retries and timeout seconds as whole numbers
(`int(...)`), so export rounds them up and says so.
"""
from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field

from ..notebook.parse import RESOURCE_KEYS
from ..notebook.spec import StepOptions
from . import pypi

# Metaflow's limit: @retry(times=N) with N + 2 > MAX_ATTEMPTS (6) is refused.
MAX_RETRY_TIMES = 4
# What a bare @retry means in Metaflow: 3 retries, 2 minutes apart.
RETRY_DEFAULTS = {"times": 3, "minutes_between_retries": 2}
# @catch without var= still keeps the error, as the artifact `_catch_exception`.
CATCH_DEFAULT_VAR = "_catch_exception"
KNOWN = ("retry", "timeout", "catch", "resources")


def _num(value: float) -> str:
    return str(int(value)) if float(value) == int(value) else repr(float(value))


def to_decorators(options: StepOptions) -> tuple[list[str], list[str]]:
    """(decorator lines without '@step', notes about rounding) for a step's options."""
    lines: list[str] = []
    notes: list[str] = []
    if options.retry:
        minutes = math.ceil(options.retry_delay / 60)
        if options.retry_delay and minutes * 60 != options.retry_delay:
            notes.append(f"--retry-delay {options.retry_delay:g} is rounded up to {minutes} "
                         "minute(s): Metaflow counts whole minutes between retries")
        lines.append(f"@retry(times={options.retry}, minutes_between_retries={minutes})")
    if options.timeout:
        seconds = math.ceil(options.timeout)
        if seconds != options.timeout:
            notes.append(f"--timeout {options.timeout:g} is rounded up to {seconds} s: "
                         "Metaflow counts whole seconds")
        lines.append(f"@timeout(seconds={seconds})")
    if options.catch:
        lines.append(f'@catch(var="{options.catch}")')
    if options.resources:
        args = ", ".join(f"{k}={_num(v)}" for k, v in options.resources)
        lines.append(f"@resources({args})")
    return lines, notes


@dataclass
class StepDecorators:
    """What a Metaflow method's decorators say, in header terms."""

    options: list[str] = field(default_factory=list)   # header option strings
    is_step: bool = False
    notes: list[str] = field(default_factory=list)     # kept as comments, reported
    errors: list[str] = field(default_factory=list)    # no notebook form at all


def from_decorators(decorators: list[ast.expr], source: str) -> StepDecorators:
    """Read @step / @retry / @timeout / @catch / @resources; report the others."""
    out = StepDecorators()
    for deco in decorators:
        name = deco_name(deco)
        text = "@" + (ast.get_source_segment(source, deco) or name or "?")
        if name == "step":
            out.is_step = True
            if isinstance(deco, ast.Call) and (deco.args or deco.keywords):
                out.errors.append(f"{text}: step arguments have no notebook form")
        elif name == "card":
            pass   # a notebook keeps what every step displays: the card needs no option
        elif name == "parallel":
            out.errors.append(f"{text}: @parallel steps have no notebook form")
        elif name in ("pypi", "conda"):
            try:
                options, python = pypi.options_from(name, literal_kwargs(deco), out.notes, text)
            except ValueError as e:
                out.errors.append(f"{text}: {e}")
                continue
            out.options += options
            if python:
                out.notes.append(f"{text}: python={python!r} on a step has no nbflow form (the "
                                 "flow cell's --python applies to every step); not applied")
        elif name in KNOWN:
            try:
                kwargs = literal_kwargs(deco)
                out.options += _READERS[name](kwargs, out.notes, text)
            except ValueError as e:
                out.errors.append(f"{text}: {e}")
        else:
            out.notes.append(f"{text}: a Metaflow decorator with no nbflow form; not applied")
    return out


def deco_name(deco: ast.expr) -> str | None:
    target = deco.func if isinstance(deco, ast.Call) else deco
    if isinstance(target, ast.Name):
        return target.id
    if isinstance(target, ast.Attribute):
        return target.attr
    return None


def literal_kwargs(deco: ast.expr) -> dict:
    if not isinstance(deco, ast.Call):
        return {}
    if deco.args:
        raise ValueError("positional arguments are not understood; use keywords")
    try:
        return {kw.arg: ast.literal_eval(kw.value) for kw in deco.keywords}
    except ValueError:
        raise ValueError("its arguments must be literal values") from None


def _retry_options(kw: dict, notes: list, text: str) -> list[str]:
    times = int(kw.get("times", RETRY_DEFAULTS["times"]))
    minutes = float(kw.get("minutes_between_retries", RETRY_DEFAULTS["minutes_between_retries"]))
    if times == 0:
        return []
    opts = [f"--retry {times}"]
    if minutes:
        opts.append(f"--retry-delay {_num(minutes * 60)}")
    return opts


def _timeout_options(kw: dict, notes: list, text: str) -> list[str]:
    seconds = (float(kw.get("seconds", 0)) + 60 * float(kw.get("minutes", 0))
               + 3600 * float(kw.get("hours", 0)))
    return [f"--timeout {_num(seconds)}"] if seconds else []


def _catch_options(kw: dict, notes: list, text: str) -> list[str]:
    var = kw.get("var")
    if not var:
        notes.append(f"{text}: without var= the error is kept as self.{CATCH_DEFAULT_VAR}, "
                     "as Metaflow does")
        var = CATCH_DEFAULT_VAR
    return [f"--catch {var}"]


def _resources_options(kw: dict, notes: list, text: str) -> list[str]:
    parts = []
    for key in RESOURCE_KEYS:
        if kw.get(key) is not None:
            parts.append(f"{key}={_num(float(kw[key]))}")
    ignored = sorted(k for k in kw if k not in RESOURCE_KEYS and kw[k] is not None)
    if ignored:
        notes.append(f"{text}: {', '.join(ignored)} has no nbflow form; not applied")
    return [f"--resources {','.join(parts)}"] if parts else []


_READERS = {"retry": _retry_options, "timeout": _timeout_options, "catch": _catch_options,
            "resources": _resources_options}
