"""Which store and which flow a command reads: from a notebook, a pathspec or a flow name.

Nothing here touches the client's module-level defaults: each command gets its own
ClientContext (a store and a namespace), so `%nbflow logs` in a user's kernel leaves the
user's `namespace()` and `set_datastore()` choices alone."""
from __future__ import annotations

from ..client.core import ClientContext, get_datastore, store_at
from ..datastore import Datastore
from ..errors import UsageError
from ..notebook.spec import NotebookSpec


def as_notebook(notebook: NotebookSpec | str) -> NotebookSpec:
    """A NotebookSpec as given (kernel cells), or read from a saved .ipynb file."""
    if isinstance(notebook, NotebookSpec):
        return notebook
    from ..notebook.parse import read_notebook

    return read_notebook(notebook)


def notebook_store(notebook: NotebookSpec, datastore: str | None = None) -> Datastore:
    """--datastore, else NBFLOW_DATASTORE, else `.nbflow/` beside the notebook."""
    from ..run.runner import datastore_for

    return store_at(datastore_for(notebook, datastore).url)


def context(datastore: Datastore | str | None = None, namespace=None) -> ClientContext:
    """A store (an URL, a Datastore, or None: the default one, searched below the working
    directory for a flow it lacks) and a namespace (None: all)."""
    from ..client.core import default_store_is_searched

    if isinstance(datastore, str):
        datastore = store_at(datastore)
    if datastore is not None:
        return ClientContext(datastore, namespace)
    return ClientContext(get_datastore(), namespace, searchable=default_store_is_searched())


def resolve_target(target: str, rest: str | None = None,
                   datastore: str | None = None) -> tuple[ClientContext, str]:
    """`Flow/run_id/step[/task_id]`, or a NOTEBOOK followed by `run_id/step[/task_id]`:
    the store to read (every namespace: an explicit pathspec is read whatever its namespace)
    and the full pathspec."""
    if target.endswith(".ipynb"):
        if not rest:
            raise UsageError(f"after the notebook '{target}' give run_id/step[/task_id]")
        notebook = as_notebook(target)
        return context(notebook_store(notebook, datastore)), \
            f"{notebook.flow_name}/{rest.strip('/')}"
    if rest:
        raise UsageError(f"'{target}' is not a notebook (.ipynb); give one pathspec: "
                         "Flow/run_id/step[/task_id]")
    return context(datastore), target


def resolve_flow(flow: str, datastore: str | None = None) -> tuple[Datastore, str]:
    """A flow's name and store, from its name or from its notebook."""
    if flow.endswith(".ipynb"):
        notebook = as_notebook(flow)
        return notebook_store(notebook, datastore), notebook.flow_name
    where = context(datastore).for_flow(flow)
    if where.searched:        # not in the default store nor below: say where it was looked for
        from ..client.core import Flow

        Flow(flow, _context=where)   # raises NotFound naming every store looked in
    return where.datastore, flow


USER_NAMESPACE = "user:"   # a namespace argument meaning "the current user's"


def namespace_of(ns: str | None) -> str | None:
    """`USER_NAMESPACE` -> `user:<you>`; a namespace as given; None (every namespace)."""
    if ns == USER_NAMESPACE:
        from ..user import username

        return f"user:{username()}"
    return ns
