"""Short, bounded descriptions of artifact values (`nbflow dump`, the artifact browser).

Nothing here prints a large object whole: containers show their first items, arrays
their shape and dtype, data frames their head. pandas and numpy are never imported
here: a value's own methods are used when it is one of theirs.
"""
from __future__ import annotations

import reprlib
from typing import Any

from ..datastore.sizes import human_size  # noqa: F401 - re-exported: the client's formatter

_REPR = reprlib.Repr()
_REPR.maxlist = _REPR.maxtuple = _REPR.maxset = _REPR.maxfrozenset = _REPR.maxdeque = 6
_REPR.maxdict = 5
_REPR.maxstring = 60
_REPR.maxother = 60
_REPR.maxlevel = 3



def _module(value: Any) -> str:
    return type(value).__module__ or ""


def _shape_dtype(value: Any) -> str:
    shape = "x".join(str(d) for d in value.shape) or "scalar"
    return f"shape {shape}, dtype {value.dtype}"


def short_repr(value: Any, width: int = 70) -> str:
    """One line of at most `width` characters."""
    mod = _module(value)
    if mod.startswith("numpy") and hasattr(value, "shape") and hasattr(value, "dtype"):
        text = f"array({_shape_dtype(value)})" if value.shape else repr(value.item())
    elif mod.startswith("pandas") and hasattr(value, "shape"):
        kind = type(value).__name__
        cols = getattr(value, "columns", None)
        text = f"{kind}({'x'.join(map(str, value.shape))}"
        text += f", columns {_REPR.repr(list(cols))})" if cols is not None else ")"
    else:
        text = _bounded_repr(value)
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 3] + "..."


def _bounded_repr(value: Any) -> str:
    if isinstance(value, (list, tuple, set, frozenset, dict, str, bytes, int, float, complex)):
        prefix = f"len {len(value)}: " if hasattr(value, "__len__") and len(value) > 6 else ""
        return prefix + _REPR.repr(value)
    try:
        text = repr(value)
    except Exception as e:  # noqa: BLE001 - a broken __repr__ must not break dump
        return f"<{type(value).__name__}: repr failed: {e}>"
    return text[:2000]


def describe(value: Any, max_lines: int = 20, width: int = 100) -> str:
    """A few lines: the head of a data frame, an array's shape and first values,
    a container's first items; at most `max_lines` lines of `width` characters."""
    mod = _module(value)
    if mod.startswith("pandas") and hasattr(value, "head"):
        text = f"{short_repr(value, width)}\n{value.head(10).to_string(max_cols=12)}"
    elif mod.startswith("numpy") and hasattr(value, "shape") and value.shape:
        import numpy

        body = numpy.array2string(value, threshold=50, edgeitems=3, max_line_width=width)
        text = f"array({_shape_dtype(value)})\n{body}"
    elif isinstance(value, str):
        text = f"str, {len(value)} characters\n{value[:max_lines * width]}"
    elif isinstance(value, dict):
        lines = [f"dict, {len(value)} items"]
        lines += [f"  {short_repr(k, 30)}: {short_repr(v, width - 36)}"
                  for k, v in list(value.items())[:max_lines - 1]]
        text = "\n".join(lines)
    elif isinstance(value, (list, tuple)):
        lines = [f"{type(value).__name__}, {len(value)} items"]
        lines += [f"  [{i}] {short_repr(v, width - 8)}" for i, v in enumerate(value[:max_lines - 1])]
        text = "\n".join(lines)
    else:
        text = _bounded_repr(value)
    return _clip(text, max_lines, width)


def _clip(text: str, max_lines: int, width: int) -> str:
    lines = text.splitlines() or [""]
    out = [line if len(line) <= width else line[:width - 3] + "..." for line in lines[:max_lines]]
    if len(lines) > max_lines:
        out.append(f"... ({len(lines) - max_lines} more lines)")
    return "\n".join(out)
