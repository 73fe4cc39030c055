"""The error a failed step leaves behind (`--catch VAR`, `Task.exception`)."""
from __future__ import annotations


class StepException:
    """Shaped like Metaflow's caught exception: `type`, `message`, `traceback`."""

    def __init__(self, type: str, message: str, traceback: str):
        self.type = type
        self.message = message
        self.traceback = traceback

    @classmethod
    def from_dict(cls, d: dict | None) -> StepException | None:
        return None if not d else cls(d.get("type", ""), d.get("message", ""),
                                      d.get("traceback", ""))

    def to_dict(self) -> dict:
        return {"type": self.type, "message": self.message, "traceback": self.traceback}

    def __str__(self):
        return self.traceback or f"{self.type}: {self.message}"

    def __repr__(self):
        return f"StepException(type={self.type!r}, message={self.message!r})"

    def __eq__(self, other):
        return isinstance(other, StepException) and self.to_dict() == other.to_dict()
