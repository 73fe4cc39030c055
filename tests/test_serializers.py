"""Type-aware serializers (issue 16): pandas frames through Arrow IPC when that gives them
back exactly (else pickle, the reason recorded), NumPy arrays through pickle's out-of-band
buffers, a registry of user serializers by dotted name, a clear message where pyarrow is
missing, and the blob hash checked on every read whatever the format."""
from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from helpers import cli_env, make_notebook, read_task_json, run_id_of, run_nbflow
from pandas.testing import assert_frame_equal, assert_series_equal

from nbflow import Run
from nbflow.datastore import Datastore, arrow, serialize, serializers
from nbflow.errors import ArtifactError, DatastoreError

# frames built the same way by the notebook's tasks and by the test (frames.py beside both)
FRAMES = '''
import numpy as np
import pandas as pd


def mixed(n=500):
    rng = np.random.default_rng(7)
    df = pd.DataFrame({
        "f64": rng.normal(size=n),
        "f32": rng.normal(size=n).astype("float32"),
        "i64": np.arange(n, dtype="int64"),
        "u8": (np.arange(n) % 200).astype("uint8"),
        "flag": np.arange(n) % 3 == 0,
        "text": [f"row {i}" if i % 7 else None for i in range(n)],
        "cat": pd.Categorical(np.array(["lo", "mid", "hi", None], dtype=object)[np.arange(n) % 4],
                              categories=["lo", "mid", "hi"], ordered=True),
        "when": pd.date_range("2024-01-01", periods=n, freq="h", tz="Europe/Paris"),
        "naive": pd.date_range("2020-01-01", periods=n, freq="s").astype("datetime64[us]"),
        "Int": pd.array([i if i % 6 else None for i in range(n)], dtype="Int64"),
        "boolean": pd.array([bool(i % 2) if i % 9 else None for i in range(n)], dtype="boolean"),
        "gap": np.where(np.arange(n) % 11 == 0, np.nan, 1.5),
    }, index=pd.date_range("2023-05-01", periods=n, freq="D", name="day"))
    df.insert(6, "objtext", pd.Series([f"o{i}" if i % 5 else None for i in range(n)],
                                      index=df.index, dtype=object))
    df.attrs["source"] = "sensor"
    return df


def multi():
    idx = pd.MultiIndex.from_product([["a", "b"], [1, 2, 3]], names=["letter", "num"])
    return pd.DataFrame({"v": np.arange(6.0)}, index=idx)


def objects():
    return pd.DataFrame({"n": [1, 2, 3], "payload": [{"k": 1}, [2], (3,)]})
'''

MODEL = '''
import json

from nbflow.serializers import Serializer


class Model:
    """A model that is saved through its state, as a torch module through state_dict()."""

    def __init__(self, weights=None):
        self.weights = weights or {}

    def state_dict(self):
        return dict(self.weights)

    def load_state_dict(self, state):
        self.weights = dict(state)


class StateDictSerializer(Serializer):
    def can_serialize(self, obj):
        return isinstance(obj, Model)

    def serialize(self, obj):
        return [json.dumps(obj.state_dict(), sort_keys=True).encode()]

    def deserialize(self, sections):
        model = Model()
        model.load_state_dict(json.loads(bytes(sections[0])))
        return model
'''


@pytest.fixture
def modules(workdir, monkeypatch):
    (workdir / "frames.py").write_text(FRAMES)
    (workdir / "mymodel.py").write_text(MODEL)
    monkeypatch.syspath_prepend(str(workdir))
    for name in ("frames", "mymodel"):
        sys.modules.pop(name, None)
    yield workdir
    for name in ("frames", "mymodel"):
        sys.modules.pop(name, None)
    serializers.unregister("mymodel.StateDictSerializer")


def _run(workdir, cells, name="ser.ipynb", env=None):
    nb = make_notebook(workdir / name, cells)
    res = run_nbflow("run", nb, cwd=workdir, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    return run_id_of(res.stdout)


FRAME_CELLS = [
    "%%flow FrameFlow\nimport numpy as np\nimport pandas as pd\nimport frames",
    "%%step start -> end\n"
    "self.df = frames.mixed()\n"
    "self.multi = frames.multi()\n"
    "self.objects = frames.objects()\n"
    "self.series = frames.mixed()['cat']\n"
    "self.arr = np.arange(24, dtype='int16').reshape(4, 6)[:, ::2]\n"
    "self.big_endian = np.arange(5, dtype='>f8')\n"
    "self.farr = np.asfortranarray(np.linspace(0, 1, 12).reshape(3, 4))",
    # a task reads them back in another process: exact there too
    "%%step end\n"
    "pd.testing.assert_frame_equal(self.df, frames.mixed(), check_exact=True)\n"
    "assert self.df.attrs == {'source': 'sensor'} and self.df.index.freq == 'D'\n"
    "pd.testing.assert_frame_equal(self.objects, frames.objects(), check_exact=True)\n"
    "self.checked = True",
]


def test_frames_and_arrays_round_trip_exactly_through_a_run(modules):
    import frames

    run_id = _run(modules, FRAME_CELLS)
    task = Run(f"FrameFlow/{run_id}")["start"].task
    df = task["df"].data
    assert_frame_equal(df, frames.mixed(), check_exact=True)
    assert df.attrs == {"source": "sensor"} and df.index.freq == "D"
    assert df["objtext"].dtype == object and df["objtext"].iloc[0] is None
    assert list(df["cat"].cat.categories) == ["lo", "mid", "hi"] and df["cat"].cat.ordered
    assert str(df["when"].dt.tz) == "Europe/Paris"
    assert_frame_equal(task["multi"].data, frames.multi(), check_exact=True)
    assert_series_equal(task["series"].data, frames.mixed()["cat"], check_exact=True)
    assert_frame_equal(task["objects"].data, frames.objects(), check_exact=True)
    arr = task["arr"].data
    want = np.arange(24, dtype="int16").reshape(4, 6)[:, ::2]
    assert arr.dtype == want.dtype and np.array_equal(arr, want)
    assert task["big_endian"].data.dtype == np.dtype(">f8")
    farr = task["farr"].data
    assert farr.flags.f_contiguous and np.array_equal(farr, np.linspace(0, 1, 12).reshape(3, 4))
    assert Run(f"FrameFlow/{run_id}")["end"].task["checked"].data is True

    # the choice is recorded per artifact (and per blob)
    refs = read_task_json(Datastore(str(modules / ".nbflow")), "FrameFlow", run_id, "start",
                          "1")["artifacts"]
    assert refs["df"]["serializer"] == refs["multi"]["serializer"] == "arrow"
    assert refs["series"]["serializer"] == "arrow"
    assert "serializer" not in refs["arr"] and "fallback" not in refs["arr"]   # pickle, as before
    assert refs["objects"]["serializer"] == "pickle"
    assert refs["objects"]["fallback"] == ("arrow: column 'payload' holds Python objects "
                                           "(dict, list, tuple)")
    assert task["df"].serializer == "arrow" and task["arr"].serializer == "pickle"
    assert task["objects"].serializer_fallback.startswith("arrow: column 'payload'")
    header = _header(modules, refs["df"]["key"])
    assert header["serializer"] == "arrow" and all(c == "raw" for _, c in header["sections"])
    assert "serializer" not in _header(modules, refs["arr"]["key"])

    # columns on demand: only those are converted; a pickled frame is narrowed after loading
    part = task["df"].load(columns=["text", "f64"])
    assert_frame_equal(part, frames.mixed()[["text", "f64"]], check_exact=True)
    assert_frame_equal(task["objects"].load(columns=["n"]), frames.objects()[["n"]])
    with pytest.raises(KeyError, match="no column 'nope'"):
        task["df"].load(columns=["nope"])

    # the same value is the same blob: a second run stores nothing new for it
    again = _run(modules, FRAME_CELLS)
    refs2 = read_task_json(Datastore(str(modules / ".nbflow")), "FrameFlow", again, "start",
                           "1")["artifacts"]
    assert refs2["df"]["key"] == refs["df"]["key"]


def _header(workdir, key: str, store=None) -> dict:
    path = (store or workdir / ".nbflow") / Datastore.blob_path(key)
    with open(path, "rb") as f:
        return serialize._read_header(f)


def _table():
    """Values that must come back exactly, whatever serializer takes them."""
    n = 5
    return {
        "floats": pd.DataFrame({"a": [1.0, np.nan, -0.0, np.inf, 5]}),
        "ints": pd.DataFrame({"a": np.arange(n, dtype="int32"), "b": np.arange(n, dtype="uint64")}),
        "str": pd.DataFrame({"a": ["x", None, "z", "w", "v"]}),
        "object_str": pd.DataFrame({"a": pd.Series(["x", None, "z", "", "v"], dtype=object)}),
        "object_nan": pd.DataFrame({"a": pd.Series(["x", np.nan, "z", "w", "v"], dtype=object)}),
        "object_bool": pd.DataFrame({"a": pd.Series([True, False, True, True, False],
                                                    dtype=object)}),
        "object_bytes": pd.DataFrame({"a": pd.Series([b"1", None, b"", b"4", b"5"], dtype=object)}),
        "mixed": pd.DataFrame({"a": pd.Series([1, "a", 2.0, None, b"x"], dtype=object)}),
        "complex": pd.DataFrame({"a": np.arange(n, dtype="complex128")}),
        "categorical": pd.DataFrame({"a": pd.Categorical(["a", "b", None, "a", "c"])}),
        "ordered": pd.DataFrame({"a": pd.Categorical(["a", "b", None, "a", "c"],
                                                     categories=["c", "b", "a", "z"], ordered=True)}),
        "datetimes": pd.DataFrame({"a": pd.date_range("2020", periods=n, tz="America/New_York"),
                                   "b": [pd.Timestamp("2020"), pd.NaT] * 2 + [pd.Timestamp(0)],
                                   "c": pd.to_timedelta(np.arange(n), unit="s")}),
        "nullable": pd.DataFrame({"a": pd.array([1, None, 3, 4, 5], dtype="Int64"),
                                  "b": pd.array([1.5, None, 3, 4, 5], dtype="Float64"),
                                  "c": pd.array([True, None, False, True, False], dtype="boolean"),
                                  "d": pd.array(["a", None, "c", "d", "e"], dtype="string[python]"),
                                  "e": pd.array(["a", None, "c", "d", "e"],
                                                dtype="string[pyarrow]")}),
        "period_interval": pd.DataFrame({"a": pd.period_range("2020", periods=n, freq="M"),
                                         "b": pd.interval_range(0, n)}),
        "sparse": pd.DataFrame({"a": pd.arrays.SparseArray([0, 0, 1, 0, 2])}),
        "named_index": pd.DataFrame({"a": range(n)}, index=pd.Index(list("abcde"), name="k")),
        "range_index": pd.DataFrame({"a": range(n)}, index=pd.RangeIndex(10, 20, 2, name="r")),
        "multi_index": pd.DataFrame({"a": range(4)}, index=pd.MultiIndex.from_product(
            [["x", "y"], [1, 2]], names=["s", "i"])),
        "datetime_index": pd.DataFrame({"a": range(n)}, index=pd.date_range(
            "2020", periods=n, freq="h", tz="UTC", name="t")),
        "int_columns": pd.DataFrame({1: range(n), 2: range(n)}).rename_axis(columns="C"),
        "multi_columns": pd.DataFrame(np.zeros((n, 2)), columns=pd.MultiIndex.from_tuples(
            [("a", 1), ("b", 2)])),
        "duplicate_columns": pd.DataFrame(np.zeros((n, 2)), columns=["a", "a"]),
        "empty": pd.DataFrame(),
        "no_rows": pd.DataFrame({"a": pd.Series([], dtype="float32")}),
        "series": pd.Series([1.0, None, 3.0], name="s", index=pd.Index([3, 2, 1], name="i")),
        "tuple_named_series": pd.Series([1, 2], name=("a", "b")),
    }


ARROW = {"floats", "ints", "str", "object_str", "object_bytes", "categorical", "ordered",
         "datetimes", "nullable", "period_interval", "named_index", "range_index", "multi_index",
         "datetime_index", "int_columns", "multi_columns", "empty", "no_rows", "series"}


@pytest.mark.parametrize("check", ["whole", "sampled"])
def test_a_table_of_dtypes_round_trips_exactly(tmp_path, monkeypatch, check):
    if check == "sampled":   # a big frame is checked on its first rows and its whole index
        monkeypatch.setattr(arrow, "FULL_CHECK", 0)
        monkeypatch.setattr(arrow, "SAMPLE_ROWS", 2)
    ds = Datastore(str(tmp_path))
    for name, value in _table().items():
        ref = ds.put_object(value)
        back = ds.get_object(ref["key"])
        if isinstance(value, pd.Series):
            assert_series_equal(value, back, check_exact=True, obj=name)
        else:
            assert_frame_equal(value, back, check_exact=True, obj=name)
            for col in range(value.shape[1]):   # None stays None, NaN stays NaN, str stays str
                if value.dtypes.iloc[col] == np.dtype(object):
                    assert list(map(type, value.iloc[:, col])) == \
                        list(map(type, back.iloc[:, col])), name
        assert value.attrs == back.attrs
        assert ref.get("serializer", "pickle") == ("arrow" if name in ARROW else "pickle"), \
            (name, ref)
        if name not in ARROW:
            assert ref["fallback"].startswith("arrow: "), ref
        assert serialize.encode(value.copy()).key == ref["key"], name   # same value, same key
        if name in ARROW:   # a step that only read it keeps the reference (no new blob)
            assert serialize.encode(back).key == ref["key"], name


def test_equal_frames_built_differently_have_one_key():
    df = pd.DataFrame({"s": ["a", "b", "c", None] * 500, "x": np.arange(2000.0),
                       "y": np.arange(2000), "c": pd.Categorical(["u", "v"] * 1000)})
    pieces = pd.concat([df.iloc[:700], df.iloc[700:1500], df.iloc[1500:]])   # chunked strings
    split = pd.DataFrame({name: df[name] for name in df.columns})           # other blocks
    keys = {serialize.encode(v).key for v in (df, pieces, split, df.copy())}
    assert len(keys) == 1 and serialize.encode(df).serializer == "arrow"


def test_ndarrays_stay_on_the_out_of_band_pickle_path():
    a = np.arange(1 << 20, dtype="float64")
    enc = serialize.encode(a)
    assert enc.serializer == "pickle" and enc.fallback is None
    assert len(enc.sections) == 2 and enc.sections[1].nbytes == a.nbytes
    assert np.shares_memory(np.frombuffer(enc.sections[1], dtype="float64"), a)   # no copy


def test_arrow_reads_map_the_file_and_remote_stores_read_the_bytes(tmp_path):
    import mmap

    import pyarrow as pa

    ds = Datastore(str(tmp_path))
    df = pd.DataFrame({"x": np.arange(1 << 18, dtype="int64"), "y": np.ones(1 << 18)})
    key = ds.put_object(df)["key"]
    blob = ds.get_blob(key)
    assert blob.serializer == "arrow" and isinstance(blob.sections[1].obj, mmap.mmap)
    back = serialize.decode(blob)
    start = pa.py_buffer(blob.sections[1]).address
    x = back["x"].to_numpy()
    assert start <= x.ctypes.data < start + blob.sections[1].nbytes   # the file's pages
    assert_frame_equal(back, df, check_exact=True)
    with open(tmp_path / ds.blob_path(key), "rb") as f:      # fsck's check knows the format
        sizes = [n for n, _ in _header(None, key, store=tmp_path)["sections"]]
        assert serialize.verify(f, key) == sum(sizes)

    remote = Datastore("memory://serializers-test")
    ref = remote.put_object(df)
    assert ref["key"] == key and ref["serializer"] == "arrow"
    assert_frame_equal(remote.get_object(key), df, check_exact=True)
    assert_frame_equal(remote.get_object(key, columns=["y"]), df[["y"]], check_exact=True)


# -- a user's serializer ---------------------------------------------------------------------

def test_a_registered_serializer_stores_its_type_in_tasks_and_readers_find_it(modules):
    cells = [
        "%%flow ModelFlow\nimport nbflow.serializers\nfrom mymodel import Model\n"
        "nbflow.serializers.register('mymodel.StateDictSerializer')",
        "%%step start -> end\nself.model = Model({'w': 0.5, 'b': -1})\nself.plain = [1, 2]",
        "%%step end\nassert self.model.weights == {'w': 0.5, 'b': -1}, self.model.weights\n"
        "self.seen = type(self.model).__name__",
    ]
    run_id = _run(modules, cells, "model.ipynb")
    run = Run(f"ModelFlow/{run_id}")
    start = run["start"].task
    assert start["model"].serializer == "mymodel.StateDictSerializer"
    assert start["plain"].serializer == "pickle"
    # this process never registered it: the blob's name is enough to decode it
    assert start["model"].data.weights == {"w": 0.5, "b": -1}
    assert run["end"].task["seen"].data == "Model"
    assert _header(modules, start._record.artifacts["model"]["key"])["serializer"] == \
        "mymodel.StateDictSerializer"


def test_registry_api(modules, monkeypatch):
    import mymodel

    assert serializers.registered() == ["arrow", "pickle"]
    name = serializers.register(mymodel.StateDictSerializer)
    assert name == "mymodel.StateDictSerializer"
    assert serializers.registered() == [name, "arrow", "pickle"]
    enc = serialize.encode(mymodel.Model({"a": 1}))
    assert enc.serializer == name and enc.ref_fields() == {"serializer": name}
    serializers.unregister(name)
    assert serialize.encode(mymodel.Model({"a": 1})).serializer == "pickle"

    monkeypatch.setenv("NBFLOW_SERIALIZERS", "mymodel.StateDictSerializer")
    assert serialize.encode(mymodel.Model({"a": 1})).serializer == name

    class InTheNotebook(serializers.Serializer):
        pass

    InTheNotebook.__module__ = "__main__"
    with pytest.raises(ArtifactError, match="must be importable by its dotted name"):
        serializers.register(InTheNotebook)


def test_a_serializer_that_declines_or_fails_falls_back_to_pickle(tmp_path):
    class Declines(serializers.Serializer):
        def can_serialize(self, obj):
            return isinstance(obj, dict)

        def serialize(self, obj):
            if "bad" in obj:
                raise RuntimeError("boom")
            raise serializers.CannotSerialize("only some dicts")

    name = serializers.register(Declines(), name="tests.Declines")
    try:
        enc = serialize.encode({"a": 1})
        assert enc.serializer == "pickle" and enc.fallback == "tests.Declines: only some dicts"
        assert serialize.encode({"bad": 1}).fallback == "tests.Declines: RuntimeError: boom"
    finally:
        serializers.unregister(name)


def test_a_blob_naming_a_serializer_that_cannot_be_imported(tmp_path):
    ds = Datastore(str(tmp_path))
    sections = [memoryview(b"payload")]
    enc = serialize.Encoded(sections, serialize.content_key(sections, "gone.Serializer"),
                            "gone.Serializer")
    ds.put_encoded(enc)
    with pytest.raises(ArtifactError) as e:
        ds.get_object(enc.key, artifact="model", task="F/1/start/1")
    assert str(e.value) == (
        "artifact 'model' of task F/1/start/1: it was stored by the 'gone.Serializer' "
        "serializer, which cannot be used here: module 'gone' cannot be imported (No module "
        "named 'gone'). Install or put on the path the package that provides gone.Serializer")


# -- without pyarrow -----------------------------------------------------------------------------

NO_PYARROW = '''
import importlib.abc, sys

class NoPyarrow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "pyarrow" or name.startswith("pyarrow."):
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)

sys.meta_path.insert(0, NoPyarrow())
'''


def test_a_reader_without_pyarrow_is_told_what_to_install(modules):
    run_id = _run(modules, FRAME_CELLS)
    (modules / "nopyarrow").mkdir()
    (modules / "nopyarrow" / "sitecustomize.py").write_text(NO_PYARROW)
    env = cli_env(PYTHONPATH=os.pathsep.join(
        [str(modules / "nopyarrow"), os.environ.get("PYTHONPATH", "")]))
    script = textwrap.dedent(f"""
        import sys
        try:
            import pyarrow
        except ImportError:
            pass
        else:
            sys.exit("pyarrow imported")
        from nbflow import Run
        task = Run("FrameFlow/{run_id}")["start"].task
        print(task["arr"].data.shape)                     # pickle: fine without pyarrow
        for name in ("df", "objects"):
            try:
                task[name].data
            except Exception as e:
                print(type(e).__name__, "|", e)
    """)
    res = subprocess.run([sys.executable, "-c", script], cwd=modules, env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "(4, 3)", res.stdout
    assert lines[1] == (
        f"ArtifactError | artifact 'df' of task FrameFlow/{run_id}/start/1: it was stored by "
        "the 'arrow' serializer, which cannot be used here: reading it needs pandas and "
        "pyarrow, and 'pyarrow' is not installed here. Install it: pip install pyarrow pandas "
        "(or pip install 'nbflow-jupyter[arrow]')"), res.stdout
    # a pickled frame whose strings pandas keeps in pyarrow arrays needs pyarrow too
    assert lines[2] == (
        f"ArtifactError | artifact 'objects' of task FrameFlow/{run_id}/start/1 needs module "
        "'pyarrow' to be loaded, which is not installed here. Install it: pip install pyarrow")

    # a task without pyarrow that reads the frame fails with the same message, and a task
    # without pyarrow that stores one falls back to pickle and says why
    cells = ["%%flow NoArrowFlow\nimport frames\nfrom nbflow import Run",
             f"%%step start -> end\nself.fresh = frames.multi()\n"
             f"self.old = Run('FrameFlow/{run_id}')['start'].task['df'].data",
             "%%step end"]
    nb = make_notebook(modules / "noarrow.ipynb", cells)
    res = run_nbflow("run", nb, cwd=modules, env=env)
    assert res.returncode == 1
    assert "it was stored by the 'arrow' serializer, which cannot be used here" in res.stderr
    assert "pip install pyarrow pandas" in res.stderr
    assert "Task failed: step 'start': artifact 'df' of task FrameFlow/" in res.stderr


def test_a_task_without_pyarrow_stores_frames_with_pickle(modules):
    (modules / "nopyarrow").mkdir()
    (modules / "nopyarrow" / "sitecustomize.py").write_text(NO_PYARROW)
    env = cli_env(PYTHONPATH=os.pathsep.join(
        [str(modules / "nopyarrow"), os.environ.get("PYTHONPATH", "")]))
    cells = ["%%flow NoArrowFlow\nimport frames", "%%step start -> end\nself.m = frames.multi()",
             "%%step end"]
    run_id = _run(modules, cells, "noarrow2.ipynb", env=env)
    ref = read_task_json(Datastore(str(modules / ".nbflow")), "NoArrowFlow", run_id, "start",
                         "1")["artifacts"]["m"]
    assert ref["serializer"] == "pickle" and "pyarrow is not installed" in ref["fallback"]
    import frames

    # (its strings were written where pandas keeps them in Python objects: the same values)
    assert_frame_equal(Run(f"NoArrowFlow/{run_id}")["start"].task["m"].data, frames.multi(),
                       check_index_type=False, check_column_type=False)


# -- damage -------------------------------------------------------------------------------------

def test_a_damaged_arrow_blob_is_detected(tmp_path):
    ds = Datastore(str(tmp_path))
    df = pd.DataFrame({"x": np.arange(1 << 18, dtype="int64"), "s": ["v"] * (1 << 18)})
    key = ds.put_object(df)["key"]
    path = tmp_path / ds.blob_path(key)
    data = bytearray(path.read_bytes())
    pristine = bytes(data)
    data[len(data) // 2] ^= 0x01          # one bit inside the Arrow data
    path.write_bytes(bytes(data))
    with pytest.raises(DatastoreError, match=f"artifact 'df': blob {key} .* is damaged"):
        ds.get_object(key, artifact="df")
    with pytest.raises(DatastoreError, match="damaged"):
        ds.get_object(key, artifact="df", columns=["x"])
    with open(path, "rb") as f, pytest.raises(serialize.DamagedBlob):
        serialize.verify(f, key)

    # the header saying pickle instead of arrow: the name is hashed, so that is damage too
    (hlen,) = struct.unpack("<I", pristine[8:12])
    header = json.loads(pristine[12:12 + hlen])
    del header["serializer"]
    new = json.dumps(header).encode()
    path.write_bytes(pristine[:8] + struct.pack("<I", len(new)) + new + pristine[12 + hlen:])
    with pytest.raises(DatastoreError, match="hashes to .*, not to its name"):
        ds.get_object(key, artifact="df")

    # a new store of the same value replaces the damaged blob
    path.write_bytes(bytes(data))
    assert ds.put_encoded(serialize.encode(df)) is True
    assert_frame_equal(ds.get_object(key), df, check_exact=True)


# -- an object store -----------------------------------------------------------------------------

def test_frames_in_an_s3_store_round_trip_through_tasks_and_the_client(modules):
    pytest.importorskip("s3fs")
    pytest.importorskip("moto.server")
    import fsspec
    from test_s3_datastore import s3_env

    with _moto() as endpoint:
        env = s3_env(endpoint)
        cells = ["%%flow S3FrameFlow\nimport pandas as pd\nimport frames",
                 "%%step start -> end\nself.df = frames.mixed(20000)",
                 "%%step end\npd.testing.assert_frame_equal(self.df, frames.mixed(20000), "
                 "check_exact=True)\nprint('frame ok')"]
        nb = make_notebook(modules / "s3frame.ipynb", cells)
        res = run_nbflow("run", nb, "--datastore", "s3://flows/store", cwd=modules, env=env)
        assert res.returncode == 0, res.stderr
        assert "frame ok" in res.stdout
        ds = Datastore("s3://flows/store")
        ds.storage.fs = fsspec.filesystem("s3", endpoint_url=endpoint, key="testing",
                                          secret="testing")
        ref = read_task_json(ds, "S3FrameFlow", run_id_of(res.stdout), "start",
                             "1")["artifacts"]["df"]
        assert ref["serializer"] == "arrow"
        import frames

        assert_frame_equal(ds.get_object(ref["key"], columns=["cat", "when"]),
                           frames.mixed(20000)[["cat", "when"]], check_exact=True)


def _moto():
    import contextlib
    import logging
    import socket

    import boto3
    from moto.server import ThreadedMotoServer

    @contextlib.contextmanager
    def server():
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        moto.start()
        url = f"http://127.0.0.1:{port}"
        try:
            boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                         aws_access_key_id="testing", aws_secret_access_key="testing"
                         ).create_bucket(Bucket="flows")
            yield url
        finally:
            moto.stop()

    return server()


# -- some columns, read alone --------------------------------------------------------------------

class _Counting:
    """A blob file that counts the bytes read from it."""

    def __init__(self, f, counter):
        self._f, self._counter = f, counter

    def read(self, n=-1):
        data = self._f.read(n)
        self._counter[0] += len(data)
        return data

    def readinto(self, buffer):
        n = self._f.readinto(buffer)
        self._counter[0] += n or 0
        return n

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


def test_some_columns_read_only_their_blocks_each_checked(tmp_path, monkeypatch):
    import pyarrow as pa

    import nbflow.datastore as datastore

    monkeypatch.setattr(datastore, "PARTIAL_LOCAL", 0)   # as for a big blob, or S3
    ds = Datastore(str(tmp_path))
    n = 1 << 20
    index = pd.RangeIndex(3, 3 + n, name="r")
    df = pd.DataFrame({"x": np.arange(n, dtype="int64"), "y": np.ones(n),
                       "s": pd.Series(["v", None] * (n // 2), dtype=object, index=index),
                       "c": pd.Categorical(["a", "b"] * (n // 2))}, index=index)
    ref = ds.put_object(df)
    key = ref["key"]
    assert ref["serializer"] == "arrow"
    total = os.path.getsize(tmp_path / ds.blob_path(key))
    read = [0]
    opened = ds.storage.open_for_read
    monkeypatch.setattr(ds.storage, "open_for_read", lambda rel: _Counting(opened(rel), read))
    for cols in (["y"], ["c", "s"], ["x"]):
        read[0] = 0
        assert_frame_equal(ds.get_object(key, columns=cols), df[cols], check_exact=True)
        assert 0 < read[0] < total / 2, (cols, read[0], total)
    monkeypatch.setattr(ds.storage, "open_for_read", opened)

    # damage inside column x: reading x (or the whole frame) is an error, y is still sound
    path = tmp_path / ds.blob_path(key)
    data = bytearray(path.read_bytes())
    header = _header(None, key, store=tmp_path)
    start = path.stat().st_size - header["sections"][1][0]
    ipc = pa.py_buffer(bytes(data[start:]))
    x = pa.ipc.open_file(ipc).read_all().column("x").chunk(0).buffers()[1]
    data[start + (x.address - ipc.address) + x.size // 2] ^= 0x40   # a block of x's alone
    path.write_bytes(bytes(data))
    assert_frame_equal(ds.get_object(key, columns=["y"]), df[["y"]], check_exact=True)
    for cols in (["x"], None):
        with pytest.raises(DatastoreError, match="is damaged"):
            ds.get_object(key, artifact="df", columns=cols)

    # a header whose block hashes were changed does not give the blob's name
    (hlen,) = struct.unpack("<I", data[8:12])
    fake = json.loads(bytes(data[12:12 + hlen]))
    fake["digests"][1][0] = "0" * 32
    new = json.dumps(fake).encode()
    path.write_bytes(bytes(data[:8]) + struct.pack("<I", len(new)) + new + bytes(data[12 + hlen:]))
    with pytest.raises(DatastoreError, match="block hashes give .*, not its name"):
        ds.get_object(key, columns=["y"])


# -- in the kernel -------------------------------------------------------------------------------

def test_kernel_cells_store_frames_with_arrow_and_self_reads_them(workdir, store):
    from test_kernel_interactive import KernelDriver

    with KernelDriver(workdir, workdir / "dev.ipynb") as kernel:
        kernel.run("%%flow FrameDev\nimport numpy as np\nimport pandas as pd")
        kernel.run("%%step start -> end\nself.df = pd.DataFrame({'x': np.arange(5.0), "
                   "'c': pd.Categorical(list('abcab'), ordered=True)}, "
                   "index=pd.Index(list('vwxyz'), name='k'))")
        r = kernel.run("%%step end\nprint(self.df['c'].cat.ordered, self.df.index.name, "
                       "float(self.df['x'].sum()))")
        assert r.stdout.split()[-3:] == ["True", "k", "10.0"], r.stdout
        r = kernel.run("print(type(self.df).__name__, self.df.shape)")
        assert r.stdout.strip() == "DataFrame (5, 2)"
        r = kernel.run("from nbflow import Flow\n"
                       "a = Flow('FrameDev').latest_run['start'].task['df']\n"
                       "print(a.serializer, list(a.load(columns=['c']).columns))")
        assert r.stdout.strip() == "arrow ['c']"
