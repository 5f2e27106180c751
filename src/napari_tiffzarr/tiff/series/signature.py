"""Pages alike at a glance: a signature of an IFD's raw entries, without parsing a page.

A stack of 20,000 pages of two shapes holds two kinds of IFD that differ only where their
data lie.  Masking those values out of the raw entries gives one signature per kind, so
a page's coding key is worked out once per kind, and grouping stays linear and cheap.
"""

from __future__ import annotations

import struct
import sys
from dataclasses import dataclass

from ...errors import TiffFileError
from ..alike import PER_PAGE_TAGS, UNSIGNED_TAGS, VALUE_LIMIT
from ..ifd import IfdEntries, ReadWindow, TiffHeader
from ..tags import FIELD_TYPES

__all__ = ["Signatures"]


@dataclass(frozen=True, slots=True)
class _Layout:
    """For one sequence of (code, type, count): which values to mask or to read."""

    masked: tuple[int, ...]
    read: tuple[tuple[int, int], ...]  # (entry position, bytes of its value)


class Signatures:
    """Signatures of the IFDs of one file; None for an IFD that must be parsed instead."""

    def __init__(self, header: TiffHeader, window: ReadWindow) -> None:
        self._header = header
        self._window = window
        self._entry = struct.Struct(header.byteorder + ("HHQQ" if header.bigtiff else "HHII"))
        # native classic TIFF: entries are three 32-bit words, sliced by a memoryview
        self._words = not header.bigtiff and header.byteorder == (
            "<" if sys.byteorder == "little" else ">"
        )
        self._layouts: dict[bytes, _Layout | None] = {}

    def _layout(self, entries: bytes) -> _Layout | None:
        masked: list[int] = []
        read: list[tuple[int, int]] = []
        value_size = self._header.offset_size
        for position, (code, dtype, count, _) in enumerate(self._entry.iter_unpack(entries)):
            if code in UNSIGNED_TAGS:
                return None
            if code in PER_PAGE_TAGS:
                masked.append(position)
                continue
            field = FIELD_TYPES.get(dtype)
            nbytes = count * field.size if field is not None else 0
            if nbytes > value_size and nbytes <= VALUE_LIMIT:
                read.append((position, nbytes))
        return _Layout(tuple(masked), tuple(read))

    def of(self, ifd: IfdEntries) -> tuple[object, ...] | None:
        entries = ifd.entries
        if self._words:
            words = memoryview(entries).cast("I")
            shape = words[0::3].tobytes() + words[1::3].tobytes()
            values: list[int] = words[2::3].tolist()
        else:
            rows = list(self._entry.iter_unpack(entries))
            shape = repr([row[:3] for row in rows]).encode()
            values = [row[3] for row in rows]
        if shape in self._layouts:
            layout = self._layouts[shape]
        else:
            layout = self._layouts[shape] = self._layout(entries)
        if layout is None:
            return None
        for position in layout.masked:
            values[position] = 0
        signature: list[object] = [shape, *values]
        span = self._window.span
        for position, nbytes in layout.read:
            try:
                block, start = span(values[position], nbytes)
            except TiffFileError:
                return None
            signature[position + 1] = block[start : start + nbytes]
        return tuple(signature)
