"""Artifacts that cross environments: a task of a `--pypi` step labels what it writes
with its environment, and an artifact that cannot be unpickled where it is read (a
module missing, or a version that does not fit) is an error naming the artifact, the
module and both environments. Imported by the task runtime: stays light."""
from __future__ import annotations

import sys

_current: dict | None = None   # this process's label; None: the kernel's environment


def set_current(environment: dict | None) -> None:
    """Called by the task with its request's `environment` (None outside pinned steps)."""
    global _current
    _current = None if not environment else {
        "pypi": list(environment.get("requirements") or []),
        "python": ".".join(map(str, sys.version_info[:3]))}


def current() -> dict | None:
    return _current


def describe(label: dict | None) -> str:
    if not label:
        return "the kernel's environment"
    reqs = " ".join(label.get("pypi") or []) or "no packages"
    return f"a pinned environment (--pypi {reqs}; python {label.get('python')})"


def unpickle_error(name: str, ref: dict, task: str | None, error: BaseException):
    """The ArtifactError for artifact `name` (its ref) that failed to load here; None
    when it was written in this same environment (the original error stands)."""
    from ..errors import ArtifactError

    writer = ref.get("env")
    if writer == _current:
        return None
    module = getattr(error, "name", None) if isinstance(error, ImportError) else None
    what = (f"needs module '{module}', which is not installed here" if module else
            f"cannot be loaded here ({type(error).__name__}: {error}): the versions of the "
            "packages it needs differ")
    source = f" of {task}" if task else ""
    return ArtifactError(
        f"artifact '{name}'{source} {what}. It was written in {describe(writer)} and is read "
        f"in {describe(_current)}; pin the same package in both steps (--pypi), or pass it on "
        "in a form both can read", artifact=name)


def load(ds, name: str, ref: dict, task: str | None = None, columns: list | None = None):
    """`ds.get_object` for artifact `name`, an unpickling failure across environments
    turned into unpickle_error's message (store errors pass through)."""
    from ..errors import NbflowError

    try:
        return ds.get_object(ref["key"], artifact=name, task=task, columns=columns)
    except NbflowError:
        raise
    except Exception as e:  # noqa: BLE001 - unpickling runs code that may raise anything
        error = unpickle_error(name, ref, task, e) or missing_module_error(name, task, e)
        if error is None:
            raise
        raise error from e


def missing_module_error(name: str, task: str | None, error: BaseException):
    """A value written in this environment that needs a module not installed here (e.g. a
    pandas frame with pyarrow-backed strings, read where pyarrow is missing)."""
    from ..errors import ArtifactError

    module = getattr(error, "name", None) if isinstance(error, ModuleNotFoundError) else None
    if not module:
        return None
    source = f" of task {task}" if task else ""
    top = module.split(".")[0]
    return ArtifactError(f"artifact '{name}'{source} needs module '{module}' to be loaded, "
                         f"which is not installed here. Install it: pip install {top}",
                         artifact=name)
