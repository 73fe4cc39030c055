"""Any object -> a Jupyter mime bundle ({mime: value}, {mime: metadata}), as IPython's
display formatter would make it, without importing IPython.

`_repr_mimebundle_` first, then each `_repr_*_` method for the forms it did not give,
then `text/plain`. Binary forms (PNG, JPEG, PDF) are base64 text, as in a notebook file.
A repr method that raises does not fail the step: its form is left out and the error
is named in `text/plain`. A form that is neither text, bytes nor JSON is refused."""
from __future__ import annotations

import base64
import json
import sys
from typing import Any

from ..datastore.cards import BINARY

RICH = (("_repr_html_", "text/html"), ("_repr_markdown_", "text/markdown"),
        ("_repr_svg_", "image/svg+xml"), ("_repr_png_", "image/png"),
        ("_repr_jpeg_", "image/jpeg"), ("_repr_latex_", "text/latex"),
        ("_repr_json_", "application/json"), ("_repr_javascript_", "application/javascript"),
        ("_repr_pdf_", "application/pdf"))


class UnkeepableOutput(TypeError):
    """A displayed object's bundle cannot be stored (not text, bytes or JSON)."""


def type_name(obj: Any) -> str:
    """`pandas.DataFrame`; a class of the user's step or flow cell by its plain name."""
    cls = type(obj)
    mod, name = cls.__module__, cls.__qualname__.rpartition("<locals>.")[2]
    return name if mod in ("builtins", "__main__", "nbflow_flow", None) else f"{mod}.{name}"


def is_json_form(mime: str) -> bool:
    return mime == "application/json" or (mime.startswith("application/") and mime.endswith("+json"))


def bundle_of(obj: Any, include=None, exclude=None) -> tuple[dict, dict]:
    """(data, metadata) for `obj`; raises UnkeepableOutput naming the object's type."""
    errors: list[str] = []
    data: dict = {}
    metadata: dict = {}
    if _is_figure(obj):
        data.update(figure_bundle(obj))
    elif not isinstance(obj, type):   # a class is shown by its name only, as IPython does
        _from_mimebundle(obj, include, exclude, data, metadata, errors)
        for meth, mime in RICH:
            if mime not in data:
                _from_method(obj, meth, mime, data, metadata, errors)
    if "text/plain" not in data:
        data["text/plain"] = _plain(obj)
    if errors:
        data["text/plain"] = str(data["text/plain"]) + "".join(f"\n[{e}]" for e in errors)
        sys.stderr.write(f"display: {'; '.join(errors)} (kept as text)\n")
    data = {m: v for m, v in data.items() if _wanted(m, include, exclude) or m == "text/plain"}
    return clean(data, metadata, obj)


def _wanted(mime: str, include, exclude) -> bool:
    return (include is None or mime in include) and (exclude is None or mime not in exclude)


def _from_mimebundle(obj, include, exclude, data: dict, metadata: dict, errors: list) -> None:
    method = _method(obj, "_repr_mimebundle_")
    if method is None:
        return
    try:
        out = method(include=include, exclude=exclude)
    except Exception as e:  # noqa: BLE001 - the user's repr may raise anything
        errors.append(_failed(obj, "_repr_mimebundle_", e))
        return
    if isinstance(out, tuple) and len(out) == 2:
        out, md = out
        metadata.update(md or {})
    if out:
        data.update(out)


def _from_method(obj, meth: str, mime: str, data: dict, metadata: dict, errors: list) -> None:
    method = _method(obj, meth)
    if method is None:
        return
    try:
        out = method()
    except NotImplementedError:
        return
    except Exception as e:  # noqa: BLE001
        errors.append(_failed(obj, meth, e))
        return
    if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict):
        out, md = out
        metadata[mime] = md
    if out is not None:
        data[mime] = out


def _method(obj, name: str):
    try:
        method = getattr(obj, name, None)
    except Exception:  # noqa: BLE001 - a __getattr__ that raises: no such form
        return None
    return method if callable(method) and not _is_mock_like(obj, name) else None


def _is_mock_like(obj, name: str) -> bool:
    """Objects whose __getattr__ answers every name (IPython checks the same way)."""
    try:
        return getattr(obj, "_ipython_canary_method_should_not_exist_", None) is not None
    except Exception:  # noqa: BLE001
        return True


def _failed(obj, meth: str, e: BaseException) -> str:
    return f"{type(obj).__name__}.{meth} raised {type(e).__name__}: {e}"


def _plain(obj: Any) -> str:
    try:
        return repr(obj)
    except Exception as e:  # noqa: BLE001
        return f"<{type_name(obj)} object: its repr raised {type(e).__name__}: {e}>"


def clean(data: dict, metadata: dict, obj: Any = None) -> tuple[dict, dict]:
    """Forms as a notebook stores them: text, base64 for binary forms, JSON for +json."""
    out = {}
    what = type_name(obj) if obj is not None else "the bundle"
    for mime, value in data.items():
        if not isinstance(mime, str):
            raise UnkeepableOutput(f"display(): the output of {what} has a mime type that is "
                                   f"not a string ({mime!r})")
        if isinstance(value, (bytes, bytearray, memoryview)):
            value = bytes(value)
            value = (base64.b64encode(value).decode("ascii") if mime in BINARY
                     else value.decode("utf-8", "replace"))
        elif is_json_form(mime):
            value = _json_value(value, mime, what)
        elif not isinstance(value, str):
            raise UnkeepableOutput(f"display(): cannot keep the output of {what}: its {mime} "
                                   f"form is of type {type_name(value)}, not text, bytes or JSON")
        out[mime] = value
    try:
        json.dumps(metadata)
    except (TypeError, ValueError) as e:
        raise UnkeepableOutput(f"display(): cannot keep the output of {what}: its metadata is "
                               f"not JSON ({e})") from None
    return out, metadata


def _json_value(value, mime: str, what: str):
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        raise UnkeepableOutput(f"display(): cannot keep the output of {what}: its {mime} form "
                               f"({type_name(value)}) is not JSON") from None
    return value


# -- matplotlib figures (checked by module name: matplotlib is never imported here) ----------
def _is_figure(obj: Any) -> bool:
    return type(obj).__module__ == "matplotlib.figure" and hasattr(obj, "savefig")


def figure_bundle(fig) -> dict:
    """The figure as the notebook's inline backend shows it: a tight PNG and its repr."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return {"image/png": buf.getvalue(), "text/plain": _plain(fig)}
