"""`diff RUN_A RUN_B`: what differs between two runs (a RunDiff; adapters print it)."""
from __future__ import annotations

from ..client.diff import RunDiff, diff_runs
from ..errors import UsageError
from .locate import context, resolve_flow


def diff(run_a: str, run_b: str, where: str | None = None, *,
         datastore: str | None = None) -> RunDiff:
    """Runs as pathspecs (Flow/run_id), or as run ids after `where` (a flow name or a
    notebook); RUN_B may be a bare run id of RUN_A's flow. Any namespace is readable."""
    from ..client.core import Run

    store = datastore
    if where is not None:
        store, flow = resolve_flow(where, datastore)
        run_a, run_b = (_qualify(r, flow) for r in (run_a, run_b))
    elif "/" not in run_a:
        raise UsageError(f"'{run_a}' is a run id: give Flow/run_id, or name the flow or the "
                         "notebook first (nbflow diff NOTEBOOK RUN_A RUN_B)")
    else:
        run_b = _qualify(run_b, run_a.split("/")[0])
    for r in (run_a, run_b):
        if len(r.strip("/").split("/")) != 2:
            raise UsageError(f"'{r}' is not a run: give Flow/run_id")
    ctx = context(store, None)
    return diff_runs(Run(run_a, _context=ctx), Run(run_b, _context=ctx))


def _qualify(run: str, flow: str) -> str:
    return run if "/" in run else f"{flow}/{run}"
