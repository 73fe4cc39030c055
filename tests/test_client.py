"""The client API (docs/reference.md section 4) over real runs in a temporary datastore."""
import subprocess
import sys
import time
import warnings
from datetime import datetime

import pytest
from helpers import cli_env, make_notebook, run_id_of, run_nbflow

import nbflow
from nbflow import DataArtifact, Flow, Flows, Run, Step, Task, client, namespace
from nbflow.datastore import Datastore

CLIENT_FLOW = [
    "%%flow ClientFlow\nalpha = Parameter('alpha', default=2)",
    ("%%step start -> a, b\n\"\"\"Start.\"\"\"\nimport sys\nself.x = 1\nself.items = ['p', 'q', 'r']\n"
    "print('out of start')\nprint('err of start', file=sys.stderr)"),
    "%%step a -> join\nself.y = self.x + self.alpha",
    "%%step b -> join\nself.y = 100",
    ("%%step join -> fe\nself.ys = sorted(i.y for i in inputs)\n"
    "self.merge_artifacts(inputs, exclude=['y'])"),
    "%%step fe -> body --foreach items\npass",
    "%%step body -> fjoin\nself.up = self.input.upper() * (self.index + 1)",
    "%%step fjoin -> end\nself.ups = [i.up for i in inputs]\nself.merge_artifacts(inputs, exclude=['up'])",
    "%%step end\nself.done = True",
]

TINY_FLOW = [
    "%%flow TinyFlow\nfail = Parameter('fail', default=False)",
    "%%step start -> end\nself.x = 41",
    "%%step end\nif self.fail:\n    raise ValueError('boom at the end')\nself.x += 1",
]


@pytest.fixture(autouse=True)
def fresh_client_state():
    """The client's namespace and datastore are process-wide: each test starts clean."""
    client.context.reset_defaults()
    yield
    client.context.reset_defaults()


@pytest.fixture(scope="module")
def client_run(tmp_path_factory):
    """One real run of CLIENT_FLOW (read-only for the tests that share it)."""
    work = tmp_path_factory.mktemp("client")
    nb = make_notebook(work / "client.ipynb", CLIENT_FLOW)
    res = run_nbflow("run", nb, "--tag", "exp1", cwd=work)
    assert res.returncode == 0, res.stderr
    return work, run_id_of(res.stdout)


def use_store(monkeypatch, work):
    monkeypatch.setenv("NBFLOW_USER", "tester")
    monkeypatch.delenv("NBFLOW_DATASTORE", raising=False)
    monkeypatch.chdir(work)


def test_navigate_run_step_task_data(client_run, monkeypatch):
    work, run_id = client_run
    use_store(monkeypatch, work)
    flow = Flow("ClientFlow")
    run = flow.latest_run
    assert run == Run(f"ClientFlow/{run_id}") == flow[run_id]
    assert (run.id, run.pathspec) == (run_id, f"ClientFlow/{run_id}")
    assert run.successful and run.finished and run.status == "successful"
    assert isinstance(run.created_at, datetime) and run.created_at <= run.finished_at
    assert {"user:tester", "exp1"} <= run.tags and run.user_tags == {"exp1"}
    assert "user:tester" in run.system_tags
    assert run.parameters == {"alpha": 2}
    # steps: the last ones first, as in Metaflow
    assert [s.id for s in run] == ["end", "fjoin", "body", "fe", "join", "b", "a", "start"]
    start = run["start"].task
    assert isinstance(start, Task) and start.pathspec == f"ClientFlow/{run_id}/start/1"
    assert start.data.x == 1 and start["items"].data == ["p", "q", "r"]
    assert start.data.alpha == 2   # every task carries the parameters
    assert start.stdout == "out of start\n" and start.stderr == "err of start\n"
    assert start.successful and start.exception is None and start.index is None
    assert set(start.artifacts._fields) == {"x", "items", "alpha"}
    art = start.artifacts.items
    assert isinstance(art, DataArtifact) and art.pathspec == f"ClientFlow/{run_id}/start/1/items"
    assert art.id == "items" and art.data == ["p", "q", "r"] and art.type == "list"
    assert art.size > 0 and len(art.sha) == 32
    assert DataArtifact(art.pathspec).sha == art.sha
    assert "x" in start and "x" in start.data and "nope" not in start.data
    # a foreach step's tasks in foreach order
    body = run["body"]
    assert isinstance(body, Step) and len(body) == 3
    assert [t.index for t in body] == [0, 1, 2]
    assert [t.data.up for t in body] == ["P", "QQ", "RRR"]
    assert body.task.index == 0 and Task(body.task.pathspec).index == 0
    assert run.data.ups == ["P", "QQ", "RRR"] and run.data.ys == [3, 100] and run.data.done
    assert run.end_task.pathspec == f"ClientFlow/{run_id}/end/" + run.end_task.id
    assert Flow("ClientFlow") in Flows() and Flows()["ClientFlow"] == flow


def test_runs_newest_first_latest_successful_and_exception(workdir):
    nb = make_notebook(workdir / "tiny.ipynb", TINY_FLOW)
    ok = run_nbflow("run", nb, "--tag", "good", cwd=workdir)
    bad = run_nbflow("run", nb, "--fail", "true", cwd=workdir)
    assert ok.returncode == 0 and bad.returncode == 1, ok.stderr + bad.stderr
    ok_id, bad_id = run_id_of(ok.stdout), run_id_of(bad.stdout)
    flow = Flow("TinyFlow")
    assert [r.id for r in flow.runs()] == [bad_id, ok_id]
    assert flow.latest_run.id == bad_id and flow.latest_successful_run.id == ok_id
    assert [r.id for r in flow.runs("good")] == [ok_id]
    failed = flow.latest_run
    assert failed.finished and not failed.successful and failed.status == "failed"
    assert failed.parameters == {"fail": True}
    end = failed["end"].task
    assert not end.successful and end.finished
    exc = end.exception
    assert exc.type == "ValueError" and exc.message == "boom at the end"
    assert "raise ValueError('boom at the end')" in exc.traceback and str(exc) == exc.traceback
    assert "ValueError: boom at the end" in end.stderr
    assert failed["start"].task.successful


def test_namespaces(workdir):
    nb = make_notebook(workdir / "tiny.ipynb", TINY_FLOW)
    mine = run_nbflow("run", nb, "--namespace", "production", cwd=workdir)
    alices = run_nbflow("run", nb, cwd=workdir, env=cli_env(NBFLOW_USER="alice"))
    assert mine.returncode == 0 and alices.returncode == 0
    mine_id, alice_id = run_id_of(mine.stdout), run_id_of(alices.stdout)
    assert nbflow.get_namespace() == "user:tester"
    assert [r.id for r in Flow("TinyFlow")] == [mine_id]
    with pytest.raises(client.NamespaceMismatch, match="namespace 'user:alice'"):
        Run(f"TinyFlow/{alice_id}")
    with pytest.raises(client.NamespaceMismatch):
        Task(f"TinyFlow/{alice_id}/start/1")
    namespace(None)
    assert [r.id for r in Flow("TinyFlow")] == [alice_id, mine_id]
    assert Run(f"TinyFlow/{alice_id}").user == "alice"
    namespace("production")
    assert [r.id for r in Flow("TinyFlow")] == [mine_id]
    assert "production" in Run(f"TinyFlow/{mine_id}").tags
    namespace("user:alice")
    assert Flow("TinyFlow").latest_run.id == alice_id
    namespace("user:nobody")
    with pytest.raises(client.NamespaceMismatch, match="no runs in namespace 'user:nobody'"):
        Flow("TinyFlow")
    assert list(Flows()) == []
    assert nbflow.default_namespace() == "user:tester"


def test_listing_never_loads_an_artifact(client_run, monkeypatch):
    work, _run_id = client_run
    use_store(monkeypatch, work)

    def no_loading(self, key):
        raise AssertionError("an artifact was loaded")

    monkeypatch.setattr(Datastore, "get_object", no_loading)
    run = Flow("ClientFlow").latest_run
    listing = [(s.id, t.pathspec, t.index, a.id, a.size, a.type, a.sha)
               for s in run for t in s for a in t]
    assert len(listing) > 20
    assert sorted(run["end"].task.artifacts._fields)[:3] == ["alpha", "done", "items"]
    assert run.successful and run.tags


def test_datastore_found_upward_from_env_or_set(client_run, monkeypatch, tmp_path):
    work, run_id = client_run
    use_store(monkeypatch, work)
    sub = work / "deeper" / "still"
    sub.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(sub)
    assert Flow("ClientFlow").latest_run.id == run_id   # the nearest .nbflow/ upward
    monkeypatch.chdir(tmp_path)
    with pytest.raises(client.NotFound, match="no flow 'ClientFlow'"):
        Flow("ClientFlow")
    monkeypatch.setenv("NBFLOW_DATASTORE", str(work / ".nbflow"))
    assert Flow("ClientFlow").latest_run.id == run_id
    monkeypatch.delenv("NBFLOW_DATASTORE")
    nbflow.set_datastore(str(work / ".nbflow"))
    assert Run(f"ClientFlow/{run_id}").successful


def test_a_run_still_going_is_readable(workdir):
    nb = make_notebook(workdir / "slow.ipynb", [
        "%%flow SlowFlow\nimport os, time",
        "%%step start -> wait\nself.x = 7",
        "%%step wait -> end\nwhile not os.path.exists(os.environ['GO_FILE']):\n    time.sleep(0.05)",
        "%%step end\npass",
    ])
    go = workdir / "go"
    proc = subprocess.Popen([sys.executable, "-m", "nbflow", "run", str(nb)], cwd=workdir,
                            env=cli_env(GO_FILE=go), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        run, deadline = None, time.time() + 120
        while run is None or "start" not in run:   # until start's record is committed
            assert proc.poll() is None, proc.communicate()
            assert time.time() < deadline, "start's record never appeared"
            time.sleep(0.05)
            try:
                run = Flow("SlowFlow").latest_run
            except client.ClientError:   # the run's folder is not there yet
                pass
        assert run.status == "running" and not run.finished and not run.successful
        assert run["start"].task.data.x == 7
        assert run.data is None and run.finished_at is None
        with pytest.raises(client.NotFound, match="still going"):
            run["end"]
    finally:
        go.write_text("go")
        _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert Run(run.pathspec).successful


@pytest.mark.parametrize("cls, pathspec", [
    (Flow, ""), (Run, "ClientFlow"), (Run, "ClientFlow/1/start"), (Task, "ClientFlow/../../etc"),
    (Step, "ClientFlow/../start"), (Run, "Client Flow/1"), (Task, "ClientFlow/1/start/1/x/y/z"),
    (Run, "/etc/passwd"),
])
def test_malformed_pathspecs(cls, pathspec, client_run, monkeypatch):
    use_store(monkeypatch, client_run[0])
    with pytest.raises(client.PathspecError, match="pathspec"):
        cls(pathspec)


def test_unknown_names_say_what_exists(client_run, monkeypatch):
    work, run_id = client_run
    use_store(monkeypatch, work)
    with pytest.raises(client.NotFound, match="did you mean 'ClientFlow'"):
        Flow("ClientFlw")
    with pytest.raises(KeyError, match=f"runs there: {run_id}"):
        Run("ClientFlow/12345")
    with pytest.raises(KeyError, match="did you mean 'start'"):
        Flow("ClientFlow")[run_id]["strat"]
    with pytest.raises(client.NotFound, match="tasks there: 1"):
        Task(f"ClientFlow/{run_id}/start/99")
    task = Task(f"ClientFlow/{run_id}/start/1")
    with pytest.raises(AttributeError, match="did you mean 'items'"):
        _ = task.data.itemz
    with pytest.raises(KeyError, match="artifacts there: alpha, items, x"):
        task["nope"]


def test_damaged_records_spare_the_other_runs(workdir):
    nb = make_notebook(workdir / "tiny.ipynb", TINY_FLOW)
    ids = [run_id_of(run_nbflow("run", nb, cwd=workdir).stdout) for _ in range(3)]
    root = workdir / ".nbflow" / "TinyFlow"
    text = (root / ids[0] / "_run.json").read_text()
    (root / ids[0] / "_run.json").write_text(text[: len(text) // 2])    # truncated
    (root / ids[1] / "end" / "2.0.json").write_text("{not json")       # corrupted
    (root / ids[2] / "_end.json").write_bytes(b"\x00\xff")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert [r.id for r in Flow("TinyFlow").runs()] == [ids[1]]
        assert Flow("TinyFlow").latest_successful_run.id == ids[1]
    for bad in (ids[0], ids[2]):
        assert any(bad in str(w.message) and "damaged" in str(w.message) for w in caught)
    with pytest.raises(client.DamagedRecord, match=f"run TinyFlow/{ids[0]} is damaged"):
        Run(f"TinyFlow/{ids[0]}")
    run = Run(f"TinyFlow/{ids[1]}")
    assert run["start"].task.data.x == 41
    with pytest.raises(client.DamagedRecord, match="end/2 is damaged"):
        _ = run["end"].task
    assert sorted(client.damaged_runs("TinyFlow")) == [ids[0], ids[2]]
