"""Run.add_tag / remove_tag / replace_tag (and the plural forms), Metaflow's names,
over nbflow.datastore.tags (one write-once object per change). Mixed into client.Run."""
from __future__ import annotations

from collections.abc import Iterable

from ..datastore import tags as store


class RunTags:
    """Needs `_ds`, `_record`, `id`, `path_components` and `system_tags` (client.Run)."""

    _user_tags_cache: frozenset | None = None

    def _current_user_tags(self) -> frozenset:
        if self._user_tags_cache is None:
            self._user_tags_cache = frozenset(store.user_tags(
                self._ds, self.path_components[0], self.id, list(self.record.tags)))
        return self._user_tags_cache

    def _mutate(self, remove: Iterable[str] = (), add: Iterable[str] = ()) -> None:
        after = store.mutate(self._ds, self.path_components[0], self.id,
                             list(self.record.tags), self.system_tags,
                             remove=remove, add=add)
        self._user_tags_cache = frozenset(after)

    def add_tag(self, tag: str) -> None:
        """Add a user tag to this run (stored at once; other taggers' changes are kept)."""
        self._mutate(add=[tag])

    def add_tags(self, tags: Iterable[str]) -> None:
        self._mutate(add=tags)

    def remove_tag(self, tag: str) -> None:
        """Remove a user tag (system tags cannot be removed)."""
        self._mutate(remove=[tag])

    def remove_tags(self, tags: Iterable[str]) -> None:
        self._mutate(remove=tags)

    def replace_tag(self, tag_to_remove: str, tag_to_add: str) -> None:
        """Remove one tag and add another in one change (the removal first)."""
        self._mutate(remove=[tag_to_remove], add=[tag_to_add])

    def replace_tags(self, tags_to_remove: Iterable[str], tags_to_add: Iterable[str]) -> None:
        self._mutate(remove=tags_to_remove, add=tags_to_add)
