"""Inside a task: `self` (artifacts read lazily, assignments tracked) and `inputs`.

An inherited artifact is loaded on first read; at the end of the task one that
was never read is passed on by reference (no bytes, no time), one that was read
is re-encoded and kept by reference if its content key did not change (so an
in-place change is stored as a new version, as in Metaflow). A big array loaded
as a map of its blob and provably unchanged keeps its key without being hashed
again (datastore/unchanged.py).
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..datastore import Datastore, serialize, type_name
from ..environment import crossing
from ..errors import ArtifactError, MissingArtifact, ReadOnlyArtifact
from .artifact_size import notice_large

RESERVED = ("input", "index", "next", "merge_artifacts", "foreach_stack")

# foreach items the zygote loaded (and checked) before forking the tasks that index them:
# blob key -> value. Each task is a fork, so it reads its own copy, and a task that
# changes its item changes nobody else's. Small blobs of local stores only (warm_items).
WARM_ITEMS: dict[str, Any] = {}
WARM_ITEMS_MAX_BYTES = 1 << 20   # more would make every later fork copy more page tables
WARM_ITEMS_MAX_BLOBS = 8


def warm_items(ds: Datastore, keys: Iterable[str]) -> None:
    """Load foreach items ahead of their tasks (the zygote, before it forks them)."""
    if not ds.storage.local:
        return   # reading an object store here would import its client into every task
    for key in keys:
        if key in WARM_ITEMS or ds.storage.size(ds.blob_path(key)) > WARM_ITEMS_MAX_BYTES:
            continue
        WARM_ITEMS[key] = ds.get_object(key)
        while len(WARM_ITEMS) > WARM_ITEMS_MAX_BLOBS:
            del WARM_ITEMS[next(iter(WARM_ITEMS))]   # the oldest: its step has moved on


def unpicklable_error(name: str, value: Any, error: Exception, step: str) -> ArtifactError:
    """Name the artifact, its type and the part inside it that cannot be pickled."""
    from .unpicklable import find_unpicklable

    found = find_unpicklable(value, f"self.{name}")
    where = ""
    if found is not None and found[0] != f"self.{name}":
        path, part, error = found
        where = f": {path} is a {type_name(part)}"
    return ArtifactError(f"cannot be stored: a {type_name(value)} cannot be pickled{where} "
                         f"({error}); keep it in a local variable instead of self",
                         step=step, artifact=name)


def _missing(name: str, step: str, available: Iterable[str], where: str = "",
             hint: str = "") -> MissingArtifact:
    names = sorted(available)
    listing = ", ".join(names) if names else "none"
    return MissingArtifact(f"artifact '{name}' does not exist{where}; artifacts available: "
                           f"{listing}{hint}", step=step, artifact=name)


class _Lazy:
    """Shared base: a map of name -> ref, loaded on first read, and the foreach
    position (`input`, `index`: properties, as in Metaflow's FlowSpec)."""

    _origins: dict | None = None   # TaskSelf: where loaded values' bytes are (persist)

    def _load(self, name: str):
        ref = self._refs[name]
        value = crossing.load(self._ds, name, ref, getattr(self, "_pathspec", None),
                              origins=self._origins)
        self._values[name] = value
        return value

    @property
    def input(self):
        return self._foreach.input

    @property
    def index(self):
        return self._foreach.index


class ParentView(_Lazy):
    """One parent task of a join (`inputs[0]`, `inputs.train`): read-only."""

    def __init__(self, ds: Datastore, step: str, pathspec: str, refs: dict,
                 foreach_stack: list | None = None):
        object.__setattr__(self, "_ds", ds)
        object.__setattr__(self, "_step", step)
        object.__setattr__(self, "_pathspec", pathspec)
        object.__setattr__(self, "_refs", dict(refs))
        object.__setattr__(self, "_values", {})
        object.__setattr__(self, "_foreach", ForeachStack(ds, foreach_stack or []))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if name in self._values:
            return self._values[name]
        if name in self._refs:
            return self._load(name)
        raise _missing(name, self._step, self._refs, f" in input task {self._pathspec}")

    def __setattr__(self, name, value):
        raise ReadOnlyArtifact(f"inputs are read-only: assign self.{name} in the join instead",
                            step=self._step, artifact=name)

    def __dir__(self):
        return sorted(self._refs)

    def __repr__(self):
        return f"<input {self._pathspec}>"


class Inputs:
    """The parents of a join: indexable, iterable, and by step name."""

    def __init__(self, views: list[ParentView]):
        self._views = views

    def __len__(self):
        return len(self._views)

    def __iter__(self):
        return iter(self._views)

    def __getitem__(self, i):
        return self._views[i]

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        for v in self._views:
            if v._step == name:
                return v
        steps = ", ".join(sorted({v._step for v in self._views}))
        raise AttributeError(f"no input from step '{name}'; inputs come from: {steps}")


class ForeachStack:
    """The ForeachFrames of the foreaches around a task (`self.input`, `self.index`)."""

    def __init__(self, ds: Datastore, frames: list):
        self.ds = ds
        self.frames = frames
        self._value_cache: dict[int, Any] = {}

    @property
    def index(self):
        return self.frames[-1].index if self.frames else None

    def value(self, depth: int = -1):
        if not self.frames:
            return None
        depth = depth % len(self.frames)
        if depth not in self._value_cache:
            frame = self.frames[depth]
            items = WARM_ITEMS.get(frame.key)
            if items is None:
                items = self.ds.get_object(frame.key, artifact=frame.var)
            self._value_cache[depth] = items[frame.index]
        return self._value_cache[depth]

    @property
    def input(self):
        return self.value(-1)


class TaskSelf(_Lazy):
    """`self` in a step: inherited artifacts, parameters, and what the step assigns."""

    def __init__(self, ds: Datastore, step: str, inherited: dict, params: dict,
                 foreach_stack: list | None = None, join: bool = False):
        for k, v in (("_ds", ds), ("_step", step), ("_refs", {**inherited, **params}),
                     ("_join", join),
                     ("_params", dict(params)), ("_values", {}), ("_assigned", set()),
                     ("_deleted", set()), ("_foreach", ForeachStack(ds, foreach_stack or [])),
                     ("_origins", {})):
            object.__setattr__(self, k, v)

    # -- reading -------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        values = self._values
        if name in values:
            return values[name]
        if name in self._refs and name not in self._deleted:
            return self._load(name)
        hint = (" (a join starts with no artifacts of its own: read inputs[i]."
                f"{name}, or copy it with self.merge_artifacts(inputs))") if self._join else ""
        raise _missing(name, self._step, self.artifact_names(), hint=hint)

    def artifact_names(self) -> list[str]:
        return sorted((set(self._refs) | set(self._values)) - self._deleted)

    def __dir__(self):
        return self.artifact_names()

    # -- writing -------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._params:
            raise ReadOnlyArtifact(f"'{name}' is a parameter, and parameters are immutable; "
                                "store the changed value under another name",
                                step=self._step, artifact=name)
        if name in RESERVED:
            raise ReadOnlyArtifact(f"'{name}' is reserved by nbflow and cannot be assigned",
                                step=self._step, artifact=name)
        if value is not self._values.get(name):
            self._origins.pop(name, None)   # (only a loaded value has one: keep no map open)
        self._values[name] = value
        self._assigned.add(name)
        self._deleted.discard(name)

    def __delattr__(self, name: str) -> None:
        if name not in self._values and name not in self._refs:
            raise _missing(name, self._step, self.artifact_names())
        self._values.pop(name, None)
        self._origins.pop(name, None)
        self._assigned.discard(name)
        self._deleted.add(name)

    # -- Metaflow's FlowSpec API (input and index come from _Lazy) ----------------
    def foreach_stack(self):
        fs = self._foreach
        return [(f.index, f.num_splits, fs.value(i)) for i, f in enumerate(fs.frames)]

    def next(self, *args, **kwargs):
        raise ArtifactError("self.next(...) is not used in nbflow: transitions live in the "
                            "%%step header", step=self._step)

    def merge_artifacts(self, inputs: Inputs, exclude: Iterable[str] = (),
                        include: Iterable[str] = ()) -> None:
        """Copy the artifacts on which all inputs agree (by content key, nothing loaded)."""
        exclude, include = list(exclude), list(include)
        if exclude and include:
            raise ArtifactError("merge_artifacts: give include or exclude, not both",
                                step=self._step)
        if inputs is None and not self._join:
            raise ArtifactError("merge_artifacts can only be called in a join step (as in "
                                "Metaflow); this step has one parent", step=self._step)
        if not isinstance(inputs, Inputs):
            raise ArtifactError("merge_artifacts(inputs) takes the join's `inputs`",
                                step=self._step)
        merged: dict[str, dict] = {}   # Metaflow's rule: agree where present, or conflict
        conflicts: list[str] = []
        for view in inputs:
            for name, ref in view._refs.items():
                if (name not in include if include else name in exclude) or self._is_own(name):
                    continue
                first = merged.setdefault(name, ref)
                if first["key"] != ref["key"] and name not in conflicts:
                    conflicts.append(name)
        if conflicts:
            listing = ", ".join(f"'{c}'" for c in conflicts)
            raise ArtifactError(
                f"merge_artifacts: artifact(s) {listing} differ between inputs and the join does "
                "not assign them; assign them in the join first, or pass exclude=[...]",
                step=self._step, artifact=conflicts[0])
        missing = [n for n in include if n not in merged and not self._is_own(n)]
        if missing:
            available = set().union(*(v._refs for v in inputs)) if len(inputs) else set()
            raise _missing(missing[0], self._step, available,
                           " in any input (merge_artifacts include=)")
        for name, ref in merged.items():
            self._refs[name] = ref
            self._deleted.discard(name)

    def _is_own(self, name: str) -> bool:
        """Set in this join already (assigned, merged or a parameter): merge leaves it alone."""
        return name in self._params or name in self._assigned or \
            (name in self._refs and name not in self._deleted)

    # -- persisting ------------------------------------------------------------
    def persist(self, ds: Datastore) -> dict:
        """Store what changed and return the task's artifact map name -> ref."""
        out: dict[str, dict] = {}
        written: list[tuple[str, str, int]] = []
        for name, ref in self._refs.items():
            if name not in self._deleted and name not in self._values:
                out[name] = ref
        for name, value in self._values.items():
            if name in self._params:
                out[name] = self._params[name]
                continue
            old = self._refs.get(name)
            origin = self._origins.get(name)
            # loaded from the blob it still names: its key may be proven without hashing
            proven = origin.key_for if origin and old and origin.key == old["key"] else None
            try:
                encoded = serialize.encode(value, proven)
            except serialize.UnpicklableArtifact as e:
                raise unpicklable_error(name, value, e.args[0], self._step) from None
            if old is not None and name not in self._deleted and (
                    old["key"] == encoded.key or self._unchanged_since_load(name, old, encoded)):
                out[name] = old
                continue
            ds.put_encoded(encoded, artifact=name)
            out[name] = {"key": encoded.key, "size": encoded.size, "type": type_name(value),
                         **encoded.ref_fields()}
            written.append((name, out[name]["type"], encoded.size))
            if crossing.current():   # written in a pinned environment: say which
                out[name]["env"] = crossing.current()
        notice_large(written, self._step)
        return out

    def _unchanged_since_load(self, name: str, old: dict, encoded: serialize.Encoded) -> bool:
        """An inherited artifact that was only read may still pickle to other bytes than
        its blob (a custom __setstate__ leaves dict keys un-interned, so pickle's memo
        differs). Compare with a fresh load of the blob, pickled the same way."""
        if name in self._assigned:
            return False
        try:
            return serialize.encode(self._ds.get_object(old["key"])).key == encoded.key
        except Exception:  # noqa: BLE001 - any doubt means: store the new version
            return False
