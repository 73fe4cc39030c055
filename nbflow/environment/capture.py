"""What this interpreter is: Python, platform and the installed distributions.

Read from the `*.dist-info` / `*.egg-info` folders on `sys.path`, the same metadata
`importlib.metadata` reads, but by their names (PEP 427/376: `name-version.dist-info`):
no METADATA file is parsed and nothing is imported, so it costs about a millisecond.
A folder whose name carries no version falls back to `importlib.metadata`.
Stored once per distinct environment (content-addressed) and referenced from the run.
"""
from __future__ import annotations

import os
import pickle
import re
import sys

_SUFFIXES = (".dist-info", ".egg-info")
_SEPARATORS = re.compile(r"[-_.]+")


def normalize(name: str) -> str:
    """PEP 503: `Scikit_Learn` -> `scikit-learn`."""
    return _SEPARATORS.sub("-", name).lower()


def snapshot(path: list[str] | None = None) -> dict:
    """This interpreter's environment as plain data (sorted, so equal environments
    give equal bytes and one blob)."""
    uname = os.uname() if hasattr(os, "uname") else None
    info = sys.implementation
    return {
        "python": ".".join(map(str, sys.version_info[:3])),
        "implementation": f"{info.name} {'.'.join(map(str, info.version[:3]))}",
        "platform": (f"{uname.sysname}-{uname.release}-{uname.machine}" if uname
                     else sys.platform),
        "executable": sys.executable,
        "packages": distributions(sys.path if path is None else path),
    }


def distributions(path: list[str]) -> dict[str, str]:
    """{normalized name: version}; the first of a name on the path wins (as on import)."""
    found: dict[str, str] = {}
    for entry in path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for folder in names:
            if not folder.endswith(_SUFFIXES):
                continue
            name, version = _name_version(os.path.join(entry or ".", folder))
            key = normalize(name) if name else None   # once: every run reads ~200 of them
            if key and key not in found:
                found[key] = version
    return dict(sorted(found.items()))


def _name_version(folder_path: str) -> tuple[str | None, str]:
    stem = os.path.basename(folder_path).rsplit(".", 1)[0]
    name, dash, version = stem.partition("-")
    if dash and version:
        return name, version.split("-py")[0]  # egg-info: name-1.0-py3.11
    try:
        from importlib.metadata import PathDistribution
        from pathlib import Path

        dist = PathDistribution(Path(folder_path))
        return dist.metadata["Name"], dist.version or "?"
    except Exception:  # noqa: BLE001 - a broken folder is not worth failing a run
        return None, ""


def store(ds, env: dict) -> str:
    """Put `env` in the datastore once (content-addressed); its key."""
    from ..datastore.serialize import Encoded, content_key

    data = memoryview(pickle.dumps(env, protocol=4))
    encoded = Encoded([data], content_key([data]))
    ds.put_encoded(encoded, compress=False)
    return encoded.key


def record_current(ds) -> dict:
    """The reference a run record keeps: {"key": blob key, "python": ..., "packages": N}."""
    env = snapshot()
    return {"key": store(ds, env), "python": env["python"], "packages": len(env["packages"])}


def load(ds, ref: dict | None) -> dict | None:
    return None if not ref else ds.get_object(ref["key"])
