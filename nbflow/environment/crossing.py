"""Artifacts that cross environments: a task of a `--pypi` step labels what it writes
with its environment, and an artifact that cannot be unpickled where it is read (a
module missing, or a version that does not fit) is an error naming the artifact, the
module and both environments. Imported by the task runtime: stays light."""
from __future__ import annotations

import re
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
    if module:
        what = f"needs module '{module}', which is not installed here"
    else:
        module = failing_module(error)
        which = f"module '{module}' ({installed(module)} here)" if module else "a module it needs"
        what = (f"cannot be loaded here: {which} does not fit the version it was written with "
                f"({type(error).__name__}: {_short(error)})")
    source = f" of {task}" if task else ""
    return ArtifactError(
        f"artifact '{name}'{source} {what}. It was written in {describe(writer)} and is read "
        f"in {describe(_current)}; pin the same package in both steps (--pypi), or pass it on "
        "in a form both can read", artifact=name)


_NOT_THE_CAUSE = ("pickle", "_pickle", "copyreg", "cloudpickle", "nbflow")
_ON_MODULE = re.compile(r"on <module '([\w.]+)'")


def failing_module(error: BaseException) -> str | None:
    """The module whose code or contents did not fit: the one named by pickle's "Can't get
    attribute 'x' on <module 'm'>", else the innermost frame outside pickle and nbflow."""
    found = _ON_MODULE.search(str(error))
    if found:
        return found.group(1)
    tb, innermost = error.__traceback__, None
    while tb is not None:
        name = tb.tb_frame.f_globals.get("__name__") or ""
        if name and name.split(".")[0] not in _NOT_THE_CAUSE:
            innermost = name
        tb = tb.tb_next
    return innermost


def installed(module: str) -> str:
    """'pkg 1.2.3' for the distribution that provides `module` here (only on an error)."""
    from importlib import metadata

    top = module.split(".")[0]
    for dist in metadata.packages_distributions().get(top, [top]):
        try:
            return f"{dist} {metadata.version(dist)}"
        except metadata.PackageNotFoundError:
            continue
    return f"{top}, version unknown"


def _short(error: BaseException) -> str:
    """The error's text without the file path pickle adds to a module's repr."""
    return re.sub(r" from '[^']*'>", ">", str(error))


def load(ds, name: str, ref: dict, task: str | None = None, columns: list | None = None,
         origins: dict | None = None):
    """`ds.get_object` for artifact `name`, an unpickling failure across environments
    turned into unpickle_error's message (store errors pass through). `origins`: where
    the value's bytes are goes in origins[name] (Datastore.get_traced)."""
    from ..errors import NbflowError

    try:
        if origins is not None and columns is None:
            value, origins[name] = ds.get_traced(ref["key"], artifact=name, task=task)
            return value
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
