"""CPU accounting for the local scheduler: `--resources cpu=N` is a claim on cores.

A task that declares cpu=N starts only while the cpu declared by the running tasks
plus N fits in the machine's cores; one that asks for more cores than the machine has
runs when no other declaring task is running (else it could never start). Tasks that
declare no cpu are limited by --max-workers only (Metaflow's local runtime ignores
@resources altogether). An explicit --max-workers turns the accounting off: the user
has said how many tasks to run at once.
"""
from __future__ import annotations

import os


def machine_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class CpuSlots:
    def __init__(self, cores: int | None):
        """`cores=None`: no accounting."""
        self.cores = cores
        self.used: dict[str, float] = {}   # running task key -> declared cpu

    def fits(self, cpu: float | None) -> bool:
        if self.cores is None or not cpu:
            return True
        in_use = sum(self.used.values())
        return in_use + cpu <= self.cores or not self.used

    def take(self, key: str, cpu: float | None) -> None:
        if self.cores is not None and cpu:
            self.used[key] = cpu

    def release(self, key: str) -> None:
        self.used.pop(key, None)
