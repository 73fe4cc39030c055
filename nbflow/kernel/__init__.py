"""The kernel side of nbflow: `%load_ext nbflow` registers %%flow, %%step and %nbflow.

Only this package imports IPython and ipywidgets."""
from __future__ import annotations

import atexit

_LOADED: dict[int, object] = {}   # id(shell) -> KernelSession
AUTOLOADED: set[int] = set()      # id(shell) of kernels the JupyterLab extension loaded nbflow
                                  # in (kernel/lab.py) and no `%load_ext nbflow` has run in


def load_ipython_extension(ipython) -> None:
    """Loading twice is harmless: the second time does nothing."""
    if id(ipython) in _LOADED:
        AUTOLOADED.discard(id(ipython))   # `%load_ext nbflow` after the front end loaded it
        return
    from .magics import NbflowMagics, allow_empty_body
    from .session import KernelSession

    session = KernelSession(ipython.user_ns)
    ipython.register_magics(NbflowMagics(ipython, session))
    if allow_empty_body not in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.append(allow_empty_body)
    ipython.events.register("pre_run_cell", session.before_cell)
    _LOADED[id(ipython)] = session
    atexit.register(_shutdown, session)
    from .labcheck import NOTE, lab_extension_missing

    if lab_extension_missing():
        import sys

        print(NOTE, file=sys.stderr)
    try:
        session.executor()   # warm the zygote now: the first step cell starts fast
    except Exception:  # noqa: BLE001, S110 - no fork here: each task will start its own interpreter
        pass


def unload_ipython_extension(ipython) -> None:
    from .magics import allow_empty_body

    session = _LOADED.pop(id(ipython), None)
    if allow_empty_body in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.remove(allow_empty_body)
    if session is not None:
        ipython.events.unregister("pre_run_cell", session.before_cell)
        atexit.unregister(_shutdown)
        _shutdown(session)


def session_of(ipython):
    """The KernelSession of a shell (for tests and tools), or None."""
    return _LOADED.get(id(ipython))


def _shutdown(session) -> None:
    from .interactive import end_interactive_run

    end_interactive_run(session)
    session.close()
