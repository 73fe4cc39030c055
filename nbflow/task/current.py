"""`current`: what a running step knows about itself (Metaflow's `current`)."""
from __future__ import annotations

import sys
import types


class Current:
    _FIELDS = ("flow_name", "run_id", "step_name", "task_id", "pathspec", "retry_count",
               "origin_run_id", "namespace", "username", "tags", "is_interactive",
               "project_name", "branch_name", "project_flow_name", "is_user_branch",
               "is_production", "parameter_names")

    def __init__(self):
        self._set = False
        for f in self._FIELDS:
            setattr(self, f, None)
        self.tags = []
        self.retry_count = 0
        self.is_interactive = False
        self.is_production = False
        self.parameter_names = []

    def _bind(self, **values) -> None:
        for k, v in values.items():
            if k not in self._FIELDS:
                raise KeyError(k)
            setattr(self, k, v)
        self._set = True

    @property
    def card(self):
        """The task's card: `current.card.append(Markdown(...))`, `.extend`, `.clear`."""
        from ..cards.capture import card

        return card

    @property
    def run(self):
        """The client's Run of this task (Metaflow's `current.run`), read from its store."""
        from ..client import Run

        return Run(f"{self.flow_name}/{self.run_id}") if self._set else None

    @property
    def is_running_flow(self) -> bool:
        return self._set

    def __repr__(self):
        if not self._set:
            return "current(not in a running step)"
        return "current(" + ", ".join(f"{f}={getattr(self, f)!r}" for f in self._FIELDS) + ")"


current = Current()


class _ModuleView(types.ModuleType):
    """Once this module is imported, `from nbflow import current` finds the submodule (the
    import system binds it on the package) instead of the object: forward reads to it."""

    def __getattr__(self, name: str):
        return getattr(current, name)

    def __repr__(self):
        return repr(current)


sys.modules[__name__].__class__ = _ModuleView
