"""Local files, read with os.pread on one shared descriptor and written in place.

pread has no seek state, so any number of threads read at once without a lock.
"""

from __future__ import annotations

import os
import threading

from ..errors import TiffClosedError
from .base import SourceBase

__all__ = ["PathSource"]


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
        # A plain lock (a Condition's is taken through Python code: this is every read's
        # path) and an event that close() waits on once the descriptor is gone.
        self._in_flight = 0
        self._lock = threading.Lock()
        self._drained = threading.Event()

    def _acquire(self) -> int:
        with self._lock:
            if self._fd is None:
                raise TiffClosedError(f"{self._name}: the file is closed")
            self._in_flight += 1
            return self._fd

    def _release(self) -> None:
        with self._lock:
            self._in_flight -= 1
            if not self._in_flight and self._fd is None:
                self._drained.set()

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
        self._end_attachments()
        with self._lock:
            fd, self._fd = self._fd, None
            pending = self._in_flight > 0
        if pending:
            self._drained.wait()
        if fd is not None:
            os.close(fd)

    def __repr__(self) -> str:
        return f"PathSource({self._path!r})"
