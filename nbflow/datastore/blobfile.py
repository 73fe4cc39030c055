"""The blob file: its layout, writing, reading (whole, mapped, or checked), and hashing.
serialize.py turns objects into sections and back; this module stores sections.

Blob file layout (the codec is recorded per section, so old stores stay readable):
    b"NBFBLOB1" | u32 header length | header JSON | section 0 | section 1 | ...
    header: {"hash": "xxh3_128", "key": ..., "sections": [[raw_length, codec], ...],
             "serializer": name,      (no "serializer": pickle, as every older blob)
             "block": n, "digests": [[hex, ...], ...]}   (block-hashed: Arrow, raw only)
    key: xxh3-128 over the sections (content_key); a block-hashed blob's key is over its
    sections' lengths and the digests of their n-byte blocks (block_key), so a reader
    checks the header against the key, then each block it reads (partial.py).
    codec "raw": the bytes as they are; "zstd": frames [u32 length][zstd frame],
    each frame decompressing to at most CHUNK bytes, until raw_length is reached.
"""
from __future__ import annotations

import json
import struct
from typing import IO

from ..lite_dataclass import dataclass
from .serializers import PICKLE

MAGIC = b"NBFBLOB1"
HASH_NAME = "xxh3_128"
CHUNK = 4 << 20            # compression frame size
SAMPLE = 256 << 10         # bytes tried before deciding to compress a section
MIN_COMPRESS = 64 << 10    # smaller sections are never worth compressing
BIG_SECTION = 1 << 20      # sections from this size: mapped from a local file, else anonymous mmaps
ALIGN = 64                 # where the writer puts the first big buffer: a mapped array is aligned
GOOD_RATIO = 0.7           # compress only when the sample shrinks below this


class Pieces:
    """One section made of several buffers written back to back (an Arrow IPC file whose
    column buffers are the frame's own memory): hashed and written piece by piece, read
    back as one section, so nothing is concatenated in memory."""

    def __init__(self, parts: list):
        self.parts = [p if isinstance(p, memoryview) else memoryview(p) for p in parts]
        self.nbytes = sum(p.nbytes for p in self.parts)


def _parts(section) -> list:
    return section.parts if isinstance(section, Pieces) else [section]


@dataclass
class Blob:
    serializer: str
    sections: list
    block: int | None = None
    mapped: object = None    # the private file map that sections are views of (pickle, local)


def _hasher(serializer: str):
    import xxhash  # imported on first save, like cloudpickle

    h = xxhash.xxh3_128()
    if serializer != PICKLE:   # the name is part of the content (pickle blobs: as before)
        h.update(b"nbflow-serializer\0" + serializer.encode() + b"\0")
    return h


def content_key(sections: list[memoryview], serializer: str = PICKLE) -> str:
    h = _hasher(serializer)
    h.update(struct.pack("<I", len(sections)))
    for s in sections:
        h.update(struct.pack("<Q", s.nbytes))
        for part in _parts(s):
            h.update(part)
    return h.hexdigest()


BLOCK = 1 << 20   # a block-hashed section (Arrow) is checked in blocks of this size


class _Blocks:
    """xxh3-128 digests of the consecutive `block`-byte blocks of bytes fed in pieces."""

    def __init__(self, block: int = BLOCK):
        import xxhash

        self._new = xxhash.xxh3_128
        self.block, self.digests, self._h, self._left = block, [], None, 0

    def update(self, data) -> None:
        view = memoryview(data).cast("B")
        while view.nbytes:
            if self._h is None:
                self._h, self._left = self._new(), self.block
            n = min(self._left, view.nbytes)
            self._h.update(view[:n])
            view, self._left = view[n:], self._left - n
            if not self._left:
                self.digests.append(self._h.hexdigest())
                self._h = None

    def finish(self) -> list[str]:
        if self._h is not None:
            self.digests.append(self._h.hexdigest())
            self._h = None
        return self.digests


def block_digests(parts, block: int = BLOCK) -> list[str]:
    blocks = _Blocks(block)
    for part in parts:
        blocks.update(part)
    return blocks.finish()


def block_key(serializer: str, lengths: list[int], digests: list[list[str]], block: int) -> str:
    """The key of a block-hashed blob: its sections' lengths and their blocks' digests (which
    the header lists, so a part of it can be checked without reading the rest)."""
    h = _hasher(serializer)
    h.update(b"blocks\0" + struct.pack("<QI", block, len(lengths)))
    for length, section in zip(lengths, digests):
        if len(section) != -(-length // block):
            raise DamagedBlob("its header lists the wrong number of block hashes")
        h.update(struct.pack("<Q", length))
        for d in section:
            h.update(bytes.fromhex(d))
    return h.hexdigest()


def _codec_for(section: memoryview) -> str:
    if section.nbytes < MIN_COMPRESS or isinstance(section, Pieces):
        return "raw"
    import zstandard

    sample = section[:SAMPLE]
    compressed = zstandard.ZstdCompressor(level=1).compress(sample)
    return "zstd" if len(compressed) < GOOD_RATIO * sample.nbytes else "raw"


def write(f: IO[bytes], encoded, compress: bool = True) -> None:
    """`encoded` (serialize.Encoded) as a blob file."""
    compress = compress and encoded.compress and not encoded.block
    codecs = [_codec_for(s) if compress else "raw" for s in encoded.sections]
    fields = {"hash": HASH_NAME, "key": encoded.key,
              "sections": [[s.nbytes, c] for s, c in zip(encoded.sections, codecs)]}
    if encoded.serializer != PICKLE:
        fields["serializer"] = encoded.serializer
    if encoded.block:
        fields.update(block=encoded.block, digests=encoded.digests)
    header = json.dumps(fields).encode()
    if len(codecs) > 1 and codecs[0] == codecs[1] == "raw" and \
            encoded.sections[1].nbytes >= BIG_SECTION:
        # spaces after the JSON put the first big buffer (an array's memory) at an aligned
        # offset, so that a local read maps it in place (_read_sections)
        start = len(MAGIC) + 4 + len(header) + encoded.sections[0].nbytes
        header += b" " * (-start % ALIGN)
    f.write(MAGIC + struct.pack("<I", len(header)) + header)
    for section, codec in zip(encoded.sections, codecs):
        if codec == "raw":
            for part in _parts(section):
                f.write(part)
            continue
        import zstandard

        cctx = zstandard.ZstdCompressor(level=1)
        for start in range(0, section.nbytes, CHUNK):
            frame = cctx.compress(section[start:start + CHUNK])
            f.write(struct.pack("<I", len(frame)))
            f.write(frame)


def _read_exact_into(f: IO[bytes], view: memoryview) -> None:
    got = 0
    while got < view.nbytes:
        n = f.readinto(view[got:]) if hasattr(f, "readinto") else None
        if n is None:
            data = f.read(view.nbytes - got)
            n = len(data)
            view[got:got + n] = data
        if not n:
            raise DamagedBlob("blob is truncated")
        got += n


class DamagedBlob(ValueError):
    """The blob's bytes are not what its header says (truncated, overwritten)."""


def _decode_errors() -> tuple:
    """What bytes that are not a blob make the decoder raise (a failing read of the file,
    an OSError, is not damage and is not among them)."""
    import sys

    zstd = sys.modules.get("zstandard")
    return (struct.error, ValueError, KeyError, TypeError, IndexError, EOFError, OverflowError,
            AttributeError) + ((zstd.ZstdError,) if zstd else ())


def read_blob(f: IO[bytes], key: str | None = None) -> Blob:
    """A blob's serializer and sections, checked against `key` when given; raises
    DamagedBlob. A local blob written raw by a serializer other than pickle (Arrow) is
    memory-mapped: its big sections are views of the file, nothing copied."""
    try:
        blob = _read_sections(f, key)
    except DamagedBlob:
        raise
    except _decode_errors() as e:
        raise DamagedBlob(f"{type(e).__name__}: {e}") from None
    if key is not None:
        views = [memoryview(s) for s in blob.sections]
        if blob.block:
            got = block_key(blob.serializer, [v.nbytes for v in views],
                            [block_digests([v], blob.block) for v in views], blob.block)
        else:
            got = content_key(views, blob.serializer)
        if got != key:
            raise DamagedBlob(f"its content hashes to {got}, not to its name")
    return blob


def verify(f: IO[bytes], key: str) -> int:
    """Check a whole blob against its name, streaming (memory stays bounded whatever
    its size); returns the artifact's size. Raises DamagedBlob."""
    try:
        header = _read_header(f, key)
        serializer, block = header.get("serializer", PICKLE), header.get("block")
        h = _hasher(serializer)
        h.update(struct.pack("<I", len(header["sections"])))
        total, digests = 0, []
        for raw_len, codec in header["sections"]:
            h.update(struct.pack("<Q", raw_len))
            blocks = _Blocks(block) if block else h
            for chunk in _section_chunks(f, raw_len, codec):
                blocks.update(chunk)
            if block:
                digests.append(blocks.finish())
            total += raw_len
        trailing = f.read(1)
        got = (block_key(serializer, [n for n, _ in header["sections"]], digests, block)
               if block else h.hexdigest())
    except DamagedBlob:
        raise
    except _decode_errors() as e:
        raise DamagedBlob(f"{type(e).__name__}: {e}") from None
    if trailing:
        raise DamagedBlob("it has bytes after its last section")
    if got != key:
        raise DamagedBlob(f"its content hashes to {got}, not to its name")
    return total


def check_shape(f: IO[bytes], key: str, file_size: int) -> None:
    """A cheap check of an existing blob before it is reused: its header names `key`
    and its sections (walked frame by frame, nothing decompressed) end exactly at
    `file_size`. Raises DamagedBlob."""
    try:
        header = _read_header(f, key)
        pos = f.tell()
        for raw_len, codec in header["sections"]:
            if codec == "raw":
                pos += raw_len
            elif codec == "zstd":
                done = 0
                while done < raw_len:
                    f.seek(pos)
                    (clen,) = struct.unpack("<I", f.read(4))
                    pos += 4 + clen
                    done += CHUNK
            else:
                raise DamagedBlob(f"unknown codec {codec!r} in blob")
    except DamagedBlob:
        raise
    except _decode_errors() as e:
        raise DamagedBlob(f"{type(e).__name__}: {e}") from None
    if pos != file_size:
        raise DamagedBlob(f"it is {file_size} bytes long, its sections say {pos}")


def _read_header(f: IO[bytes], key: str | None = None) -> dict:
    if f.read(len(MAGIC)) != MAGIC:
        raise DamagedBlob("not an nbflow blob (bad magic)")
    (hlen,) = struct.unpack("<I", f.read(4))
    header = json.loads(f.read(hlen))
    if not isinstance(header, dict) or set(header) - {"hash", "key", "sections", "serializer",
                                                      "block", "digests"}:
        raise DamagedBlob("its header is not an nbflow blob header")
    if not isinstance(header.get("serializer", PICKLE), str):
        raise DamagedBlob("its header names no serializer")
    if "block" in header and not (
            isinstance(header["block"], int) and header["block"] > 0
            and isinstance(header.get("digests"), list)
            and len(header["digests"]) == len(header["sections"])
            and all(c == "raw" for _, c in header["sections"])):
        raise DamagedBlob("its header's block hashes are malformed")
    if header.get("hash", HASH_NAME) != HASH_NAME:
        raise DamagedBlob(f"unknown hash {header.get('hash')!r} in its header")
    if key is not None and header.get("key", key) != key:
        raise DamagedBlob(f"its header names another blob ({header.get('key')})")
    return header


def _section_chunks(f: IO[bytes], raw_len: int, codec: str):
    """A section's raw bytes, CHUNK at a time."""
    if codec == "raw":
        left = raw_len
        while left:
            data = f.read(min(CHUNK, left))
            if not data:
                raise DamagedBlob("blob is truncated")
            left -= len(data)
            yield data
    elif codec == "zstd":
        import zstandard

        dctx = zstandard.ZstdDecompressor()
        done = 0
        while done < raw_len:
            (clen,) = struct.unpack("<I", f.read(4))
            frame = f.read(clen)
            # a damaged frame header can claim any size, which decompress() would allocate
            if zstandard.frame_content_size(frame) > CHUNK:
                raise DamagedBlob("a compressed frame claims more than a frame holds")
            data = dctx.decompress(frame, max_output_size=CHUNK)
            if not data:
                raise DamagedBlob("a compressed frame is empty")
            done += len(data)
            yield data
        if done != raw_len:
            raise DamagedBlob("a compressed section is longer than its header says")
    else:
        raise DamagedBlob(f"unknown codec {codec!r} in blob")


def _allocate(size: int):
    """A writable buffer to read a section into. Large ones are anonymous mmaps:
    a bytearray is zero-filled by a slow pass of page faults before the read."""
    if size < BIG_SECTION:
        return bytearray(size)
    import mmap

    # MAP_POPULATE faults every page in at once (5x faster than one fault per page)
    flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | getattr(mmap, "MAP_POPULATE", 0)
    return mmap.mmap(-1, size, flags=flags)


def _bytes_left(f: IO[bytes]) -> int | None:
    """Bytes from here to the end of the file (None when it cannot seek)."""
    try:
        here = f.tell()
        end = f.seek(0, 2)
        f.seek(here)
    except (OSError, ValueError, AttributeError):
        return None
    return None if end is None else end - here


def _file_map(f: IO[bytes], writable: bool = False):
    """A read-only map of a local file (None for a remote one); `writable`: a private
    copy-on-write map (the file never changes; a page the reader writes becomes its own)."""
    try:
        fileno = f.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    import mmap

    if writable:   # private; not populated: that would copy every page (a write fault
        try:       # each), and faulting them in as the hash check reads is faster here
            return mmap.mmap(fileno, 0, access=mmap.ACCESS_COPY)
        except (OSError, ValueError):
            return None
    try:   # populated at once: the hash check reads every page anyway (faster than faults)
        return mmap.mmap(fileno, 0, flags=mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0),
                         prot=mmap.PROT_READ)
    except (OSError, ValueError, TypeError, AttributeError):   # no flags/prot (Windows)
        try:
            return mmap.mmap(fileno, 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):
            return None


def _read_sections(f: IO[bytes], key: str | None = None) -> Blob:
    header = _read_header(f, key)
    serializer = header.get("serializer", PICKLE)
    left = _bytes_left(f)
    sections = []
    mapped, used = None, False
    if any(c == "raw" and n >= BIG_SECTION for n, c in header["sections"]):
        # a local blob's big raw sections are views of the file: no copy, no new memory
        # (pickle's are writable, copy-on-write: a loaded array can be changed in place)
        mapped = _file_map(f, writable=serializer == PICKLE)
    for raw_len, codec in header["sections"]:
        if left is not None:   # a damaged header must not make us allocate a huge buffer
            most = left if codec == "raw" else (left // 13 + 1) * CHUNK
            if not 0 <= raw_len <= most:
                raise DamagedBlob(f"a section claims {raw_len} bytes, the blob has {left} left")
            left -= raw_len if codec == "raw" else 0
        if mapped is not None and codec == "raw" and raw_len >= BIG_SECTION and (
                serializer != PICKLE or f.tell() % 16 == 0):   # an array's items aligned
            pos = f.tell()
            if pos + raw_len > len(mapped):
                raise DamagedBlob("blob is truncated")
            sections.append(memoryview(mapped)[pos:pos + raw_len])
            f.seek(raw_len, 1)
            used = True
            continue
        buf = _allocate(raw_len)
        view = memoryview(buf)
        if codec == "raw":
            _read_exact_into(f, view)
        elif codec == "zstd":
            import zstandard

            dctx = zstandard.ZstdDecompressor()
            pos = 0
            while pos < raw_len:
                (clen,) = struct.unpack("<I", f.read(4))
                # decompress straight into place: no 4 MiB temporary per frame
                with dctx.stream_reader(f.read(clen)) as reader:
                    end = min(pos + CHUNK, raw_len)
                    while pos < end:
                        n = reader.readinto(view[pos:end])
                        if not n:
                            raise DamagedBlob("a compressed frame is shorter than its header says")
                        pos += n
        else:
            raise DamagedBlob(f"unknown codec {codec!r} in blob")
        sections.append(buf)
    return Blob(serializer, sections, header.get("block"),
                mapped if used and serializer == PICKLE else None)

