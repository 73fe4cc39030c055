"""A run's environment as the client shows it, and what changed between two.

The run record keeps `environment` (a reference to the kernel-side snapshot blob) and,
for steps pinned with `--pypi`, `pinned_environments`: {step: {"requirements",
"python", "lock", "hash", "python_version"}} (the resolved lock itself, so a resume
or a rerun builds the same versions)."""
from __future__ import annotations

from . import capture


def run_environment(ds, record: dict) -> dict | None:
    """{"python", "implementation", "platform", "executable", "packages",
    "steps": {step: {"requirements", "python", "lock", "packages"}}}; None for runs
    recorded before environments were."""
    env = capture.load(ds, record.environment)
    pinned = record.pinned_environments
    if env is None and not pinned:
        return None
    out = dict(env or {})
    out["steps"] = {step: step_environment(p) for step, p in sorted(pinned.items())}
    return out


def step_environment(pinned: dict) -> dict:
    return {"requirements": list(pinned.get("requirements") or []),
            "python": pinned.get("python_version") or pinned.get("python"),
            "lock": pinned.get("lock", ""), "hash": pinned.get("hash"),
            "packages": lock_packages(pinned.get("lock", ""))}


def lock_packages(lock: str) -> dict[str, str]:
    """`name==version` lines of a resolved lock -> {normalized name: version}."""
    out = {}
    for line in lock.splitlines():
        line = line.split("#", 1)[0].strip()
        name, eq, version = line.partition("==")
        if eq:
            out[capture.normalize(name.split("[", 1)[0].strip())] = version.split(";")[0].strip()
    return dict(sorted(out.items()))


def diff_packages(a: dict[str, str], b: dict[str, str]) -> dict:
    """{"added": {name: v}, "removed": {name: v}, "changed": {name: [old, new]}}."""
    return {"added": {n: b[n] for n in sorted(b.keys() - a.keys())},
            "removed": {n: a[n] for n in sorted(a.keys() - b.keys())},
            "changed": {n: [a[n], b[n]] for n in sorted(a.keys() & b.keys()) if a[n] != b[n]}}


def diff_environments(a: dict | None, b: dict | None) -> dict:
    """What changed from environment `a` to `b` (either may be None: not recorded).
    {"fields": {name: [old, new]}, "packages": diff_packages, "steps": {step: {...}}}."""
    a, b = a or {}, b or {}
    fields = {k: [a.get(k), b.get(k)] for k in ("python", "implementation", "platform", "executable")
              if a.get(k) != b.get(k)}
    steps = {}
    sa, sb = a.get("steps") or {}, b.get("steps") or {}
    for step in sorted(sa.keys() | sb.keys()):
        pa, pb = sa.get(step), sb.get(step)
        if pa == pb:
            continue
        steps[step] = {
            "pinned": [pa is not None, pb is not None],
            "requirements": [(pa or {}).get("requirements"), (pb or {}).get("requirements")],
            "python": [(pa or {}).get("python"), (pb or {}).get("python")],
            "packages": diff_packages((pa or {}).get("packages") or {},
                                      (pb or {}).get("packages") or {})}
    return {"fields": fields,
            "packages": diff_packages(a.get("packages") or {}, b.get("packages") or {}),
            "steps": steps}


def is_empty(diff: dict) -> bool:
    return not diff["fields"] and not diff["steps"] and not any(diff["packages"].values())
