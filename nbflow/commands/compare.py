"""`compare FLOW`: the experiment table (rows of plain values; adapters print or draw it)."""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from ..client.compare import LOAD_LIMIT, compare_rows
from .locate import USER_NAMESPACE, context, namespace_of, resolve_flow


@dataclass(frozen=True)
class CompareTable:
    flow: str
    columns: tuple[str, ...]
    rows: tuple[dict, ...]       # column -> value (NaN where a run lacks it)
    datastore: str               # the store the runs were read from
    warnings: tuple[str, ...] = ()   # e.g. an artifact no run has ("did you mean")
    artifacts: tuple[str, ...] = ()  # the requested artifact columns


def compare(target: str, artifacts: Sequence[str] = (), *, step: str = "end",
            last: int | None = 50, tags: Sequence[str] = (), status: Sequence[str] = (),
            datastore: str | None = None, namespace: str | None = USER_NAMESPACE,
            load_limit: int = LOAD_LIMIT) -> CompareTable:
    """The runs of a flow (or of a notebook's flow, in its store), newest first;
    `namespace` None: every namespace."""
    ds, flow = resolve_flow(target, datastore)
    ctx = context(ds, namespace_of(namespace))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows, columns = compare_rows(flow, artifacts, step, last, tags, status or None,
                                     load_limit=load_limit, context=ctx)
    return CompareTable(flow, tuple(columns), tuple(rows), ds.url,
                        tuple(str(w.message) for w in caught), tuple(a.strip() for a in artifacts))
