"""`@dataclass` as the standard one, less most of its cost at import.

`dataclasses.dataclass` writes the source of `__init__`, `__repr__`, `__eq__`, `__hash__`
and, for a frozen class, `__setattr__` and `__delattr__`, and compiles each when the
module is imported: for the ~25 classes that `nbflow run` imports that was most of their
modules' import time, on the path to a run's first task. Here `__repr__`, `__eq__`,
`__hash__` and the frozen `__setattr__`/`__delattr__` are written once, below, and behave
as the generated ones (same strings, comparisons, hashes and FrozenInstanceError; `__hash__`
None for a mutable class); a frozen class's `__init__` is still compiled (one function, the
text dataclasses writes, so its signature and errors are Python's own). Fields, `fields()`,
`replace()`, `is_dataclass()` and `__dataclass_params__` are the standard's. For classes
whose fields take field()'s defaults for repr, compare, hash and init: all of ours.
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
        has_repr, has_eq, has_doc = "__repr__" in own, "__eq__" in own, bool(cls.__doc__)
        for f in _own_fields(cls):
            if not (f.repr and f.compare and f.hash is None and f.init):
                raise TypeError(f"{cls.__name__}.{f.name}: lite_dataclass takes no field "
                                "repr/compare/hash/init options (use dataclasses.dataclass)")
        if frozen and ("__setattr__" in own or "__delattr__" in own):
            raise TypeError(f"Cannot overwrite attribute __setattr__ in class {cls.__name__}")
        if frozen and not has_doc:   # dataclasses would read object.__init__'s signature
            cls.__doc__ = cls.__name__   # (tokenize's 3.7 ms regex); ours is written below
        # frozen: no generated __init__/__setattr__/__delattr__ (ours below), then the
        # params say what the class is
        cls = dataclasses.dataclass(cls, init=not frozen, repr=False, eq=False)
        params = cls.__dataclass_params__
        params.init = params.repr = params.eq = True
        if frozen:
            params.frozen = True
            names = tuple(f.name for f in dataclasses.fields(cls))
            cls.__init__ = _frozen_init(cls)
            cls.__setattr__, cls.__delattr__ = _frozen_set_del(cls, frozenset(names))
            if not has_doc:   # as dataclasses writes it, from the real signature
                import inspect

                cls.__doc__ = cls.__name__ + str(inspect.signature(cls)).replace(" -> None", "")
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


class _Factory:
    def __repr__(self):
        return "<factory>"   # as dataclasses shows a default_factory in a signature


_FACTORY = _Factory()


def _frozen_init(cls):
    """The __init__ dataclasses writes for a frozen class (object.__setattr__ per field),
    compiled once here."""
    fields = dataclasses.fields(cls)
    ns = {"__set": object.__setattr__, "__factory": _FACTORY}
    params, body = [], []
    for i, f in enumerate(fields):
        value = f.name
        if f.default is not dataclasses.MISSING:
            ns[f"__d{i}"] = f.default
            params.append(f"{f.name}=__d{i}")
        elif f.default_factory is not dataclasses.MISSING:
            ns[f"__f{i}"] = f.default_factory
            params.append(f"{f.name}=__factory")
            value = f"__f{i}() if {f.name} is __factory else {f.name}"
        else:
            params.append(f.name)
        body.append(f" __set(self, {f.name!r}, {value})")
    if hasattr(cls, "__post_init__"):
        body.append(" self.__post_init__()")
    exec(f"def __init__(self, {', '.join(params)}):\n" + ("\n".join(body) or " pass"), ns)
    init = ns["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__annotations__ = {**{f.name: f.type for f in fields}, "return": None}
    return init


def _frozen_set_del(cls, names: frozenset):
    """dataclasses' frozen __setattr__/__delattr__, as closures (nothing to compile)."""
    def __setattr__(self, name, value):
        if type(self) is cls or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
        super(cls, self).__setattr__(name, value)

    def __delattr__(self, name):
        if type(self) is cls or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
        super(cls, self).__delattr__(name)

    __setattr__.__qualname__ = f"{cls.__qualname__}.__setattr__"
    __delattr__.__qualname__ = f"{cls.__qualname__}.__delattr__"
    return __setattr__, __delattr__
