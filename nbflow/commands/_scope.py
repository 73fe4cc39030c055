"""The client's store and namespace for one command, put back afterwards (a command
may run inside the user's kernel, whose client settings it must not change)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .. import client

DEFAULT = object()   # the current user's namespace


@contextmanager
def client_scope(datastore: str | None = None, namespace=DEFAULT) -> Iterator[None]:
    saved = client._namespace, client._datastore_url
    try:
        client.set_datastore(datastore)
        if namespace is DEFAULT:
            client.default_namespace()
        else:
            client.namespace(namespace)
        yield
    finally:
        client._namespace, client._datastore_url = saved


def flow_and_store(target: str, datastore: str | None) -> tuple[str, str | None]:
    """A flow name, or a notebook (.ipynb): its flow's name and its store."""
    if not target.endswith(".ipynb"):
        return target, datastore
    from ..parse import read_notebook
    from ..runner import datastore_for

    notebook = read_notebook(target)
    return notebook.flow_name, datastore_for(notebook, datastore).url
