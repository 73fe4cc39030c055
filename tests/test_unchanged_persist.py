"""A big inherited array that a step only read keeps its key without being hashed again
(datastore/unchanged.py: its bytes are still the blob's mapped pages). Every way a step
can change such a value, in place or around it, must still give a new version, on the
fork and the spawn path alike: real runs of the CLI."""
import numpy as np
import pytest
from helpers import cli_env, make_notebook, run_id_of, run_nbflow

N = 2**18   # float64: 2 MiB, a big section (mapped when loaded)

FLOW = [
    "%%flow ChangeFlow\nimport numpy as np",
    ("%%step start -> middle\n"
     "rng = np.random.default_rng(0)\n"
     f"for name in ['read', 'elem', 'view', 'shape', 'dtype', 'flag', 'kern', 'same', 'copy']:\n"
     f"    setattr(self, name, rng.random({N}))\n"
     f"for name in ['box', 'swap', 'alias', 'small']:\n"
     f"    setattr(self, name, {{'a': rng.random({N}), 'b': rng.random({N}), "
     "'s': np.arange(10), 'name': name})"),
    ("%%step middle -> end\n"
     "print('SUM', float(self.read.sum()))\n"
     "self.elem[12345] = -1.0\n"
     "v = self.view[1000:]\nv[0] = 7.0\n"
     "self.shape.shape = (2, -1)\n"
     "self.dtype.dtype = np.int64\n"
     "self.flag.flags.writeable = False\n"
     "with open('/dev/urandom', 'rb') as f:\n    f.readinto(self.kern[:16])\n"
     "self.same = self.same\n"
     "self.copy = self.copy.copy()\n"
     "self.box['a'][0] = 3.0\n"
     "self.swap['a'], self.swap['b'] = self.swap['b'], self.swap['a']\n"
     "self.alias['b'] = self.alias['a']\n"
     "self.small['s'][0] = 5"),
    "%%step end\nprint('SEEN', self.elem[12345], self.shape.shape, self.small['s'][0])",
]

KEPT = {"read", "same", "copy"}
CHANGED = {"elem", "view", "shape", "dtype", "kern", "box", "swap", "alias", "small"}


@pytest.mark.parametrize("fork_args", [[], ["--no-fork"]])
def test_a_read_array_keeps_its_key_and_every_change_is_a_new_version(workdir, store,
                                                                      fork_args):
    nb = make_notebook(workdir / "change.ipynb", FLOW)
    res = run_nbflow("run", nb, *fork_args, cwd=workdir, env=cli_env())
    assert res.returncode == 0, res.stderr
    assert "SEEN -1.0 (2, 131072) 5" in res.stdout
    run_id = run_id_of(res.stdout)
    start = store.tasks("ChangeFlow", run_id, "start")[0]["artifacts"]
    middle = store.tasks("ChangeFlow", run_id, "middle")[0]["artifacts"]
    for name in KEPT:
        assert middle[name]["key"] == start[name]["key"], name
    for name in CHANGED:
        assert middle[name]["key"] != start[name]["key"], name

    def load(ref):
        return store.ds.get_object(ref["key"])

    before = {name: load(ref) for name, ref in start.items() if name in KEPT | CHANGED | {"flag"}}
    got = {name: load(middle[name]) for name in CHANGED | {"flag"}}
    assert got["elem"][12345] == -1.0 and got["view"][1000] == 7.0
    assert got["shape"].shape == (2, N // 2)
    assert got["shape"].tobytes() == before["shape"].tobytes()
    assert got["dtype"].dtype == np.int64 and got["dtype"].tobytes() == before["dtype"].tobytes()
    assert got["flag"].tobytes() == before["flag"].tobytes()
    assert got["kern"][16:].tobytes() == before["kern"][16:].tobytes()
    assert got["kern"][:16].tobytes() != before["kern"][:16].tobytes()
    assert got["box"]["a"][0] == 3.0
    assert got["swap"]["a"].tobytes() == before["swap"]["b"].tobytes()
    assert got["alias"]["b"] is got["alias"]["a"]
    assert got["small"]["s"][0] == 5
