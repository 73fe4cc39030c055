"""A card as one self-contained HTML page: images inline as data URIs, no scripts, no
network. Each output is shown in its richest form that a page can show by itself."""
from __future__ import annotations

import html
import json

from .components import VEGA_LITE

IMAGES = ("image/png", "image/jpeg", "image/gif", "image/webp")
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
header { border-bottom: 1px solid #ddd; margin-bottom: 1em; }
header h1 { font-size: 1.3em; margin: 0 0 .3em; }
header p { color: #666; margin: 0 0 .8em; font-size: .9em; }
.output { margin: 1em 0; overflow-x: auto; }
pre { background: #f6f6f6; padding: .6em; white-space: pre-wrap; }
table { border-collapse: collapse; font-size: .9em; }
th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: right; }
th { background: #f0f0f0; }
img { max-width: 100%; }
"""


def page(bundles: list[tuple[dict, dict]], title: str, subtitle: str = "") -> str:
    empty = "<p><i>This task displayed nothing.</i></p>" if not bundles else ""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
            f"<header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p></header>"
            f"{empty}{fragment(bundles)}</body></html>\n")


def fragment(bundles: list[tuple[dict, dict]]) -> str:
    return "\n".join(f'<div class="output">{render(data, md)}</div>' for data, md in bundles)


def render(data: dict, metadata: dict | None = None) -> str:
    """One output as HTML (richest form first)."""
    metadata = metadata or {}
    if "text/html" in data:
        return str(data["text/html"])
    for mime in IMAGES:
        if mime in data:
            size = _size_attrs(metadata.get(mime) or {})
            return f'<img src="data:{mime};base64,{data[mime]}"{size} alt="{_alt(data)}">'
    if "image/svg+xml" in data:
        return str(data["image/svg+xml"])
    if "text/markdown" in data:
        return markdown(str(data["text/markdown"]))
    if VEGA_LITE in data or "application/json" in data:
        spec = data.get(VEGA_LITE, data.get("application/json"))
        note = "<p><i>Vega-Lite chart (its spec; charts need a script to draw)</i></p>" \
            if VEGA_LITE in data else ""
        return f"{note}<pre>{html.escape(json.dumps(spec, indent=2))}</pre>"
    if "text/latex" in data:
        return f"<pre>{html.escape(str(data['text/latex']))}</pre>"
    return f"<pre>{html.escape(str(data.get('text/plain', '')))}</pre>"


def _size_attrs(md: dict) -> str:
    return "".join(f' {k}="{int(md[k])}"' for k in ("width", "height")
                   if isinstance(md.get(k), (int, float)))


def _alt(data: dict) -> str:
    return html.escape(str(data.get("text/plain", "image"))[:200], quote=True)


def markdown(text: str) -> str:
    """Markdown to HTML with mistune when it is installed (Jupyter's nbconvert brings it);
    otherwise the text as it is."""
    try:
        import mistune
    except ImportError:
        return f'<pre class="markdown">{html.escape(text)}</pre>'
    return mistune.html(text)
