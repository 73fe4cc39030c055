"""Processes as a tree (Linux /proc), and the prctl calls that bind a process to its parent.

Light on purpose (os, signal, ctypes on demand): the task runtime uses it before any user code.
Elsewhere than Linux every function degrades to "nothing known" / "not available".
"""
from __future__ import annotations

import os
import signal
import sys

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
LINUX = sys.platform.startswith("linux")

_libc = None


def prctl(option: int, value: int) -> bool:
    """prctl(2) through ctypes; False where it is not available or refused."""
    global _libc
    if not LINUX:
        return False
    try:
        if _libc is None:
            import ctypes

            _libc = ctypes.CDLL(None, use_errno=True)
        return _libc.prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def die_with_parent(sig: int, parent: int) -> bool:
    """Have the kernel send `sig` to this process when `parent` (its parent) ends.
    If `parent` already ended before we asked, the signal is sent now."""
    if not prctl(PR_SET_PDEATHSIG, sig):
        return False
    if os.getppid() != parent:
        os.kill(os.getpid(), sig)
    return True


def children(pid: int, known: frozenset | dict = frozenset()) -> list[int]:
    """The live (non-zombie) children of `pid`, except those in `known` (which are not
    looked at: the zygote asks, after each task, for children that are not its tasks)."""
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    out: list[int] = []
    for tid in threads:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(c) for c in f.read().split()]
        except FileNotFoundError:
            if not os.path.exists(f"/proc/{pid}/task/{tid}"):
                continue   # that thread ended meanwhile
            return _children_by_scan(pid)   # a kernel without the children file
        except OSError:
            continue
    return [c for c in out if c not in known and _state(c) not in ("Z", "X", None)]


def descendants(pid: int) -> list[int]:
    """Every live process below `pid`, parents before their children."""
    out: list[int] = []
    todo = [pid]
    seen = {pid}
    while todo:
        for c in children(todo.pop()):
            if c not in seen:
                seen.add(c)
                out.append(c)
                todo.append(c)
    return out


def kill_tree(pid: int, sig: int = signal.SIGKILL, include_root: bool = True) -> list[int]:
    """Send `sig` to `pid`'s process group and to every descendant, wherever its group or
    session: the tree is read first, so a child that called setsid() does not escape."""
    tree = descendants(pid) if pid > 0 else []
    if include_root:
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
    for p in tree:
        try:
            os.kill(p, sig)
        except (ProcessLookupError, PermissionError):
            pass
    return tree


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("ascii", "replace")
    except OSError:
        return None
    return data.rpartition(")")[2].split()   # after "pid (comm)": state ppid pgrp ...


def _state(pid: int) -> str | None:
    fields = _stat(pid)
    return fields[0] if fields else None


def _children_by_scan(pid: int) -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = _stat(int(name))
            if fields and fields[1] == str(pid) and fields[0] not in ("Z", "X"):
                out.append(int(name))
    return out
