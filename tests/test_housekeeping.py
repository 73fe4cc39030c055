"""fsck, du, rm and gc on a real store: three runs sharing one large artifact, each
holding one of its own; locally and on the S3 API server (moto)."""
import os
import time
import uuid

import pytest
from helpers import create_run_json, make_notebook, read_run_json, read_task_json, run_id_of, run_nbflow

from nbflow.datastore import Datastore, records
from nbflow.records import TaskRecord

CELLS = [
    "%%flow HouseFlow\nimport numpy as np\nseed = Parameter('seed', default=0)",
    "%%step start -> end\nself.shared = np.arange(300_000, dtype=np.float64)\n"
    "self.own = np.random.default_rng(self.seed).random(200_000)",
    "%%step end\nprint('own', self.own[:2].sum() > 0, 'shared', int(self.shared.sum()))",
]


def three_runs(workdir, *extra, env=None) -> tuple:
    nb = make_notebook(workdir / "house.ipynb", CELLS)
    ids = []
    for seed in (1, 2, 3):
        res = run_nbflow("run", nb, "--seed", seed, *extra, cwd=workdir, env=env)
        assert res.returncode == 0, res.stderr
        ids.append(run_id_of(res.stdout))
    return nb, ids


def own_keys(ds: Datastore, run_id: str) -> set:
    """The blobs only this run has: its `own` array and its `seed` parameter."""
    rec = read_task_json(ds, "HouseFlow", run_id, "start", "1")
    run = read_run_json(ds, "HouseFlow", run_id)
    return {rec["artifacts"]["own"]["key"], run["params"]["seed"]["key"]}


def blob_files(root) -> dict:
    return {p.name: p.stat().st_size for p in (root / "blobs").rglob("*") if p.is_file()}


def test_du_rm_gc_free_exactly_a_runs_own_blobs(workdir):
    nb, ids = three_runs(workdir)
    root = workdir / ".nbflow"
    ds = Datastore(str(root))
    assert run_nbflow("fsck", cwd=workdir).returncode == 0

    from nbflow.commands.du import du

    report = du(f"HouseFlow/{ids[1]}")
    before = blob_files(root)
    run_files = sum(p.stat().st_size for p in (root / "HouseFlow" / ids[1]).rglob("*")
                    if p.is_file())
    mine = own_keys(ds, ids[1])
    assert report.total.alone == sum(before[k] for k in mine) + run_files
    flow = du("HouseFlow")
    assert [r.name for r in flow.rows] == ids[::-1]
    assert flow.total.total == sum(before.values()) + sum(
        p.stat().st_size for p in (root / "HouseFlow").rglob("*") if p.is_file())
    from nbflow import Run

    assert Run(f"HouseFlow/{ids[1]}").size.alone == report.total.alone
    from nbflow import Flow

    assert Flow("HouseFlow").size == flow.total                # the client: the same figures

    res = run_nbflow("du", "HouseFlow", "--bytes", cwd=workdir)
    assert res.returncode == 0 and f"{report.total.alone}" in res.stdout

    dry = run_nbflow("rm", f"HouseFlow/{ids[1]}", "--dry-run", cwd=workdir)
    assert dry.returncode == 0 and f"would delete run HouseFlow/{ids[1]}" in dry.stdout
    assert (root / "HouseFlow" / ids[1]).exists()
    res = run_nbflow("rm", f"HouseFlow/{ids[1]}", cwd=workdir)
    assert res.returncode == 0, res.stderr
    assert not (root / "HouseFlow" / ids[1]).exists()
    assert blob_files(root) == before                       # rm leaves blobs to gc

    young = run_nbflow("gc", cwd=workdir)                     # default grace: 1 day
    assert "removed 0 unreferenced blobs" in young.stdout and "kept 2" in young.stdout
    res = run_nbflow("gc", "--grace", "0", cwd=workdir)
    assert res.returncode == 0, res.stderr
    after = blob_files(root)
    assert set(before) - set(after) == mine
    freed = sum(before[k] for k in mine)
    assert f"({freed} bytes) freed" in res.stdout
    for run_id in (ids[0], ids[2]):                          # the others load everything
        data = Run(f"HouseFlow/{run_id}")["start"].task.data
        assert data.shared.sum() == sum(range(300_000)) and data.own.size == 200_000
    assert run_nbflow("fsck", cwd=workdir).returncode == 0


def test_rm_refuses_a_running_run_and_a_resume_origin(workdir):
    nb = make_notebook(workdir / "fails.ipynb", [
        "%%flow FailFlow\nimport os",
        "%%step start -> mid\nself.x = 1\nprint('start ran')",
        "%%step mid -> end\nif not os.path.exists('ok'):\n    raise ValueError('no')",
        "%%step end\nprint('x', self.x)"])
    failed = run_nbflow("run", nb, cwd=workdir)
    assert failed.returncode == 1
    origin = run_id_of(failed.stdout)
    (workdir / "ok").touch()
    resumed = run_nbflow("resume", nb, cwd=workdir)
    assert resumed.returncode == 0, resumed.stderr
    new = run_id_of(resumed.stdout)

    res = run_nbflow("rm", f"FailFlow/{origin}", cwd=workdir)
    assert res.returncode == 1
    assert (f"error: run FailFlow/{origin} is the origin of FailFlow/{new} (resumed from it"
            in res.stderr)
    ds = Datastore(str(workdir / ".nbflow"))
    running = create_run_json(ds, "FailFlow", {"pid": os.getpid(), "created_at": time.time(),
                                                  "host": os.uname().nodename})
    res = run_nbflow("rm", f"FailFlow/{running}", cwd=workdir)
    assert res.returncode == 1
    assert f"error: run FailFlow/{running} is still running (pid {os.getpid()}" in res.stderr
    res = run_nbflow("rm", "FailFlow", "--keep-last", "0", "--dry-run", cwd=workdir)
    assert f"would delete run FailFlow/{new}" in res.stdout      # the origin goes with it
    assert f"would delete run FailFlow/{origin}" in res.stdout
    assert "still running" in res.stderr

    res = run_nbflow("rm", f"FailFlow/{origin}", "--force", cwd=workdir)
    assert res.returncode == 0, res.stderr
    assert run_nbflow("gc", "--grace", "0", cwd=workdir).returncode == 0
    from nbflow import Run

    assert Run(f"FailFlow/{new}")["end"].task.data.x == 1       # the clone's blobs were kept
    logs = run_nbflow("logs", f"FailFlow/{new}/start", cwd=workdir)
    assert f"run FailFlow/{origin}, which was deleted" in logs.stdout + logs.stderr


def test_rm_selects_old_and_interactive_runs(workdir):
    nb, ids = three_runs(workdir)
    res = run_nbflow("rm", "HouseFlow", "--keep-last", "2", cwd=workdir)
    assert res.returncode == 0 and f"deleted run HouseFlow/{ids[0]}" in res.stdout
    res = run_nbflow("rm", "HouseFlow", "--older-than", "7d", cwd=workdir)
    assert "no run selected" in res.stdout
    res = run_nbflow("rm", "HouseFlow", "--interactive", "--keep-last", "0", cwd=workdir)
    assert "no run selected" in res.stdout                    # none is interactive
    ds = Datastore(str(workdir / ".nbflow"))
    kernel_run = {"sys_tags": ["interactive"], "host": os.uname().nodename, "pid": None}
    old = create_run_json(ds, "HouseFlow", {**kernel_run, "created_at": time.time() - 8 * 86400})
    new = create_run_json(ds, "HouseFlow", {**kernel_run, "created_at": time.time()})
    res = run_nbflow("rm", "HouseFlow", "--interactive", "--older-than", "7d", cwd=workdir)
    assert res.returncode == 0 and f"deleted run HouseFlow/{old}" in res.stdout, res.stdout + res.stderr
    assert f"HouseFlow/{new}" not in res.stdout and ids[1] not in res.stdout
    assert not (workdir / ".nbflow" / "HouseFlow" / old).exists()
    res = run_nbflow("rm", "HouseFlow", cwd=workdir)
    assert res.returncode == 2 and "names a whole flow" in res.stderr


def test_gc_keeps_what_appears_while_it_walks(workdir, monkeypatch):
    """A blob written after the walk began, and an old blob that a record written during
    the walk references, both survive; an old unreferenced blob goes."""
    from nbflow.commands import gc as gcmod

    root = workdir / ".nbflow"
    ds = Datastore(str(root))
    old_loose = ds.put_object("loose")["key"]
    old_reused = ds.put_object("reused")["key"]
    past = time.time() - 3600
    for key in (old_loose, old_reused):
        os.utime(root / ds.blob_path(key), (past, past))
    real_walk = gcmod.walk_store
    written = {}

    def walk_then_write(store):
        walk = real_walk(store)
        written["new"] = ds.put_object("written meanwhile")["key"]
        rec = {"flow": "F", "run_id": "1", "step": "start", "task_id": "1", "attempt": 0,
               "pathspec": "F/1/start/1",
               "artifacts": {"x": {"key": old_reused, "size": 1, "type": "str"}}}
        records.write_task(ds, TaskRecord.from_json(rec))
        os.utime(root / ds.blob_path(old_reused), (past, past))   # as if not freshened
        return walk

    monkeypatch.setattr(gcmod, "walk_store", walk_then_write)
    result = gcmod.gc("0", datastore=str(root))
    assert result.collected == [old_loose]
    assert ds.get_object(written["new"]) == "written meanwhile"
    assert ds.get_object(old_reused) == "reused"


def test_fsck_reports_damage_with_the_runs_it_affects_and_repairs(workdir):
    nb, ids = three_runs(workdir)
    root = workdir / ".nbflow"
    ds = Datastore(str(root))
    own1, own2 = (read_task_json(ds, "HouseFlow", r, "start", "1")["artifacts"]["own"]["key"]
                  for r in ids[:2])
    path = root / ds.blob_path(own1)
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    os.unlink(root / ds.blob_path(own2))
    (root / "HouseFlow" / ids[2] / "end" / "2.0.json").write_text("{not json")
    ds.put_object("nobody's")

    res = run_nbflow("fsck", cwd=workdir)
    assert res.returncode == 1
    out = res.stdout
    assert f"DAMAGED BLOB {ds.blob_path(own1)}: its content hashes to" in out
    assert f"(runs: HouseFlow/{ids[0]})" in out
    assert f"MISSING BLOB {ds.blob_path(own2)}: referenced by a task record but not in the " \
           f"store (runs: HouseFlow/{ids[1]})" in out
    assert f"DAMAGED RECORD HouseFlow/{ids[2]}/end/2.0.json: task record is damaged" in out
    assert "1 unreferenced blobs" in out

    res = run_nbflow("fsck", "--repair", cwd=workdir)
    assert res.returncode == 1 and "moved aside to .damaged/" in res.stdout
    assert not path.exists()
    moved = list((root / ".damaged").rglob(own1))
    assert len(moved) == 1 and moved[0].read_bytes() == bytes(data)   # never deleted
    (root / "HouseFlow" / ids[2] / "end" / "2.0.json").unlink()
    run_nbflow("rm", f"HouseFlow/{ids[2]}", "--force", cwd=workdir)
    # a resume runs the step whose blob was moved aside again, which writes it again
    res = run_nbflow("resume", nb, "end", "--origin-run-id", ids[0], cwd=workdir)
    assert res.returncode == 0, res.stderr
    new = run_id_of(res.stdout)
    assert f"{new}/start/3 (pid" in res.stdout and "Cloning" not in res.stdout   # ran, not reused
    assert run_nbflow("run", nb, "--seed", 2, cwd=workdir).returncode == 0   # so does a rerun
    res = run_nbflow("fsck", cwd=workdir)
    assert res.returncode == 0, res.stdout
    assert "no damage found" in res.stdout


def test_gc_refuses_a_store_with_a_damaged_record(workdir):
    nb, ids = three_runs(workdir)
    (workdir / ".nbflow" / "HouseFlow" / ids[0] / "start" / "1.0.json").write_text("{")
    res = run_nbflow("gc", "--grace", "0", cwd=workdir)
    assert res.returncode == 1
    assert f"gc cannot tell which blobs HouseFlow/{ids[0]}/start/1.0.json references" in res.stderr


# -- the same on the S3 API server -----------------------------------------------------------

pytest.importorskip("s3fs")
from test_s3_datastore import s3_endpoint, s3_env  # noqa: E402,F401 - the moto fixture


def test_housekeeping_on_s3(workdir, s3_endpoint):  # noqa: F811
    env = s3_env(s3_endpoint)
    url = f"s3://flows/house-{uuid.uuid4().hex[:8]}"
    nb, ids = three_runs(workdir, "--datastore", url, env=env)

    def nbflow(*args):
        return run_nbflow(*args, "--datastore", url, cwd=workdir, env=env)

    assert nbflow("fsck").returncode == 0
    du = nbflow("du", f"HouseFlow/{ids[1]}", "--bytes")
    assert du.returncode == 0, du.stderr
    alone = int(du.stdout.split("of which ")[1].split()[0])
    import fsspec

    fs = fsspec.filesystem("s3", endpoint_url=s3_endpoint, key="testing", secret="testing")
    store = url.removeprefix("s3://")
    own = {}                                         # the blobs only ids[1] has, and their sizes
    ds = Datastore(url)
    ds.storage.fs = fs
    for key in own_keys(ds, ids[1]):
        own[key] = fs.info(f"{store}/blobs/{key[:2]}/{key}")["size"]
    res = nbflow("rm", f"HouseFlow/{ids[1]}")
    assert res.returncode == 0, res.stderr
    runs = nbflow("runs", "HouseFlow", "--all")
    assert ids[1] not in runs.stdout and ids[0] in runs.stdout
    res = nbflow("gc", "--grace", "0")
    assert res.returncode == 0, res.stderr
    freed = int(res.stdout.split("(")[1].split()[0])
    assert "removed 2 unreferenced blobs" in res.stdout
    assert freed == sum(own.values()) and 0 < freed < alone   # its blobs; its records were rm's
    for run_id in (ids[0], ids[2]):
        dump = nbflow("dump", f"HouseFlow/{run_id}/start/1")
        assert dump.returncode == 0 and "DAMAGED" not in dump.stdout, dump.stderr
    fsck = nbflow("fsck")
    assert fsck.returncode == 0 and "no damage found" in fsck.stdout, fsck.stdout

    import json

    root = store
    rec = json.loads(fs.cat_file(f"{root}/HouseFlow/{ids[0]}/start/1.0.json"))
    key = rec["artifacts"]["own"]["key"]
    blob = f"{root}/blobs/{key[:2]}/{key}"
    data = bytearray(fs.cat_file(blob))
    data[-5] ^= 0x10
    fs.pipe_file(blob, bytes(data))
    dump = nbflow("dump", f"HouseFlow/{ids[0]}/start/1")
    assert dump.returncode == 1 and f"blob {key}" in dump.stderr and "is damaged" in dump.stderr
    fsck = nbflow("fsck", "--repair")
    assert fsck.returncode == 1
    assert f"DAMAGED BLOB blobs/{key[:2]}/{key}" in fsck.stdout and f"HouseFlow/{ids[0]}" in fsck.stdout
    assert "moved aside to .damaged/" in fsck.stdout and not fs.exists(blob)
    assert [p for p in fs.find(f"{root}/.damaged") if p.endswith(key)]


def test_a_reused_blob_is_freshened_on_s3(s3_endpoint):  # noqa: F811
    import fsspec

    fs = fsspec.filesystem("s3", endpoint_url=s3_endpoint, key="testing", secret="testing")
    ds = Datastore(f"s3://flows/touch-{uuid.uuid4().hex[:8]}")
    ds.storage.fs = fs
    key = ds.put_object("kept alive by reuse")["key"]
    path = ds.storage.full(ds.blob_path(key))
    first = fs.info(path)["LastModified"]
    time.sleep(1.1)                                      # S3 times have whole seconds
    ds.put_object("kept alive by reuse")                # found sound: reused, freshened
    fs.invalidate_cache()
    assert fs.info(path)["LastModified"] > first
    assert ds.get_object(key) == "kept alive by reuse"



def test_gc_deletes_in_batches_on_s3(s3_endpoint, monkeypatch):  # noqa: F811
    """Unreferenced blobs go in DeleteObjects requests (up to 1000 keys each), not one
    request per blob."""
    import fsspec.config
    import s3fs

    from nbflow.commands.gc import gc

    monkeypatch.setitem(fsspec.config.conf, "s3", {"endpoint_url": s3_endpoint, "key": "testing",
                                                   "secret": "testing"})
    url = f"s3://flows/batch-{uuid.uuid4().hex[:8]}"
    ds = Datastore(url)
    keys = [ds.put_object(f"loose {i}")["key"] for i in range(40)]
    calls = []
    real = s3fs.S3FileSystem._call_s3

    async def counted(self, method, *args, **kwargs):
        calls.append((method, len(kwargs.get("Delete", {}).get("Objects", ()))))
        return await real(self, method, *args, **kwargs)

    monkeypatch.setattr(s3fs.S3FileSystem, "_call_s3", counted)
    result = gc("0", datastore=url)
    assert sorted(result.collected) == sorted(keys)
    deletes = [c for c in calls if c[0].startswith("delete")]
    assert deletes == [("delete_objects", 40)], deletes
    assert not [p for p in Datastore(url).storage.walk() if p.rel.startswith("blobs/")]
