"""Serializers for artifacts (the public face of nbflow/datastore/serializers.py).

    import nbflow.serializers
    nbflow.serializers.register("mypkg.torchser.StateDictSerializer")

A serializer is a class with can_serialize(obj), serialize(obj) -> sections and
deserialize(sections) -> obj, importable by its dotted name; see docs/reference.md.
"""
from .datastore.serializers import (  # noqa: F401 - re-exported
    CannotSerialize,
    Serializer,
    register,
    registered,
    unregister,
)

__all__ = ["CannotSerialize", "Serializer", "register", "registered", "unregister"]
