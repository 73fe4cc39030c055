"""pandas DataFrame / Series <-> Arrow IPC: the "arrow" serializer.

Two sections: a small JSON (what pandas metadata does not say: Series or frame, which
columns held Python str/bytes objects, the index's freq) and one Arrow IPC file, stored
uncompressed so that a local blob is memory-mapped and read without a copy, and a
subset of the columns is converted without touching the others.

A value is stored here only when it comes back exactly (dtypes, index, column labels,
categoricals, missing values, tz, extension dtypes, attrs): object columns must hold only
str (or only bytes) and None; the result is decoded and compared with
`assert_frame_equal(check_exact=True)` (whole when the frame is up to FULL_CHECK bytes,
else its first SAMPLE_ROWS rows and its whole index). Anything else raises
CannotSerialize and the value goes to pickle, the reason recorded in its ref.
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from .serializers import CannotSerialize

FULL_CHECK = 8 << 20      # frames up to this many bytes are decoded whole to be compared
SAMPLE_ROWS = 2048        # bigger ones: these first rows, and the whole index
_NONE = type(None)
_OK_OBJECTS = ({str, _NONE}, {bytes, _NONE})
_PYTHON_STRING = pd.StringDtype("python")   # Arrow gives back pyarrow storage: set it back


def _describe(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:200]}"


def serialize(obj: Any) -> list:
    meta: dict = {"v": 1, "kind": "DataFrame"}
    if isinstance(obj, pd.Series):
        name = obj.name
        if name is not None and type(name) not in (str, int):
            raise CannotSerialize(f"the Series' name is a {type(name).__name__}")
        meta.update(kind="Series", name=name)
        frame = obj.to_frame(name="series")
    else:
        frame = obj
    if not frame.columns.is_unique:
        raise CannotSerialize("its column names are not unique")
    if not frame.flags.allows_duplicate_labels:
        raise CannotSerialize("it disallows duplicate labels (a flag Arrow does not keep)")
    objects, python_strings = [], []
    for i, dtype in enumerate(frame.dtypes):
        if isinstance(dtype, np.dtype) and dtype.kind == "O":
            kinds = set(map(type, frame.iloc[:, i].array))
            if not any(kinds <= ok for ok in _OK_OBJECTS):
                names = ", ".join(sorted(k.__name__ for k in kinds))
                raise CannotSerialize(f"column {frame.columns[i]!r} holds Python objects ({names})")
            objects.append(i)
        elif dtype == _PYTHON_STRING:
            python_strings.append(i)
    freq = getattr(frame.index, "freq", None)
    if freq is not None and isinstance(frame.index, (pd.DatetimeIndex, pd.TimedeltaIndex)):
        meta["freq"] = freq.freqstr
    try:
        table = pa.Table.from_pandas(frame, preserve_index=None)
        # one chunk per column (a copy only of columns in several chunks, e.g. after a
        # concat): an equal frame is the same bytes, so the same key, however it was built
        table = table.combine_chunks()
    except (pa.ArrowException, TypeError, ValueError, OverflowError) as e:
        raise CannotSerialize(_describe(e)) from None
    data_fields = _data_fields(table)
    meta["object"] = [data_fields[i] for i in objects]
    if python_strings:
        meta["python_string"] = [data_fields[i] for i in python_strings]
    _check_exact(obj, frame, table, meta)
    return [json.dumps(meta, sort_keys=True).encode(), _write_ipc(table)]


class _Collect:
    """A sink that keeps what the IPC writer writes: its small framing as bytes, and each
    column buffer as the pyarrow Buffer itself (the frame's memory: no copy)."""

    closed = False

    def __init__(self):
        self.parts: list = []
        self.pos = 0

    def write(self, data) -> int:
        view = memoryview(data)
        self.parts.append(view)
        self.pos += view.nbytes
        return view.nbytes

    def tell(self) -> int:
        return self.pos

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def _write_ipc(table: pa.Table):
    """The IPC file of `table` as the pieces the writer produced (one blob section)."""
    from .serialize import Pieces

    sink = _Collect()
    with pa.ipc.new_file(sink, table.schema, options=pa.ipc.IpcWriteOptions()) as w:
        w.write_table(table)
    return Pieces(sink.parts)


def _check_exact(obj: Any, frame: pd.DataFrame, table: pa.Table, meta: dict) -> None:
    """Raise CannotSerialize unless `table` (what the IPC file holds) converts back to `obj`."""
    from pandas.testing import assert_frame_equal, assert_index_equal, assert_series_equal

    try:
        if frame.memory_usage(index=True, deep=False).sum() <= FULL_CHECK:
            back = _to_pandas(table, meta)
            if isinstance(obj, pd.Series):
                assert_series_equal(obj, back, check_exact=True, check_freq=True, check_flags=True)
            else:
                assert_frame_equal(obj, back, check_exact=True, check_freq=True, check_flags=True)
            if obj.attrs != back.attrs:
                raise AssertionError("its attrs differ")
            return
        # big: the whole index (and its freq), then the first rows of every column
        index_only = _to_pandas(table.select(_index_fields(table)), meta, frame=True)
        assert_index_equal(frame.index, index_only.index, exact=True, check_exact=True)
        if getattr(frame.index, "freq", None) != getattr(index_only.index, "freq", None):
            raise AssertionError("the index's freq differs")
        head = _to_pandas(table.slice(0, SAMPLE_ROWS), meta, freq=False, frame=True)
        want = frame.iloc[:SAMPLE_ROWS]
        head.index = want.index
        assert_frame_equal(want, head, check_exact=True, check_flags=True)
        if frame.attrs != head.attrs:
            raise AssertionError("its attrs differ")
    except AssertionError as e:
        raise CannotSerialize("Arrow does not give it back exactly: "
                              + " ".join(str(e).split())[:300]) from None
    except (pa.ArrowException, TypeError, ValueError, KeyError) as e:
        raise CannotSerialize(f"Arrow cannot read it back: {_describe(e)}") from None


def _index_fields(table: pa.Table) -> list[str]:
    meta = table.schema.pandas_metadata or {}
    return [c for c in meta.get("index_columns", []) if isinstance(c, str)]


def _data_fields(table: pa.Table) -> list[str]:
    index = set(_index_fields(table))
    return [n for n in table.schema.names if n not in index]


def _to_pandas(table: pa.Table, meta: dict, freq: bool = True, frame: bool = False):
    df = table.to_pandas(split_blocks=True, use_threads=True)
    data_fields = _data_fields(table)
    for field in meta.get("object", ()):
        if field in data_fields:   # str/bytes objects: back as objects, missing as None
            values = table.column(field).to_numpy(zero_copy_only=False)
            df.isetitem(data_fields.index(field),
                        pd.Series(values, index=df.index, dtype=object, copy=False))
    for field in meta.get("python_string", ()):
        if field in data_fields:
            pos = data_fields.index(field)
            df.isetitem(pos, df.iloc[:, pos].astype(_PYTHON_STRING))
    if freq and meta.get("freq"):
        df.index = type(df.index)(df.index, freq=meta["freq"])
    if meta.get("kind") == "Series" and not frame:
        series = df.iloc[:, 0]
        series.name = meta.get("name")
        series.attrs = df.attrs
        return series
    return df


def deserialize(sections: list, columns=None) -> Any:
    meta = json.loads(bytes(sections[0]))
    table = pa.ipc.open_file(pa.py_buffer(sections[1])).read_all()
    if columns is not None:
        table = select(table, meta, columns)
    return _to_pandas(table, meta)


def column_labels(sections: list) -> list:
    """The column labels of a stored frame (nothing converted)."""
    meta = json.loads(bytes(sections[0]))
    table = pa.ipc.open_file(pa.py_buffer(sections[1])).read_all()
    return list(_to_pandas(table.slice(0, 0), meta, freq=False, frame=True).columns)


def select(table: pa.Table, meta: dict, columns) -> pa.Table:
    """`table` with only the fields of the frame columns `columns` (and the index)."""
    if meta.get("kind") == "Series":
        raise KeyError("a Series has no columns to choose from")
    labels = _to_pandas(table.slice(0, 0), meta, freq=False, frame=True).columns
    data_fields = _data_fields(table)
    keep = []
    for label in columns:
        if label not in labels:
            raise KeyError(f"no column {label!r}; the columns are {list(labels)[:20]}")
        keep.append(data_fields[labels.get_loc(label)])
    return table.select(keep + _index_fields(table))


def read_columns(partial, columns) -> pd.DataFrame:
    """Only `columns` of a frame in a block-hashed blob (partial.PartialBlob): the blocks
    holding them (and the file's framing) are read and checked, nothing else."""
    meta = json.loads(partial.section(0).read())
    if meta.get("kind") == "Series":
        raise KeyError("a Series has no columns to choose from")
    source = pa.PythonFile(partial.section(1), mode="r")
    schema = pa.ipc.open_file(source).schema
    empty = schema.empty_table()
    keep = [f.name for f in select(empty, meta, columns).schema]
    # (no field at all would mean every field to pyarrow: then read the first one)
    wanted = sorted(schema.get_field_index(name) for name in keep) or [0]
    reader = pa.ipc.open_file(source, options=pa.ipc.IpcReadOptions(included_fields=wanted))
    batches = [reader.get_batch(i) for i in range(reader.num_record_batches)]
    fields = [schema.field(i) for i in wanted]
    table = pa.Table.from_batches(batches, schema=pa.schema(fields, metadata=schema.metadata))
    return _to_pandas(table.select(keep), meta)
