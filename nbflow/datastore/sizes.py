"""Byte sizes as users write and read them: one parser for every size setting
(`NBFLOW_STORE_WARN`, `NBFLOW_CARD_LIMIT`, `NBFLOW_ARTIFACT_WARN`) and one formatter."""
from __future__ import annotations

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20,
          "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30, "t": 1 << 40,
          "tb": 1 << 40, "tib": 1 << 40}
OFF = ("0", "off", "no", "false")


def parse_size(text: str | None, default: int | None) -> int | None:
    """'10GiB', '500M', '2g', '1.5 GB' or a number of bytes; '0'/'off' gives None (turned
    off); empty or unreadable text gives `default`."""
    import re  # only when a size is set: task start-up stays light

    if text is None or not text.strip():
        return default
    if text.strip().lower() in OFF:
        return None
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if not m or m.group(2).lower() not in _UNITS:
        return default
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def human_size(n: int | None) -> str:
    """1536 -> '1.5 KiB'."""
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"
