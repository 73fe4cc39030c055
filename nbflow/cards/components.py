"""Card components with Metaflow's names and arguments (`metaflow.cards`), so a step
that builds a report with `current.card.append(...)` exports unchanged. Each one is
an ordinary rich object: `display()` shows it, in a task or in a notebook."""
from __future__ import annotations

import base64
import html
import json
from typing import Any

VEGA_LITE = "application/vnd.vegalite.v5+json"


class Component:
    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return self.bundle()

    def bundle(self) -> dict:
        raise NotImplementedError


class Markdown(Component):
    def __init__(self, text: str | None = None):
        self.text = text or ""

    def bundle(self) -> dict:
        return {"text/markdown": self.text, "text/plain": self.text}

    def __repr__(self):
        return f"Markdown({self.text!r})"


class Table(Component):
    """Rows of cells (text, numbers, or other components); `headers` name the columns."""

    def __init__(self, data: list | None = None, headers: list | None = None,
                 disable_updates: bool = False):
        self.data = [list(row) for row in (data or [])]
        self.headers = list(headers or [])

    @classmethod
    def from_dataframe(cls, dataframe, truncate: bool = True) -> Table:
        df = dataframe.head(100) if truncate else dataframe
        return cls([list(r) for r in df.itertuples(index=False)], [str(c) for c in df.columns])

    def bundle(self) -> dict:
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in self.headers)
        rows = "".join("<tr>" + "".join(f"<td>{_cell_html(c)}</td>" for c in row) + "</tr>"
                       for row in self.data)
        table = (f"<table class=\"nbflow-table\">{f'<thead><tr>{head}</tr></thead>' if head else ''}"
                 f"<tbody>{rows}</tbody></table>")
        return {"text/html": table, "text/plain": self._plain()}

    def _plain(self) -> str:
        rows = ([[str(h) for h in self.headers]] if self.headers else []) + \
            [[_cell_text(c) for c in row] for row in self.data]
        if not rows:
            return "(empty table)"
        widths = [max(len(r[i]) for r in rows if i < len(r)) for i in range(max(map(len, rows)))]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def _cell_html(cell: Any) -> str:
    if isinstance(cell, Component):
        b = cell.bundle()
        if "text/html" in b:
            return b["text/html"]
        for mime in ("image/png", "image/jpeg", "image/gif"):
            if mime in b:
                return f'<img src="data:{mime};base64,{b[mime]}">'
        return html.escape(b.get("text/plain", ""))
    return html.escape(str(cell))


def _cell_text(cell: Any) -> str:
    return cell.bundle().get("text/plain", "") if isinstance(cell, Component) else str(cell)


class Image(Component):
    """An image from its bytes (PNG, JPEG, GIF or SVG), a matplotlib figure or a PIL image."""

    def __init__(self, src: bytes | None = None, label: str | None = None,
                 disable_updates: bool = True):
        self.src = bytes(src or b"")
        self.label = label

    @classmethod
    def from_matplotlib(cls, plot, label: str | None = None) -> Image:
        import io

        fig = plot.get_figure() if hasattr(plot, "get_figure") and not hasattr(plot, "savefig") \
            else plot
        buf = io.BytesIO()
        fig.savefig(buf, format="png", bbox_inches="tight")
        return cls(buf.getvalue(), label)

    @classmethod
    def from_pil_image(cls, pilimage, label: str | None = None) -> Image:
        import io

        buf = io.BytesIO()
        pilimage.save(buf, format="PNG")
        return cls(buf.getvalue(), label)

    def mime(self) -> str:
        head = self.src[:16]
        if head.startswith(b"\x89PNG"):
            return "image/png"
        if head.startswith(b"\xff\xd8"):
            return "image/jpeg"
        if head.startswith(b"GIF8"):
            return "image/gif"
        if b"<svg" in self.src[:1024] or head.lstrip().startswith(b"<?xml"):
            return "image/svg+xml"
        return "image/png"

    def bundle(self) -> dict:
        mime = self.mime()
        label = self.label or "image"
        value = self.src.decode("utf-8", "replace") if mime == "image/svg+xml" \
            else base64.b64encode(self.src).decode("ascii")
        return {mime: value, "text/plain": f"<Image {label}: {len(self.src):,} bytes>"}


class Artifact(Component):
    """Any value, shown by its repr (Metaflow's Artifact component)."""

    def __init__(self, artifact: Any, name: str | None = None, compressed: bool = True):
        self.artifact = artifact
        self.name = name

    def bundle(self) -> dict:
        text = repr(self.artifact)
        if self.compressed_limit and len(text) > self.compressed_limit:
            text = text[:self.compressed_limit] + " ..."
        title = f"<b>{html.escape(self.name)}</b> " if self.name else ""
        plain = f"{self.name}: {text}" if self.name else text
        return {"text/html": f"<div>{title}<pre>{html.escape(text)}</pre></div>", "text/plain": plain}

    compressed_limit = 10_000


class VegaChart(Component):
    """A Vega-Lite chart from its spec (a dict), or from an Altair chart."""

    def __init__(self, spec: dict, show_controls: bool = False):
        self.spec = spec

    @classmethod
    def from_altair_chart(cls, altair_chart) -> VegaChart:
        return cls(altair_chart.to_dict())

    def bundle(self) -> dict:
        return {VEGA_LITE: json.loads(json.dumps(self.spec)),
                "text/plain": f"<VegaChart: {self.spec.get('mark', 'chart')}>"}
