"""Store faults as one-line errors: a failed write (disk full, read-only, not a folder),
an object store that cannot be reached, a URL fsspec cannot open."""
from __future__ import annotations

import errno
import functools
import os

from ..errors import DatastoreError


class StoreWriteError(DatastoreError, OSError):
    """A write to the store failed: disk full, read-only, not a folder, ... (an OSError
    too, so code that handles OSError keeps working)."""


REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the store is on a read-only file system",
    errno.EACCES: "permission denied (the store is read-only for you)",
    errno.EPERM: "permission denied (the store is read-only for you)",
    errno.ENOTDIR: "its path is not a folder",
    errno.EEXIST: "its path is not a folder",
}


def write_error(url: str, path: str, e: Exception, nbytes: int | None = None,
                what: str | None = None) -> StoreWriteError:
    """One line saying what could not be written where, and why."""
    if isinstance(e, StoreWriteError):
        return e
    code = getattr(e, "errno", None)
    if isinstance(e, NotImplementedError):
        reason = "this kind of store cannot be written (a read-only protocol)"
    else:
        reason = REASONS.get(code) or getattr(e, "strerror", None) or str(e) or type(e).__name__
    full = code in (errno.ENOSPC, errno.EDQUOT)
    need = f" ({nbytes} bytes needed)" if nbytes is not None and full else ""
    hint = ("; free some space (`nbflow gc` collects blobs no run references), then run "
            "again, or `nbflow resume` completes the run") if full else ""
    err = StoreWriteError(f"{what + ': ' if what else ''}cannot write {path}{need} to the datastore "
                          f"{url}: {reason}{hint}")
    err.errno = code
    return err


class StoreAccessError(DatastoreError, OSError):
    """An object store could not be reached or refused the request (no connection, no
    credentials, no such bucket)."""


def remote_errors(method):
    """On an object store, an error of its client library (botocore, aiohttp, ...) becomes
    a one-line StoreAccessError; FileNotFoundError stays what it is."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if self.local:
            return method(self, *args, **kwargs)
        try:
            return method(self, *args, **kwargs)
        except (FileNotFoundError, DatastoreError):
            raise
        except Exception as e:  # noqa: BLE001 - whatever the fsspec implementation raises
            raise access_error(self.url, e) from None
    return wrapper


def access_error(url: str, e: Exception) -> StoreAccessError:
    text = " ".join(str(e).split())
    text = text if len(text) <= 300 else text[:300] + " ..."
    return StoreAccessError(f"datastore {url} cannot be used: {type(e).__name__}: {text}")


def filesystem(url: str):
    """fsspec's filesystem for `url`; an unknown protocol or a missing implementation
    is a DatastoreError saying what to do."""
    import fsspec
    from fsspec.registry import known_implementations as known
    from fsspec.registry import registry

    protocol = url.split("://", 1)[0]
    if protocol not in known and protocol not in registry:
        raise DatastoreError(f"datastore '{url}': unknown protocol '{protocol}://' (fsspec knows "
                             "file://, s3://, gcs://, az://, ... or give a folder)")
    try:
        return fsspec.core.url_to_fs(url, **storage_options())
    except ImportError as e:
        raise DatastoreError(f"datastore '{url}': the fsspec implementation of '{protocol}://' is "
                             f"not installed; install it with: pip install "
                             f"{_package(protocol, e, known)}") from None
    except (ValueError, TypeError, OSError) as e:
        if protocol in ARCHIVES:   # zip://x.zip reads x.zip inside an archive fsspec was not given
            raise DatastoreError(f"datastore '{url}' cannot be opened: a {protocol} archive is "
                                 "read-only and cannot hold a store; give a folder or an object "
                                 "store (s3://...)") from None
        raise DatastoreError(f"datastore '{url}' cannot be opened: {e}") from None


ARCHIVES = ("zip", "tar", "libarchive")


def _package(protocol: str, e: ImportError, known: dict) -> str:
    """What to pip install: the module the implementation missed (aiohttp for http://,
    s3fs for s3://), else the package its class lives in."""
    for err in (e, e.__cause__, e.__context__):   # fsspec re-raises with its own message
        missing = (getattr(err, "name", None) or "").split(".")[0]
        if missing and missing != "fsspec":
            return missing
    return known.get(protocol, {}).get("class", protocol).split(".")[0]


def storage_options() -> dict:
    """NBFLOW_DATASTORE_OPTIONS: JSON of fsspec storage options (endpoint, credentials)."""
    import json

    raw = os.environ.get("NBFLOW_DATASTORE_OPTIONS")
    if not raw:
        return {}
    try:
        options = json.loads(raw)
    except ValueError as e:
        raise DatastoreError(f"NBFLOW_DATASTORE_OPTIONS is not JSON ({e})") from None
    if not isinstance(options, dict):
        raise DatastoreError("NBFLOW_DATASTORE_OPTIONS must be a JSON object of fsspec options")
    return options
