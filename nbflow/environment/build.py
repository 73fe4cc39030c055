"""Pinned environments: resolve with `uv pip compile`, build with `uv venv` + `uv pip
sync`, cache by the hash of the resolved lock.

    $NBFLOW_ENV_CACHE (default ~/.cache/nbflow/envs, or $XDG_CACHE_HOME/nbflow/envs)
      locks/<input key>.txt     a resolution, reused: requirements resolve once
      envs/<lock hash>/         a virtualenv; `.nbflow-ready` is written last
      envs/<lock hash>.lock     held (flock) while it is built: concurrent builds wait
      runtime/<key>/nbflow      a link to this nbflow package (the tasks' PYTHONPATH)

An environment holds exactly the resolved requirements plus nbflow's task runtime
(cloudpickle, fsspec, xxhash, zstandard, and the datastore's fsspec backend),
pinned to the kernel's versions unless the requirements name them. nbflow itself
is not installed into it: its source folder is put on the tasks' PYTHONPATH.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager

from ..errors import NbflowError
from . import capture
from .requirements import EnvSpec, requirement_name

RUNTIME = ("cloudpickle", "fsspec", "xxhash", "zstandard")
BACKENDS = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "abfs": "adlfs",
            "az": "adlfs"}
READY = ".nbflow-ready"


class EnvironmentBuildError(NbflowError):
    """A pinned environment that cannot be resolved or built."""


def cache_root() -> str:
    root = os.environ.get("NBFLOW_ENV_CACHE")
    if not root:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(base, "nbflow", "envs")
    return os.path.abspath(root)


def uv() -> list[str]:
    """The uv command (NBFLOW_UV, else `uv` on PATH, else the `uv` Python package)."""
    given = os.environ.get("NBFLOW_UV") or shutil.which("uv")
    if given:
        return [given]
    try:
        from uv import find_uv_bin  # the PyPI package `uv`

        return [find_uv_bin()]
    except ImportError:
        raise EnvironmentBuildError("steps with --pypi are built with uv, which is not installed: "
                                "pip install uv (or pip install 'nbflow-jupyter[envs]')") from None


def _run_uv(args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*uv(), *args], input=stdin, capture_output=True, text=True,
                          env={**os.environ, "UV_NO_PROGRESS": "1"})


def _python_request(spec: EnvSpec) -> str:
    """The interpreter for `--python X.Y`: one installed here if there is one (on PATH,
    or under pyenv, whose shims uv cannot use), else the version (uv may download it)."""
    return find_python(spec.python) if spec.python else sys.executable


def find_python(version: str) -> str:
    here = ".".join(map(str, sys.version_info[:3]))
    if here == version or here.startswith(version + "."):
        return sys.executable
    candidates = [shutil.which(f"python{version}")]
    root = os.environ.get("PYENV_ROOT") or os.path.join(os.path.expanduser("~"), ".pyenv")
    versions = os.path.join(root, "versions")
    if os.path.isdir(versions):
        names = [v for v in os.listdir(versions) if v == version or v.startswith(version + ".")]
        names.sort(key=lambda v: [int(p) if p.isdigit() else 0 for p in v.split(".")], reverse=True)
        candidates += [os.path.join(versions, v, "bin", "python") for v in names]
    for path in filter(None, candidates):
        try:
            ok = subprocess.run([path, "-c", "import sys"], capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if ok.returncode == 0:
            return path
    return version


def resolution_input(spec: EnvSpec, datastore_url: str = "", *, kernel_versions: bool = True
                     ) -> list[str]:
    """The user's requirements plus the task runtime (at the kernel's versions, so
    artifacts pickled on one side load on the other, unless `kernel_versions` is off)."""
    named = {requirement_name(r) for r in spec.requirements}
    installed = capture.distributions(sys.path) if kernel_versions and spec.python is None else {}
    runtime = list(RUNTIME)
    backend = BACKENDS.get(datastore_url.split("://", 1)[0]) if "://" in datastore_url else None
    if backend:
        runtime.append(backend)
    extra = [f"{p}=={installed[p]}" if p in installed else p for p in runtime if p not in named]
    return [*spec.requirements, *extra]


def resolve(spec: EnvSpec, step: str, datastore_url: str = "") -> str:
    """The resolved lock (`name==version` lines), resolved once and then reused. The
    runtime at the kernel's versions is tried first; if the requirements exclude them,
    the runtime is left to the resolver."""
    reqs = resolution_input(spec, datastore_url)
    key = EnvSpec(tuple(reqs), spec.python).key(sys.executable)
    path = os.path.join(cache_root(), "locks", f"{key}.txt")
    if os.path.exists(path):
        with open(path) as f:
            return f.read()
    python = _python_request(spec)
    proc = _compile(reqs, python)
    if proc.returncode != 0:
        loose = resolution_input(spec, datastore_url, kernel_versions=False)
        if loose != reqs:
            proc = _compile(loose, python)
    if proc.returncode != 0:
        message = proc.stderr.strip() or proc.stdout.strip()
        raise EnvironmentBuildError(f"step '{step}': --pypi {' '.join(spec.requirements) or '(none)'}"
                                    f" cannot be resolved:\n{message}")
    _write_atomic(path, proc.stdout)
    return proc.stdout


def _compile(requirements: list[str], python: str) -> subprocess.CompletedProcess:
    return _run_uv(["pip", "compile", "-", "--python", python, "--no-header", "--no-annotate",
                    "--quiet"], stdin="\n".join(requirements) + "\n")


def lock_hash(lock: str, python: str | None) -> str:
    return hashlib.sha256(json.dumps([lock, python or "kernel:" + sys.executable])
                          .encode()).hexdigest()[:20]


def ensure(lock: str, python: str | None, step: str) -> dict:
    """The environment for `lock`, built unless cached. {"hash", "python" (its
    interpreter), "python_version", "built_seconds" (None when it was cached)}."""
    digest = lock_hash(lock, python)
    env_dir = os.path.join(cache_root(), "envs", digest)
    marker = os.path.join(env_dir, READY)
    built = None
    if not os.path.exists(marker):
        with _locked(env_dir + ".lock"):
            if not os.path.exists(marker):   # another process may have built it meanwhile
                built = _build(env_dir, lock, find_python(python) if python else sys.executable,
                               step)
    with open(marker) as f:
        ready = json.load(f)
    return {"hash": digest, "python": _interpreter(env_dir), "dir": env_dir,
            "python_version": ready.get("python_version"), "built_seconds": built}


def _build(env_dir: str, lock: str, python: str, step: str) -> float:
    start = time.perf_counter()
    shutil.rmtree(env_dir, ignore_errors=True)   # what a killed build left
    for args in (["venv", env_dir, "--python", python, "--quiet", "--no-project"],
                 ["pip", "sync", "-", "--python", _interpreter(env_dir), "--quiet"]):
        proc = _run_uv(args, stdin=lock if args[0] == "pip" else None)
        if proc.returncode != 0:
            shutil.rmtree(env_dir, ignore_errors=True)
            raise EnvironmentBuildError(f"step '{step}': its environment cannot be built "
                                    f"(uv {args[0]} {args[1]}):\n{proc.stderr.strip()}")
    with open(os.path.join(env_dir, "requirements.lock"), "w") as f:
        f.write(lock)
    version = subprocess.run([_interpreter(env_dir), "-c", "import platform;"
                              "print(platform.python_version())"],
                             capture_output=True, text=True).stdout.strip()
    seconds = round(time.perf_counter() - start, 3)
    _write_atomic(os.path.join(env_dir, READY), json.dumps(
        {"python_version": version, "seconds": seconds, "built_at": time.time()}))
    return seconds


def interpreter(digest: str) -> str:
    """The Python of the cached environment `digest`."""
    return _interpreter(os.path.join(cache_root(), "envs", digest))


def _interpreter(env_dir: str) -> str:
    if os.name == "nt":
        return os.path.join(env_dir, "Scripts", "python.exe")
    return os.path.join(env_dir, "bin", "python")


@contextmanager
def _locked(path: str):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _write_atomic(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def runtime_path() -> str:
    """A folder holding only a link to this nbflow package: the tasks' PYTHONPATH
    entry, so a pinned environment imports this nbflow and nothing else of ours."""
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    folder = os.path.join(cache_root(), "runtime", hashlib.sha256(pkg.encode()).hexdigest()[:16])
    link = os.path.join(folder, "nbflow")
    if os.path.realpath(link) != os.path.realpath(pkg):
        os.makedirs(folder, exist_ok=True)
        tmp = f"{link}.{os.getpid()}.tmp"
        os.symlink(pkg, tmp)
        os.replace(tmp, link)
    return folder


def check_resolves(requirement: str, python: str | None = None) -> str | None:
    """None if `requirement` resolves on the package index, else the resolver's message."""
    proc = _compile([requirement], python or sys.executable)
    if proc.returncode == 0:
        return None
    lines = [ln.strip() for ln in proc.stderr.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "it cannot be resolved"
