"""Big local blobs: written a piece at a time into reserved blocks, read back as a private
map of the file (no copy): the value is the same, aligned and writable, changing it never
changes the blob, and damage is still found before the value is used."""
import os

import numpy as np
import pytest

from nbflow.datastore import Datastore, serialize
from nbflow.errors import DatastoreError


@pytest.fixture
def ds(tmp_path):
    return Datastore(str(tmp_path / "store"))


def test_a_big_array_loads_aligned_writable_and_the_blob_stays(ds):
    x = np.random.default_rng(0).random(3 * 2**20 // 8 + 5)
    ref = ds.put_object(x)
    y = ds.get_object(ref["key"])
    assert y.tobytes() == x.tobytes()
    assert y.flags.aligned and y.flags.writeable and y.ctypes.data % serialize.ALIGN == 0
    y[:10] = -1.0  # in place: a copy-on-write page of this process, not the file
    assert ds.get_object(ref["key"]).tobytes() == x.tobytes()
    assert serialize.encode(ds.get_object(ref["key"])).key == ref["key"]


def test_several_buffers_and_unaligned_ones_load_the_same(ds):
    value = {"a": np.arange(2**18, dtype=np.int8), "b": np.random.default_rng(1).random(2**18),
             "c": np.random.default_rng(2).bytes(2**20 + 3), "d": np.arange(2**17, dtype=np.complex128)}
    got = ds.get_object(ds.put_object(value)["key"])
    assert got["c"] == value["c"]
    for name in "abd":
        assert got[name].tobytes() == value[name].tobytes() and got[name].dtype == value[name].dtype


def test_a_compressed_big_blob_is_not_longer_than_written(ds):
    z = np.zeros(20 * 2**20 // 8)
    ref = ds.put_object(z)
    path = ds.storage.full(ds.blob_path(ref["key"]))
    assert os.path.getsize(path) < 2**20   # the reserved blocks beyond it were given back
    assert ds.get_object(ref["key"]).tobytes() == z.tobytes()


def test_a_damaged_mapped_blob_is_refused(ds):
    x = np.random.default_rng(3).random(2**20 // 8 * 2)
    ref = ds.put_object(x)
    path = ds.storage.full(ds.blob_path(ref["key"]))
    with open(path, "r+b") as f:
        f.seek(-100, 2)
        f.write(b"\xff" * 8)
    with pytest.raises(DatastoreError, match="damaged"):
        ds.get_object(ref["key"])
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) - 4096)
    with pytest.raises(DatastoreError, match="damaged"):
        ds.get_object(ref["key"])


@pytest.mark.parametrize("scan", [True, False])   # PAGEMAP_SCAN, or pagemap's entries read
def test_a_loaded_array_only_read_keeps_its_key_without_a_hash_and_a_write_is_seen(
        ds, monkeypatch, scan):
    from nbflow.datastore import unchanged
    from nbflow.task.selfview import TaskSelf

    if not scan:
        monkeypatch.setattr(unchanged, "_scan", lambda fd, start, end: None)

    x = np.random.default_rng(4).random(2**18)
    ref = ds.put_object({"x": x, "small": np.arange(5)})

    def no_hashing(*args, **kwargs):
        raise AssertionError("hashed")

    me = TaskSelf(ds, "s", {"v": ref}, {})
    assert me.v["x"].sum() == x.sum()
    with monkeypatch.context() as m:
        m.setattr(serialize, "content_key", no_hashing)
        assert me.persist(ds)["v"] == ref     # proven: the mapped pages were never written

    for change in (lambda v: v["x"].__setitem__(7, 0.5), lambda v: v["small"].fill(9),
                   lambda v: setattr(v["x"], "shape", (2, -1))):
        me = TaskSelf(ds, "s", {"v": ref}, {})
        change(me.v)
        value, origin = me.v, me._origins["v"]
        assert origin.key_for(serialize.encode(value).sections) is None
        assert me.persist(ds)["v"]["key"] != ref["key"]
