"""Files opened on demand, at most a few at once: the other files of a multi-file OME
dataset, the files of a folder read as one stack.

A dataset may span thousands of files, more than a process may keep open.  Each file is
a pooled source that opens when read and that the pool closes again when more than
``size`` files are open, least recently used first, never while it is being read.  Its
pages stay parsed: reopening costs one open(), not a new walk of its IFDs.  A local file
holds a descriptor while open; a remote one (the other files of a dataset opened by URL,
read through the first file's filesystem) holds its cached blocks of metadata.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from ..errors import TiffClosedError
from ..sources import FsspecSource, PathSource, SourceBase

if TYPE_CHECKING:
    from .file import TiffFile

__all__ = ["DEFAULT_OPENFILES", "FilePool", "PooledRemoteSource", "PooledSource"]

# As many files as tifffile keeps open for a multi-file OME dataset by default.
DEFAULT_OPENFILES = 8


class _Pooled(Protocol):
    """What the pool opens and closes: one file of a dataset."""

    def pool_open(self) -> None: ...

    def pool_close(self) -> None: ...


class PooledSource(SourceBase):
    """A local file that its pool opens for each read and may close in between."""

    def __init__(self, pool: FilePool, path: str) -> None:
        self._pool = pool
        self._path = path
        self._name = os.path.basename(path)
        self._size = os.stat(path).st_size  # no descriptor until the first read
        self._closed = False
        self._file: PathSource | None = None  # while the pool holds it open

    @property
    def path(self) -> str | None:
        return self._path

    @property
    def closed(self) -> bool:
        return self._closed or self._pool.closed

    def pool_open(self) -> None:
        self._file = PathSource(self._path)

    def pool_close(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            file.close()

    def _read_raw(self, offset: int, length: int) -> bytes:
        if self.closed:
            raise TiffClosedError(f"{self._name}: the file is closed")
        self._pool.acquire(self)
        try:
            assert self._file is not None  # open while acquired
            return self._file.read(offset, length)
        finally:
            self._pool.release(self)

    def close(self) -> None:
        self._end_attachments()
        self._closed = True
        self._pool.discard(self)

    def __repr__(self) -> str:
        return f"PooledSource({self._path!r})"


class PooledRemoteSource(FsspecSource):
    """A remote file of a dataset, read through the first file's filesystem: its requests
    are batched and coalesced as that file's are (it is an FsspecSource), and the pool
    drops its cached blocks when it closes it."""

    def __init__(self, pool: FilePool, path: str, root: FsspecSource) -> None:
        self._pool = pool
        self._pool_closed = False
        super().__init__(path, filesystem=root.filesystem, storage_options=root.storage_options)

    @property
    def closed(self) -> bool:
        return self._pool_closed or self._pool.closed or super().closed

    def pool_open(self) -> None:
        pass  # the filesystem is shared: nothing to open

    def pool_close(self) -> None:
        self.drop_blocks()

    def _fetch(self, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        if self.closed:
            raise TiffClosedError(f"{self.name}: the file is closed")
        self._pool.acquire(self)
        try:
            return super()._fetch(ranges)
        finally:
            self._pool.release(self)

    def close(self) -> None:
        self._pool_closed = True
        self._pool.discard(self)
        super().close()

    def __repr__(self) -> str:
        return f"PooledRemoteSource({self.url!r})"


class FilePool:
    """Open descriptors of PooledSources, at most size of them (more only while all of
    them are being read), and the TiffFile of each path, parsed once."""

    def __init__(
        self,
        opener: Callable[[SourceBase], TiffFile],
        size: int = DEFAULT_OPENFILES,
        *,
        remote: FsspecSource | None = None,
    ) -> None:
        """opener makes a TiffFile of a source (TiffFile itself: no import of it here);
        remote, the first file of a remote dataset, whose filesystem reads the others."""
        if size < 1:
            raise ValueError(f"_openfiles must be at least 1, not {size}")
        self.size = size
        self.closed = False
        self.opened = 0  # files opened so far: what tests and benchmarks count
        self._remote = remote
        # files open, least recently used first; detached only under the lock, so that
        # a file closed for room is never one another thread has just opened again
        self._lock = threading.Lock()
        self._open: OrderedDict[_Pooled, None] = OrderedDict()
        self._readers: dict[_Pooled, int] = {}
        self._files: dict[str, TiffFile] = {}
        self._opener = opener

    def file(self, path: str) -> TiffFile:
        """The TiffFile at path (a URL's path on the first file's filesystem where the
        dataset is remote), its header read through the pool on first use."""
        tif = self._files.get(path)  # as asked for: no system call per page
        if tif is not None:
            return tif
        if self.closed:
            raise TiffClosedError(f"{os.path.basename(path)}: the files are closed")
        # one TiffFile per file, however it is named
        key = path if self._remote is not None else os.path.realpath(path)
        with self._lock:
            tif = self._files.get(key)
        if tif is None:
            source: SourceBase = (
                PooledSource(self, path)
                if self._remote is None
                else PooledRemoteSource(self, path, self._remote)
            )
            tif = self._opener(source)
        with self._lock:
            tif = self._files.setdefault(key, tif)
            self._files[path] = tif
        return tif

    @property
    def open_count(self) -> int:
        return len(self._open)

    def acquire(self, member: _Pooled) -> None:
        """Open member if it is not, and keep it open until released."""
        with self._lock:
            if member in self._open:
                self._open.move_to_end(member)
            else:
                member.pool_open()
                self._open[member] = None
                self.opened += 1
            self._readers[member] = self._readers.get(member, 0) + 1
            self._evict()

    def release(self, member: _Pooled) -> None:
        with self._lock:
            self._readers[member] -= 1
            if not self._readers[member]:
                del self._readers[member]
            self._evict()

    def _evict(self) -> None:
        """Close the least recently used files beyond size that nobody reads (under lock)."""
        if len(self._open) <= self.size:
            return
        for member in list(self._open):
            if len(self._open) <= self.size:
                break
            if member not in self._readers:
                del self._open[member]
                member.pool_close()

    def discard(self, member: _Pooled) -> None:
        with self._lock:
            if member in self._open and member not in self._readers:
                del self._open[member]
                member.pool_close()

    def close(self) -> None:
        with self._lock:
            self.closed = True
            members = list(self._open)
            self._open.clear()
            for member in members:
                member.pool_close()
