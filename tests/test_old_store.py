"""A store written by the previous version of nbflow (tests/fixtures/store_v1: a foreach,
a join that caught an error, parameters) reads with today's client and commands."""
import shutil
from pathlib import Path

import pytest
from helpers import run_nbflow

from nbflow.client.core import ClientContext, Flow, store_at

FIXTURE = Path(__file__).parent / "fixtures" / "store_v1"


@pytest.fixture
def old_store(tmp_path):
    shutil.copytree(FIXTURE / "nbflow_store", tmp_path / ".nbflow")
    shutil.copy(FIXTURE / "old_store.ipynb", tmp_path)
    return tmp_path


def test_the_client_reads_every_artifact_of_an_old_run(old_store):
    ctx = ClientContext(store_at(str(old_store / ".nbflow")), None)
    run = Flow("OldStoreFlow", _context=ctx).latest_run
    assert run.successful and run.data.words == ["aa", "bb", "cc"]
    assert [t.data.word for t in run["each"]] == ["aa", "bb", "cc"]
    gather = run["gather"].task
    assert gather.data.oops.type == "ValueError" and gather.data.alpha == 2
    assert "words ['aa', 'bb', 'cc']" in run["end"].task.stdout


def test_commands_read_an_old_run(old_store):
    runs = run_nbflow("runs", "OldStoreFlow", "--all", cwd=old_store)
    assert runs.returncode == 0 and "successful" in runs.stdout
    run_id = runs.stdout.splitlines()[1].split()[0]
    dump = run_nbflow("dump", f"OldStoreFlow/{run_id}/gather", cwd=old_store)
    assert dump.returncode == 0 and "words" in dump.stdout and "caught on purpose" in dump.stdout
    resumed = run_nbflow("resume", "old_store.ipynb", "end", cwd=old_store)
    assert resumed.returncode == 0, resumed.stderr
