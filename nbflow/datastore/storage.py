"""The only I/O layer: paths relative to a datastore root: a local folder or any fsspec URL.

Writes are crash-safe. On a local disk a file is written beside its final name
and renamed into place (a killed writer leaves only an unreferenced temp file);
object stores (s3://, gcs://, memory://) publish an object only when its upload
completes, so there the final name is written directly.
"""
from __future__ import annotations

import errno
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from ..errors import DatastoreError
from ..lite_dataclass import dataclass
from .storefaults import REASONS, filesystem, remote_errors, write_error


@dataclass(frozen=True)
class FileInfo:
    rel: str        # path relative to the store's root
    size: int
    mtime: float    # seconds since the epoch (an object's LastModified)


def is_local(url: str) -> bool:
    return "://" not in url or url.startswith("file://")


class Storage:
    """A local folder is used through the os module directly (the same calls fsspec's
    LocalFileSystem makes, without its ~70 ms import in every process); any other
    URL goes through the fsspec filesystem it names."""

    def __init__(self, url: str):
        self.url = url
        self.local = is_local(url)
        if self.local:
            self.fs = None
            self.root = os.path.abspath(url.removeprefix("file://"))
        else:
            self.fs, root = filesystem(url)
            self.root = root.rstrip("/")
        self._made_dirs: set[str] = set()

    def __repr__(self):
        return f"Storage({self.url!r})"

    def full(self, rel: str) -> str:
        return f"{self.root}/{rel}" if rel else self.root

    def _ensure_parent(self, full: str) -> None:
        parent = full.rsplit("/", 1)[0]
        if parent not in self._made_dirs:
            if self.local:
                os.makedirs(parent, exist_ok=True)
            else:
                self.fs.makedirs(parent, exist_ok=True)
            self._made_dirs.add(parent)

    @contextmanager
    def open_for_write(self, rel: str, nbytes: int | None = None,
                       what: str | None = None) -> Iterator[IO[bytes]]:
        """A file that appears under `rel` only once it has been written whole. A failed
        write is a StoreWriteError naming `what` (e.g. the artifact), the path and the
        `nbytes` it needed."""
        full = self.full(rel)
        try:
            self._ensure_parent(full)
            if not self.local:
                with self.fs.open(full, "wb") as f:
                    yield _InPieces(f)
                return
            tmp = f"{full}.tmp-{os.getpid()}-{os.urandom(4).hex()}"
            try:
                with _LocalFile(tmp, "w") as f:
                    if nbytes and nbytes >= PREALLOCATE:
                        _preallocate(f.fileno(), nbytes)
                    yield f
                    if nbytes and nbytes >= PREALLOCATE:
                        f.truncate()   # what was reserved beyond what was written (compressed)
                os.replace(tmp, full)
            except BaseException:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                raise
        except (OSError, NotImplementedError) as e:
            raise write_error(self.url, full, e, nbytes, what) from None
        except DatastoreError:
            raise
        except Exception as e:  # noqa: BLE001 - an object store's client error
            if self.local:
                raise
            raise write_error(self.url, full, e, nbytes, what) from None

    def put_bytes(self, rel: str, data: bytes) -> None:
        with self.open_for_write(rel, len(data)) as f:
            f.write(data)

    def create_exclusive(self, rel: str, data: bytes) -> bool:
        """Write `rel` unless it exists; False if it did (atomic on a local disk)."""
        full = self.full(rel)
        try:
            self._ensure_parent(full)
            if self.local:
                return self._create_exclusive_local(full, data)
            if self.fs.exists(full):
                return False
            return self._create_exclusive_remote(full, data)
        except (OSError, NotImplementedError) as e:
            raise write_error(self.url, full, e, len(data)) from None
        except DatastoreError:
            raise
        except Exception as e:  # noqa: BLE001 - an object store's client error
            if self.local:
                raise
            raise write_error(self.url, full, e, len(data)) from None

    def _create_exclusive_remote(self, full: str, data: bytes) -> bool:
        try:   # S3: a conditional write (If-None-Match), so two writers cannot both win
            self.fs.pipe_file(full, data, mode="create")
        except FileExistsError:
            return False
        except (TypeError, ValueError, NotImplementedError):
            self.fs.pipe_file(full, data)   # no exclusive create here: the last writer wins
        return True

    def _create_exclusive_local(self, full: str, data: bytes) -> bool:
        # written whole beside it, then hard-linked into place: link() is atomic and
        # fails if the name exists, so a crash never leaves a half-written record
        tmp = f"{full}.tmp-{os.getpid()}-{os.urandom(4).hex()}"
        try:
            with open(tmp, "wb") as f:
                f.write(data)
            try:
                os.link(tmp, full)
            except FileExistsError:
                return False
            except OSError as e:
                if e.errno in REASONS:
                    raise
                return self._create_exclusive_plain(full, data)  # no hard links here
            return True
        finally:
            try:
                os.unlink(tmp)
            except OSError:
                pass

    @staticmethod
    def _create_exclusive_plain(full: str, data: bytes) -> bool:
        try:
            fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return True

    def get_bytes(self, rel: str) -> bytes:
        full = self.full(rel)
        if self.local:
            return _read_local(full)
        return self.fs.cat_file(full)

    def open_for_read(self, rel: str) -> IO[bytes]:
        full = self.full(rel)
        if self.local:
            return open(full, "rb")
        return self.fs.open(full, "rb")

    def exists(self, rel: str) -> bool:
        full = self.full(rel)
        if self.local:
            return os.path.exists(full)
        return self.fs.exists(full)

    def size(self, rel: str) -> int:
        full = self.full(rel)
        if self.local:
            return os.path.getsize(full)
        return self.fs.size(full)

    def list(self, rel: str) -> list[str]:
        """Names directly under `rel` (files and folders); [] when it does not exist."""
        full = self.full(rel)
        if self.local:
            try:
                return sorted(os.listdir(full))
            except OSError as e:   # a name too long to exist (a 100 KB pathspec) holds nothing
                if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG):
                    return []
                raise
        try:
            entries = self.fs.ls(full, detail=False, refresh=True)
        except (FileNotFoundError, NotADirectoryError):
            return []   # (any other error: the store cannot be reached, a one-line error)
        return sorted(e.rstrip("/").rsplit("/", 1)[-1] for e in entries)

    def touch(self, rel: str) -> None:
        """Make a file look new to `gc` (its modification time; on S3 a metadata update,
        a server-side copy). Best effort: a store that cannot do it is left as it is."""
        full = self.full(rel)
        try:
            if self.local:
                os.utime(full)
            elif hasattr(self.fs, "setxattr"):
                import time

                self.fs.setxattr(full, nbflow_touched=str(int(time.time())))
        except Exception:  # noqa: BLE001 - freshening is an optimisation of gc's safety
            pass

    # -- the whole tree, for fsck, du, rm and gc ---------------------------------------
    def walk(self, rel: str = "") -> Iterator[FileInfo]:
        """Every file under `rel` with its size and modification time (files that
        vanish while the walk goes, as a writer's temporary files do, are skipped)."""
        full = self.full(rel)
        if self.local:
            yield from _walk_local(self.root, full)
            return
        found = self._find(full)
        for path, info in found.items():
            if info.get("type") == "directory":
                continue
            yield FileInfo(path[len(self.root) + 1:], int(info.get("size") or 0), _mtime(info))

    @remote_errors
    def _find(self, full: str) -> dict:
        self.fs.invalidate_cache()
        try:
            return self.fs.find(full, detail=True)
        except FileNotFoundError:
            return {}

    def get_many(self, rels: list[str]) -> dict[str, bytes | Exception]:
        """Several small files at once (concurrent requests on an object store)."""
        if self.local or not rels:
            out: dict[str, bytes | Exception] = {}
            for rel in rels:
                try:
                    out[rel] = self.get_bytes(rel)
                except OSError as e:
                    out[rel] = e
            return out
        fulls = [self.full(r) for r in rels]
        got = self.fs.cat(fulls, on_error="return")
        return {rel: got.get(full, FileNotFoundError(full)) for rel, full in zip(rels, fulls)}

    def move(self, src: str, dst: str) -> None:
        """Rename a file within the store (a copy then a delete on object stores)."""
        full_dst = self.full(dst)
        self._ensure_parent(full_dst)
        if self.local:
            os.replace(self.full(src), full_dst)
        else:
            self.fs.mv(self.full(src), full_dst)

    def delete_files(self, rels: list[str]) -> None:
        """Delete files (batched on object stores: one request per thousand)."""
        if not rels:
            return
        if self.local:
            for rel in rels:
                try:
                    os.unlink(self.full(rel))
                except FileNotFoundError:
                    pass
            return
        self.fs.rm([self.full(r) for r in rels])

    def remove_empty_dirs(self, rel: str) -> None:
        """Folders left empty under `rel` (a local store; object stores have none)."""
        if not self.local:
            return
        for dirpath, _dirs, _files in os.walk(self.full(rel), topdown=False):
            try:
                os.rmdir(dirpath)
            except OSError:
                pass


WRITE_CHUNK = 1 << 20     # the most bytes one write() hands the kernel (see _LocalFile)
PREALLOCATE = 8 << 20     # a file written from this size has its blocks reserved first


class _LocalFile(io.FileIO):
    """A local file being written, unbuffered: a big write (an array's memory) goes to
    the kernel a megabyte at a time. Measured here, a 1000 MiB array reached the page
    cache in a third of the time one 1000 MiB write() took (a piece the size of a core's
    cache is copied while it is warm), and a short write is never lost."""

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        done = 0
        while done < view.nbytes:
            done += super().write(view[done:done + WRITE_CHUNK])
        return done


REMOTE_PIECE = 8 << 20   # the most bytes one write() hands an object store's file


class _InPieces:
    """An object store's file, written a piece at a time. fsspec's buffered files (s3fs,
    gcsfs) copy each write() into their buffer and upload it as a part once it holds a
    block (s3fs: 50 MiB): a whole 1 GiB array handed over in one write() was copied into
    the buffer, then again into a single 1 GiB part, 2 GiB more than the array. In pieces,
    the buffer never holds much more than a block and a big blob goes up in block-size
    parts (benchmarks/s3_upload_rss.py)."""

    def __init__(self, f):
        self._f = f

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        for start in range(0, view.nbytes, REMOTE_PIECE):
            self._f.write(view[start:start + REMOTE_PIECE])
        return view.nbytes

    def __getattr__(self, name):
        return getattr(self._f, name)


def _preallocate(fd: int, nbytes: int) -> None:
    """Reserve a big file's blocks before writing it (ext4: the writes then skip the
    delayed allocation, and it reaches the page cache faster; a full disk fails here,
    before any byte is copied). Nothing where the call or the filesystem lacks it."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.fallocate(fd, 0, ctypes.c_int64(0), ctypes.c_int64(nbytes)) == 0:
            return
        err = ctypes.get_errno()
    except (OSError, AttributeError):   # no fallocate here (not Linux)
        return
    if err in (errno.ENOSPC, errno.EDQUOT):
        raise OSError(err, os.strerror(err))


def _walk_local(root: str, full: str) -> Iterator[FileInfo]:
    for dirpath, _dirs, files in os.walk(full):
        for name in files:
            path = os.path.join(dirpath, name)
            try:
                st = os.stat(path)
            except FileNotFoundError:
                continue
            yield FileInfo(os.path.relpath(path, root).replace(os.sep, "/"), st.st_size,
                           st.st_mtime)


def _mtime(info: dict) -> float:
    for field in ("LastModified", "mtime", "last_modified", "created"):
        value = info.get(field)
        if value is None:
            continue
        if hasattr(value, "timestamp"):
            return value.timestamp()
        try:
            return float(value)
        except (TypeError, ValueError):
            continue
    return float("inf")   # age unknown: never old enough for gc


def _read_local(full: str) -> bytes:
    """A file's bytes with os.read: open() builds a buffered file object, which costs more
    than reading a small record (the scheduler reads every task's record once)."""
    fd = os.open(full, os.O_RDONLY)
    try:
        data = os.read(fd, 1 << 16)
        if len(data) < 1 << 16:   # a short read of a file: its end
            return data
        chunks = [data]   # a big one (a wide join's record): read to the end
        while chunks[-1]:
            chunks.append(os.read(fd, 1 << 20))
        return b"".join(chunks)
    finally:
        os.close(fd)


for _name in ("get_bytes", "open_for_read", "exists", "size", "list", "get_many",
              "move", "delete_files"):
    setattr(Storage, _name, remote_errors(getattr(Storage, _name)))
