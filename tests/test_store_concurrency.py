"""fsck and gc walking a store while several runs write it (locally and on S3): the walks
see no damage, every run succeeds, every artifact loads, and fsck is clean afterwards.
(Eight runs at once with a client reading: tests/faults/test_concurrency.py.)"""
import subprocess
import sys
import time
import uuid

import pytest
from helpers import cli_env, make_notebook, run_id_of, run_nbflow

CELLS = [
    "%%flow BusyFlow\nimport numpy as np\nseed = Parameter('seed', default=0)",
    "%%step start -> square --foreach items\nself.items = list(range(4))\n"
    "self.shared = np.arange(100_000)",
    "%%step square -> join\nself.sq = self.input ** 2 + self.seed\n"
    "self.noise = np.random.default_rng(self.seed * 10 + self.input).random(20_000)",
    "%%step join -> end\nself.total = sum(i.sq for i in inputs)",
    "%%step end\nprint('total', self.total)",
]


def _start(nb, seed, cwd, env, *extra):
    return subprocess.Popen([sys.executable, "-m", "nbflow", "run", str(nb), "--seed", str(seed),
                             "--quiet", *extra], cwd=str(cwd), env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _concurrent_runs(workdir, env, extra: list, n: int):
    nb = make_notebook(workdir / "busy.ipynb", CELLS)
    procs = [_start(nb, seed, workdir, env, *extra) for seed in range(n)]
    walks = []
    while any(p.poll() is None for p in procs):      # walk the store while they write
        if not extra and not (workdir / ".nbflow").exists():
            time.sleep(0.1)
            continue
        walks.append(run_nbflow("fsck", *extra, cwd=workdir, env=env))
        walks.append(run_nbflow("gc", "--grace", "1h", *extra, cwd=workdir, env=env))
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    for seed, (out, _err) in enumerate(outs):
        assert f"total {sum(i * i + seed for i in range(4))}" in out
    assert walks
    for walk in walks:
        assert walk.returncode == 0, walk.stdout + walk.stderr
    return [run_id_of(out) for out, _err in outs]


def _check_all(workdir, env, extra, ids):
    fsck = run_nbflow("fsck", *extra, cwd=workdir, env=env)
    assert fsck.returncode == 0 and "no damage found" in fsck.stdout, fsck.stdout
    for run_id in ids:
        dump = run_nbflow("dump", f"BusyFlow/{run_id}/square", *extra, cwd=workdir, env=env)
        assert dump.returncode == 0, dump.stderr
        assert dump.stdout.count("=== BusyFlow/") == 4 and "DAMAGED" not in dump.stdout


def test_fsck_and_gc_while_runs_write_a_local_store(workdir):
    env = cli_env()
    ids = _concurrent_runs(workdir, env, [], 4)
    assert len(set(ids)) == 4
    _check_all(workdir, env, [], ids)


pytest.importorskip("s3fs")
from test_s3_datastore import s3_endpoint, s3_env  # noqa: E402,F401 - the moto fixture


def test_fsck_and_gc_while_runs_write_on_s3(workdir, s3_endpoint):  # noqa: F811
    env = s3_env(s3_endpoint)
    extra = ["--datastore", f"s3://flows/busy-{uuid.uuid4().hex[:8]}"]
    ids = _concurrent_runs(workdir, env, extra, 4)
    _check_all(workdir, env, extra, ids)
