"""`tag add|remove|replace|list PATHSPEC [TAG...]`: a run's user tags after the run."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import UsageError

ACTIONS = ("add", "remove", "replace", "list")


@dataclass(frozen=True)
class TagReport:
    pathspec: str
    user_tags: list[str]
    system_tags: list[str]


def tag(action: str, pathspec: str, tags: list[str], datastore: str | None = None) -> TagReport:
    """Change (or list) the user tags of the run `pathspec` names (Flow/run_id, or
    anything under it), read whatever its namespace. `replace` takes OLD NEW."""
    from ..client.core import Run
    from ..datastore.tags import TaggingError
    from .env import run_pathspec
    from .locate import context

    if action not in ACTIONS:
        raise UsageError(f"tag: unknown action '{action}'; give one of {', '.join(ACTIONS)}")
    run = Run(run_pathspec(pathspec), _context=context(datastore, None))
    try:
        return _apply(run, action, tags)
    except TaggingError as e:
        raise UsageError(f"{pathspec}: {e.message}") from None


def _apply(run, action: str, tags: list[str]) -> TagReport:
    if action == "list":
        if tags:
            raise UsageError("tag list takes no tags")
    elif action == "replace":
        if len(tags) != 2:
            raise UsageError("tag replace takes two tags: OLD NEW")
        run.replace_tag(*tags)
    elif not tags:
        raise UsageError(f"tag {action} needs at least one tag")
    elif action == "add":
        run.add_tags(tags)
    else:
        run.remove_tags(tags)
    return TagReport(run.pathspec, sorted(run.user_tags), sorted(run.system_tags))
