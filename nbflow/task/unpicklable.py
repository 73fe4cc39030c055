"""Where inside an artifact pickling fails: `self.model.client._sock` rather than "a Model
cannot be pickled". Only imported when an artifact could not be stored (an error path).

Walks attributes (`__dict__`, `__slots__`), dict values and sequence items depth-first,
re-pickling each part, and descends into the first part that fails; the object whose parts
all pickle (or that has none) is the culprit. Bounded: MAX_DEPTH levels, MAX_PARTS parts
looked at per level, each object once."""
from __future__ import annotations

from typing import Any

MAX_DEPTH = 12
MAX_PARTS = 2000


def _pickles(obj: Any) -> Exception | None:
    import cloudpickle

    try:
        cloudpickle.dumps(obj, protocol=5, buffer_callback=lambda b: None)
    except Exception as e:  # noqa: BLE001 - any failure is what we look for
        return e
    return None


def _parts(obj: Any):
    """(suffix, part) pairs: what pickling `obj` pickles in turn, as a user would write it."""
    if isinstance(obj, dict):
        for k, v in list(obj.items())[:MAX_PARTS]:
            yield f"[{k!r}]", v
        return
    if isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj[:MAX_PARTS]):
            yield f"[{i}]", v
        return
    if isinstance(obj, (set, frozenset)):
        for v in list(obj)[:MAX_PARTS]:
            yield f" (an item {type(v).__name__})", v
        return
    attrs = getattr(obj, "__dict__", None)
    if isinstance(attrs, dict):
        for k, v in list(attrs.items())[:MAX_PARTS]:
            yield f".{k}", v
    for cls in type(obj).__mro__:
        slots = getattr(cls, "__slots__", ())
        for slot in (slots,) if isinstance(slots, str) else slots:
            if slot not in ("__dict__", "__weakref__") and hasattr(obj, slot):
                yield f".{slot}", getattr(obj, slot)


def find_unpicklable(obj: Any, path: str) -> tuple[str, Any, Exception] | None:
    """(path of the innermost part that cannot be pickled, that part, its error), or None
    when `obj` pickles after all."""
    error = _pickles(obj)
    if error is None:
        return None
    seen = {id(obj)}
    for _ in range(MAX_DEPTH):
        for suffix, part in _safe_parts(obj):
            if id(part) in seen:
                continue
            seen.add(id(part))
            part_error = _pickles(part)
            if part_error is not None:
                obj, path, error = part, path + suffix, part_error
                break
        else:
            break
    return path, obj, error


def _safe_parts(obj: Any):
    try:
        yield from _parts(obj)
    except Exception:  # noqa: BLE001 - an object that resists inspection is the culprit
        return
