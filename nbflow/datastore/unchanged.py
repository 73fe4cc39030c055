"""Knowing that a loaded value is unchanged without hashing it again.

A local pickle blob's big buffers load as views of a private (copy-on-write) map of the
blob file, already checked against the blob's key. When the task ends, the value is
pickled again (cheap: its buffers are zero-copy views) and, instead of hashing those
buffers (about 0.1 s a GiB), this proves the new sections are the blob's own bytes:
- the pickle stream is byte for byte the stored one (dtype, shape, order, the containers
  around the buffers, which buffer goes where: all of it lives in the stream);
- each out-of-band buffer is the very span of the map its section was loaded into (or,
  for a small one read into memory, equal to a copy kept at load);
- no page under those spans was ever written: a write to a private map (by the process,
  by the kernel on its behalf, e.g. readinto) replaces the page with an anonymous copy,
  which /proc/self/pagemap shows; a page never written is still the file's page.
Then the sections are the blob's sections and their key is the blob's key. Any doubt
(no pagemap, a page being moved, the map closed, a different stream) is no proof: the
caller hashes, as it always did.
"""
from __future__ import annotations

import errno
import os
from dataclasses import dataclass

PAGEMAP = "/proc/self/pagemap"
COPIES_MOST = 1 << 20   # the stream and small buffers, kept to compare: at most this much

# the top byte of a pagemap entry (bits 56-63): 0x80 present, 0x40 swapped, 0x20 a file
# page, 0x01 mapped by this process only. A page of the map still holding the file's
# bytes is either absent (read again from the file when touched) or a present file page.
_FILE_PAGE_TOPS = bytes([0x00, 0xA0, 0xA1])


@dataclass
class Origin:
    """Where a loaded value's bytes are: blob `key`'s pickle stream (`main`) and, for each
    of its buffers, the span (address, length) of the map it is a view of, or a copy of
    its bytes when it is small and was read into memory."""
    key: str
    main: bytes
    buffers: list     # (address, length) or bytes, one per out-of-band buffer
    mapping: object   # the private map, kept open: its addresses stay its own

    def key_for(self, sections: list) -> str | None:
        """`key` when `sections` (the value pickled again) are provably the blob's own
        bytes, else None (hash them)."""
        if len(sections) != len(self.buffers) + 1 or getattr(self.mapping, "closed", True):
            return None
        if not _same_bytes(sections[0], self.main):
            return None
        spans = []
        for section, was in zip(sections[1:], self.buffers):
            if isinstance(was, bytes):
                if not _same_bytes(section, was):
                    return None
                continue
            try:
                if _span(section) != was:
                    return None
            except (TypeError, ValueError, BufferError):
                return None
            spans.append(was)
        return self.key if not any(_written(a, n) for a, n in spans) else None


def origin_of(blob, key: str) -> Origin | None:
    """The Origin of a value decoded from `blob` (checked against `key`), or None when
    its big bytes are not all in a private map of the file (compressed, from an object
    store, another serializer) or its small ones are too many to keep a copy of."""
    mapping, sections = blob.mapped, blob.sections
    if mapping is None or len(sections) < 2 or not os.path.exists(PAGEMAP):
        return None
    kept, buffers = 0, []
    for i, section in enumerate(sections):
        if isinstance(section, memoryview) and section.obj is mapping:
            if i == 0:
                return None   # a stream this big: the value is not mostly raw buffers
            try:
                buffers.append(_span(section))
            except (TypeError, ValueError, BufferError):
                return None
            continue
        copy = bytes(section)
        kept += len(copy)
        if kept > COPIES_MOST:
            return None
        buffers.append(copy)
    return Origin(key, buffers[0], buffers[1:], mapping)


def _same_bytes(section, kept: bytes) -> bool:
    return memoryview(section).nbytes == len(kept) and bytes(section) == kept


def _span(buf) -> tuple[int, int]:
    """(address, length) of a contiguous buffer, read-only ones included."""
    import ctypes

    api, Py_buffer = _capi()
    view = Py_buffer()
    if api.PyObject_GetBuffer(buf, ctypes.byref(view), 0):   # PyBUF_SIMPLE
        raise BufferError("not a contiguous buffer")
    try:
        return int(view.buf or 0), int(view.len)
    finally:
        api.PyBuffer_Release(ctypes.byref(view))


_CAPI: tuple = ()


def _capi() -> tuple:
    """The buffer protocol's two C calls (our own function objects: ctypes.pythonapi's are
    shared with any other user of ctypes) and the Py_buffer struct (Include/pybuffer.h)."""
    global _CAPI
    if not _CAPI:
        import ctypes

        class Py_buffer(ctypes.Structure):
            _fields_ = [("buf", ctypes.c_void_p), ("obj", ctypes.c_void_p),
                        ("len", ctypes.c_ssize_t), ("itemsize", ctypes.c_ssize_t),
                        ("readonly", ctypes.c_int), ("ndim", ctypes.c_int),
                        ("format", ctypes.c_char_p), ("shape", ctypes.c_void_p),
                        ("strides", ctypes.c_void_p), ("suboffsets", ctypes.c_void_p),
                        ("internal", ctypes.c_void_p)]

        api = ctypes.PyDLL(None)
        api.PyObject_GetBuffer.argtypes = [ctypes.py_object, ctypes.c_void_p, ctypes.c_int]
        api.PyObject_GetBuffer.restype = ctypes.c_int
        api.PyBuffer_Release.argtypes = [ctypes.c_void_p]
        api.PyBuffer_Release.restype = None
        _CAPI = (api, Py_buffer)
    return _CAPI


def _written(address: int, length: int) -> bool:
    """Was any page of [address, address + length) written since it was mapped (or can
    this not be told)? Asked of the kernel's page tables: PAGEMAP_SCAN (Linux 6.7+) finds
    the pages that are present and not the file's, or swapped (a page being moved too),
    in well under a millisecond for 1 GiB; elsewhere one 8-byte pagemap entry per page
    is read (2 MB for 1 GiB, about 10 ms)."""
    if length <= 0:
        return False
    page = os.sysconf("SC_PAGE_SIZE")
    start, end = address // page * page, -(-(address + length) // page) * page
    try:
        fd = os.open(PAGEMAP, os.O_RDONLY)
    except OSError:
        return True
    try:
        found = _scan(fd, start, end)
        return found if found is not None else _read_entries(fd, start // page, end // page)
    except OSError:
        return True
    finally:
        os.close(fd)


# linux/fs.h: struct pm_scan_arg (12 u64), struct page_region (3 u64), the categories
PAGEMAP_SCAN = (3 << 30) | (96 << 16) | (ord("f") << 8) | 16   # _IOWR('f', 16, pm_scan_arg)
_IS_FILE, _IS_PRESENT, _IS_SWAPPED = 1 << 2, 1 << 3, 1 << 4


def _scan(fd: int, start: int, end: int) -> bool | None:
    """PAGEMAP_SCAN: any page in [start, end) present but not a file page (a private copy),
    or swapped? None when the kernel has no such call."""
    import ctypes
    import fcntl
    import struct

    for mask, inverted in ((_IS_PRESENT | _IS_FILE, _IS_FILE), (_IS_SWAPPED, 0)):
        regions = (ctypes.c_uint64 * 6)()   # room for two: one found is enough
        arg = bytearray(struct.pack("<12Q", 96, 0, start, end, 0, ctypes.addressof(regions), 2,
                                    0, inverted, mask, 0, mask))
        try:
            found = fcntl.ioctl(fd, PAGEMAP_SCAN, arg, True)
        except OSError as e:
            if e.errno in (errno.ENOTTY, errno.EINVAL, errno.EOPNOTSUPP):
                return None
            raise
        walked_to = struct.unpack_from("<Q", arg, 32)[0]
        if found or walked_to != end:
            return True
    return False


def _read_entries(fd: int, first: int, last: int) -> bool:
    """The same from pagemap's entries, pages first to last - 1."""
    want = (last - first) * 8
    data, got = [], 0
    while got < want:
        part = os.pread(fd, min(want - got, 64 << 20), first * 8 + got)
        if not part:
            return True
        data.append(part)
        got += len(part)
    entries = b"".join(data) if len(data) > 1 else data[0]
    return bool(entries[7::8].translate(None, _FILE_PAGE_TOPS))
