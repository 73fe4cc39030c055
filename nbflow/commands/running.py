"""`run` and `resume`: a new run of a notebook; listeners receive its RunEvents."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..run.runner import RunOptions, make_executor

if TYPE_CHECKING:
    from ..notebook.spec import NotebookSpec
    from ..run.scheduler import Listener, RunResult


def as_notebook(notebook: NotebookSpec | str) -> NotebookSpec:
    """A NotebookSpec as given (kernel cells), or read from a saved .ipynb file (as
    commands.locate's, without importing the client that module also serves, nor the
    spec's module before `nbflow run` has forked its zygote)."""
    if not isinstance(notebook, (str, os.PathLike)):
        return notebook
    from ..notebook.parse import read_notebook

    return read_notebook(notebook)


def run(notebook: NotebookSpec | str, opts: RunOptions, listeners: list[Listener] = (),
        executor=None) -> RunResult:
    """Run from `start` to `end`. A caller's `executor` stays open (the kernel's warm one)."""
    from ..run.runner import run_notebook

    owned = executor is None
    executor = executor or make_executor(opts)   # a zygote warms up while the file is read
    try:
        return run_notebook(as_notebook(notebook), opts, list(listeners), executor)
    finally:
        if owned:
            executor.close()


def resume(notebook: NotebookSpec | str, opts: RunOptions, step: str | None = None,
           origin_run_id: str | None = None, listeners: list[Listener] = (),
           executor=None) -> RunResult:
    """A new run reusing the origin run's successful tasks upstream of `step` (default: the
    failed step)."""
    from ..run.resume import resume_notebook

    owned = executor is None
    executor = executor or make_executor(opts)
    try:
        return resume_notebook(as_notebook(notebook), opts, step, origin_run_id,
                               list(listeners), executor)
    finally:
        if owned:
            executor.close()
