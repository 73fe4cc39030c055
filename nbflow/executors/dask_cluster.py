"""Where the Dask executor's tasks run: a cluster nbflow starts, or one that is running.

- `--scheduler ADDRESS` / NBFLOW_DASK_SCHEDULER (NBFLOW_DASK_ADDRESS is the old name):
  a running scheduler. Its TLS settings come from NBFLOW_DASK_SECURITY (JSON of
  `distributed.security.Security` arguments, or the path of a file holding that JSON),
  else from Dask's own configuration (`distributed.comm.tls.*`).
- Otherwise a LocalCluster on 127.0.0.1 for the run, speaking TLS with throwaway
  credentials (`Security.temporary()`): only this process holds them, so no other
  local user can submit work to it. A worker lost there is not rerun by Dask
  (allowed-failures 0): the run retries the task itself, as a new attempt.
- `--resources` become Dask resource restrictions for the resources the workers
  declare (`dask worker --resources "cpu=4,memory=16000,gpu=1"`, memory in MB).

Importing this module is light: `distributed` is imported when a cluster is needed."""
from __future__ import annotations

import json
import os

from ..errors import UsageError

SCHEDULER_VARS = ("NBFLOW_DASK_SCHEDULER", "NBFLOW_DASK_ADDRESS")


def scheduler_address(given: str | None = None) -> str | None:
    """--scheduler, else NBFLOW_DASK_SCHEDULER, else NBFLOW_DASK_ADDRESS; None: start one."""
    if given:
        return given
    for name in SCHEDULER_VARS:
        if os.environ.get(name):
            return os.environ[name]
    return None


def security_from_env():
    """NBFLOW_DASK_SECURITY: JSON (or a JSON file) of Security() arguments, e.g.
    {"tls_ca_file": "ca.pem", "tls_client_cert": "cert.pem", "tls_client_key": "key.pem",
     "require_encryption": true}; unset: Dask's own config decides."""
    from distributed.security import Security

    text = os.environ.get("NBFLOW_DASK_SECURITY", "").strip()
    if not text:
        return Security()
    if not text.startswith("{"):
        try:
            with open(os.path.expanduser(text)) as f:
                text = f.read()
        except OSError as e:
            raise UsageError(f"NBFLOW_DASK_SECURITY names a file that cannot be read: {e}") from e
    try:
        options = json.loads(text)
        return Security(**options)
    except (ValueError, TypeError) as e:
        raise UsageError("NBFLOW_DASK_SECURITY must be a JSON object of "
                         f"distributed.security.Security arguments: {e}") from e


def connect(address: str | None, n_workers: int):
    """(client, cluster): cluster is None when connecting to a running scheduler."""
    import dask
    from distributed import Client, LocalCluster
    from distributed.security import Security

    if address:
        try:
            return Client(address, security=security_from_env(), timeout="30s"), None
        except (OSError, TimeoutError, TypeError) as e:  # TypeError: tls:// without TLS settings
            raise UsageError(f"cannot connect to the Dask scheduler {address}: {e} (check "
                             "--scheduler and its TLS settings, NBFLOW_DASK_SECURITY)") from e
    security = Security.temporary()
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None, security=security)
    return Client(cluster, security=security), cluster


def worker_resources(client) -> dict[str, dict]:
    """Worker address -> the resources it declares."""
    every = {"n_workers": -1} if _takes_n_workers(client) else {}  # newer Dask: 5 by default
    workers = client.scheduler_info(**every).get("workers", {})
    return {addr: dict(w.get("resources") or {}) for addr, w in workers.items()}


def _takes_n_workers(client) -> bool:
    import inspect

    return "n_workers" in inspect.signature(client.scheduler_info).parameters


def restrictions(wanted: dict, workers: dict[str, dict]) -> dict:
    """The part of a step's --resources that the cluster's workers declare."""
    declared = {name for res in workers.values() for name in res}
    return {name: amount for name, amount in wanted.items() if name in declared and amount}


def check_fits(step: str, wanted: dict, workers: dict[str, dict]) -> None:
    """Refuse a step that no worker could ever run (it would wait forever)."""
    need = restrictions(wanted, workers)
    if not need or not workers:
        return
    if any(all(res.get(k, 0) >= v for k, v in need.items()) for res in workers.values()):
        return
    asked = ",".join(f"{k}={v:g}" for k, v in need.items())
    have = "; ".join(f"{addr}: " + (",".join(f"{k}={v:g}" for k, v in res.items()) or "none")
                     for addr, res in sorted(workers.items()))
    raise UsageError(f"step '{step}' asks for --resources {asked}, more than any Dask worker "
                     f"has ({have}); lower the step's --resources or add a larger worker")
