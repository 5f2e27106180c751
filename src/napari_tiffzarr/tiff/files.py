"""Files opened on demand, at most a few at once: the other files of a multi-file OME
dataset, the files of a folder read as one stack.

A dataset may span thousands of files, more than a process may keep open.  Each file is
a PooledSource that opens its descriptor when read and lets the pool close it again when
more than ``size`` files are open, least recently used first, never while it is being
read.  Its pages stay parsed: reopening costs one open(), not a new walk of its IFDs.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import TiffClosedError
from ..sources import PathSource, SourceBase

if TYPE_CHECKING:
    from .file import TiffFile

__all__ = ["DEFAULT_OPENFILES", "FilePool", "PooledSource"]

# As many files as tifffile keeps open for a multi-file OME dataset by default.
DEFAULT_OPENFILES = 8


class PooledSource(SourceBase):
    """A local file that its pool opens for each read and may close in between."""

    def __init__(self, pool: FilePool, path: str) -> None:
        self._pool = pool
        self._path = path
        self._name = os.path.basename(path)
        self._size = os.stat(path).st_size  # no descriptor until the first read
        self._closed = False

    @property
    def path(self) -> str | None:
        return self._path

    @property
    def closed(self) -> bool:
        return self._closed or self._pool.closed

    def _read_raw(self, offset: int, length: int) -> bytes:
        if self.closed:
            raise TiffClosedError(f"{self._name}: the file is closed")
        file = self._pool.acquire(self)
        try:
            return file.read(offset, length)
        finally:
            self._pool.release(self)

    def close(self) -> None:
        self._closed = True
        self._pool.discard(self)

    def __repr__(self) -> str:
        return f"PooledSource({self._path!r})"


class FilePool:
    """Open descriptors of PooledSources, at most size of them (more only while all of
    them are being read), and the TiffFile of each path, parsed once."""

    def __init__(
        self, opener: Callable[[PooledSource], TiffFile], size: int = DEFAULT_OPENFILES
    ) -> None:
        """opener makes a TiffFile of a source (TiffFile itself: no import of it here)."""
        if size < 1:
            raise ValueError(f"_openfiles must be at least 1, not {size}")
        self.size = size
        self.closed = False
        self.opened = 0  # descriptors opened so far: what tests and benchmarks count
        self._lock = threading.Lock()
        self._open: OrderedDict[PooledSource, PathSource] = OrderedDict()
        self._readers: dict[PooledSource, int] = {}
        self._files: dict[str, TiffFile] = {}
        self._opener = opener

    def file(self, path: str) -> TiffFile:
        """The TiffFile at path, its header read through the pool on first use."""
        tif = self._files.get(path)  # as asked for: no system call per page
        if tif is not None:
            return tif
        if self.closed:
            raise TiffClosedError(f"{os.path.basename(path)}: the files are closed")
        key = os.path.realpath(path)  # one TiffFile per file, however it is named
        with self._lock:
            tif = self._files.get(key)
        if tif is None:
            tif = self._opener(PooledSource(self, path))
        with self._lock:
            tif = self._files.setdefault(key, tif)
            self._files[path] = tif
        return tif

    @property
    def open_count(self) -> int:
        return len(self._open)

    def acquire(self, source: PooledSource) -> PathSource:
        with self._lock:
            file = self._open.get(source)
            if file is None:
                file = PathSource(source.path or "")
                self._open[source] = file
                self.opened += 1
            else:
                self._open.move_to_end(source)
            self._readers[source] = self._readers.get(source, 0) + 1
            unused = self._evict()
        for other in unused:
            other.close()
        return file

    def release(self, source: PooledSource) -> None:
        with self._lock:
            self._readers[source] -= 1
            if not self._readers[source]:
                del self._readers[source]
            unused = self._evict()
        for other in unused:
            other.close()

    def _evict(self) -> list[PathSource]:
        """Take the least recently used files beyond size that nobody reads (under lock)."""
        unused: list[PathSource] = []
        if len(self._open) <= self.size:
            return unused
        for source in list(self._open):
            if len(self._open) <= self.size:
                break
            if source not in self._readers:
                unused.append(self._open.pop(source))
        return unused

    def discard(self, source: PooledSource) -> None:
        with self._lock:
            file = self._open.pop(source, None) if source not in self._readers else None
        if file is not None:
            file.close()

    def close(self) -> None:
        with self._lock:
            self.closed = True
            files = list(self._open.values())
            self._open.clear()
        for file in files:
            file.close()
