"""`diff RUN_A RUN_B`: what differs between two runs (a RunDiff; adapters print it)."""
from __future__ import annotations

from ..errors import UsageError
from ..rundiff import RunDiff, diff_runs
from ._scope import client_scope, flow_and_store


def diff(run_a: str, run_b: str, where: str | None = None, *,
         datastore: str | None = None) -> RunDiff:
    """Runs as pathspecs (Flow/run_id), or as run ids after `where` (a flow name or a
    notebook); RUN_B may be a bare run id of RUN_A's flow. Any namespace is readable."""
    from .. import client

    store = datastore
    if where is not None:
        flow, store = flow_and_store(where, datastore)
        run_a, run_b = (_qualify(r, flow) for r in (run_a, run_b))
    elif "/" not in run_a:
        raise UsageError(f"'{run_a}' is a run id: give Flow/run_id, or name the flow or the "
                         "notebook first (nbflow diff NOTEBOOK RUN_A RUN_B)")
    else:
        run_b = _qualify(run_b, run_a.split("/")[0])
    with client_scope(store, None):
        for r in (run_a, run_b):
            if len(r.strip("/").split("/")) != 2:
                raise UsageError(f"'{r}' is not a run: give Flow/run_id")
        return diff_runs(client.Run(run_a), client.Run(run_b))


def _qualify(run: str, flow: str) -> str:
    return run if "/" in run else f"{flow}/{run}"
