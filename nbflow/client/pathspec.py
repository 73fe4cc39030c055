"""Pathspecs (Flow/run_id/step/task_id/artifact) and the client's errors.

Pure helpers of nbflow.client, which re-exports every name here: parsing and checking
a pathspec, "did you mean" messages, and reading one JSON record of the store as the
client's errors (NotFound, DamagedRecord) rather than I/O errors.
"""
from __future__ import annotations

import re
from datetime import datetime

from ..datastore import Datastore
from ..errors import ClientError, MissingArtifact, UsageError  # noqa: F401 (re-exported)
from ..names import is_identifier, nearby, shorten

# -- errors -------------------------------------------------------------------------


class PathspecError(ClientError, UsageError):
    """A pathspec that is malformed (or tries to leave the datastore): bad usage, exit 2."""


class NotFound(ClientError, KeyError):
    """A flow, run, step, task or artifact that does not exist (a KeyError, as in Metaflow)."""

    def __str__(self):
        return self.render()


class NamespaceMismatch(ClientError):
    """The object exists but belongs to another namespace."""


class DamagedRecord(ClientError):
    """A metadata file in the store cannot be read (truncated or corrupted)."""


# -- pathspecs ------------------------------------------------------------------------

_ID = re.compile(r"^[A-Za-z0-9_-]+$")


class _Name:
    """A flow, step or artifact name: a Python identifier."""

    @staticmethod
    def match(part: str) -> bool:
        return is_identifier(part)


_NAME = _Name()
_KINDS = (("flow", _NAME), ("run", _ID), ("step", _NAME), ("task", _ID), ("artifact", _NAME))


def parse_pathspec(pathspec: str, depth: int | None = None) -> list[str]:
    """'Flow/run/step/task' -> its parts, each checked (no '..', no '/', no empty part)."""
    if not isinstance(pathspec, str) or not pathspec.strip():
        raise PathspecError(f"a pathspec must be a non-empty string like Flow/run_id/step/task_id, "
                            f"got {shorten(repr(pathspec))}")
    parts = pathspec.strip().rstrip("/").split("/")
    if depth is not None and len(parts) != depth:
        shape = "/".join(k for k, _ in _KINDS[:depth]).replace("run", "run_id").replace(
            "task", "task_id")
        raise PathspecError(f"malformed pathspec '{shorten(pathspec)}': expected {shape}")
    if len(parts) > len(_KINDS):
        raise PathspecError(f"malformed pathspec '{shorten(pathspec)}': at most "
                            "Flow/run_id/step/task_id/"
                            "artifact")
    for part, (kind, pattern) in zip(parts, _KINDS):
        if not pattern.match(part):
            rule = "a Python identifier" if pattern is _NAME else "letters, digits, '_' and '-'"
            raise PathspecError(f"malformed pathspec '{shorten(pathspec)}': '{shorten(part)}' is "
                                f"not a valid {kind} name ({rule})")
    return parts


_nearby = nearby   # the client's name for it


def _read_json(ds: Datastore, rel: str, what: str) -> dict:
    try:
        rec = ds.get_json(rel)
    except FileNotFoundError:
        raise NotFound(f"{what} does not exist ({rel} is not in {ds.url})") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise DamagedRecord(f"{what} is damaged: {rel} in {ds.url} cannot be read ({e})") from None
    if not isinstance(rec, dict):
        raise DamagedRecord(f"{what} is damaged: {rel} in {ds.url} is not a JSON object")
    return rec


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts)

