"""How many bytes runs and flows hold, from one store walk: a blob shared by several
runs counts once in a total, and only the blobs no other run references (plus the run's
own records and logs) count in what it holds alone: what deleting it would free."""
from __future__ import annotations

from dataclasses import dataclass

from .walk import RunEntry, StoreWalk


@dataclass(frozen=True)
class Size:
    total: int    # bytes it references or holds, each blob once
    alone: int    # bytes no other run references: freed by `rm` and then `gc`

    def __int__(self) -> int:
        return self.total


class Usage:
    def __init__(self, walk: StoreWalk):
        self.walk = walk
        self.users: dict[str, set[str]] = {}     # blob key -> pathspecs of runs using it
        for run in walk.runs.values():
            for key in run.keys:
                self.users.setdefault(key, set()).add(run.pathspec)

    def _blob_bytes(self, keys) -> int:
        blobs = self.walk.blobs
        return sum(blobs[k].size for k in keys if k in blobs)

    def runs_size(self, runs: list[RunEntry]) -> Size:
        names = {r.pathspec for r in runs}
        keys = set().union(*(r.keys for r in runs)) if runs else set()
        alone = {k for k in keys if self.users.get(k, set()) <= names}
        files = sum(f.size for r in runs for f in r.files)
        return Size(self._blob_bytes(keys) + files, self._blob_bytes(alone) + files)

    def run_size(self, run: RunEntry) -> Size:
        return self.runs_size([run])

    def flow_size(self, flow: str) -> Size:
        return self.runs_size(self.walk.select(flow))

    def step_sizes(self, run: RunEntry) -> dict[str, tuple[int, int]]:
        """step -> (tasks, bytes of the blobs its tasks reference, each once)."""
        steps: dict[str, tuple[set, set]] = {}
        for task in sorted(run.tasks, key=lambda t: (len(t.task_id), t.task_id)):
            tasks, keys = steps.setdefault(task.step, (set(), set()))
            tasks.add(task.task_id)
            keys |= task.keys
        return {s: (len(t), self._blob_bytes(k)) for s, (t, k) in steps.items()}

    def unreferenced(self) -> tuple[int, int]:
        """(blobs, bytes) that no run references."""
        keys = [k for k in self.walk.blobs if k not in self.users]
        return len(keys), self._blob_bytes(keys)

    def store_total(self) -> int:
        return (sum(b.size for b in self.walk.blobs.values())
                + sum(f.size for r in self.walk.runs.values() for f in r.files)
                + sum(f.size for f in self.walk.stray))


DEFAULT_WARN = 10 << 30


def warn_threshold(text: str | None) -> int | None:
    """NBFLOW_STORE_WARN: '10GiB', '500M', '2g', a number of bytes; '0' or 'off' turns it off."""
    from .sizes import parse_size

    return parse_size(text, DEFAULT_WARN)


def store_over_limit(ds) -> tuple[int, int] | None:
    """(bytes held, NBFLOW_STORE_WARN) when the store holds more than that limit (default
    10 GiB), else None; the store is listed (sizes only, no record read)."""
    import os

    limit = warn_threshold(os.environ.get("NBFLOW_STORE_WARN"))
    if limit is None:
        return None
    total = sum(f.size for f in ds.storage.walk())
    return (total, limit) if total > limit else None
