"""Old-style JPEG (Compression 6, TIFF 6.0 section 22), read as libtiff reads it.

Its writers stored a JPEG in one of two ways, neither a stream a JPEG decoder takes as is:

- the *interchange form*: JPEGInterchangeFormat points at a JPEG stream (SOI, tables,
  frame and scan headers) of JPEGInterchangeFormatLength bytes, and the strips or tiles
  hold the entropy-coded data, sometimes inside that stream, sometimes apart from it;
- the *tables-in-tags form*: no stream at all, but the quantization tables (64 bytes in
  zig-zag order, one per component) at the offsets in JPEGQTables, the Huffman tables
  (16 code counts, then the symbols) at the offsets in JPEGDCTables and JPEGACTables,
  with JPEGProc (1: baseline) and JPEGRestartInterval; the frame's sampling follows
  YCbCrSubSampling.

We rebuild the stream libtiff would hand to libjpeg (the interchange stream's headers, or
headers written from the tags, the frame sized to the segment, then the segment's data)
and decode it through imagecodecs.  Segments that are whole JPEG streams already decode
as any JPEG does.
"""

from __future__ import annotations

import struct
from functools import cached_property

import numpy as np

from ..errors import TiffFileError
from .jpeg import jpeg_frame, jpeg_header_end
from .ojpegstream import SOI, OjpegCoding
from .page import TiffPage
from .tags import Compression, Photometric, PlanarConfig, TagCode
from .tagvalues import IntTag, read_int

__all__ = ["OjpegPage"]

# JPEGProc: 1 is baseline sequential DCT; 14 (lossless) was never written in practice
BASELINE = 1
# An interchange stream's headers longer than this are not headers
MAX_HEADER = 1 << 20


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">HH", marker, len(payload) + 2) + payload


class OjpegPage(TiffPage):
    """A page compressed with old-style JPEG."""

    compression = IntTag(TagCode.Compression, Compression.OJPEG, kind=Compression)

    def _tag_offsets(self, code: int) -> list[int]:
        tag = self.ifd.get(code)
        if tag is None:
            return []
        values = tag.array()
        if values.dtype.kind not in "iu":
            raise TiffFileError(f"{self.name}: tag {tag.name} holds {values.dtype}, not offsets")
        return [int(v) for v in values.tolist()]

    def _read(self, offset: int, length: int, what: str) -> bytes:
        if offset < 0 or offset + length > self.source.size:
            raise TiffFileError(
                f"{self.name}: old-style JPEG {what} of {length} bytes at offset {offset} "
                f"lies outside the file ({self.source.size} bytes)"
            )
        return self.source.read(offset, length)

    @cached_property
    def interchange(self) -> tuple[int, int] | None:
        """(offset, length) of the interchange stream, where the tags give one that starts
        as a JPEG stream does."""
        offset = read_int(self, TagCode.JPEGInterchangeFormat, 0)
        if offset <= 0 or offset >= self.source.size:
            return None
        length = read_int(self, TagCode.JPEGInterchangeFormatLength, 0)
        available = self.source.size - offset
        length = min(length, available) if length > 0 else min(available, MAX_HEADER)
        if self.source.read(offset, 2) != SOI:
            return None
        return offset, length

    @cached_property
    def stream_frame(self) -> tuple[int, int] | None:
        """(length, width) of the interchange stream's frame, for pages without size tags."""
        if self.interchange is None:
            return None
        offset, length = self.interchange
        try:
            frame = jpeg_frame(self._read(offset, min(length, MAX_HEADER), "stream"))
        except TiffFileError:
            return None
        return frame.length, frame.width

    @cached_property
    def imagewidth(self) -> int:  # type: ignore[override]
        frame = self.stream_frame if TagCode.ImageWidth not in self.ifd else None
        return read_int(self, TagCode.ImageWidth, 0 if frame is None else frame[1])

    @cached_property
    def imagelength(self) -> int:  # type: ignore[override]
        frame = self.stream_frame if TagCode.ImageLength not in self.ifd else None
        return read_int(self, TagCode.ImageLength, 0 if frame is None else frame[0])

    def _strip_tags(self) -> tuple[np.ndarray, np.ndarray] | None:
        offsets = self._first_tag(TagCode.TileOffsets, TagCode.StripOffsets)
        counts = self._first_tag(TagCode.TileByteCounts, TagCode.StripByteCounts)
        return None if offsets is None or counts is None else (offsets, counts)

    @cached_property
    def joined(self) -> bool:
        """Whether the one strip lies inside the interchange stream, after its start: the
        stream runs on into the strip's data, and is read from its start to the strip's
        end, as libtiff reads it."""
        strips, stream = self._strip_tags(), self.interchange
        if strips is None or stream is None or len(strips[0]) != 1 or len(strips[1]) != 1:
            return False
        start = int(strips[0][0])
        return stream[0] < start < stream[0] + stream[1]

    @cached_property
    def dataoffsets(self) -> np.ndarray:
        if self.joined:
            assert self.interchange is not None  # joined says so
            return np.array([self.interchange[0]], np.uint64)
        return super().dataoffsets

    @cached_property
    def databytecounts(self) -> np.ndarray:
        if self.joined:
            strips, stream = self._strip_tags(), self.interchange
            assert strips is not None
            assert stream is not None
            end = int(strips[0][0]) + int(strips[1][0])
            return np.array([max(end, stream[0] + stream[1]) - stream[0]], np.uint64)
        return super().databytecounts

    @cached_property
    def ojpeg_header(self) -> bytes | None:
        """The headers that precede a segment's data: the interchange stream's, up to its
        scan's data, or else written from the tables in the tags."""
        if self.interchange is not None:
            offset, length = self.interchange
            block = self._read(offset, min(length, MAX_HEADER), "stream")
            end = jpeg_header_end(block)
            if end:
                return block[:end]
        if TagCode.JPEGQTables not in self.ifd:
            return None
        return self._tables_header()

    def _tables_header(self) -> bytes:
        proc = read_int(self, TagCode.JPEGProc, BASELINE)
        if proc != BASELINE:
            raise TiffFileError(f"{self.name}: old-style JPEG process {proc} is not supported")
        components = 1 if self.planarconfig == PlanarConfig.SEPARATE else self.samplesperpixel
        qtables = [
            self._read(offset, 64, "quantization table")
            for offset in self._tag_offsets(TagCode.JPEGQTables)
        ]
        dc = [self._huffman(o) for o in self._tag_offsets(TagCode.JPEGDCTables)]
        ac = [self._huffman(o) for o in self._tag_offsets(TagCode.JPEGACTables)]
        if not qtables or not dc or not ac or components > 4:
            raise TiffFileError(f"{self.name}: old-style JPEG tables are missing")
        parts = [SOI]
        parts += [_segment(0xFFDB, bytes([i]) + t) for i, t in enumerate(qtables[:4])]
        parts += [_segment(0xFFC4, bytes([i]) + t) for i, t in enumerate(dc[:4])]
        parts += [_segment(0xFFC4, bytes([0x10 | i]) + t) for i, t in enumerate(ac[:4])]
        sampling = 0x11
        if self.photometric == Photometric.YCBCR and components == 3:
            horizontal, vertical = self.subsampling or (2, 2)
            sampling = (horizontal << 4) | vertical
        frame = bytes([8, 0, 0, 0, 0, components])  # size set per segment
        scan = bytes([components])
        for c in range(components):
            frame += bytes([c + 1, sampling if c == 0 else 0x11, min(c, len(qtables) - 1)])
            scan += bytes([c + 1, min(c, len(dc) - 1) << 4 | min(c, len(ac) - 1)])
        parts.append(_segment(0xFFC0, frame))
        interval = read_int(self, TagCode.JPEGRestartInterval, 0)
        if interval > 0:
            parts.append(_segment(0xFFDD, struct.pack(">H", interval)))
        parts.append(_segment(0xFFDA, scan + bytes([0, 63, 0])))
        return b"".join(parts)

    def _huffman(self, offset: int) -> bytes:
        counts = self._read(offset, 16, "Huffman table")
        return counts + self._read(offset + 16, sum(counts), "Huffman table")

    @cached_property
    def ojpeg(self) -> OjpegCoding:
        interleaved = self.samplesperpixel == 3 and self.planarconfig == PlanarConfig.CONTIG
        return OjpegCoding(
            header=self.ojpeg_header,
            joined=self.joined,
            colours=self.ycbcr_colours if interleaved else None,
        )
