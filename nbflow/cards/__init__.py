"""Cards: what a step displays, kept as the task's card (docs/reference.md section 1,
"Whatever a step displays").

`from nbflow.cards import Markdown, Table, Image, Artifact, VegaChart` gives components
with Metaflow's names; `current.card.append(component)` adds one to the task's card.
Capture inside tasks is in `capture`; the card in the store in `nbflow.datastore.cards`.
The components are imported on first use: a task that displays nothing never loads them."""
from __future__ import annotations

__all__ = ["Artifact", "Image", "Markdown", "Table", "VegaChart"]
MPL_BACKEND = "module://nbflow.cards.mpl_backend"   # matplotlib's backend in every task


def __getattr__(name: str):
    if name in __all__:
        from . import components

        return getattr(components, name)
    raise AttributeError(f"module 'nbflow.cards' has no attribute {name!r}")
