"""`from nbflow import Runner`: Metaflow's Runner names over a notebook, run in a real
`python -m nbflow` subprocess: run/resume (blocking), async_run with stream_log and
wait, a context manager, errors before anything starts."""
from __future__ import annotations

import asyncio
import os

import pytest
from helpers import make_notebook

from nbflow import Runner
from nbflow.errors import NbflowError, ValidationErrors

CELLS = [
    "%%flow RunnerFlow\nimport os\nalpha = Parameter('alpha', default=1.0)",
    ("%%step start -> end\nprint('starting with', self.alpha)\n"
     "self.x = self.alpha * 2\nself.starts = os.environ.get('COUNT', '')"),
    ("%%step end\nif os.environ.get('FAIL'):\n    raise ValueError('asked to fail')\n"
     "print('x is', self.x)"),
]


@pytest.fixture
def notebook(workdir):
    return make_notebook(workdir / "runner.ipynb", CELLS)


def test_run_returns_the_run_status_and_output(notebook, capsys):
    with Runner(str(notebook), show_output=False) as runner:
        result = runner.run(alpha=0.5, tags=["nightly", "v2"], max_workers=2)
        assert result.status == "successful" and result.returncode == 0
        assert result.run.successful and result.run.data.x == 1.0
        assert {"nightly", "v2"} <= set(result.run.tags)
        assert f"Workflow starting (run-id {result.run.id})" in result.stdout
        assert "starting with 0.5" in result.stdout and "x is 1.0" in result.stdout
        logs = result.command_obj.tmp
        assert os.path.isdir(logs)
    assert not os.path.exists(logs)          # the context manager removed the log files
    assert capsys.readouterr().out == ""     # show_output=False


def test_the_executing_run_is_a_context_manager_too(notebook):
    # Metaflow's own e2e tests write `with Runner(path).run() as running:`
    with Runner(str(notebook), show_output=False).run(alpha=2) as running:
        assert running.status == "successful" and running.run.data.x == 4.0
        logs = running.command_obj.tmp
        assert os.path.isdir(logs)
    assert not os.path.exists(logs)


def test_show_output_echoes_the_run(notebook, capfd):
    Runner(str(notebook)).run()
    assert "x is 2.0" in capfd.readouterr().out


def test_a_failed_run_then_resume_from_a_step(notebook):
    failing = Runner(str(notebook), show_output=False, env={"FAIL": "1", "COUNT": "first"})
    failed = failing.run(alpha=3)
    assert failed.status == "failed" and failed.returncode == 1
    assert not failed.run.successful and "asked to fail" in failed.stdout + failed.stderr
    fixed = Runner(str(notebook), show_output=False, env={"COUNT": "second"})
    resumed = fixed.resume()
    assert resumed.status == "successful", resumed.stderr
    assert resumed.run.id != failed.run.id and resumed.run.origin_run_id == failed.run.id
    assert resumed.run.data.x == 6.0
    assert resumed.run["start"].task.data.starts == "first"     # reused, not rerun
    again = fixed.resume(step="start", origin_run_id=resumed.run.id)
    assert again.status == "successful", again.stderr
    assert again.run["start"].task.data.starts == "second"      # rerun from start


def test_async_run_streams_the_log_while_it_runs(notebook):
    async def go():
        async with Runner(str(notebook)) as runner:
            running = await runner.async_run(alpha=4)
            assert running.run is not None and running.run.id in running.stdout
            lines = [line async for _, line in running.stream_log("stdout")]
            await running.wait()
            return running, lines
    running, lines = asyncio.run(go())
    assert running.status == "successful"
    assert any("starting with 4.0" in line for line in lines) and lines[-1] == "Done!"
    assert running.run.data.x == 8.0


def test_wait_with_a_timeout_stops_the_run(workdir):
    nb = make_notebook(workdir / "slow.ipynb", [
        "%%step start -> end\nimport time\ntime.sleep(600)", "%%step end"])

    async def go():
        running = await Runner(str(nb)).async_run()
        return await running.wait(timeout=1)
    running = asyncio.run(go())
    assert running.status == "timeout" and running.returncode != 0
    assert running.run is not None and not running.run.successful


def test_a_missing_or_invalid_notebook_fails_before_anything_starts(workdir):
    with pytest.raises(FileNotFoundError, match="notebook 'nope.ipynb' does not exist"):
        Runner("nope.ipynb")
    with pytest.raises(NbflowError):
        Runner("nope.ipynb")
    bad = make_notebook(workdir / "bad.ipynb", ["%%step start -> nowhere", "%%step end"])
    with pytest.raises(ValidationErrors, match="nowhere"):
        Runner(str(bad))
    assert not (workdir / ".nbflow").exists()
