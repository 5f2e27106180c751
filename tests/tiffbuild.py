"""Byte-exact classic TIFFs for tests of what no writer makes on purpose: empty images,
IFD chains that loop or leave the file, odd sample formats, old-style JPEG.

Values are written out of line after the data; IFDs are linked as the test says.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = [
    "TiffBuilder",
    "broken_page_stack",
    "gray_entries",
    "ASCII",
    "BYTE",
    "LONG",
    "RATIONAL",
    "SHORT",
    "UNDEFINED",
]

BYTE, ASCII, SHORT, LONG, RATIONAL, UNDEFINED = 1, 2, 3, 4, 5, 7
_FORMATS = {BYTE: "B", ASCII: "B", SHORT: "H", LONG: "I", RATIONAL: "II", UNDEFINED: "B"}

Value = Sequence[int] | bytes
Entries = dict[int, tuple[int, Value]]


class TiffBuilder:
    """A classic TIFF assembled in memory, little- or big-endian."""

    def __init__(self, byteorder: str = "<") -> None:
        self.order = byteorder
        mark = b"II" if byteorder == "<" else b"MM"
        self.buf = bytearray(mark + struct.pack(byteorder + "HI", 42, 0))
        self._next_pointer: dict[int, int] = {}

    def blob(self, data: bytes) -> int:
        """Append data (word aligned) and return its offset."""
        if len(self.buf) % 2:
            self.buf += b"\x00"
        offset = len(self.buf)
        self.buf += data
        return offset

    def _pack(self, dtype: int, value: Value) -> tuple[int, bytes]:
        if isinstance(value, bytes):
            return len(value), value
        code = _FORMATS[dtype]
        count = len(value) // 2 if dtype == RATIONAL else len(value)
        return count, struct.pack(self.order + code[0] * len(value), *value)

    def ifd(self, entries: Entries, next_offset: int = 0) -> int:
        """Write an IFD with entries {code: (type, values)}; returns its offset."""
        packed = []
        for code in sorted(entries):
            dtype, value = entries[code]
            count, raw = self._pack(dtype, value)
            if len(raw) > 4:
                raw = struct.pack(self.order + "I", self.blob(raw))
            packed.append((code, dtype, count, raw.ljust(4, b"\x00")))
        offset = self.blob(struct.pack(self.order + "H", len(packed)))
        for code, dtype, count, raw in packed:
            self.buf += struct.pack(self.order + "HHI", code, dtype, count) + raw
        self._next_pointer[offset] = len(self.buf)
        self.buf += struct.pack(self.order + "I", next_offset)
        return offset

    def link(self, ifd: int, next_offset: int) -> None:
        """Point the next-IFD field of the IFD at ifd to next_offset."""
        struct.pack_into(self.order + "I", self.buf, self._next_pointer[ifd], next_offset)

    def first(self, offset: int) -> None:
        struct.pack_into(self.order + "I", self.buf, 4, offset)

    def bytes(self) -> bytes:
        return bytes(self.buf)


def gray_entries(
    length: int, width: int, data_offset: int, count: int, *, bits: int = 8, sampleformat: int = 1
) -> Entries:
    """The tags of an uncompressed one-strip greyscale image."""
    return {
        256: (LONG, [width]),
        257: (LONG, [length]),
        258: (SHORT, [bits]),
        259: (SHORT, [1]),
        262: (SHORT, [1]),
        273: (LONG, [data_offset]),
        277: (SHORT, [1]),
        278: (LONG, [max(length, 1)]),
        279: (LONG, [count]),
        339: (SHORT, [sampleformat]),
    }


def broken_page_stack(path: Path, broken: int, pages: int = 5) -> np.ndarray:
    """A stack of pages of 32 x 32 uint16, deflate, written by tifffile, with the deflate
    stream of page broken overwritten by garbage; the pixels as written."""
    import tifffile

    data = np.arange(pages * 32 * 32, dtype=np.uint16).reshape(pages, 32, 32)
    tifffile.imwrite(path, data, compression="zlib", metadata=None)
    with tifffile.TiffFile(path) as oracle:
        offset = int(oracle.pages[broken].dataoffsets[0])
    raw = bytearray(path.read_bytes())
    raw[offset : offset + 16] = b"\xff" * 16
    path.write_bytes(bytes(raw))
    return data
