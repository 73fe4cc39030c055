"""Cell-by-cell runs in a real kernel (docs/reference.md section 2, "In the notebook, cell by cell").

A real ipykernel is driven through jupyter_client: each cell's stream output, error
and the kernel's `self` come back as a user would see them; the store is read directly."""
from __future__ import annotations

import queue
from dataclasses import dataclass, field

import pytest
from helpers import StoreReader, cli_env, make_notebook, read_run_json
from jupyter_client import KernelManager

pytestmark = pytest.mark.timeout(300)


@dataclass
class CellResult:
    stdout: str = ""
    stderr: str = ""
    error: dict | None = None       # ename, evalue, traceback
    results: list = field(default_factory=list)   # text/plain of Out[...] and displays
    messages: list = field(default_factory=list)  # every iopub message, in order

    @property
    def error_text(self) -> str:
        import re

        if not self.error:
            return ""
        return re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(self.error["traceback"]))


class KernelDriver:
    """A real kernel in `cwd`; `notebook` is what the front end says it belongs to."""

    def __init__(self, cwd, notebook=None, **env):
        env = cli_env(**env)
        if notebook is not None:
            env["JPY_SESSION_NAME"] = str(notebook)
        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel(cwd=str(cwd), env=env)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=120)

    def send(self, code: str, cell_id: str | None = None) -> str:
        """Execute `code`; `cell_id` as JupyterLab sends it (the request's metadata)."""
        content = {"code": code, "silent": False, "store_history": True,
                   "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}
        msg = self.kc.session.msg("execute_request", content,
                                  metadata={"cellId": cell_id} if cell_id else {})
        self.kc.shell_channel.send(msg)
        return msg["header"]["msg_id"]

    def collect(self, msg_id: str, result: CellResult | None = None, until=None,
                timeout: float = 240) -> CellResult:
        """iopub messages of `msg_id` until the kernel is idle (or `until(result)` is true)."""
        result = result or CellResult()
        while True:
            try:
                msg = self.kc.get_iopub_msg(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no output for {timeout} s; so far: {result}") from None
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            result.messages.append(msg)
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                setattr(result, content["name"], getattr(result, content["name"]) + content["text"])
            elif kind == "error":
                result.error = content
            elif kind in ("execute_result", "display_data"):
                result.results.append(content["data"].get("text/plain", ""))
            elif kind == "status" and content["execution_state"] == "idle":
                return result
            if until is not None and until(result):
                return result

    def run(self, code: str, ok: bool = True, cell_id: str | None = None) -> CellResult:
        result = self.collect(self.send(code, cell_id))
        if ok:
            assert result.error is None, result.error_text + result.stderr
        return result

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=False)   # graceful: the kernel's atexit handlers run

    def __enter__(self):
        """The kernel with `%load_ext nbflow` done; shut down at the end of the block."""
        try:
            self.run("%load_ext nbflow")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@pytest.fixture
def kernel(workdir):
    with KernelDriver(workdir, workdir / "dev.ipynb") as k:
        yield k


def interactive_runs(store: StoreReader, flow: str) -> list[str]:
    from nbflow.datastore import records

    return [r for r in records.list_runs(store.ds, flow)
            if "interactive" in read_run_json(store.ds, flow, r)["sys_tags"]]


def test_steps_run_cell_by_cell_with_parents_inputs(kernel, store):
    kernel.run("%%flow DevFlow\nscale = Parameter('scale', default=2)\ndef double(x): return 2 * x")
    r = kernel.run("%%step start -> train\nself.data = [1, 2, 3]\nprint('loaded', len(self.data))")
    assert "loaded 3" in r.stdout
    r = kernel.run("%%step train -> end\nself.total = double(sum(self.data)) * self.scale\n"
                   "import nbflow\nprint('interactive?', nbflow.current.is_interactive)")
    assert "interactive? True" in r.stdout
    assert kernel.run("print(self.total, sorted(dir(self)))").stdout.strip() == \
        "24 ['data', 'scale', 'total']"
    [run_id] = interactive_runs(store, "DevFlow")
    [task] = store.tasks("DevFlow", run_id, "train")
    assert task["successful"] and task["parents"][0].startswith(f"DevFlow/{run_id}/start/")
    assert store.artifacts("DevFlow", run_id, "train")["total"] == 24
    # the client API sees the interactive run with its system tag
    r = kernel.run("from nbflow import Flow\nrun = Flow('DevFlow').latest_run\n"
                   "print(run.id, 'interactive' in run.tags, run['train'].task.data.total)")
    assert r.stdout.split() == [run_id, "True", "24"]


def test_self_is_a_lazy_read_only_view(kernel):
    kernel.run("%%step start -> end\nself.model = {'weights': [0.5]}\nlocal_only = 1")
    r = kernel.run("print(repr(self))\nprint(dir(self))\nprint(self.model['weights'])")
    assert "model" in r.stdout and "local_only" not in r.stdout and "[0.5]" in r.stdout
    r = kernel.run("self.model = None", ok=False)
    assert "read-only" in r.error_text and "assign self.model in a %%step cell" in r.error_text
    r = kernel.run("self.nothing", ok=False)
    assert "no artifact 'nothing'" in r.error_text and "model" in r.error_text


def test_rerun_marks_downstream_stale_and_edited_flow_cell_applies(kernel, store):
    kernel.run("%%flow DevFlow\nOFFSET = 1")
    kernel.run("%%step start -> mid\nself.x = OFFSET")
    kernel.run("%%step mid -> end\nself.y = self.x * 10")
    kernel.run("%%step end\nprint('end sees', self.y)")
    kernel.run("%%flow DevFlow\nOFFSET = 7")          # edited: the next task uses it
    r = kernel.run("%%step start -> mid\nself.x = OFFSET")
    assert "stale" in r.stdout and "mid" in r.stdout and "end" in r.stdout
    assert kernel.run("print(self.x)").stdout.strip() == "7"
    kernel.run("%%step mid -> end\nself.y = self.x * 10")
    assert kernel.run("print(self.y)").stdout.strip() == "70"
    [run_id] = interactive_runs(store, "DevFlow")

    rec = read_run_json(store.ds, "DevFlow", run_id)
    assert [p.split("/")[2] for p in rec["stale"]] == ["end"]   # mid ran again: fresh


def test_an_edited_step_body_runs_its_new_code(kernel):
    """The zygote compiles a step's code once before forking its tasks: an edited body
    (same step, same cell position) must still run as edited, its traceback showing it."""
    kernel.run("%%step start -> end\nself.v = 'first'")
    assert kernel.run("print(self.v)").stdout.strip() == "first"
    kernel.run("%%step start -> end\nself.v = 'second'")
    assert kernel.run("print(self.v)").stdout.strip() == "second"
    r = kernel.run("%%step start -> end\nself.v = 'third'\nraise ValueError('edited ' + self.v)",
                   ok=False)
    assert "edited third" in r.error_text
    assert "raise ValueError('edited ' + self.v)" in r.stderr   # the cell's own line


def test_parent_never_ran_names_the_cell(kernel, workdir):
    make_notebook(workdir / "dev.ipynb", ["%load_ext nbflow", "%%step start -> train\nself.a = 1",
                                          "%%step train -> end\nself.b = self.a", "%%step end"])
    r = kernel.run("%%step train -> end\nself.b = self.a", ok=False)
    assert "parent step 'start' has not run yet" in r.error_text
    assert "run cell 2 ('%%step start -> train') first" in r.error_text


def test_errors_shown_in_the_cell_before_any_subprocess(kernel, store):
    r = kernel.run("%%step start -> end\nx = 1\nif x\n    pass", ok=False)
    assert "this cell, line 3, step 'start': syntax error" in r.error_text
    r = kernel.run("%%step start -> end --retries 2\npass", ok=False)
    assert "unknown option '--retries'" in r.error_text
    r = kernel.run("%%step start -> end\nself.next(self.end)", ok=False)
    assert "self.next(...) is not allowed" in r.error_text and "line 2" in r.error_text
    assert "Traceback" not in r.error_text
    assert not store.ds.storage.exists("DevFlow")   # nothing ran


def test_empty_bodies_and_loading_twice(kernel, store):
    kernel.run("%load_ext nbflow")
    kernel.run("%reload_ext nbflow")
    kernel.run("%%flow EmptyFlow")
    kernel.run("%%step start -> end")
    r = kernel.run("%%step end\n\n")
    assert r.error is None
    [run_id] = interactive_runs(store, "EmptyFlow")
    assert store.tasks("EmptyFlow", run_id, "end")[0]["successful"]


def test_output_streams_while_the_task_runs(kernel, workdir):
    """The first line reaches the cell while the task still waits for a file that only
    the test creates after seeing that line: streaming, with no timing involved."""
    gate = workdir / "gate"
    msg_id = kernel.send(f"%%step start -> end\nimport os, sys, time\nprint('first')\n"
                         f"print('to stderr', file=sys.stderr)\n"
                         f"while not os.path.exists({str(gate)!r}): time.sleep(0.05)\n"
                         "print('second')")
    r = kernel.collect(msg_id, until=lambda res: "first" in res.stdout and "to stderr" in res.stderr)
    assert "second" not in r.stdout
    gate.touch()
    r = kernel.collect(msg_id, r)
    assert r.error is None and r.stdout.index("first") < r.stdout.index("second")
    assert "to stderr" not in r.stdout


def test_interrupt_ends_the_task_and_marks_it_failed(kernel, store):
    msg_id = kernel.send("%%step start -> end\nimport time\nprint('working', flush=True)\n"
                         "while True: time.sleep(0.05)")
    kernel.collect(msg_id, until=lambda res: "working" in res.stdout)
    kernel.km.interrupt_kernel()
    r = kernel.collect(msg_id)
    assert r.error is not None and "interrupted" in r.error_text
    [run_id] = interactive_runs(store, "DevFlow")
    [task] = store.tasks("DevFlow", run_id, "start")
    assert task["successful"] is False
    # the kernel stays usable, and so does the interactive run
    r = kernel.run("%%step start -> end\nself.ok = True")
    assert kernel.run("print(self.ok)").stdout.strip() == "True"


def test_foreach_runs_all_splits_and_join_gets_them(kernel, store):
    kernel.run("%%step start -> each --foreach letters\nself.letters = list('abc')")
    r = kernel.run("%%step each -> join\nself.up = self.input.upper() * (self.index + 1)\n"
                   "print('got', self.input)")
    assert sorted(line.split()[-1] for line in r.stdout.splitlines() if "got" in line) == \
        ["a", "b", "c"]
    kernel.run("%%step join -> end\nself.ups = [i.up for i in inputs]")
    assert kernel.run("print(self.ups)").stdout.strip() == "['A', 'BB', 'CCC']"
    [run_id] = interactive_runs(store, "DevFlow")
    assert len(store.tasks("DevFlow", run_id, "each")) == 3


def test_task_failure_and_params(kernel):
    kernel.run("%%flow DevFlow\nwho = Parameter('who', required=True)\nn = Parameter('n', default=1)")
    r = kernel.run("%%step start -> end\nprint(self.who)", ok=False)
    assert "missing required parameter(s): --who" in r.error_text and "%nbflow params" in r.error_text
    r = kernel.run("%nbflow params --n notanumber", ok=False)
    assert "needs an integer" in r.error_text
    r = kernel.run("%nbflow params --who ada --n 3")
    assert "--who = 'ada'" in r.stdout
    r = kernel.run("%%step start -> end\nprint('hi', self.who, self.n + 1)\n1 / 0", ok=False)
    assert "hi ada 4" in r.stdout
    assert "ZeroDivisionError" in r.stderr   # the task's own traceback, streamed
    assert "ZeroDivisionError: division by zero" in r.error_text and "/start/" in r.error_text


def test_parent_from_the_flows_last_run_after_a_restart(workdir, store):
    nb = make_notebook(workdir / "dev.ipynb", [
        "%load_ext nbflow", "%%flow DevFlow", "%%step start -> end\nself.x = 41",
        "%%step end\nself.y = self.x + 1"])
    with KernelDriver(workdir, nb) as first:
        first.run("%%step start -> end\nself.x = 41")
    with KernelDriver(workdir, nb) as k:
        r = k.run("%%step end\nself.y = self.x + 1")
        [old] = [line for line in r.stdout.splitlines() if "has not run in this kernel" in line]
        assert "step 'start'" in old and "run DevFlow/" in old
        assert k.run("print(self.y)").stdout.strip() == "42"
    assert len(interactive_runs(store, "DevFlow")) == 2
