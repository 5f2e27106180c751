"""TIFFs held in memory: bytes, bytearray or any buffer."""

from __future__ import annotations

from ..errors import TiffClosedError
from .base import SourceBase

__all__ = ["BytesSource"]


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
        self._end_attachments()
        self._data = None

    def __repr__(self) -> str:
        return f"BytesSource({self._name!r}, size={self._size})"
