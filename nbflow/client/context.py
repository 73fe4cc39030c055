"""Which store a client object reads and which namespace it sees: a ClientContext, and the
module-level defaults (`set_datastore`, `namespace`) that Metaflow's API has."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..datastore import Datastore, default_datastore_url

# -- datastore and namespace ----------------------------------------------------------
# The module-level choices (set_datastore, namespace) are a default ClientContext; the
# commands layer passes its own context to each object and never touches these.

_datastore_url: str | None = None
_stores: dict[str, Datastore] = {}
_namespace: Any = False   # False: not chosen yet (the default is resolved on first use)
FOLLOW = object()         # a context's namespace that follows namespace() as it changes


@dataclass(frozen=True)
class ClientContext:
    """Which store a client object reads, and which namespace it sees (None: every one)."""

    datastore: Datastore
    ns: Any = FOLLOW
    searchable: bool = False   # a store found by default: a flow not there is looked for below
    searched: str = ""         # the folder whose sub-folders were searched, in vain

    def where(self) -> str:
        """The stores looked in, for a "not found" message."""
        below = f" (nor in the .nbflow/ folders below {self.searched})" if self.searched else ""
        return f"datastore {self.datastore.url}{below}"

    @property
    def namespace(self) -> str | None:
        return get_namespace() if self.ns is FOLLOW else self.ns

    def for_flow(self, flow: str) -> ClientContext:
        """This context, or, when the flow is not in its store and the store was not chosen
        by the user, one on the store below the working directory that holds the flow
        (`nbflow run notebooks/x.ipynb` stores in notebooks/.nbflow), with a notice."""
        if not self.searchable:
            return self
        from ..datastore import stores_below

        if self.datastore.storage.exists(flow):
            return ClientContext(self.datastore, self.ns)   # looked once: children do not
        found = stores_below(flow)
        if not found:
            import os

            return ClientContext(self.datastore, self.ns, searched=os.getcwd())
        import sys

        print(f"nbflow: flow '{flow}' is not in {self.datastore.url}; reading it from "
              f"{found[0]}", file=sys.stderr)
        return ClientContext(store_at(found[0]), self.ns)


def reset_defaults() -> None:
    """The module-level choices back to nobody's: the default store and the user's namespace
    (for a process, a test, that reads on behalf of several users in turn)."""
    global _datastore_url, _namespace
    _datastore_url, _namespace = None, False


def default_context(datastore: Datastore | None = None) -> ClientContext:
    if datastore is not None:
        return ClientContext(datastore)
    return ClientContext(get_datastore(), searchable=default_store_is_searched())


def default_store_is_searched() -> bool:
    """True when nobody chose the store (no set_datastore, no NBFLOW_DATASTORE)."""
    import os

    return _datastore_url is None and not os.environ.get("NBFLOW_DATASTORE")


def set_datastore(url: str | None) -> str:
    """Read runs from `url` (an fsspec URL or a folder); None goes back to the default."""
    global _datastore_url
    _datastore_url = url
    return get_datastore().url


def store_at(url: str) -> Datastore:
    """One Datastore object per URL in this process (its caches are shared)."""
    if url not in _stores:
        _stores[url] = Datastore(url)
    return _stores[url]


def get_datastore() -> Datastore:
    return store_at(_datastore_url or default_datastore_url())


def namespace(ns: str | None) -> str | None:
    """Switch to namespace `ns` ('user:alice', 'production'...); None sees every run."""
    global _namespace
    _namespace = ns
    return ns


def get_namespace() -> str | None:
    if _namespace is False:
        default_namespace()
    return _namespace


def default_namespace() -> str:
    """Back to the current user's namespace, `user:<name>`."""
    from ..user import username

    return namespace(f"user:{username()}")
