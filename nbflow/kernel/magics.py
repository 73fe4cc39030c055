"""The magics: `%%flow`, `%%step` (run the step now) and `%nbflow CMD ...`."""
from __future__ import annotations

import re

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class

from ..notebook.params import IncludeFile, JSONType, Parameter
from ..task.current import current
from .cells import cell_number, flow_from_cell, step_from_cell
from .session import KernelSession

MAGIC_CELL = re.compile(r"^\s*%%(step|flow)\b")


def allow_empty_body(lines: list[str]) -> list[str]:
    """An input transformer: IPython refuses a cell magic with an empty body, but a
    `%%step end` or `%%flow Name` cell may have none (docs/reference.md section 1)."""
    if lines and MAGIC_CELL.match(lines[0]) and all(not line.strip() for line in lines[1:]):
        first = lines[0] if lines[0].endswith("\n") else lines[0] + "\n"
        return [first, "\n"]
    return lines


@magics_class
class NbflowMagics(Magics):
    def __init__(self, shell, session: KernelSession):
        super().__init__(shell)
        self.session = session

    def _cell(self, name: str | None, saved) -> int:
        return cell_number(saved, name, getattr(self.shell, "execution_count", None))

    @cell_magic
    def step(self, line: str, cell: str):
        """%%step NAME [-> TARGET, ...] [OPTIONS]: register the step and run it now."""
        from .interactive import run_step

        saved = self.session.saved_notebook()
        m = re.match(r"\s*([^\W\d]\w*)", line)   # a Python identifier, ASCII or not
        spec = step_from_cell(line, cell, self._cell(m.group(1) if m else "", saved))
        with self.session.lock:
            self.shell.user_ns["self"] = run_step(self.session, spec, saved)

    @cell_magic
    def flow(self, line: str, cell: str):
        """%%flow [Name]: the flow's name, parameters and module code (runs in every task)."""
        saved = self.session.saved_notebook()
        spec = flow_from_cell(line, cell, self._cell(None, saved))
        old = self.session.flow_name(saved)
        self.session.flow_cell = spec
        new = self.session.flow_name(saved)
        if self.session.run is not None and old != new:
            print(f"(the flow is now named {new}: the next step cell starts a new interactive run)")
        # the module code also runs here, so its imports and helpers serve scratch cells too
        ns = self.shell.user_ns
        ns.update(Parameter=Parameter, JSONType=JSONType, IncludeFile=IncludeFile, current=current,
                  __file__=self.session.path or "")   # as in the tasks: the notebook's path
        if spec.code.strip():
            self.shell.ex(compile(spec.code, f"<flow cell {spec.cell}>", "exec"))

    @line_magic
    def nbflow(self, line: str):
        """%nbflow run|show|check|resume|logs|dump|runs|export|params|inspect ..."""
        from .commands import dispatch

        return dispatch(self.session, self.shell, line)
