"""The size check as a task finishes: an artifact stored bigger than NBFLOW_ARTIFACT_WARN
(default 1 GiB; `off` turns it off) gets a one-line notice in the task's output (under the
cell in a kernel), naming the artifact, its type and its size: every task that reads it
loads all of it, and every changed version is stored anew."""
from __future__ import annotations

import os
import sys

from ..datastore.sizes import human_size, parse_size

DEFAULT_WARN = 1 << 30


def artifact_warn_limit() -> int | None:
    return parse_size(os.environ.get("NBFLOW_ARTIFACT_WARN"), DEFAULT_WARN)


def notice_large(written: list[tuple[str, str, int]], step: str) -> None:
    """`written`: (artifact name, type name, stored bytes) of what this task stored."""
    limit = artifact_warn_limit()
    if limit is None:
        return
    for name, type_name, size in written:
        if size > limit:
            print(f"nbflow: step '{step}' stored self.{name} ({type_name}), {human_size(size)}: "
                  f"over NBFLOW_ARTIFACT_WARN ({human_size(limit)}); every step that reads it "
                  "loads all of it. Keep only what later steps need in self, or raise the "
                  "limit (NBFLOW_ARTIFACT_WARN=off turns this notice off).",
                  file=sys.stderr, flush=True)
