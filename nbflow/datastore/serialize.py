"""Artifact <-> sections. An object becomes `sections` through a serializer (serializers.py):
pickle (cloudpickle protocol 5: the pickle stream plus each large buffer it holds, a
NumPy array's memory, bytes, ..., as a zero-copy view), Arrow IPC for pandas frames, or
one the user registered. The key is a fast 128-bit hash over the sections (and the
serializer's name, when it is not pickle), so nothing is copied to hash or to write.
How sections are stored, read and checked: blobfile.py (its names are re-exported here).
"""
from __future__ import annotations

import io
import pickle
from collections.abc import Callable
from typing import IO, Any

from ..lite_dataclass import dataclass
from . import serializers
from .blobfile import (  # noqa: F401 - re-exported: the datastore's callers use serialize.X
    ALIGN,
    BIG_SECTION,
    BLOCK,
    CHUNK,
    HASH_NAME,
    MAGIC,
    Blob,
    DamagedBlob,
    Pieces,
    _allocate,
    _parts,
    _read_header,
    block_digests,
    block_key,
    check_shape,
    content_key,
    read_blob,
    verify,
    write,
)
from .serializers import PICKLE


class UnpicklableArtifact(Exception):
    """Carries the original error; the task layer turns it into an ArtifactError."""


@dataclass
class Encoded:
    sections: list[memoryview]
    key: str
    serializer: str = PICKLE
    compress: bool = True          # False: every section raw (Arrow: memory-mapped reads)
    fallback: str | None = None    # why the serializers before pickle passed the value on
    block: int | None = None       # hashed in blocks of this size (a part can be read alone)
    digests: list | None = None    # the blocks' xxh3-128 digests, per section

    @property
    def size(self) -> int:
        return sum(s.nbytes for s in self.sections)

    def ref_fields(self) -> dict:
        """What an artifact's ref records about how it was stored (nothing for plain pickle,
        as before)."""
        out = {} if self.serializer == PICKLE else {"serializer": self.serializer}
        if self.fallback:
            out.update(serializer=self.serializer, fallback=self.fallback)
        return out


def encode(obj: Any, proven: Callable[[list], str | None] | None = None) -> Encoded:
    """`obj` through the first serializer that accepts it, else pickle. `proven`: given
    the pickle sections, the key they are known to hash to (unchanged.Origin.key_for: a
    loaded value provably unchanged), or None: then they are hashed."""
    notes = []
    for name, ser in serializers.candidates(obj):
        try:
            sections = _as_sections(ser.serialize(obj))
        except Exception as e:  # noqa: BLE001 - CannotSerialize, or a serializer's own failure
            reason = " ".join(str(e).split())[:300] or type(e).__name__
            if not isinstance(e, serializers.CannotSerialize):
                reason = f"{type(e).__name__}: {reason}"
            notes.append(f"{name}: {reason}")
            continue
        if getattr(ser, "partial_reads", False):   # raw sections hashed block by block
            digests = [block_digests(_parts(sec)) for sec in sections]
            key = block_key(name, [sec.nbytes for sec in sections], digests, BLOCK)
            return Encoded(sections, key, name, compress=False, block=BLOCK, digests=digests)
        return Encoded(sections, content_key(sections, name), name,
                       compress=getattr(ser, "compress", True))
    encoded = encode_pickle(obj, proven)
    encoded.fallback = "; ".join(notes) or None
    return encoded


def _as_sections(out: Any) -> list:
    if isinstance(out, (bytes, bytearray, memoryview)) or not isinstance(out, (list, tuple)):
        out = [out]
    sections = []
    for part in out:
        if isinstance(part, Pieces):
            sections.append(part)
            continue
        view = memoryview(part)
        if not view.contiguous:
            view = memoryview(view.tobytes())
        sections.append(view.cast("B") if view.format != "B" or view.ndim != 1 else view)
    return sections


# built-in atoms: pickle writes the very bytes cloudpickle writes (so the same key),
# without setting up cloudpickle's pickler (a tenth of a millisecond in a fresh task)
_ATOMS = frozenset({int, float, complex, bool, str, bytes, type(None)})


def encode_pickle(obj: Any, proven: Callable[[list], str | None] | None = None) -> Encoded:
    if type(obj) in _ATOMS:
        main = memoryview(pickle.dumps(obj, protocol=5))
        return Encoded([main], content_key([main]))
    buffers: list[pickle.PickleBuffer] = []
    try:
        import cloudpickle  # imported on first save: reading needs only pickle

        main = cloudpickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    except Exception as e:
        raise UnpicklableArtifact(e) from e
    sections = [memoryview(main)]
    for b in buffers:
        try:
            sections.append(b.raw())
        except BufferError:  # not contiguous: copy it once
            sections.append(memoryview(bytes(b)))
    return Encoded(sections, (proven and proven(sections)) or content_key(sections))


def read(f: IO[bytes], key: str | None = None) -> Any:
    """The object in a blob. With `key` (the blob's name) its bytes are checked first:
    xxh3-128 over the same sections the writer hashed, so damage is never a value."""
    return decode(read_blob(f, key))


def read_sections(f: IO[bytes], key: str | None = None) -> list:
    """A blob's sections, checked against `key` when given; raises DamagedBlob."""
    return read_blob(f, key).sections


def decode(blob: Blob, columns: list | None = None) -> Any:
    """The value in a checked blob (`columns`: only those of a DataFrame). Raises
    serializers.SerializerUnavailable when the serializer it names cannot be used here."""
    if blob.serializer == PICKLE:
        value = unpickle(blob.sections)
    else:
        ser = serializers.resolve(blob.serializer)
        if blob.serializer == serializers.ARROW:
            return ser.deserialize(blob.sections, columns=columns)
        value = ser.deserialize(blob.sections)
    return value if columns is None else value[list(columns)]


def unpickle(sections: list) -> Any:
    try:
        return pickle.loads(sections[0], buffers=sections[1:])
    except ModuleNotFoundError as e:   # written before a module moved: map it (rare, so a copy)
        if e.name not in MOVED_MODULES:
            raise
        return _Unpickler(io.BytesIO(sections[0]), buffers=sections[1:]).load()


# nbflow classes stored by reference whose module moved: blobs written before still load
MOVED_MODULES = {"nbflow.failure": "nbflow.task.failure", "nbflow.params": "nbflow.notebook.params"}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        return super().find_class(MOVED_MODULES.get(module, module), name)


