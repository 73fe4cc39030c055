"""A run's user tags, changeable after the run (Metaflow's add/remove/replace_tag).

The run record keeps the tags the run started with. Every change is one more
write-once object `<flow>/<run>/_tags/<time_ns>-<random>.json` holding what it
removes and adds; the current tags are the starting tags with every change applied
in name order. Nothing is ever rewritten, so concurrent taggers never lose each
other's changes (a read-modify-write of one file would).

Rules (Metaflow's): a tag is a non-empty string of at most MAX_TAG_SIZE characters;
at most MAX_USER_TAGS user tags on a run (a change that does not grow a larger set
is allowed); system tags (`user:<name>`, `interactive`, the run's namespace) can be
neither added nor removed.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable

from ..errors import NbflowError

MAX_TAG_SIZE = 500        # Metaflow's tagging_util limits
MAX_USER_TAGS = 50
SYSTEM_PREFIXES = ("user:",)
SYSTEM_TAGS = ("interactive",)


class TaggingError(NbflowError, ValueError):
    """A tag change that is refused (Metaflow's MetaflowTaggingError); a ValueError too."""


def _dir(flow: str, run_id: str) -> str:
    return f"{flow}/{run_id}/_tags"


def check_tag(tag, system: Iterable[str] = ()) -> None:
    """Raise TaggingError naming `tag` if it cannot be a user tag."""
    if not isinstance(tag, str):
        raise TaggingError(f"tags must be strings, got {type(tag).__name__} {tag!r}")
    if not tag:
        raise TaggingError("tags must not be empty strings")
    if len(tag) > MAX_TAG_SIZE:
        raise TaggingError(f"tag '{tag[:40]}...' is too long: {len(tag)} > {MAX_TAG_SIZE} "
                           "characters (Metaflow's limit)")
    if tag in system or tag in SYSTEM_TAGS or tag.startswith(SYSTEM_PREFIXES):
        raise TaggingError(f"'{tag}' is a system tag; system tags cannot be added or removed")


def _tag_list(tags, what: str) -> list[str]:
    if isinstance(tags, str):
        raise TaggingError(f"{what} must be a list of tags, not the string {tags!r}")
    return list(tags)


def read_changes(ds, flow: str, run_id: str) -> list[dict]:
    """Every change of the run, oldest first."""
    names = sorted(n for n in ds.storage.list(_dir(flow, run_id)) if n.endswith(".json"))
    out = []
    for name in names:
        try:
            out.append(json.loads(ds.storage.get_bytes(f"{_dir(flow, run_id)}/{name}")))
        except (OSError, ValueError):
            continue   # a damaged change is skipped (fsck reports the store's damage)
    return out


def apply_changes(initial: Iterable[str], changes: list[dict]) -> list[str]:
    tags = list(dict.fromkeys(initial))
    for change in changes:
        tags = [t for t in tags if t not in set(change.get("remove") or [])]
        tags += [t for t in change.get("add") or [] if t not in tags]
    return tags


def user_tags(ds, flow: str, run_id: str, initial: Iterable[str]) -> list[str]:
    return apply_changes(initial, read_changes(ds, flow, run_id))


def mutate(ds, flow: str, run_id: str, initial: Iterable[str], system: Iterable[str], *,
           remove: Iterable[str] = (), add: Iterable[str] = ()) -> list[str]:
    """Store one change (removal first, then additions) and return the user tags after it."""
    remove = _tag_list(remove, "tags_to_remove")
    add = _tag_list(add, "tags_to_add")
    if not remove and not add:
        raise TaggingError("give at least one tag to add or remove")
    system = set(system)
    for tag in remove + add:
        check_tag(tag, system)
    before = user_tags(ds, flow, run_id, initial)
    after = apply_changes(before, [{"remove": remove, "add": add}])
    if len(after) > MAX_USER_TAGS and len(after) > len(before):
        raise TaggingError(f"a run has at most {MAX_USER_TAGS} user tags (Metaflow's limit); "
                           f"this change would make {len(after)}")
    change = {"remove": remove, "add": add, "at": time.time()}
    name = f"{time.time_ns():020d}-{os.urandom(4).hex()}.json"
    if not ds.storage.create_exclusive(f"{_dir(flow, run_id)}/{name}",
                                       json.dumps(change).encode()):
        raise TaggingError("a tag change with the same name exists; try again")
    return user_tags(ds, flow, run_id, initial)
