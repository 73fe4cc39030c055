"""Inside a task: whatever the step displays becomes its card.

Installed by the task runtime before the step runs, and cheap: `display` becomes a
builtin; IPython's `display` is replaced only when the step imports IPython (a finder
patches the module as it loads, or at once if it was preloaded); matplotlib uses a
non-interactive backend whose `show()` displays the open figures, and figures still
open when the step ends are displayed then. Nothing here imports IPython or matplotlib.

Each displayed bundle is kept in order. Large forms go to the datastore as blobs at
once (content-addressed: a PNG shown twice is stored once); when the kernel runs the
step (`card_stream`), each bundle is also written to stdout as one marker line, so it
reaches the cell in order with the printed text."""
from __future__ import annotations

import builtins
import json
import os
import sys
from typing import Any

from . import MPL_BACKEND

DEFAULT_LIMIT = 50 << 20
IPY_MODULE = "IPython.core.display_functions"
IPY_REEXPORTS = ("IPython.core.display", "IPython.display", "IPython")


def card_limit() -> int:
    """NBFLOW_CARD_LIMIT: bytes, or with a unit (`50MB`, `2GB`); default 50 MB."""
    from ..datastore.sizes import parse_size

    return parse_size(os.environ.get("NBFLOW_CARD_LIMIT"), DEFAULT_LIMIT) or DEFAULT_LIMIT


class Card:
    """`current.card`: the task's displayed outputs, in order (Metaflow's names:
    append, extend, clear, refresh)."""

    def __init__(self):
        self._bundles: list[dict] = []     # stored form: {"data", "metadata", "refs"}
        self._size = 0
        self._cut: str | None = None
        self._ds = None
        self._stream = False
        self._limit: int | None = None     # read from the environment at the first output

    def _bind(self, ds, stream: bool) -> None:
        self._ds, self._stream = ds, stream

    # -- what a step calls ---------------------------------------------------------
    def append(self, component: Any) -> None:
        from .bundle import bundle_of

        self.add(*bundle_of(component))

    def extend(self, components) -> None:
        for c in components:
            self.append(c)

    def clear(self) -> None:
        """Empty the stored card (what was already shown under a cell stays there)."""
        self._bundles.clear()
        self._size = 0
        self._cut = None

    def __getitem__(self, card_id: str) -> Card:
        """`current.card[ID]` (Metaflow's `@card(id=ID)`): a task here has one card, this."""
        return self

    def __setitem__(self, card_id: str, components) -> None:
        """`current.card[ID] = [components]`: added to the task's one card."""
        self.extend(components)

    def refresh(self, *args, **kwargs) -> None:
        """Metaflow's live-card refresh: a card here is written when the task ends."""

    def __len__(self) -> int:
        return len(self._bundles)

    def __repr__(self) -> str:
        return f"<card: {len(self._bundles)} output(s)>"

    # -- the runtime's side --------------------------------------------------------------
    def add(self, data: dict, metadata: dict) -> None:
        if self._ds is None and _in_kernel():   # not in a task: a scratch cell shows it
            from IPython.display import display as ipython_display

            ipython_display(data, raw=True, metadata=metadata)
            return
        if self._cut:
            return
        size = sum(len(v) if isinstance(v, str) else len(json.dumps(v)) for v in data.values())
        if self._limit is None:
            self._limit = card_limit()
        if self._size + size > self._limit:
            self._cut = (f"(card cut here: this output of {size:,} bytes would take the card "
                         f"past its limit of {self._limit:,} bytes; NBFLOW_CARD_LIMIT raises it)")
            sys.stderr.write(self._cut + "\n")
            self._emit(self._note())
            return
        self._size += size
        stored = _stored_form(self._ds, data, metadata)
        self._bundles.append(stored)
        self._emit(stored)

    def _note(self) -> dict:
        return {"data": {"text/plain": self._cut}, "metadata": {}, "refs": {}}

    def _emit(self, stored: dict) -> None:
        if not self._stream:
            return
        from .stream import MARKER

        sys.stdout.flush()
        out = sys.__stdout__
        out.write(MARKER + json.dumps(stored) + "\n")
        out.flush()

    def stored(self) -> list[dict]:
        return self._bundles + ([self._note()] if self._cut else [])


def _stored_form(ds, data: dict, metadata: dict) -> dict:
    if ds is None:
        return {"data": data, "metadata": metadata, "refs": {}}
    from ..datastore.cards import externalize

    small, refs = externalize(ds, data)
    return {"data": small, "metadata": metadata, "refs": refs}


card = Card()


def _in_kernel() -> bool:
    ipython = sys.modules.get("IPython")
    return ipython is not None and getattr(ipython, "get_ipython", lambda: None)() is not None


# -- display() -------------------------------------------------------------------------
def display(*objs, include=None, exclude=None, metadata=None, raw=False, **_ignored) -> None:
    """IPython's `display`, keeping what it shows in the task's card."""
    from .bundle import bundle_of, clean

    for obj in objs:
        if raw:
            data, md = clean(dict(obj), dict(metadata or {}))
        else:
            data, md = bundle_of(obj, include, exclude)
            if metadata:
                md = {**md, **metadata}
        card.add(data, md)


def show_figures() -> None:
    """Display every open pyplot figure and close them (the inline backend's show())."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return
    for num in plt.get_fignums():
        display(plt.figure(num))
    plt.close("all")


# -- hooks -----------------------------------------------------------------------------
def install(ds, stream: bool = False) -> Card:
    """Before the step runs: `display` as a builtin, IPython's display patched when it
    loads, matplotlib's backend set. Returns `current.card`, bound to the store."""
    card._bind(ds, stream)
    builtins.display = display
    if os.environ.get("MPLBACKEND") != MPL_BACKEND:
        os.environ["MPLBACKEND"] = MPL_BACKEND
    if IPY_MODULE in sys.modules:
        _patch_ipython(sys.modules[IPY_MODULE])
    elif not any(isinstance(f, _IPythonFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _IPythonFinder())
    if "matplotlib" in sys.modules:   # preloaded before the task started
        _use_backend()
    return card


def finish() -> None:
    """When the step ends: figures left open are displayed, as in a notebook cell."""
    if "matplotlib.pyplot" not in sys.modules:
        return
    try:
        show_figures()
    except Exception as e:  # noqa: BLE001 - a figure that cannot draw must not fail the task
        sys.stderr.write(f"display: an open matplotlib figure could not be drawn "
                         f"({type(e).__name__}: {e})\n")


def _use_backend() -> None:
    import matplotlib

    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].switch_backend(MPL_BACKEND)
    else:
        matplotlib.rcParams["backend"] = MPL_BACKEND


def _patch_ipython(module) -> None:
    original = getattr(module, "display", None)
    if original is None or original is display:
        return
    for name in (IPY_MODULE, *IPY_REEXPORTS):
        mod = sys.modules.get(name)
        if mod is not None and getattr(mod, "display", None) is original:
            mod.display = display


class _IPythonFinder:
    """Patches IPython's display function as its module loads (before anything
    re-exports it), so `from IPython.display import display` gets ours."""

    def find_spec(self, name, path=None, target=None):
        if name != IPY_MODULE:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _PatchingLoader(spec.loader)
                return spec
        return None


class _PatchingLoader:
    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        self._loader.exec_module(module)
        _patch_ipython(module)

    def __getattr__(self, name):
        return getattr(self._loader, name)
