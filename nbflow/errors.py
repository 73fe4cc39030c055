"""One error family. Every error knows where it happened (cell, step, artifact)
so the CLI, the kernel and the widgets can all show "cell 4, step 'train': ..."."""
from __future__ import annotations

from .names import cut_long_words, shorten


class NbflowError(Exception):
    """Base of every error nbflow raises on purpose; shown without a traceback."""

    def __init__(self, message: str, *, cell: int | None = None, step: str | None = None,
                 line: int | None = None, artifact: str | None = None):
        self.message = cut_long_words(str(message))   # a 100 KB input is not echoed whole
        self.cell = cell
        self.step = shorten(step) if isinstance(step, str) else step
        self.line = line
        self.artifact = artifact
        super().__init__(self.render())

    def location(self) -> str:
        parts = []
        if self.cell is not None:
            parts.append(f"cell {self.cell}")
            if self.line is not None:
                parts[-1] += f", line {self.line}"
        if self.step is not None:
            parts.append(f"step '{self.step}'")
        if self.artifact is not None and f"'{self.artifact}'" not in self.message:
            parts.append(f"artifact '{self.artifact}'")
        return ", ".join(parts)

    def render(self) -> str:
        where = self.location()
        return f"{where}: {self.message}" if where else self.message


class NotebookError(NbflowError):
    """The notebook's cells cannot be read as a flow (header, syntax, graph)."""


class ValidationErrors(NbflowError):
    """Several problems found at once (validation collects them all)."""

    def __init__(self, errors: list[NbflowError]):
        self.errors = list(errors)
        super().__init__("\n".join(e.render() for e in self.errors))

    def render(self) -> str:
        return "\n".join(e.render() for e in self.errors)


class ParameterError(NbflowError):
    """A parameter value is missing or cannot be converted."""


class UsageError(NbflowError):
    """Bad command-line usage (exit status 2)."""


class DatastoreError(NbflowError):
    """The store is missing something or holds something damaged."""


class ArtifactError(NbflowError):
    """An artifact cannot be read, written or merged."""


class ReadOnlyArtifact(ArtifactError, AttributeError):
    """Assigning a parameter, an IncludeFile, a reserved name or a join's input: an
    AttributeError too, as Metaflow raises there (its parameters are read-only properties),
    so `except AttributeError` code ports unchanged."""


class TaskFailed(NbflowError):
    """A task of the run failed; the run stopped."""


class ClientError(NbflowError):
    """The client API was asked for something that does not exist or is not visible."""


class MissingArtifact(ArtifactError, ClientError, AttributeError):
    """Reading an artifact that does not exist, in a step (`self.x`) or from the client
    (`task.data.x`): an AttributeError too, so `hasattr` works and Metaflow code ports."""
