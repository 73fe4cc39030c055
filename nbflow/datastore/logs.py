"""A task attempt's stdout/stderr, written to the store as it arrives.

On a local folder each chunk is appended to the log file at once (the file appears
with the first byte; a task that prints nothing has none). Object stores cannot
append: the log is spooled to a local temporary file (in memory up to 1 MiB) and
uploaded whole when the task ends. Either way the scheduler holds no more than a chunk.
"""
from __future__ import annotations

import shutil
import tempfile
from typing import IO

from ..errors import NbflowError
from . import Datastore

SPOOL_IN_MEMORY = 1 << 20


def log_path(ds: Datastore, flow: str, run_id: str, step: str, task_id: str, attempt: int,
             stream: str) -> str:
    suffix = "out" if stream == "stdout" else "err"
    return f"{ds.task_prefix(flow, run_id, step, str(task_id), attempt)}.{suffix}"


class LogWriter:
    """Append-only log of one stream of one task attempt."""

    def __init__(self, ds: Datastore, rel: str):
        self.ds = ds
        self.rel = rel
        self.file: IO[bytes] | None = None
        self.size = 0
        self.error: Exception | None = None   # the log could not be written (kept short)

    def write(self, chunk: bytes) -> None:
        if not chunk or self.error:
            return
        try:
            if self.file is None:
                self.file = self._open()
            self.file.write(chunk)
            if self.ds.storage.local:
                self.file.flush()   # readable by a client while the task runs
        except OSError as e:   # a full disk, say: the run goes on, the log stops here
            self.error = e
            return
        self.size += len(chunk)

    def _open(self) -> IO[bytes]:
        storage = self.ds.storage
        if storage.local:
            full = storage.full(self.rel)
            storage._ensure_parent(full)
            return open(full, "ab")
        return tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)

    def close(self) -> None:
        """The log is complete: upload it (object stores), release the file."""
        f, self.file = self.file, None
        if f is None:
            return
        try:
            if not self.ds.storage.local and not self.error:
                f.seek(0)
                with self.ds.storage.open_for_write(self.rel, self.size, "the task's log") as out:
                    shutil.copyfileobj(f, out, 1 << 20)
        except (OSError, NbflowError) as e:
            self.error = e
        finally:
            try:
                f.close()
            except OSError as e:   # the last buffered bytes did not fit (a full disk)
                self.error = self.error or e
