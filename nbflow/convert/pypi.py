"""`--pypi` / `--python` <-> Metaflow's `@pypi_base` / `@pypi` (and `@conda*` on import).

A requirement `NAME==V` is `{"NAME": "V"}`; `NAME>=2,<3` is `{"NAME": ">=2,<3"}` and a bare
`NAME` is `{"NAME": ""}` (Metaflow's pip step writes `NAME==V` for a plain version and
`NAME<spec>` for one starting with an operator). Environment markers have no Metaflow form.
Conda pins come back as pip pins when the package resolves on PyPI; else they are refused.
"""
from __future__ import annotations

import re

from ..environment.requirements import requirement_name

_SPLIT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*(?:\[[^\]]*\])?)\s*(.*)$")


def package_dict(requirements) -> tuple[dict[str, str], list[str]]:
    """({name: version spec}, problems) for Metaflow's `packages=`."""
    out: dict[str, str] = {}
    problems = []
    for req in requirements:
        m = _SPLIT.match(req)
        spec = m.group(2).strip() if m else ""
        if m is None or ";" in spec:
            problems.append(f"'{req}': environment markers have no Metaflow @pypi form")
            continue
        if spec.startswith("==") and not spec.startswith("==="):
            spec = spec[2:].strip()
        out[m.group(1)] = spec
    return out, problems


def decorator(name: str, requirements, python: str | None = None,
              disabled: bool = False) -> tuple[str, list[str]]:
    """`@pypi(...)`/`@pypi_base(...)` source and problems."""
    if disabled:
        return f"@{name}(disabled=True)", []
    packages, problems = package_dict(requirements)
    args = [f"packages={packages!r}"]
    if python:
        args.append(f"python={python!r}")
    return f"@{name}({', '.join(args)})", problems


def requirements_of(packages: dict) -> list[str]:
    """Metaflow's `packages=` back to requirement strings."""
    out = []
    for name, version in packages.items():
        version = str(version or "").strip()
        if not version:
            out.append(str(name))
        elif version[0] in "<>!~=@":
            out.append(f"{name}{version}")
        else:
            out.append(f"{name}=={version}")
    return out


def header_options(requirements: list[str], python: str | None = None,
                   disabled: bool = False) -> list[str]:
    """Header option strings (`--pypi "a==1" "b"`, `--python 3.11`, `--pypi-disabled`)."""
    if disabled:
        return ["--pypi-disabled"]
    opts = []
    if requirements:
        opts.append("--pypi " + " ".join(_quote(r) for r in requirements))
    if python:
        opts.append(f"--python {python}")
    return opts


def _quote(req: str) -> str:
    return req if re.fullmatch(r"[A-Za-z0-9._\-=\[\]]+", req) else f'"{req}"'


def conda_to_pip(libraries: dict, resolves) -> tuple[list[str], list[str]]:
    """(pip requirements, refusals) for `@conda(libraries=...)`; `resolves(req)` -> None
    if the requirement resolves on PyPI, else the resolver's message."""
    reqs, refusals = [], []
    for name, version in libraries.items():
        pip_name = str(name).split("::")[-1]           # "conda-forge::pandas" -> "pandas"
        version = str(version or "").split("=")[0] if "=" in str(version or "")[1:] \
            and not str(version).startswith(("=", "<", ">", "!")) else str(version or "")
        [req] = requirements_of({pip_name: version})
        if requirement_name(req) is None:
            refusals.append(f"conda package '{name}' has no pip form")
            continue
        problem = resolves(req)
        if problem:
            refusals.append(f"conda package '{name}' ({req}) is not on PyPI: {problem}")
        else:
            reqs.append(req)
    return reqs, refusals


FLOW_DECORATORS = ("pypi_base", "conda_base")


def options_from(name: str, kwargs: dict, notes: list[str], text: str,
                 resolves=None) -> tuple[list[str], str | None]:
    """(header options, python) for `@pypi/@conda(...)` (step) or `@pypi_base/@conda_base`
    (flow). Raises ValueError naming a conda package that has no PyPI form."""
    if kwargs.get("disabled"):
        return ["--pypi-disabled"], None
    python = kwargs.get("python")
    python = None if python in (None, "") else str(python)
    if name.startswith("conda"):
        libraries = dict(kwargs.get("libraries") or {})
        reqs, refusals = conda_to_pip(libraries, resolves or _resolves(python))
        if refusals:
            raise ValueError("; ".join(refusals))
        if libraries:
            notes.append(f"{text}: conda packages became pip pins ({', '.join(reqs)})")
        unknown = sorted(k for k in kwargs if k not in ("libraries", "python", "disabled"))
    else:
        reqs = requirements_of(dict(kwargs.get("packages") or {}))
        unknown = sorted(k for k in kwargs if k not in ("packages", "python", "disabled"))
    if unknown:
        notes.append(f"{text}: {', '.join(unknown)} has no nbflow form; not applied")
    return header_options(reqs), python


def _resolves(python: str | None):
    def check(req: str) -> str | None:
        from ..environment.build import check_resolves

        return check_resolves(req, python)
    return check
