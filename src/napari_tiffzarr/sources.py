"""Byte sources: read (offset, length) ranges from a path, a file-like object or bytes.

Every source answers the same two questions, a single range and a batch of ranges, so the
TIFF layer never knows where its bytes come from.  Local files use ``os.pread`` on one
descriptor: it has no seek state, so any number of threads read at once without a lock.
Remote files are :mod:`napari_tiffzarr.remote`'s, which ``open_source`` hands URLs to.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any, Protocol, runtime_checkable

from .errors import TiffClosedError, TiffTruncatedError

__all__ = [
    "ByteSource",
    "BytesSource",
    "FileLikeSource",
    "PathSource",
    "SourceBase",
    "coalesce_ranges",
    "open_source",
    "split_runs",
]

# Ranges closer than this are read as one, wasting at most this many bytes per gap:
# far cheaper than another system call or, remotely, another request.
COALESCE_GAP = 4096


@runtime_checkable
class ByteSource(Protocol):
    """Where a TIFF's bytes come from."""

    @property
    def size(self) -> int: ...

    @property
    def name(self) -> str: ...

    @property
    def path(self) -> str | None: ...

    @property
    def closed(self) -> bool: ...

    def read(self, offset: int, length: int) -> bytes: ...

    def read_ranges(self, ranges: Sequence[tuple[int, int]]) -> list[bytes]: ...

    def close(self) -> None: ...


def coalesce_ranges(
    ranges: Iterable[tuple[int, int]], gap: int = COALESCE_GAP
) -> list[tuple[int, int, list[int]]]:
    """Group ranges that lie close together into (offset, length, member indices) runs."""
    ordered = sorted(
        (offset, length, index) for index, (offset, length) in enumerate(ranges) if length > 0
    )
    runs: list[tuple[int, int, list[int]]] = []
    for offset, length, index in ordered:
        if runs:
            start, run_length, members = runs[-1]
            end = start + run_length
            if offset <= end + gap:
                runs[-1] = (start, max(end, offset + length) - start, [*members, index])
                continue
        runs.append((offset, length, [index]))
    return runs


def split_runs(
    ranges: Sequence[tuple[int, int]],
    runs: list[tuple[int, int, list[int]]],
    blobs: Sequence[bytes],
) -> list[bytes]:
    out = [b""] * len(ranges)
    for (start, _, members), blob in zip(runs, blobs, strict=True):
        view = memoryview(blob)
        for index in members:
            offset, length = ranges[index]
            out[index] = bytes(view[offset - start : offset - start + length])
    return out


class SourceBase:
    """Bounds checks and batching shared by all sources."""

    _size: int
    _name: str

    @property
    def size(self) -> int:
        return self._size

    @property
    def name(self) -> str:
        return self._name

    @property
    def path(self) -> str | None:
        return None

    def _check(self, offset: int, length: int) -> None:
        if offset < 0 or length < 0 or offset + length > self._size:
            raise TiffTruncatedError(
                f"{self._name}: cannot read {length} bytes at offset {offset}: "
                f"the file has {self._size} bytes"
            )

    def _read_raw(self, offset: int, length: int) -> bytes:
        raise NotImplementedError

    def read(self, offset: int, length: int) -> bytes:
        self._check(offset, length)
        if length == 0:
            return b""
        data = self._read_raw(offset, length)
        if len(data) != length:
            raise TiffTruncatedError(
                f"{self._name}: read {len(data)} of {length} bytes at offset {offset}"
            )
        return data

    def read_ranges(self, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        for offset, length in ranges:
            self._check(offset, length)
        runs = coalesce_ranges(ranges)
        blobs = [self.read(start, length) for start, length, _ in runs]
        return split_runs(ranges, runs, blobs)


class PathSource(SourceBase):
    """A local file read with os.pread on one shared descriptor.

    Opened writable, it also writes in place with os.pwrite, never past its end: a TIFF
    opened for update has its chunks overwritten, never its structure extended.
    """

    def __init__(self, path: str | os.PathLike[str], *, writable: bool = False) -> None:
        self._path = os.fspath(path)
        self._name = os.path.basename(self._path)
        flags = (os.O_RDWR if writable else os.O_RDONLY) | getattr(os, "O_BINARY", 0)
        self._fd: int | None = os.open(self._path, flags)
        self._size = os.fstat(self._fd).st_size
        self.writable = writable
        # Reads in flight, so that close() waits for them: a descriptor closed under a
        # pread may be reused by another open file, and the read would return its bytes.
        self._in_flight = 0
        self._idle = threading.Condition()

    def _acquire(self) -> int:
        with self._idle:
            if self._fd is None:
                raise TiffClosedError(f"{self._name}: the file is closed")
            self._in_flight += 1
            return self._fd

    def _release(self) -> None:
        with self._idle:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.notify_all()

    def write(self, offset: int, data: bytes | memoryview) -> None:
        """Overwrite len(data) bytes at offset, which must lie inside the file."""
        if not self.writable:
            raise PermissionError(f"{self._name}: the file is open for reading only")
        self._check(offset, len(data))
        fd = self._acquire()
        try:
            view = memoryview(data).cast("B")
            while view:
                written = os.pwrite(fd, view, offset)
                view = view[written:]
                offset += written
        finally:
            self._release()

    @property
    def path(self) -> str | None:
        return self._path

    @property
    def closed(self) -> bool:
        return self._fd is None

    def _read_raw(self, offset: int, length: int) -> bytes:
        fd = self._acquire()
        try:
            data = os.pread(fd, length, offset)
            # pread may return less than asked at the end of a growing or network file
            while len(data) < length:
                more = os.pread(fd, length - len(data), offset + len(data))
                if not more:
                    break
                data += more
        finally:
            self._release()
        return data

    def close(self) -> None:
        with self._idle:
            fd, self._fd = self._fd, None
            while self._in_flight:
                self._idle.wait()
        if fd is not None:
            os.close(fd)

    def __repr__(self) -> str:
        return f"PathSource({self._path!r})"


class FileLikeSource(SourceBase):
    """An open binary file object: seek and read serialised by a lock."""

    def __init__(self, fh: IO[bytes], name: str | None = None) -> None:
        self._fh: IO[bytes] | None = fh
        self._lock = threading.Lock()
        self._base = fh.tell()
        fh.seek(0, os.SEEK_END)
        self._size = fh.tell() - self._base
        self._name = name or str(getattr(fh, "name", type(fh).__name__))

    @property
    def path(self) -> str | None:
        name = getattr(self._fh, "name", None)
        return name if isinstance(name, str) and os.path.isfile(name) else None

    @property
    def closed(self) -> bool:
        return self._fh is None

    def _read_raw(self, offset: int, length: int) -> bytes:
        with self._lock:
            fh = self._fh
            if fh is None:
                raise TiffClosedError(f"{self._name}: the file is closed")
            fh.seek(self._base + offset)
            return fh.read(length)

    def close(self) -> None:
        # The caller owns the file object: forget it, do not close it.
        with self._lock:
            self._fh = None

    def __repr__(self) -> str:
        return f"FileLikeSource({self._name!r})"


class BytesSource(SourceBase):
    """An in-memory TIFF."""

    def __init__(self, data: bytes | bytearray | memoryview, name: str = "<bytes>") -> None:
        self._data: memoryview | None = memoryview(data).cast("B")
        self._size = len(self._data)
        self._name = name

    @property
    def closed(self) -> bool:
        return self._data is None

    def _read_raw(self, offset: int, length: int) -> bytes:
        data = self._data
        if data is None:
            raise TiffClosedError(f"{self._name}: the file is closed")
        return bytes(data[offset : offset + length])

    def close(self) -> None:
        self._data = None

    def __repr__(self) -> str:
        return f"BytesSource({self._name!r}, size={self._size})"


def open_source(
    arg: object, *, writable: bool = False, storage_options: Mapping[str, Any] | None = None
) -> tuple[ByteSource, bool]:
    """Return a source for a path, URL, file object, bytes or source, and whether we own it."""
    # imported here: remote imports this module, and its own imports stay lazy
    from .remote import FsspecSource, RemoteLocation, is_fsspec_file, is_url

    if isinstance(arg, ByteSource):
        return arg, False
    remote: RemoteLocation | None = None
    if isinstance(arg, RemoteLocation):
        remote = arg
    elif isinstance(arg, str) and is_url(arg):
        remote = RemoteLocation(arg, dict(storage_options or {}))
    if remote is not None:
        if writable:
            raise TypeError(f"{remote.url}: a remote file cannot be opened for update")
        return FsspecSource(remote.url, storage_options=remote.storage_options), True
    if isinstance(arg, str) and arg.startswith("file://"):
        arg = arg[len("file://") :]
    if isinstance(arg, str | os.PathLike):
        return PathSource(arg, writable=writable), True
    if writable:
        raise TypeError("only a file given by its path can be opened for update")
    if is_fsspec_file(arg):
        return FsspecSource(arg), True
    if isinstance(arg, bytes | bytearray | memoryview):
        return BytesSource(arg), True
    if hasattr(arg, "read") and hasattr(arg, "seek"):
        return FileLikeSource(arg), True  # type: ignore[arg-type]
    raise TypeError(f"cannot read a TIFF from {type(arg).__name__}")
