"""Helpers of the fault suite: runs started as a user starts them, every process of a test
found by a marker in its environment, and a store checked from its files."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import psutil
from helpers import (  # noqa: F401 - the fault suite imports them from here
    assert_store_consistent,
    cli_env,
    task_records,
)

from nbflow.datastore import Datastore, records


class Marked:
    """The processes of one test: everything started with its NBFLOW_TEST_MARK."""

    def __init__(self):
        self.mark = uuid.uuid4().hex

    def env(self, **extra) -> dict:
        return cli_env(NBFLOW_TEST_MARK=self.mark, **extra)

    def alive(self) -> list[psutil.Process]:
        out = []
        for p in psutil.process_iter():
            try:
                if p.pid != os.getpid() and p.status() != psutil.STATUS_ZOMBIE and \
                        p.environ().get("NBFLOW_TEST_MARK") == self.mark:
                    out.append(p)
            except (psutil.Error, OSError):
                continue
        return out

    def assert_none_alive(self, within: float = 20.0) -> None:
        """Nothing of the test is still running (kills take a moment to be delivered)."""
        deadline = time.monotonic() + within
        while True:
            left = self.alive()
            if not left:
                return
            if time.monotonic() > deadline:
                desc = [(p.pid, " ".join(p.cmdline())) for p in left]
                self.kill_all()
                raise AssertionError(f"still running after the run ended: {desc}")
            time.sleep(0.1)

    def kill_all(self) -> None:
        for p in self.alive():
            try:
                p.kill()
            except psutil.Error:
                pass


def start(cmd: str, nb, workdir, *args, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nbflow", cmd, str(nb), *map(str, args)],
                            cwd=str(workdir), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for(predicate, proc: subprocess.Popen | None = None, limit: float = 120):
    """Poll until `predicate()` is true (fails if the process ends first)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the run ended first: {proc.communicate()}")
        time.sleep(0.05)
    raise AssertionError("never happened")


def sigkill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def latest_run(ds: Datastore, flow: str) -> str:
    return records.list_runs(ds, flow)[0]


def assert_fsck_clean(workdir, *args, env: dict | None = None) -> str:
    """`nbflow fsck` finds no damage (strays of killed writes are not damage)."""
    from helpers import run_nbflow

    res = run_nbflow("fsck", *args, cwd=workdir, env=env)
    assert res.returncode == 0 and "no damage found" in res.stdout, res.stdout + res.stderr
    return res.stdout
