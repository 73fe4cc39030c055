"""`fsck [--repair]`: verify every blob, record and run of a store."""
from __future__ import annotations

from collections.abc import Callable

from ..datastore.fsck import FsckReport
from ..datastore.fsck import fsck as check_store
from .store import open_store


def fsck(datastore: str | None = None, repair: bool = False,
         progress: Callable[[str], None] | None = None) -> FsckReport:
    """Check the store; with `repair`, move damaged blobs aside (never delete them)."""
    return check_store(open_store(datastore), repair=repair, progress=progress)
