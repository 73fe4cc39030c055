"""An artifact that cannot be pickled: the error names the artifact, its type and the
part inside it that could not be pickled (issue 16), in a run and in a kernel cell."""
import threading

from conftest import make_notebook, run_id_of, run_nbflow

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
