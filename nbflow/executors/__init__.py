"""Executors launch one task attempt each. Chosen by name (`--executor local|dask`)."""
from __future__ import annotations

import importlib

REGISTRY = {
    "local": "nbflow.executors.local:LocalExecutor",
    "spawn": "nbflow.executors.local:SpawnExecutor",
    "dask": "nbflow.executors.dask:DaskExecutor",
}


def get_executor(name: str, **options):
    from ..errors import UsageError

    if name not in REGISTRY:
        raise UsageError(f"unknown executor '{name}'; known executors: {', '.join(REGISTRY)}")
    module, _, cls = REGISTRY[name].partition(":")
    return getattr(importlib.import_module(module), cls)(**options)
