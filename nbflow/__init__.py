"""nbflow: Jupyter notebooks as Metaflow-style flows.

Public names are imported lazily so that `python -m nbflow.task` starts fast and
`import nbflow` never pulls in IPython or widgets.
"""
from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "Parameter": "nbflow.notebook.params", "JSONType": "nbflow.notebook.params",
    "IncludeFile": "nbflow.notebook.params",
    "current": "nbflow.task.current",
    "Flow": "nbflow.client", "Run": "nbflow.client", "Step": "nbflow.client",
    "Task": "nbflow.client", "DataArtifact": "nbflow.client", "Flows": "nbflow.client",
    "namespace": "nbflow.client", "get_namespace": "nbflow.client",
    "default_namespace": "nbflow.client", "set_datastore": "nbflow.client",
    "NbflowError": "nbflow.errors",
    "Metaflow": "nbflow.client.metadata", "get_metadata": "nbflow.client.metadata",
    "metadata": "nbflow.client.metadata", "default_metadata": "nbflow.client.metadata",
    "Runner": "nbflow.client.runner",
    "compare": "nbflow.client.compare",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nbflow' has no attribute {name!r}")


def load_ipython_extension(ipython) -> None:
    from .kernel import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython) -> None:
    from .kernel import unload_ipython_extension as unload

    unload(ipython)


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """JupyterLab's "Run as flow" button, built from labextension/ into nbflow/labextension."""
    return [{"src": "labextension", "dest": "nbflow-jupyter"}]
