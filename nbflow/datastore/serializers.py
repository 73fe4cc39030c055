"""The serializer registry: which serializer stores an artifact, and how a reader finds it.

Every blob records the name of the serializer that wrote it (blob.serializer, and the
artifact's ref in the task record when it is not pickle). Built in:

    "pickle"  cloudpickle protocol 5, NumPy arrays' memory as out-of-band sections
              (everything; the fallback)
    "arrow"   pandas DataFrame / Series as one Arrow IPC file (needs pyarrow), when it
              stores the value exactly (datastore/arrow.py)

A user's serializer is a class with `can_serialize(obj)`, `serialize(obj)` and
`deserialize(sections)`, importable by its dotted name (`pkg.module.Class`): the name
is what a blob records, and what a reader (another process, a later session) imports to
decode it. Register it where tasks see it: in the flow cell (it runs in every task), or
for every process with NBFLOW_SERIALIZERS="pkg.module.Class,...".

Imported by the task runtime: stays light (pandas and pyarrow only when a value needs them).
"""
from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from ..errors import ArtifactError

PICKLE = "pickle"
ARROW = "arrow"
ENV = "NBFLOW_SERIALIZERS"


class CannotSerialize(Exception):
    """Raised by `serialize` when this value cannot be stored exactly by this serializer:
    the next one is tried (pickle last) and the reason is recorded in the artifact's ref."""


class Serializer:
    """Base of a user serializer (subclassing is optional: the three methods are the API).

    can_serialize(obj) -> bool     cheap (a type check): is this value for me?
    serialize(obj) -> list         bytes-like sections (bytes, memoryview, a NumPy array's
                                   buffer: written without a copy); a single bytes-like is
                                   one section. Raise CannotSerialize to pass the value on.
    deserialize(sections) -> obj   the value from the same sections (read-only memoryviews
                                   or buffers; keep them if the value should share them)
    """

    def can_serialize(self, obj: Any) -> bool:
        return False

    def serialize(self, obj: Any) -> list:
        raise CannotSerialize(f"{type(self).__name__} does not serialize {type(obj).__name__}")

    def deserialize(self, sections: list) -> Any:
        raise NotImplementedError


class ArrowSerializer(Serializer):
    """pandas DataFrame and Series through Arrow IPC; the code is in datastore/arrow.py
    (imported only when a pandas value is stored or an Arrow blob is read)."""

    def can_serialize(self, obj: Any) -> bool:
        pd = sys.modules.get("pandas")     # no pandas imported: not a pandas value
        return pd is not None and type(obj) in (pd.DataFrame, pd.Series)

    def serialize(self, obj: Any) -> list:
        try:
            from . import arrow
        except ImportError as e:           # pyarrow is not installed where this runs
            raise CannotSerialize(f"pyarrow is not installed ({e})") from None
        return arrow.serialize(obj)

    compress = False       # raw sections: a local blob is memory-mapped, not copied
    partial_reads = True   # hashed in blocks: some columns can be read and checked alone

    def deserialize(self, sections: list, columns=None) -> Any:
        return self._reader().deserialize(sections, columns=columns)

    def read_columns(self, blob, columns) -> Any:
        """Only `columns`, from a partial.PartialBlob (the rest of the blob is not read)."""
        return self._reader().read_columns(blob, columns)

    @staticmethod
    def _reader():
        try:
            from . import arrow
        except ImportError as e:
            missing = e.name or "pyarrow"
            raise SerializerUnavailable(
                ARROW, f"reading it needs pandas and pyarrow, and '{missing}' is not installed "
                "here", "Install it: pip install pyarrow pandas (or pip install "
                "'nbflow-jupyter[arrow]')") from None
        return arrow


_BUILTIN: dict[str, Serializer] = {ARROW: ArrowSerializer()}
_registered: list[tuple[str, Serializer]] = []   # the user's, newest first
_env_loaded: str | None = None
_resolved: dict[str, Serializer] = {}


def _dotted(cls: type) -> str:
    module = getattr(cls, "__module__", None)
    if not module or module == "__main__" or "<locals>" in cls.__qualname__:
        raise ArtifactError(
            f"serializer {cls.__qualname__} is defined in the notebook; a serializer must be "
            "importable by its dotted name (tasks and readers run in other processes): put it "
            "in a module (e.g. myserializers.py beside the notebook) and register "
            "'myserializers.ClassName'")
    return f"{module}.{cls.__qualname__}"


def register(serializer: Any, *, name: str | None = None) -> str:
    """Use `serializer` (a class, an instance of one, or its dotted name "pkg.mod.Class")
    for the values its `can_serialize` accepts, before the built-in ones. Returns the name
    recorded in each blob it writes (its dotted path). Registering again moves it first."""
    if isinstance(serializer, str):
        name = name or serializer
        instance = resolve(serializer)
    else:
        cls = serializer if isinstance(serializer, type) else type(serializer)
        instance = serializer() if isinstance(serializer, type) else serializer
        name = name or _dotted(cls)
    for method in ("can_serialize", "serialize", "deserialize"):
        if not callable(getattr(instance, method, None)):
            raise ArtifactError(f"serializer {name} has no {method}() method")
    if name in (PICKLE, ARROW):
        raise ArtifactError(f"'{name}' is the name of a built-in serializer")
    unregister(name)
    _registered.insert(0, (name, instance))
    _resolved[name] = instance
    return name


def unregister(name: str) -> None:
    _registered[:] = [(n, s) for n, s in _registered if n != name]


def registered() -> list[str]:
    """The names tried in order for each value (pickle, last, takes everything)."""
    _load_env()
    return [n for n, _ in _registered] + list(_BUILTIN) + [PICKLE]


def _load_env() -> None:
    global _env_loaded
    spec = os.environ.get(ENV, "")
    if spec == _env_loaded:
        return
    _env_loaded = spec
    for name in reversed([s.strip() for s in spec.split(",") if s.strip()]):
        if all(n != name for n, _ in _registered):
            register(name)


def candidates(obj: Any) -> list[tuple[str, Serializer]]:
    """The serializers (name, instance) that accept `obj`, in the order they are tried;
    pickle is not among them (it is the fallback of every value)."""
    _load_env()
    out = []
    for name, s in [*_registered, *_BUILTIN.items()]:
        try:
            if s.can_serialize(obj):
                out.append((name, s))
        except Exception:  # noqa: BLE001 - a user's check that fails does not take the value
            continue
    return out


class SerializerUnavailable(Exception):
    """The serializer a blob names cannot be used here; `hint` says what to install."""

    def __init__(self, name: str, reason: str, hint: str):
        self.name, self.reason, self.hint = name, reason, hint
        super().__init__(f"{name}: {reason}")


def resolve(name: str) -> Serializer:
    """The serializer a blob names: a built-in one, or a class imported by its dotted name."""
    if name in _BUILTIN:
        return _BUILTIN[name]
    if name in _resolved:
        return _resolved[name]
    module_name, _, attr = name.replace(":", ".").rpartition(".")
    if not module_name:
        raise SerializerUnavailable(name, "it is not a dotted name (pkg.module.Class)",
                                    "Register serializers by their dotted name")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except ImportError as e:
        raise SerializerUnavailable(
            name, f"module '{e.name or module_name}' cannot be imported ({e})",
            f"Install or put on the path the package that provides {name}") from None
    except AttributeError:
        raise SerializerUnavailable(name, f"module '{module_name}' has no '{attr}'",
                                    f"Install the version of '{module_name}' that defines it"
                                    ) from None
    instance = obj() if isinstance(obj, type) else obj
    _resolved[name] = instance
    return instance
