"""Errors as a cell shows them: one clear message, no traceback of nbflow's internals.

IPython renders an exception with a `_render_traceback_` method through it, and the
cell still ends in error (so "Run All" and nbclient stop there, as they should)."""
from __future__ import annotations

from ..errors import NbflowError

RED, RESET = "\x1b[31m", "\x1b[0m"


def render_here(err: NbflowError, here_cell: int | None = None) -> str:
    """The error's text; an error in the cell being run says "this cell" for its position."""
    if here_cell is not None and err.cell == here_cell:
        where = ["this cell" + (f", line {err.line}" if err.line is not None else "")]
        if err.step is not None:
            where.append(f"step '{err.step}'")
        return f"{', '.join(where)}: {err.message}"
    return err.render()


def in_cell(err: NbflowError, here_cell: int | None = None) -> NbflowError:
    """Mark `err` to be shown in the cell as its message only."""
    text = render_here(err, here_cell)
    err._render_traceback_ = lambda: [f"{RED}{type(err).__name__}{RESET}: {text}"]
    return err


def cell_error(cls: type[NbflowError], message: str, **where) -> NbflowError:
    return in_cell(cls(message, **where))
