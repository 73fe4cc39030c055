"""Which packages a step runs with: the flow's `--pypi`/`--python` and the step's
`--pypi`/`--pypi-disabled`, merged as Metaflow merges `@pypi_base` and `@pypi`
(a step's requirement replaces the flow's for the same package; the rest add up)."""
from __future__ import annotations

import json
import re

from ..lite_dataclass import dataclass
from .capture import normalize

# a PEP 508 requirement's start: a name, optional [extras], then a version spec,
# a marker or a direct URL ("name @ https://...")
_REQ = re.compile(r"^\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(\[[^\]]*\])?\s*"
                  r"(?:[<>=!~;@(].*)?$")
_PYTHON = re.compile(r"^\d+(\.\d+){0,2}$")


def requirement_name(req: str) -> str | None:
    """The normalized package name of a requirement; None if it is not one."""
    m = _REQ.match(req)
    return normalize(m.group(1)) if m else None


def check_requirement(req: str) -> str | None:
    """None if `req` reads as a requirement, else what is wrong with it."""
    if requirement_name(req) is None:
        return (f"'{req}' is not a package requirement (expected NAME, NAME==VERSION, "
                "NAME>=VERSION, ...)")
    return None


def check_python(version: str) -> str | None:
    if not _PYTHON.match(version):
        return f"'{version}' is not a Python version (expected e.g. 3.11 or 3.11.7)"
    return None


@dataclass(frozen=True)
class EnvSpec:
    """What a pinned step asks for; `key()` names it before resolution."""

    requirements: tuple[str, ...]
    python: str | None = None      # None: the kernel's own Python version

    def key(self, default_python: str) -> str:
        import hashlib  # (every run asks pinned_steps(); only a pinned one hashes)

        data = json.dumps([sorted(self.requirements), self.python or default_python])
        return hashlib.sha256(data.encode()).hexdigest()[:20]

    def to_dict(self) -> dict:
        return {"requirements": list(self.requirements), "python": self.python}


def merge(flow_pypi: tuple[str, ...], step_pypi: tuple[str, ...]) -> tuple[str, ...]:
    """The flow's requirements with the step's replacing those of the same package."""
    by_name: dict[str, str] = {}
    for req in (*flow_pypi, *step_pypi):
        by_name[requirement_name(req) or req] = req.strip()
    return tuple(by_name.values())


def step_env_spec(notebook, step_spec) -> EnvSpec | None:
    """The pinned environment of one step, or None: it runs in the kernel's environment."""
    opts = step_spec.options
    flow = notebook.flow_cell
    flow_pypi = tuple(getattr(flow, "pypi", ()) or ()) if flow else ()
    python = getattr(flow, "python", None) if flow else None
    if opts.pypi_disabled or (opts.pypi is None and not flow_pypi and python is None):
        return None
    return EnvSpec(merge(flow_pypi, tuple(opts.pypi or ())), python)


def pinned_steps(notebook) -> dict[str, EnvSpec]:
    out = {}
    for s in notebook.steps:
        spec = step_env_spec(notebook, s)
        if spec is not None:
            out[s.name] = spec
    return out
