"""`self` in the kernel after a step cell ran: a read-only, lazy view of its task's artifacts.

It is a join's input view (`inputs[0]` in a task) with the kernel's own messages: each
artifact is loaded from the store on first read, then kept; `self.index` and
`self.input` work for a foreach task."""
from __future__ import annotations

from typing import Any

from ..datastore import Datastore
from ..errors import ArtifactError
from ..records import TaskRecord
from ..task.selfview import ParentView
from .cellerror import in_cell


class ReadOnlyArtifacts(ArtifactError, AttributeError):
    """Assigning to the kernel's `self` (an AttributeError, as for a read-only property)."""


class SelfView(ParentView):
    def __init__(self, ds: Datastore, record: TaskRecord, note: str = ""):
        super().__init__(ds, record.step, record.pathspec, record.artifacts,
                         record.foreach_stack)
        object.__setattr__(self, "_note", note)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in self._values or name in self._refs:
            return super().__getattr__(name)
        listing = ", ".join(sorted(self._refs)) or "none"
        raise AttributeError(f"task {self._pathspec} has no artifact '{name}'; "
                             f"its artifacts: {listing}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise in_cell(ReadOnlyArtifacts(
            f"self.{name} cannot be set here: in the kernel, self is a read-only view of the "
            f"artifacts of task {self._pathspec}. Artifacts come from steps: assign "
            f"self.{name} in a %%step cell and run that cell", artifact=name))

    def __delattr__(self, name: str) -> None:
        self.__setattr__(name, None)

    def __repr__(self) -> str:
        names = ", ".join(sorted(self._refs)) or "no artifacts"
        return f"<self of task {self._pathspec}: {names}>{self._note}"
