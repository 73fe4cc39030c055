"""Who is running: NBFLOW_USER, else the login name (USER/USERNAME), as Metaflow does."""
from __future__ import annotations

import os


def username() -> str:
    for var in ("NBFLOW_USER", "USER", "USERNAME"):
        if os.environ.get(var):
            return os.environ[var]
    try:
        import getpass

        return getpass.getuser()
    except Exception:
        return "unknown"
