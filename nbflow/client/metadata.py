"""Metaflow's metadata calls and root object, over nbflow's store.

nbflow keeps a run's metadata in its datastore, so the "metadata provider" is the
store: `get_metadata()` -> 'local@/path/.nbflow' (or '<protocol>@<url>'),
`metadata('local@/other/.nbflow')` (or a plain path or URL) reads another store,
`default_metadata()` goes back to the default. `Metaflow()` is the root object
(`Metaflow().flows`). Inside a running step the default is the run's own store.
"""
from __future__ import annotations

from .core import Flows, get_datastore, set_datastore

Metaflow = Flows


def _describe(url: str) -> str:
    protocol, sep, rest = url.partition("://")
    if not sep:
        return f"local@{url}"
    return f"{'local' if protocol == 'file' else protocol}@{url if protocol != 'file' else rest}"


def get_metadata() -> str:
    """The store the client reads, as Metaflow's '<provider>@<location>'."""
    return _describe(get_datastore().url)


def metadata(ms: str) -> str:
    """Read runs from another store: 'local@<path>', '<protocol>@<url>', a path or a URL."""
    provider, sep, info = ms.partition("@")
    url = info if sep and "://" not in provider and "/" not in provider else ms
    set_datastore(url)
    return get_metadata()


def default_metadata() -> str:
    """Back to the default store (NBFLOW_DATASTORE, else the nearest .nbflow/)."""
    set_datastore(None)
    return get_metadata()
