"""Many writers on one store: 8 runs of a foreach notebook at once (a local folder and an
S3 server), two resumes of one run at once, a client reading while runs write. Every run
ends as it should, and the store is consistent afterwards."""
from __future__ import annotations

import pytest
from faultkit import Marked, assert_fsck_clean, assert_store_consistent, start
from helpers import make_notebook, read_task_json, run_id_of, run_nbflow
from test_s3_datastore import s3_endpoint, s3_env  # noqa: F401, F811  (the S3 server fixture)

from nbflow import client
from nbflow.datastore import Datastore, records

RUNS = 8
CELLS = [
    "%%flow ManyFlow\nlabel = Parameter('label', default='x')",
    "%%step start -> body --foreach xs\nself.xs = list(range(3))",
    "%%step body -> join\nself.v = f'{self.label}-{self.input}'\nprint('body', self.v)",
    "%%step join -> end\nself.vs = [i.v for i in inputs]",
    "%%step end",
]


def end_value(ds: Datastore, flow: str, run_id: str, name: str):
    (task_id, attempt), = records.list_tasks(ds, flow, run_id, "end").items()
    rec = read_task_json(ds, flow, run_id, "end", task_id, attempt)
    return ds.get_object(rec["artifacts"][name]["key"])


def run_many(nb, workdir, env, *args) -> list[str]:
    procs = [start("run", nb, workdir, "--label", f"r{i}", "--max-workers", 2, *args, env=env)
             for i in range(RUNS)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, out + err
    ids = [run_id_of(out) for out, _ in outs]
    assert len(set(ids)) == RUNS
    return ids


def test_8_runs_at_once_on_a_local_store(workdir):
    nb = make_notebook(workdir / "many.ipynb", CELLS)
    marked = Marked()
    try:
        ids = run_many(nb, workdir, marked.env())
        marked.assert_none_alive()
    finally:
        marked.kill_all()
    ds = Datastore(str(workdir / ".nbflow"))
    assert sorted(records.list_runs(ds, "ManyFlow")) == sorted(ids)
    for i, run_id in enumerate(ids):
        assert end_value(ds, "ManyFlow", run_id, "vs") == [f"r{i}-{k}" for k in range(3)]
        assert records.read_run_end(ds, "ManyFlow", run_id)["successful"] is True
    assert assert_store_consistent(workdir / ".nbflow") == RUNS * 6
    assert_fsck_clean(workdir)


def test_8_runs_at_once_on_s3(workdir, s3_endpoint):  # noqa: F811
    import fsspec

    nb = make_notebook(workdir / "many.ipynb", CELLS)
    marked = Marked()
    env = s3_env(s3_endpoint)
    env["NBFLOW_TEST_MARK"] = marked.mark
    try:
        ids = run_many(nb, workdir, env, "--datastore", "s3://flows/many")
        marked.assert_none_alive()
    finally:
        marked.kill_all()
    ds = Datastore("s3://flows/many")
    ds.storage.fs = fsspec.filesystem("s3", endpoint_url=s3_endpoint, key="testing",
                                      secret="testing")
    for i, run_id in enumerate(ids):
        assert end_value(ds, "ManyFlow", run_id, "vs") == [f"r{i}-{k}" for k in range(3)]
        assert records.read_run_end(ds, "ManyFlow", run_id)["successful"] is True
    assert_fsck_clean(workdir, "--datastore", "s3://flows/many", env=env)


def test_two_resumes_of_one_run_at_once(workdir):
    nb = make_notebook(workdir / "twice.ipynb", [
        "%%flow TwiceFlow",
        "%%step start -> body --foreach xs\nself.xs = list(range(4))",
        ("%%step body -> join\nimport os\nif self.input == 2 and not os.path.exists('fixed'):\n"
         "    raise RuntimeError('not yet')\nself.v = self.input * 10"),
        "%%step join -> end\nself.vs = [i.v for i in inputs]",
        "%%step end",
    ])
    first = run_nbflow("run", nb, cwd=workdir)
    assert first.returncode == 1
    origin = run_id_of(first.stdout)
    (workdir / "fixed").write_text("")
    marked = Marked()
    try:
        procs = [start("resume", nb, workdir, "--origin-run-id", origin, env=marked.env())
                 for _ in range(2)]
        outs = [p.communicate(timeout=300) for p in procs]
        marked.assert_none_alive()
    finally:
        marked.kill_all()
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, out + err
    ids = {run_id_of(out) for out, _ in outs}
    assert len(ids) == 2 and origin not in ids
    ds = Datastore(str(workdir / ".nbflow"))
    for run_id in ids:
        assert end_value(ds, "TwiceFlow", run_id, "vs") == [0, 10, 20, 30]
    assert records.read_run_end(ds, "TwiceFlow", origin)["successful"] is False
    assert_store_consistent(workdir / ".nbflow")
    assert_fsck_clean(workdir)


def test_a_client_reads_while_runs_write(workdir):
    """Everything the client lists while runs are going can be read, every time."""
    nb = make_notebook(workdir / "many.ipynb", CELLS)
    marked = Marked()
    procs = [start("run", nb, workdir, "--label", f"c{i}", env=marked.env()) for i in range(3)]
    reads = 0
    client.context.reset_defaults()
    try:
        client.namespace(None)
        while any(p.poll() is None for p in procs) or reads == 0:
            reads += read_everything(workdir)
        outs = [p.communicate(timeout=300) for p in procs]
        marked.assert_none_alive()
    finally:
        marked.kill_all()
        client.context.reset_defaults()
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, out + err
    assert reads > 0
    assert_store_consistent(workdir / ".nbflow")
    assert_fsck_clean(workdir)


def read_everything(workdir) -> int:
    """Read every run, step, task, artifact and log the client lists now."""
    if not (workdir / ".nbflow" / "ManyFlow").exists():
        return 0
    seen = []
    for run in client.Flow("ManyFlow"):
        seen.append(run.status)
        for step in run:
            for task in step:
                if task.successful:
                    seen += [artifact.data for artifact in task]
                seen += [task.stdout, task.stderr]
    return len(seen)



def test_a_run_folder_before_its_record_is_not_a_damaged_run(workdir):
    """A run being created has its folder a moment before its record: a client listing
    runs then skips it silently (no 'skipping run' warning), and asking for it by id says
    it has no record yet (not 'no run X; did you mean X')."""
    import warnings

    from helpers import create_run_json

    ds = Datastore(str(workdir / ".nbflow"))
    run_id = create_run_json(ds, "StartFlow", {"params": {}, "user": "tester"})
    (workdir / ".nbflow" / "StartFlow" / f"9{run_id}").mkdir()     # newer, no record yet
    client.context.reset_defaults()
    try:
        client.namespace(None)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert [r.id for r in client.Flow("StartFlow")] == [run_id]
        with pytest.raises(client.NotFound) as e:
            client.Run(f"StartFlow/9{run_id}")
        assert str(e.value).startswith(f"run StartFlow/9{run_id} has no record yet "
                                       f"(StartFlow/9{run_id}/_run.json): it is starting")
    finally:
        client.context.reset_defaults()
