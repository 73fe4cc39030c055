"""`@dataclass` as the standard one, less most of its cost at import.

`dataclasses.dataclass` writes the source of `__init__`, `__repr__`, `__eq__` and `__hash__`
for every class and compiles it when the module is imported: for the ~25 classes that
`nbflow run` imports that was most of their modules' import time, on the path to a run's
first task. Here `__repr__`, `__eq__` and `__hash__` are written once, below, and behave as
the generated ones (same strings, same comparisons and hashes, `__hash__` None for a
mutable class); `__init__`, frozen-ness, `fields()` and `replace()` are the standard's. For
classes whose fields take the defaults of `field()` (repr, compare, hash): all of ours.
"""
from __future__ import annotations

import dataclasses
import reprlib

_NAMES: dict[type, tuple[str, ...]] = {}


def _names(cls) -> tuple[str, ...]:
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def _values(obj) -> tuple:
    return tuple([getattr(obj, name) for name in _names(type(obj))])


def _eq(self, other):
    if other.__class__ is self.__class__:
        return _values(self) == _values(other)
    return NotImplemented


def _hash(self):
    return hash(_values(self))


@reprlib.recursive_repr()
def _repr(self):
    return f"{type(self).__qualname__}(" + ", ".join(
        f"{name}={getattr(self, name)!r}" for name in _names(type(self))) + ")"


def dataclass(cls=None, /, *, frozen: bool = False):
    """`@dataclass` / `@dataclass(frozen=True)` (eq and repr on, no ordering)."""
    def wrap(cls):
        own = cls.__dict__
        class_hash = own.get("__hash__", dataclasses.MISSING)
        explicit_hash = not (class_hash is dataclasses.MISSING
                             or (class_hash is None and "__eq__" in own))
        has_repr, has_eq = "__repr__" in own, "__eq__" in own
        for f in _own_fields(cls):
            if not (f.repr and f.compare and f.hash is None):
                raise TypeError(f"{cls.__name__}.{f.name}: lite_dataclass takes no field "
                                "repr/compare/hash options (use dataclasses.dataclass)")
        cls = dataclasses.dataclass(cls, frozen=frozen, repr=False, eq=False)
        if not has_repr:
            cls.__repr__ = _repr
        if not has_eq:
            cls.__eq__ = _eq
        if not explicit_hash:   # as dataclasses' table for eq=True, unsafe_hash=False
            cls.__hash__ = _hash if frozen else None
        return cls

    return wrap if cls is None else wrap(cls)


def _own_fields(cls):
    """The field() objects assigned in the class body (before @dataclass sees them)."""
    return [v for v in cls.__dict__.values() if isinstance(v, dataclasses.Field)]
