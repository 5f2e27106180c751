"""Decoding one old-style JPEG segment: its stream rebuilt, decoded, coloured as libtiff.

:class:`OjpegCoding` is what a page with Compression 6 adds to its coding parameters
(:mod:`.ojpeg` says how a page finds it).  A segment that is a JPEG stream of its own
decodes as any JPEG, as tifffile decodes it.  Any other is read as libtiff reads it: the
page's JPEG headers with the frame sized to the segment, the segment's data and an end
marker make the stream; YCbCr comes out with libtiff's chroma and colours (see
:mod:`.ycbcr`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import imagecodecs
import numpy as np

from ..errors import TiffFileError
from .jpeg import jpeg_sampling
from .ycbcr import YCbCrColours, unsmooth_chroma

__all__ = ["EOI", "SOI", "OjpegCoding"]

SOI = b"\xff\xd8"
EOI = b"\xff\xd9"
_FRAMES = (b"\xff\xc0", b"\xff\xc1")  # baseline and extended sequential DCT


@dataclass(frozen=True, slots=True)
class OjpegCoding:
    """What decoding an old-style JPEG segment needs besides its bytes."""

    header: bytes | None  # SOI up to the scan's data; its frame's size set per segment
    joined: bool  # the segment runs from the interchange stream's start: read as libtiff
    colours: YCbCrColours | None  # YCbCr samples, converted to RGB as libtiff does

    def whole(self, data: bytes) -> bool:
        """Whether data is a JPEG stream of its own, to decode as any JPEG (as tifffile)."""
        return data[:2] == SOI and not self.joined

    def stream(self, data: bytes, length: int, width: int) -> bytes:
        """The JPEG stream of a segment of length x width pixels."""
        if data[:2] == SOI:
            return data
        if self.header is None:
            raise TiffFileError("old-style JPEG segment has no JPEG headers to decode it with")
        return _with_frame_size(self.header, length, width) + data + EOI

    def decode(
        self, data: bytes, length: int, width: int, colorspace: Any, outcolorspace: Any
    ) -> np.ndarray:
        """Decode a segment as libtiff does (see the module's docstring)."""
        stream = self.stream(data, length, width)
        if self.colours is None:
            result: np.ndarray = imagecodecs.jpeg8_decode(
                stream, colorspace=colorspace, outcolorspace=outcolorspace
            )
            return result
        ycbcr = imagecodecs.jpeg8_decode(stream, colorspace="YCBCR", outcolorspace="YCBCR")
        samples = unsmooth_chroma(np.asarray(ycbcr), jpeg_sampling(stream))
        return self.colours.to_rgb(samples)


def _frame_start(header: bytes) -> int:
    """Where the frame segment starts, found by walking the segments (a table's bytes
    may look like a marker), or -1."""
    i = 2
    while i + 4 <= len(header):
        if header[i : i + 2] in _FRAMES:
            return i
        (size,) = struct.unpack_from(">H", header, i + 2)
        i += 2 + size
    return -1


def _with_frame_size(header: bytes, length: int, width: int) -> bytes:
    start = _frame_start(header)
    if start < 0:
        raise TiffFileError("old-style JPEG headers have no sequential DCT frame")
    # marker (2), segment length (2), precision (1), then lines and samples per line
    return header[: start + 5] + struct.pack(">HH", length, width) + header[start + 9 :]
