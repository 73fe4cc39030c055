"""Every blob read is checked against its name; a damaged blob is never a value, and a
write of the same value replaces it."""
import io
import os

import numpy as np
import pytest

from nbflow.datastore import Datastore, serialize
from nbflow.errors import DatastoreError

VALUES = {
    "int": 12345,
    "random_array": np.random.default_rng(1).random(300_000),         # raw section
    "compressible_array": np.zeros(3_000_000),                         # zstd frames
    "bytes": b"abc" * 50_000,
}


def blob_file(ds: Datastore, key: str) -> str:
    return os.path.join(ds.storage.root, ds.blob_path(key))


def flip(path: str, offset_from_end: int) -> None:
    with open(path, "r+b") as f:
        f.seek(-offset_from_end, os.SEEK_END)
        b = f.read(1)
        f.seek(-offset_from_end, os.SEEK_END)
        f.write(bytes([b[0] ^ 0x01]))


def truncate(path: str, n: int) -> None:
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) - n)


DAMAGE = {
    "flipped last byte": lambda p: flip(p, 1),
    "flipped middle byte": lambda p: flip(p, os.path.getsize(p) // 2),
    "truncated by one": lambda p: truncate(p, 1),
    "truncated by half": lambda p: truncate(p, os.path.getsize(p) // 2),
    "appended byte": lambda p: open(p, "ab").write(b"x"),
    "emptied": lambda p: truncate(p, os.path.getsize(p)),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
@pytest.mark.parametrize("name", list(VALUES))
def test_damage_is_detected_on_load_and_repaired_by_a_write(tmp_path, name, damage):
    ds = Datastore(str(tmp_path / "store"))
    value = VALUES[name]
    key = ds.put_object(value)["key"]
    path = blob_file(ds, key)
    DAMAGE[damage](path)
    if damage != "appended byte":   # harmless to the value; fsck and writes still see it
        with pytest.raises(DatastoreError) as e:
            ds.get_object(key, artifact="x", task="F/1/start/1")
        assert f"artifact 'x' of task F/1/start/1: blob {key} in the datastore" in str(e.value)
        assert "is damaged" in str(e.value) and "nbflow fsck --repair" in str(e.value)
    with pytest.raises(serialize.DamagedBlob), open(path, "rb") as f:
        serialize.verify(f, key)
    # storing the same value again replaces the damaged blob
    assert ds.put_object(value)["key"] == key
    back = ds.get_object(key)
    assert back.tobytes() == value.tobytes() if isinstance(value, np.ndarray) else back == value
    with open(path, "rb") as f:
        serialize.verify(f, key)


def test_a_sound_blob_is_not_rewritten(tmp_path):
    ds = Datastore(str(tmp_path / "store"))
    encoded = serialize.encode(VALUES["compressible_array"])
    assert ds.put_encoded(encoded)
    before = os.stat(blob_file(ds, encoded.key)).st_ino
    assert not ds.put_encoded(encoded)
    assert os.stat(blob_file(ds, encoded.key)).st_ino == before


def test_a_blob_under_another_name_is_damage(tmp_path):
    ds = Datastore(str(tmp_path / "store"))
    a, b = ds.put_object([1, 2])["key"], ds.put_object([3, 4])["key"]
    os.replace(blob_file(ds, a), blob_file(ds, b))
    with pytest.raises(DatastoreError, match="header names another blob"):
        ds.get_object(b)
    assert ds.put_object([3, 4])["key"] == b and ds.get_object(b) == [3, 4]


def test_large_blobs_get_a_size_check_on_write(tmp_path, monkeypatch):
    """Above the hash-on-write limit a blob's shape (header, frames, length) is checked."""
    monkeypatch.setattr("nbflow.datastore.VERIFY_ON_WRITE", 0)
    ds = Datastore(str(tmp_path / "store"))
    for value in (VALUES["random_array"], VALUES["compressible_array"]):
        encoded = serialize.encode(value)
        ds.put_encoded(encoded)
        path = blob_file(ds, encoded.key)
        size = os.path.getsize(path)
        assert not ds.put_encoded(encoded)            # sound: kept
        truncate(path, 10)
        assert ds.put_encoded(encoded)                # short: rewritten
        assert os.path.getsize(path) == size
        with open(path, "ab") as f:
            f.write(b"junk")
        assert ds.put_encoded(encoded)                # long: rewritten
        assert os.path.getsize(path) == size


def test_missing_blob_names_artifact_and_task(tmp_path):
    ds = Datastore(str(tmp_path / "store"))
    key = ds.put_object("value")["key"]
    os.unlink(blob_file(ds, key))
    with pytest.raises(DatastoreError, match=f"artifact 'y' of task F/2/a/3: blob {key} is missing"):
        ds.get_object(key, artifact="y", task="F/2/a/3")


def test_verify_streams_and_reports_size(tmp_path):
    ds = Datastore(str(tmp_path / "store"))
    encoded = serialize.encode(VALUES["compressible_array"])
    ds.put_encoded(encoded)
    with open(blob_file(ds, encoded.key), "rb") as f:
        assert serialize.verify(f, encoded.key) == encoded.size
    with pytest.raises(serialize.DamagedBlob, match="bad magic"):
        serialize.verify(io.BytesIO(b"garbage!" * 4), encoded.key)


# -- property: whatever the bytes, the reader returns the value or raises DamagedBlob ----------

from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SAMPLE = serialize.encode({"a": [1, 2.5, "x"], "arr": np.arange(50_000)})   # raw + zstd


def _blob_bytes(encoded) -> bytes:
    buf = io.BytesIO()
    serialize.write(buf, encoded)
    return buf.getvalue()


GOOD = _blob_bytes(SAMPLE)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_are_damage_never_anything_else(data):
    for blob in (data, serialize.MAGIC + data, GOOD[:12] + data):
        with pytest.raises(serialize.DamagedBlob):
            serialize.read(io.BytesIO(blob), SAMPLE.key)
        with pytest.raises(serialize.DamagedBlob):
            serialize.verify(io.BytesIO(blob), SAMPLE.key)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(GOOD) - 1), st.integers(1, 255)), min_size=1,
                max_size=4), st.integers(0, len(GOOD) - 1))
@example(flips=[(281, 112)], cut=0)   # a frame header claiming a huge size: MemoryError once
def test_flipped_or_truncated_blobs_are_damage_never_another_value(flips, cut):
    """A changed byte is DamagedBlob, or (a header byte JSON reads the same, such as a
    space turned into a tab) exactly the stored value: never a different one."""
    data = bytearray(GOOD)
    for at, xor in flips:
        data[at] ^= xor
    for blob in (bytes(data), GOOD[:cut]):
        try:
            value = serialize.read(io.BytesIO(blob), SAMPLE.key)
        except serialize.DamagedBlob:
            pass
        else:
            assert value["a"] == [1, 2.5, "x"] and value["arr"].tolist() == list(range(50_000))
        try:
            assert serialize.verify(io.BytesIO(blob), SAMPLE.key) == SAMPLE.size
        except serialize.DamagedBlob:
            pass
    with pytest.raises(serialize.DamagedBlob):
        serialize.read(io.BytesIO(GOOD[:cut]), SAMPLE.key)


def test_every_bit_of_a_compressed_frame_header_flipped_is_damage():
    """verify() streams a compressed section frame by frame: a frame header whose size
    field was damaged made zstandard allocate whatever size it claimed (MemoryError, not
    DamagedBlob: found by the property test above)."""
    start = GOOD.index(b"\x28\xb5\x2f\xfd")   # the first zstd frame's magic number
    for at in range(start, start + 18):
        for bit in range(8):
            data = bytearray(GOOD)
            data[at] ^= 1 << bit
            for check in (serialize.read, serialize.verify):
                try:
                    check(io.BytesIO(bytes(data)), SAMPLE.key)
                except serialize.DamagedBlob:
                    pass
