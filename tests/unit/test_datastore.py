"""The datastore: blobs (codecs, content keys), crash-safe storage, run records."""
import io
import json
import struct
import threading
import uuid

import numpy as np
import pandas as pd
import pytest
from helpers import create_run_json, read_run_json

from nbflow.datastore import Datastore, records, serialize
from nbflow.errors import ArtifactError, DatastoreError
from nbflow.task.selfview import Inputs, ParentView, TaskSelf


def blob_codecs(ds: Datastore, key: str) -> list[str]:
    raw = ds.storage.get_bytes(ds.blob_path(key))
    assert raw[:8] == serialize.MAGIC
    (hlen,) = struct.unpack("<I", raw[8:12])
    return [codec for _size, codec in json.loads(raw[12:12 + hlen])["sections"]]


def same(a, b) -> bool:
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    if isinstance(a, pd.DataFrame):
        return a.equals(b) and list(a.dtypes) == list(b.dtypes)
    return type(a) is type(b) and a == b


rng = np.random.default_rng(0)
VALUES = {
    "compressible_array": np.zeros((1500, 1000), dtype=np.float64),     # 12 MB: several zstd frames
    "random_array": rng.random(200_000),                                  # raw: does not compress
    "strided_array": np.arange(400_000, dtype=np.int32)[::3],             # not contiguous
    "bytes": b"\x00\x01" * 100_000,
    "random_bytes": rng.bytes(300_000),
    "small": {"a": [1, 2.5, "x", None], "b": (True, b"y"), "c": {3, 4}},
    "frame": pd.DataFrame({"x": np.arange(50_000), "y": rng.random(50_000),
                           "s": [f"row{i}" for i in range(50_000)]}),
}


@pytest.mark.parametrize("name", list(VALUES))
@pytest.mark.parametrize("compress", [True, False])
def test_blobs_load_back_bit_identical(tmp_path, name, compress):
    ds = Datastore(str(tmp_path / "store"))
    value = VALUES[name]
    encoded = serialize.encode(value)
    assert ds.put_encoded(encoded, compress=compress)
    codecs = blob_codecs(ds, encoded.key)
    if not compress:
        assert set(codecs) == {"raw"}
    elif name in ("compressible_array", "bytes"):
        assert "zstd" in codecs
    elif name in ("random_array", "random_bytes"):
        assert set(codecs) == {"raw"}
    assert same(value, ds.get_object(encoded.key))


def test_nested_objects_and_functions_round_trip(tmp_path):
    ds = Datastore(str(tmp_path / "store"))
    arr = np.arange(100_000)
    value = {"arrays": [arr, arr * 2], "fn": lambda x: x + 1, "nested": [[{"k": arr[:5]}]]}
    back = ds.get_object(ds.put_object(value)["key"])
    assert back["arrays"][1].tolist() == (arr * 2).tolist()
    assert back["fn"](2) == 3
    assert back["nested"][0][0]["k"].tolist() == [0, 1, 2, 3, 4]


def test_content_addressed_same_value_stored_once(tmp_path):
    ds = Datastore(str(tmp_path / "store"))
    first = ds.put_object([1, 2, 3])
    second = ds.put_object([1, 2, 3])
    assert first == second == {"key": first["key"], "size": first["size"], "type": "list"}
    assert not ds.put_encoded(serialize.encode([1, 2, 3]))   # already there: nothing written
    assert ds.put_object([1, 2, 4])["key"] != first["key"]
    assert ds.put_object(np.arange(3))["type"] == "numpy.ndarray"
    blobs = [p for p in (tmp_path / "store" / "blobs").rglob("*") if p.is_file()]
    assert len(blobs) == 3


@pytest.mark.parametrize("value", [0, -7, 2**80, 1.5, float("nan"), 2j, True, None, "",
                                   "naïve" * 20_000, b"\x00" * 300_000])
def test_a_plain_value_keeps_the_key_cloudpickle_gave_it(tmp_path, value):
    """Built-in atoms are pickled without cloudpickle's pickler: same bytes, so the same
    key (a store written before dedups with one written now), and they load back."""
    import cloudpickle

    encoded = serialize.encode(value)
    main = memoryview(cloudpickle.dumps(value, protocol=5))
    assert encoded.key == serialize.content_key([main])
    ds = Datastore(str(tmp_path))
    ref = ds.put_object(value)
    loaded = ds.get_object(ref["key"])
    assert loaded == value or (value != value and loaded != loaded)   # NaN


def test_memory_url_datastore():
    ds = Datastore(f"memory://nbflow-test-{uuid.uuid4().hex}")
    key = ds.put_object({"x": np.arange(10)})["key"]
    assert ds.get_object(key)["x"].tolist() == list(range(10))
    with pytest.raises(DatastoreError, match="a memory:// store lives inside one process"):
        create_run_json(ds, "MemFlow", {"params": {}})   # tasks could not see it


def test_truncated_blob_is_an_error_not_garbage(tmp_path):
    ds = Datastore(str(tmp_path / "store"))
    key = ds.put_object(np.arange(100_000))["key"]
    path = tmp_path / "store" / ds.blob_path(key)
    path.write_bytes(path.read_bytes()[:-1000])
    with pytest.raises(DatastoreError, match=f"blob {key} in the datastore .* is damaged"):
        ds.get_object(key)
    with pytest.raises(DatastoreError, match="is missing from the datastore"):
        ds.get_object("0" * 32)
    with pytest.raises(serialize.DamagedBlob, match="bad magic"):
        serialize.read(io.BytesIO(b"garbage!" * 4))


def test_a_failed_write_leaves_nothing_behind(tmp_path):
    ds = Datastore(str(tmp_path / "store"))
    with pytest.raises(RuntimeError), ds.storage.open_for_write("a/b.json") as f:
        f.write(b"half")
        raise RuntimeError("killed mid-write")
    assert list((tmp_path / "store" / "a").iterdir()) == []
    assert not ds.storage.exists("a/b.json")


def test_run_ids_are_unique_even_at_the_same_moment(tmp_path, monkeypatch):
    ds = Datastore(str(tmp_path / "store"))
    monkeypatch.setattr(records, "new_run_id", lambda: "1700000000000000")
    ids: list[str] = []
    threads = [threading.Thread(target=lambda: ids.append(create_run_json(ds, "F", {"n": 1})))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids)) == 8
    assert sorted(records.list_runs(ds, "F")) == sorted(ids)
    for run_id in ids:
        assert read_run_json(ds, "F", run_id)["run_id"] == run_id


def test_default_datastore_is_found_upward(tmp_path, monkeypatch):
    from nbflow.datastore import default_datastore_url

    monkeypatch.delenv("NBFLOW_DATASTORE", raising=False)
    (tmp_path / ".nbflow").mkdir()
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert default_datastore_url(str(deep)) == str(tmp_path / ".nbflow")
    monkeypatch.setenv("NBFLOW_DATASTORE", "memory://elsewhere")
    assert default_datastore_url(str(deep)) == "memory://elsewhere"


# -- `self` in a task: lazy loading and change detection ---------------------------


def inherited(ds: Datastore, **values) -> dict:
    return {k: ds.put_object(v) for k, v in values.items()}


def test_unchanged_artifacts_keep_their_key_and_mutated_ones_get_a_new_one(tmp_path):
    ds = Datastore(str(tmp_path / "store"))
    refs = inherited(ds, items=[1, 2], seen=[3], untouched=np.arange(10))
    me = TaskSelf(ds, "step", refs, {})
    me.items.append(99)          # changed in place
    assert me.seen == [3]        # only read
    me.new = "fresh"
    blobs_before = {p.name for p in (tmp_path / "store" / "blobs").rglob("*") if p.is_file()}
    out = me.persist(ds)
    blobs_after = {p.name for p in (tmp_path / "store" / "blobs").rglob("*") if p.is_file()}
    assert "untouched" not in me._values           # never read, so never loaded
    assert out["untouched"] == refs["untouched"]
    assert out["seen"] == refs["seen"]             # read only: same ref, no new blob
    assert out["items"]["key"] != refs["items"]["key"]
    assert ds.get_object(out["items"]["key"]) == [1, 2, 99]
    assert blobs_after - blobs_before == {out["items"]["key"], out["new"]["key"]}


def test_missing_artifact_lists_the_ones_that_exist(tmp_path):
    ds = Datastore(str(tmp_path / "store"))
    me = TaskSelf(ds, "train", inherited(ds, alpha=1, beta=2), {})
    with pytest.raises(AttributeError) as info:
        _ = me.gamma
    assert str(info.value) == ("step 'train': artifact 'gamma' does not exist; artifacts available: "
                               "alpha, beta")
    assert not hasattr(me, "gamma")


def test_parameters_are_immutable(tmp_path):
    ds = Datastore(str(tmp_path / "store"))
    me = TaskSelf(ds, "s", {}, inherited(ds, alpha=0.5))
    assert me.alpha == 0.5
    with pytest.raises(ArtifactError, match="'alpha' is a parameter, and parameters are immutable"):
        me.alpha = 1


def test_unpicklable_artifact_is_named_with_its_type(tmp_path):
    ds = Datastore(str(tmp_path / "store"))
    me = TaskSelf(ds, "s", {}, {})
    me.ok = 1
    me.lock = threading.Lock()
    with pytest.raises(ArtifactError) as info:
        me.persist(ds)
    assert info.value.artifact == "lock"
    assert "a _thread.lock cannot be pickled" in str(info.value)


def join_of(ds, *branches: dict):
    views = [ParentView(ds, f"b{i}", f"F/1/b{i}/{i}", inherited(ds, **vals))
             for i, vals in enumerate(branches)]
    return TaskSelf(ds, "join", {}, {}), Inputs(views)


def test_merge_artifacts_follows_metaflows_rule(tmp_path):
    ds = Datastore(str(tmp_path / "store"))
    me, inputs = join_of(ds, {"same": 1, "diff": 1, "only_a": "a", "_private": 7},
                         {"same": 1, "diff": 2, "_private": 7})
    with pytest.raises(ArtifactError) as info:
        me.merge_artifacts(inputs)
    assert info.value.artifact == "diff" and "'diff' differ between inputs" in str(info.value)
    assert "same" not in me.artifact_names()   # a failed merge sets nothing
    me.diff = 3                                # assigned by the join: no longer a conflict
    me.merge_artifacts(inputs)
    assert (me.same, me.diff, me.only_a, me._private) == (1, 3, "a", 7)


def test_merge_artifacts_include_and_exclude(tmp_path):
    ds = Datastore(str(tmp_path / "store"))
    me, inputs = join_of(ds, {"x": 1, "y": 1, "z": 5}, {"x": 1, "y": 2})
    me.merge_artifacts(inputs, exclude=["y"])
    assert (me.x, me.z) == (1, 5) and not hasattr(me, "y")
    me2, inputs = join_of(ds, {"x": 1, "y": 1, "z": 5}, {"x": 1, "y": 2})
    me2.merge_artifacts(inputs, include=["z"])        # present in one input only: fine
    assert me2.artifact_names() == ["z"]
    with pytest.raises(ArtifactError, match="artifact 'nope' does not exist in any input"):
        me2.merge_artifacts(inputs, include=["nope"])
    with pytest.raises(ArtifactError, match="include or exclude, not both"):
        me2.merge_artifacts(inputs, include=["x"], exclude=["y"])


def test_merge_artifacts_outside_a_join(tmp_path):
    ds = Datastore(str(tmp_path / "store"))
    with pytest.raises(ArtifactError, match="merge_artifacts can only be called in a join step"):
        TaskSelf(ds, "linear", {}, {}).merge_artifacts(None)
