"""A task's card in the store: `<Flow>/<run>/<step>/<task>.<attempt>.card`, beside its logs.

The file is JSON: {"format": 1, "bundles": [{"data", "metadata", "refs"}, ...]}. A form
larger than INLINE_MAX is a content-addressed blob (binary forms as their bytes) and
`refs[mime]` = {"key", "size", "binary"}; the task record's "card" names the file
and those blobs (so fsck, du and gc count them).
A task that displayed nothing has no card file and no "card" in its record."""
from __future__ import annotations

import base64
import json

from ..records import TaskRecord
from . import Datastore

INLINE_MAX = 64 << 10
FORMAT = 1
BINARY = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"})


def externalize(ds: Datastore, data: dict) -> tuple[dict, dict]:
    """Large forms -> blobs. Returns (the small forms, {mime: blob reference})."""
    small, refs = {}, {}
    for mime, value in data.items():
        if not isinstance(value, str) or len(value) <= INLINE_MAX:
            small[mime] = value
            continue
        binary = mime in BINARY
        payload = base64.b64decode(value) if binary else value.encode()
        key = ds.put_object(payload)["key"]
        refs[mime] = {"key": key, "size": len(payload), "binary": binary}
    return small, refs


def write_card(ds: Datastore, prefix: str, bundles: list[dict]) -> dict | None:
    """Write the card file (none when nothing was displayed); what the record keeps."""
    if not bundles:
        return None
    rel = f"{prefix}.card"
    ds.storage.put_bytes(rel, json.dumps({"format": FORMAT, "bundles": bundles}).encode())
    # the blobs are named in the record too, so the store's walk (fsck, du, gc) sees them
    keys = {r["key"]: r["size"] for b in bundles for r in (b.get("refs") or {}).values()}
    info = {"path": rel, "count": len(bundles)}
    if keys:
        info["blobs"] = [{"key": k, "size": n} for k, n in keys.items()]
    return info


def read_card(ds: Datastore, record: TaskRecord) -> list[tuple[dict, dict]]:
    """[(data, metadata)] in order; [] for a task that displayed nothing."""
    info = record.card
    if not info:
        return []
    doc = json.loads(ds.storage.get_bytes(info["path"]))
    return [resolve(ds, b) for b in doc.get("bundles", [])]


def resolve(ds: Datastore, stored: dict) -> tuple[dict, dict]:
    """A stored bundle with its blob references read back."""
    data = dict(stored.get("data") or {})
    for mime, ref in (stored.get("refs") or {}).items():
        payload = ds.get_object(ref["key"])
        data[mime] = base64.b64encode(payload).decode("ascii") if ref.get("binary") \
            else payload.decode("utf-8")
    return data, dict(stored.get("metadata") or {})
