"""An artifact that cannot be pickled: the error names the artifact, its type and the
part inside it that could not be pickled (issue 16), in a run and in a kernel cell."""
import threading

from helpers import cli_env, make_notebook, run_id_of, run_nbflow

from nbflow.task.unpicklable import find_unpicklable

MODEL = ("import socket\n"
         "class Client:\n    def __init__(self):\n        self.host = 'db'\n"
         "        self._sock = socket.socket()\n"
         "class Model:\n    def __init__(self):\n        self.weights = [0.5]\n"
         "        self.client = Client()\n")


class Holder:
    __slots__ = ("name", "parts")

    def __init__(self):
        self.name = "h"
        self.parts = {"ok": [1, 2], "bad": [3, (4, threading.Lock())]}


def test_the_path_to_the_first_unpicklable_part():
    assert find_unpicklable({"a": 1}, "self.x") is None
    path, part, error = find_unpicklable(Holder(), "self.h")
    assert path == "self.h.parts['bad'][1][1]" and "lock" in str(error)
    path, part, _ = find_unpicklable(threading.Lock(), "self.lock")
    assert path == "self.lock"
    loop = []
    loop.append(loop)
    loop.append(threading.Lock())
    assert find_unpicklable(loop, "self.loop")[0] == "self.loop[1]"


def test_a_run_names_the_attribute_path(workdir, store):
    nb = make_notebook(workdir / "sock.ipynb", [
        f"%%flow SockFlow\n{MODEL}",
        "%%step start -> end\nself.fine = 1\nself.model = Model()", "%%step end"])
    res = run_nbflow("run", nb, cwd=workdir)
    assert res.returncode == 1
    assert ("step 'start', artifact 'model': cannot be stored: a nbflow_flow.Model cannot be "
            "pickled: self.model.client._sock is a socket.socket (cannot pickle 'socket' "
            "object); keep it in a local variable instead of self") in res.stderr, res.stderr
    rec = store.tasks("SockFlow", run_id_of(res.stdout), "start")[0]
    assert rec["successful"] is False


def test_a_kernel_cell_names_the_attribute_path(workdir):
    from test_kernel_interactive import KernelDriver

    with KernelDriver(workdir, workdir / "dev.ipynb") as kernel:
        kernel.run(f"%%flow DevFlow\n{MODEL}")
        r = kernel.run("%%step start -> end\nself.model = Model()", ok=False)
        assert "self.model.client._sock is a socket.socket" in r.error_text
        assert "artifact 'model'" in r.error_text


def test_a_big_artifact_is_named_as_the_task_finishes(workdir):
    """The size check: over NBFLOW_ARTIFACT_WARN, a notice names the artifact, its type and
    size; the run still succeeds and stores it. Small artifacts and `off` say nothing."""
    nb = make_notebook(workdir / "big.ipynb", [
        "%%flow BigFlow",
        "%%step start -> end\nself.blob = bytes(200_000)\nself.small = 1", "%%step end"])
    res = run_nbflow("run", nb, cwd=workdir, env=cli_env(NBFLOW_ARTIFACT_WARN="100KB"))
    assert res.returncode == 0, res.stderr
    notices = [line for line in (res.stdout + res.stderr).splitlines() if "NBFLOW_ARTIFACT_WARN" in line]
    assert len(notices) == 1, notices
    assert "step 'start' stored self.blob (bytes), 195.3 KiB" in notices[0]
    assert "100.0 KiB" in notices[0]
    quiet = run_nbflow("run", nb, cwd=workdir, env=cli_env(NBFLOW_ARTIFACT_WARN="off"))
    assert quiet.returncode == 0 and "NBFLOW_ARTIFACT_WARN" not in quiet.stdout + quiet.stderr
    default = run_nbflow("run", nb, cwd=workdir)   # 1 GiB by default
    assert "NBFLOW_ARTIFACT_WARN" not in default.stdout + default.stderr


def test_a_big_artifact_notice_shows_under_the_cell(workdir):
    from test_kernel_interactive import KernelDriver

    with KernelDriver(workdir, workdir / "dev.ipynb", NBFLOW_ARTIFACT_WARN="1KiB") as kernel:
        kernel.run("%%flow DevFlow")
        r = kernel.run("%%step start -> end\nself.blob = bytes(5000)")
        assert "stored self.blob (bytes), 4.9 KiB" in r.stdout + r.stderr
