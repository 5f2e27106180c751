"""Reading a JPEG stream's markers: its frame size, and tiles cut at restart markers.

Hamamatsu NDPI stores a level as one JPEG of up to gigapixels with a restart marker
every few MCUs and the offsets of the restarts in a tag (McuStarts).  A restart interval
is a tile: the stream's header with the frame size patched to the tile's, followed by the
interval's entropy-coded bytes, decodes on its own.  So a viewport decodes only its tiles.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from ..errors import TiffFileError

__all__ = [
    "JpegFrame",
    "RestartTiling",
    "jpeg_frame",
    "jpeg_header_end",
    "jpeg_sampling",
    "restart_tiling",
]

SOI, EOI, SOF0, SOF1, SOF2, DHT, SOS, DRI = (
    0xFFD8,
    0xFFD9,
    0xFFC0,
    0xFFC1,
    0xFFC2,
    0xFFC4,
    0xFFDA,
    0xFFDD,
)
_SOF_MARKERS = frozenset(range(0xFFC0, 0xFFD0)) - {DHT, 0xFFC8, 0xFFCC}


class JpegFrame(NamedTuple):
    precision: int
    length: int
    width: int
    components: int


class RestartTiling(NamedTuple):
    tilelength: int
    tilewidth: int
    header: bytes  # SOI up to the scan's entropy-coded data, frame size set to the tile's


def _segments(data: bytes) -> list[tuple[int, int, int]]:
    """(marker, start of its payload, payload length) up to and including SOS."""
    if data[:2] != b"\xff\xd8":
        raise TiffFileError("JPEG stream does not start with SOI")
    segments = []
    i = 2
    while i + 4 <= len(data):
        (marker,) = struct.unpack_from(">H", data, i)
        if marker >> 8 != 0xFF:
            raise TiffFileError(f"JPEG marker expected at byte {i}, found {marker:#06x}")
        if marker == 0xFFFF:  # fill byte before a marker
            i += 1
            continue
        if marker in (SOI, EOI) or 0xFFD0 <= marker <= 0xFFD7 or marker == 0xFF01:
            i += 2
            continue
        (length,) = struct.unpack_from(">H", data, i + 2)
        if length < 2 or i + 2 + length > len(data):
            raise TiffFileError(f"JPEG segment {marker:#06x} at byte {i} is truncated")
        segments.append((marker, i + 4, length - 2))
        if marker == SOS:
            break
        i += 2 + length
    return segments


def jpeg_frame(data: bytes) -> JpegFrame:
    """Precision, size and components from a JPEG stream's start-of-frame segment."""
    for marker, start, length in _segments(data):
        if marker in _SOF_MARKERS and length >= 6:
            return JpegFrame(*struct.unpack_from(">BHHB", data, start))
    raise TiffFileError("JPEG stream has no start-of-frame segment")


def jpeg_header_end(data: bytes) -> int:
    """Where the entropy-coded data of the stream's first scan starts, or 0 where data
    holds no complete scan header."""
    for marker, start, length in _segments(data):
        if marker == SOS:
            return start + length
    return 0


def jpeg_sampling(data: bytes) -> tuple[int, int]:
    """How much the second component is subsampled against the first, (horizontal,
    vertical): (2, 2) for the usual YCbCr 4:2:0, (1, 1) where nothing is."""
    for marker, start, length in _segments(data):
        if marker in _SOF_MARKERS and length >= 12:
            first, second = data[start + 7], data[start + 10]
            horizontal = (first >> 4) // max(1, second >> 4)
            vertical = (first & 0xF) // max(1, second & 0xF)
            return max(1, horizontal), max(1, vertical)
        if marker in _SOF_MARKERS:
            break
    return (1, 1)


def restart_tiling(header: bytes) -> RestartTiling:
    """Tile size and per-tile header of a baseline JPEG with a restart interval.

    header holds the stream from SOI through the SOS segment (the bytes before the first
    MCU).  A tile is one restart interval: one MCU high, interval MCUs wide.
    """
    interval = 0
    sof: tuple[int, int] | None = None
    mcu_width = mcu_length = 1
    scan_end = 0
    for marker, start, length in _segments(header):
        if marker == DRI and length >= 2:
            (interval,) = struct.unpack_from(">H", header, start)
        elif marker in (SOF0, SOF1) and length >= 6:
            sof = (start, length)
            components = header[start + 5]
            for c in range(components):
                factors = header[start + 6 + 3 * c + 1]
                mcu_width = max(mcu_width, factors >> 4)
                mcu_length = max(mcu_length, factors & 0xF)
        elif marker == SOS:
            scan_end = start + length
    if interval == 0 or sof is None or scan_end == 0:
        raise TiffFileError("JPEG stream lacks a restart interval, frame or scan header")
    tilelength = mcu_length * 8
    tilewidth = interval * mcu_width * 8
    start = sof[0]
    patched = (
        header[: start + 1]
        + struct.pack(">HH", tilelength, tilewidth)
        + header[start + 5 : scan_end]
    )
    return RestartTiling(tilelength, tilewidth, patched)
