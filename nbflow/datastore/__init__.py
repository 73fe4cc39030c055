"""The datastore: content-addressed artifact blobs and run/task records over fsspec.

    blobs/<k[:2]>/<key>                          artifact blobs (shared by all flows)
    <Flow>/<run_id>/_run.json                    the run: parameters, code, tags, user
    <Flow>/<run_id>/_end.json                    written when the run ends
    <Flow>/<run_id>/<step>/<task>.<attempt>.json a task attempt; written last: its commit
    <Flow>/<run_id>/<step>/<task>.<attempt>.out  its stdout (absent when empty)
    <Flow>/<run_id>/<step>/<task>.<attempt>.err  its stderr (absent when empty)
"""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from typing import Any

from ..errors import ArtifactError, DatastoreError
from . import serialize, serializers
from .storage import Storage


def default_datastore_url(start_dir: str | None = None) -> str:
    """NBFLOW_DATASTORE, else the nearest `.nbflow/` from `start_dir` upward, else ./.nbflow."""
    env = os.environ.get("NBFLOW_DATASTORE")
    if env:
        return env
    here = os.path.abspath(start_dir or os.getcwd())
    d = here
    while True:
        candidate = os.path.join(d, ".nbflow")
        if os.path.isdir(candidate):
            return candidate
        parent = os.path.dirname(d)
        if parent == d:
            return os.path.join(here, ".nbflow")
        d = parent


SEARCH_DEPTH = 3    # folders below the working directory searched for a flow's store
SKIPPED = {"node_modules", "site-packages", "__pycache__", "venv", ".venv", "build", "dist"}


def stores_below(flow: str, start_dir: str | None = None) -> list[str]:
    """`.nbflow/` stores holding `flow` in the folders below `start_dir` (a few levels, hidden
    folders skipped): where `nbflow run sub/dir/nb.ipynb` put its runs, found from above."""
    top = os.path.abspath(start_dir or os.getcwd())
    found, level = [], [top]
    for _ in range(SEARCH_DEPTH):
        nxt = []
        for d in level:
            try:
                entries = sorted(os.scandir(d), key=lambda e: e.name)
            except OSError:
                continue
            for e in entries:
                if not e.is_dir(follow_symlinks=False) or e.name in SKIPPED:
                    continue
                if e.name == ".nbflow":
                    if d != top and os.path.isdir(os.path.join(e.path, flow)):
                        found.append(e.path)
                elif not e.name.startswith("."):
                    nxt.append(e.path)
        level = nxt
    return found


_WHOLE = object()                 # _get_columns: this blob is read whole
PARTIAL_LOCAL = 4 << 30           # local Arrow blobs from this size: some columns read alone
VERIFY_ON_WRITE = 16 << 20        # an existing local blob up to this size is hashed before reuse
VERIFY_ON_WRITE_REMOTE = 1 << 20  # the same for object stores (it is a download)


def _short(e: Exception, limit: int = 300) -> str:
    text = " ".join(str(e).split())
    return text if len(text) <= limit else text[:limit] + " ..."


def _protocols(fs) -> tuple:
    protocol = fs.protocol
    return protocol if isinstance(protocol, tuple) else (protocol,)


def _what(artifact: str | None, task: str | None) -> str:
    if artifact and task:
        return f"artifact '{artifact}' of task {task}: "
    if artifact:
        return f"artifact '{artifact}': "
    return f"task {task}: " if task else ""


def type_name(obj: Any) -> str:
    cls = type(obj)
    mod = cls.__module__
    return cls.__qualname__ if mod in ("builtins", "__main__", None) else f"{mod}.{cls.__qualname__}"


class Datastore:
    def __init__(self, url: str):
        self.url = url
        self.storage = Storage(url)

    def __repr__(self):
        return f"Datastore({self.url!r})"

    # -- blobs ---------------------------------------------------------------
    @staticmethod
    def blob_path(key: str) -> str:
        return f"blobs/{key[:2]}/{key}"

    def put_encoded(self, encoded: serialize.Encoded, compress: bool = True,
                    artifact: str | None = None) -> bool:
        """Store an encoded artifact unless a sound blob of the same content is there
        (its size always checked, its hash when it is small); True if written. A
        damaged blob under that name is replaced. A failed write (disk full, read-only)
        is a StoreWriteError naming `artifact`, the path and the bytes it needed."""
        path = self.blob_path(encoded.key)
        if self.storage.exists(path) and self._blob_sound(path, encoded.key):
            return False
        what = f"artifact '{artifact}'" if artifact else None
        with self.storage.open_for_write(path, encoded.size, what) as f:
            serialize.write(f, encoded, compress=compress)
        return True

    def check_shared(self) -> None:
        """Refuse a store that each process sees apart: tasks run in their own processes."""
        if self.storage.fs is not None and "memory" in _protocols(self.storage.fs):
            raise DatastoreError(f"datastore '{self.url}': a memory:// store lives inside one "
                                 "process, and every task runs in a process of its own; use a "
                                 "folder or an object store (s3://...)")

    def _blob_sound(self, path: str, key: str) -> bool:
        try:
            size = self.storage.size(path)
            with self.storage.open_for_read(path) as f:
                if size <= (VERIFY_ON_WRITE if self.storage.local else VERIFY_ON_WRITE_REMOTE):
                    serialize.verify(f, key)
                else:
                    serialize.check_shape(f, key, size)
        except (serialize.DamagedBlob, FileNotFoundError):
            return False
        self.storage.touch(path)   # reused: freshened, so `gc` sees it as young
        return True

    def put_object(self, obj: Any) -> dict:
        encoded = serialize.encode(obj)
        self.put_encoded(encoded)
        return {"key": encoded.key, "size": encoded.size, "type": type_name(obj),
                **encoded.ref_fields()}

    def get_object(self, key: str, *, artifact: str | None = None, task: str | None = None,
                   columns: list | None = None) -> Any:
        """The value stored under `key`, checked against it. `artifact` and `task` (a
        pathspec) name what was being read, for the error. `columns`: only those columns
        of a DataFrame (an Arrow blob reads and converts nothing else)."""
        with self._serializer_errors(artifact, task):
            if columns is not None:
                value = self._get_columns(key, columns, artifact, task)
                if value is not _WHOLE:
                    return value
            return serialize.decode(self.get_blob(key, artifact=artifact, task=task),
                                    columns=columns)

    def get_traced(self, key: str, *, artifact: str | None = None, task: str | None = None):
        """(value, origin): get_object's value, and where its bytes are when they can be
        proven unchanged later without hashing them (unchanged.Origin), else None."""
        from .unchanged import origin_of

        with self._serializer_errors(artifact, task):
            blob = self.get_blob(key, artifact=artifact, task=task)
            return serialize.decode(blob), origin_of(blob, key)

    @contextmanager
    def _serializer_errors(self, artifact: str | None, task: str | None):
        try:
            yield
        except serializers.SerializerUnavailable as e:
            raise ArtifactError(
                f"{_what(artifact, task)}it was stored by the '{e.name}' serializer, which "
                f"cannot be used here: {e.reason}. {e.hint}", artifact=artifact) from None

    def _get_columns(self, key: str, columns: list, artifact: str | None, task: str | None):
        """Some columns of a block-hashed Arrow blob, only their blocks read and checked;
        _WHOLE when the blob is of another kind (read it whole)."""
        from .partial import open_blob

        with self._blob_errors(key, artifact, task):
            path = self.blob_path(key)
            if self.storage.local and self.storage.size(path) < PARTIAL_LOCAL:
                return _WHOLE    # mapped whole and checked at memory speed: faster here
            with self.storage.open_for_read(path) as f:
                blob = open_blob(f, key)
                if blob is None or blob.serializer != serializers.ARROW:
                    return _WHOLE
                try:
                    return serializers.resolve(serializers.ARROW).read_columns(blob, columns)
                except Exception:
                    if blob.damage:   # found by a block check, wrapped by pyarrow: say so
                        raise blob.damage from None
                    raise

    def get_blob(self, key: str, *, artifact: str | None = None,
                 task: str | None = None) -> serialize.Blob:
        """The checked sections of blob `key` and the serializer that wrote them."""
        with self._blob_errors(key, artifact, task):
            with self.storage.open_for_read(self.blob_path(key)) as f:
                return serialize.read_blob(f, key)

    @contextmanager
    def _blob_errors(self, key: str, artifact: str | None, task: str | None):
        """A missing, damaged or unreadable blob as a DatastoreError naming `artifact`."""
        try:
            yield
        except (KeyError, serializers.SerializerUnavailable):
            raise   # a column that is not there; a serializer missing here: the caller's
        except FileNotFoundError:
            raise DatastoreError(f"{_what(artifact, task)}blob {key} is missing from the "
                                 f"datastore {self.url}") from None
        except serialize.DamagedBlob as e:
            raise DatastoreError(
                f"{_what(artifact, task)}blob {key} in the datastore {self.url} is damaged ({e}); "
                "`nbflow fsck --repair` moves it aside, then a rerun or resume rewrites it"
            ) from None
        except DatastoreError:
            raise
        except Exception as e:  # noqa: BLE001 - a network or disk error is not damage
            raise DatastoreError(f"{_what(artifact, task)}blob {key} cannot be read from the "
                                 f"datastore {self.url}: {type(e).__name__}: {_short(e)}") from None

    def blob_exists(self, key: str) -> bool:
        return self.storage.exists(self.blob_path(key))

    # -- json records ----------------------------------------------------------
    def put_json(self, rel: str, record: dict) -> None:
        self.storage.put_bytes(rel, json.dumps(record, default=str).encode())

    def get_json(self, rel: str) -> dict:
        return json.loads(self.storage.get_bytes(rel))

    # -- paths -------------------------------------------------------------------
    @staticmethod
    def task_prefix(flow: str, run_id: str, step: str, task_id: str, attempt: int) -> str:
        return f"{flow}/{run_id}/{step}/{task_id}.{attempt}"
