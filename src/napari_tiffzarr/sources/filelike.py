"""Open binary file objects, which have one file position and so one reader at a time."""

from __future__ import annotations

import os
import threading
from typing import IO

from ..errors import TiffClosedError
from .base import SourceBase

__all__ = ["FileLikeSource"]


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
        self._end_attachments()
        # The caller owns the file object: forget it, do not close it.
        with self._lock:
            self._fh = None

    def __repr__(self) -> str:
        return f"FileLikeSource({self._name!r})"
