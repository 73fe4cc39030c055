"""The pinned environments of a run: resolved (or reused from a stored lock) and built
before any task starts; what the run record keeps; what a task is launched with."""
from __future__ import annotations

import sys

from . import build
from .requirements import pinned_steps


def prepare(notebook, datastore_url: str, stored: dict | None = None,
            steps: list[str] | None = None, announce=None) -> dict[str, dict]:
    """{step: record entry} for the pinned steps (all, or `steps`). A step whose stored
    entry (resume, an earlier interactive cell) asks for the same requirements reuses
    its lock. Every step is resolved before any is built: a bad pin fails first."""
    specs = {s: e for s, e in pinned_steps(notebook).items() if steps is None or s in steps}
    locks = {}
    for step, spec in specs.items():
        prev = (stored or {}).get(step)
        if prev and prev.get("requirements") == list(spec.requirements) \
                and prev.get("python") == spec.python and prev.get("lock"):
            locks[step] = prev["lock"]
        else:
            locks[step] = build.resolve(spec, step, datastore_url)
    out = {}
    for step, spec in specs.items():
        env = build.ensure(locks[step], spec.python, step)
        out[step] = {**spec.to_dict(), "lock": locks[step], "hash": env["hash"],
                     "python_version": env["python_version"]}
        if announce is not None:
            announce(step, out[step], env["built_seconds"])
    return out


def latest_locks(ds, flow: str, runs: int = 10) -> dict[str, dict]:
    """The pinned entries of the flow's newest runs (the newest per step): a rerun in the
    same store uses the versions an earlier run resolved, on any machine."""
    from ..datastore import records

    found: dict[str, dict] = {}
    try:
        run_ids = records.list_runs(ds, flow)[:runs]
    except (OSError, ValueError):
        return found
    for run_id in run_ids:
        try:
            entries = records.read_run(ds, flow, run_id).pinned_environments
        except Exception:  # noqa: BLE001 - a damaged or half-written record: look further
            continue
        for step, entry in entries.items():
            found.setdefault(step, entry)
    return found


def launch_info(entries: dict[str, dict] | None) -> dict[str, dict]:
    """{step: {"python": its interpreter, "pythonpath": nbflow's runtime folder}}."""
    if not entries:
        return {}
    runtime = build.runtime_path()
    return {step: {"python": build.interpreter(e["hash"]), "pythonpath": runtime, "hash": e["hash"],
                   "requirements": e["requirements"]}
            for step, e in entries.items()}


def describe(step: str, entry: dict, built_seconds: float | None) -> str:
    reqs = " ".join(entry["requirements"]) or "(no packages)"
    how = (f"built in {built_seconds:.1f}s" if built_seconds is not None
           else "cached")
    return (f"step '{step}' runs in its pinned environment (--pypi {reqs}; "
            f"python {entry.get('python_version')}; {how})")


def printer(stream=None):
    """An `announce` callback that prints `describe(...)` lines."""
    def announce(step, entry, built_seconds):
        print(describe(step, entry, built_seconds), file=stream or sys.stderr, flush=True)
    return announce
