"""The store the housekeeping commands (fsck, du, rm, gc) act on."""
from __future__ import annotations

import os
import re

from ..datastore import Datastore, default_datastore_url
from ..datastore.storage import is_local
from ..errors import DatastoreError, UsageError


def open_store(url: str | None = None) -> Datastore:
    """`url`, else NBFLOW_DATASTORE, else the nearest `.nbflow/` upward; it must exist."""
    url = url or default_datastore_url()
    ds = Datastore(url)
    if is_local(url) and not os.path.isdir(ds.storage.root):
        raise DatastoreError(f"no nbflow store at {ds.storage.root}; give --datastore URL "
                             "(or set NBFLOW_DATASTORE)")
    if not is_local(url):
        ds.storage.list("")   # an object store that cannot be reached: a one-line error now
    return ds


UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(text: str, option: str) -> float:
    """'7d', '12h', '30m', '45s', '2w' (a bare number is days) -> seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text or "")
    if not m:
        raise UsageError(f"{option} takes an age like 7d, 12h, 30m, 45s or 2w, not '{text}'")
    return float(m.group(1)) * UNITS[m.group(2) or "d"]
