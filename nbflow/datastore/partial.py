"""Reading part of a block-hashed blob (an Arrow frame's columns), each byte checked.

A block-hashed blob's header lists the xxh3-128 digest of every BLOCK bytes of each
section, and its key is the hash of those digests (serialize.block_key). So the header is
checked against the key first, then every block read is checked against its digest as it
arrives: a few columns of a big frame are read (one range request each on an object
store) and trusted without reading the rest.
"""
from __future__ import annotations

import io
from typing import IO

from .blobfile import DamagedBlob, _allocate, _read_header, block_key


class PartialBlob:
    def __init__(self, f: IO[bytes], header: dict, start: int):
        self.serializer = header.get("serializer", "pickle")
        self.block = header["block"]
        self._f = f
        self.damage: DamagedBlob | None = None   # what a block check found (pyarrow wraps it)
        self._sections = []
        pos = start
        for (length, _codec), digests in zip(header["sections"], header["digests"]):
            self._sections.append((pos, length, digests))
            pos += length

    def section(self, i: int) -> SectionReader:
        start, length, digests = self._sections[i]
        return SectionReader(self._f, start, length, digests, self.block, self)


def open_blob(f: IO[bytes], key: str) -> PartialBlob | None:
    """`f`'s blob, its header checked against `key`, for reading in part; None when it is
    not block-hashed (read it whole). Raises DamagedBlob."""
    header = _read_header(f, key)
    if "block" not in header:
        return None
    lengths = [n for n, _ in header["sections"]]
    got = block_key(header.get("serializer", "pickle"), lengths, header["digests"],
                    header["block"])
    if got != key:
        raise DamagedBlob(f"its header's block hashes give {got}, not its name")
    return PartialBlob(f, header, f.tell())


class SectionReader(io.RawIOBase):
    """One section as a seekable file: each block is read when first touched and checked
    against its digest (the last one is kept, for the small reads that come together)."""

    def __init__(self, f: IO[bytes], start: int, length: int, digests: list, block: int,
                 blob: PartialBlob):
        super().__init__()
        self._blob = blob
        self._f, self._start, self._length = f, start, length
        self._digests, self._block = digests, block
        self._pos = 0
        self._cached: tuple[int, bytes] | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def size(self) -> int:
        return self._length

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._length}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def _load(self, i: int) -> bytes:
        if self._cached and self._cached[0] == i:
            return self._cached[1]
        import xxhash

        want = min(self._block, self._length - i * self._block)
        self._f.seek(self._start + i * self._block)
        data = self._f.read(want)
        if len(data) != want:
            self._blob.damage = DamagedBlob("blob is truncated")
        elif xxhash.xxh3_128_hexdigest(data) != self._digests[i]:
            self._blob.damage = DamagedBlob(f"block {i} of a section does not hash to what its "
                                            "header says")
        if self._blob.damage:
            raise self._blob.damage
        self._cached = (i, data)
        return data

    def read(self, n: int = -1):
        end = self._length if n is None or n < 0 else min(self._length, self._pos + n)
        if end <= self._pos:
            return b""
        out = _allocate(end - self._pos)     # big: pages faulted in at once, no zero-fill pass
        view, pos, block = memoryview(out), self._pos, self._block
        while pos < end:
            i = pos // block
            lo = pos - i * block
            size = min(block, self._length - i * block)
            here = view[pos - self._pos:]
            if lo == 0 and pos + size <= end:    # a whole block: read into place, then check
                self._read_into(i, here[:size])
                pos += size
                continue
            data = self._load(i)
            take = min(len(data) - lo, end - pos)
            here[:take] = data[lo:lo + take]
            pos += take
        self._pos = end
        return out

    def _read_into(self, i: int, view: memoryview) -> None:
        import xxhash

        self._f.seek(self._start + i * self._block)
        got = 0
        while got < view.nbytes:
            n = self._f.readinto(view[got:]) if hasattr(self._f, "readinto") else None
            if n is None:
                data = self._f.read(view.nbytes - got)
                n = len(data)
                view[got:got + n] = data
            if not n:
                self._blob.damage = DamagedBlob("blob is truncated")
                raise self._blob.damage
            got += n
        if xxhash.xxh3_128_hexdigest(view) != self._digests[i]:
            self._blob.damage = DamagedBlob(f"block {i} of a section does not hash to what its "
                                            "header says")
            raise self._blob.damage

    def readinto(self, buffer) -> int:
        data = self.read(len(memoryview(buffer)))
        memoryview(buffer)[:len(data)] = data
        return len(data)
