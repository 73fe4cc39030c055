"""`env PATHSPEC [--diff OTHER]`: the environment a run ran with, or what changed."""
from __future__ import annotations

from dataclasses import dataclass

from ..environment.record import diff_environments


@dataclass(frozen=True)
class EnvReport:
    pathspec: str                 # Flow/run_id of the run shown (or the diff's first run)
    environment: dict | None      # Run.environment (None: recorded before environments)
    other: str | None = None      # --diff: the second run
    diff: dict | None = None      # --diff: environment.record.diff_environments(run, other)


def run_pathspec(pathspec: str, flow: str | None = None) -> str:
    """Flow/run_id from a run's, step's or task's pathspec; a bare run id takes `flow`."""
    from ..client.pathspec import PathspecError, parse_pathspec

    if flow and "/" not in pathspec.strip().strip("/"):
        pathspec = f"{flow}/{pathspec.strip().strip('/')}"
    parts = parse_pathspec(pathspec)
    if len(parts) < 2:
        raise PathspecError(f"'{pathspec}' names a flow; give a run: Flow/run_id")
    return "/".join(parts[:2])


def env(target: str, rest: str | None = None, diff: str | None = None, *,
        datastore: str | None = None) -> EnvReport:
    """`target` (a pathspec, or a NOTEBOOK and `rest`) and `diff` name runs (or anything
    under one); `diff` may be a bare run id of the same flow. Runs are read whatever their
    namespace (they are named)."""
    from ..client.core import Run
    from .locate import resolve_target

    ctx, pathspec = resolve_target(target, rest, datastore)
    first = run_pathspec(pathspec)
    run = Run(first, _context=ctx)
    if diff is None:
        return EnvReport(first, run.environment)
    second = run_pathspec(diff, flow=run.flow_name)
    other = Run(second, _context=ctx)
    a, b = run.environment, other.environment
    return EnvReport(first, a, second, diff_environments(a, b))
