"""Tiles decoded in one call: libtiff (through imagecodecs) reads a small TIFF, made in
memory, whose only image is the tiles (a row of a chunk's, or a few rows) stacked one
above the other.

Why: a thread that decodes tile by tile returns from C once a tile and must take the GIL
back each time.  While napari draws, its UI thread runs Python most of the time, and each
of those returns can wait up to the interpreter's switch interval (5 ms): a frame of 64
tiles decoded ahead then takes several times as long as on a quiet interpreter.  One call
for many tiles waits once.

libtiff is more lenient than our decoder: it stops inflating once a tile is full, so a
damaged stream that yields enough bytes passes.  Every tile's stream ends with the
Adler-32 of its inflated bytes, so the tiles are accepted only where one checksum over the
stacked tiles equals the one the streams' checksums combine to; elsewhere the caller
decodes the tiles one by one, which says what is wrong with which.  The predictor is
undone here, after the check, as for a single tile.  Only deflate carries the checksum.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import imagecodecs
import numpy as np

from .layout import SegmentLayout
from .tags import Compression, FieldType, Photometric, TagCode
from .writer import ifd_bytes

__all__ = ["decode_tile_row", "decodes_tile_rows"]

_CODINGS = frozenset({Compression.ADOBE_DEFLATE, Compression.DEFLATE})
# SampleFormat by numpy kind, and the sample sizes libtiff reads for it.
_FORMATS = {"u": (1, (8, 16, 32, 64)), "i": (2, (8, 16, 32, 64)), "f": (3, (32, 64))}
_ADLER_BASE = 65521


class Coding(Protocol):
    """What of a page's coding parameters (codecs.CodingParameters) a row needs."""

    @property
    def layout(self) -> SegmentLayout: ...
    @property
    def byteorder(self) -> str: ...
    @property
    def compression(self) -> int: ...
    @property
    def fillorder(self) -> int: ...
    @property
    def subsampled(self) -> bool: ...
    @property
    def sampleformat(self) -> int: ...
    @property
    def bitspersample(self) -> int: ...


class Predictor(Protocol):
    """How a predictor is undone (codecs.PredictorCodec)."""

    @property
    def decode(self) -> Callable[..., Any]: ...
    @property
    def distance(self) -> int: ...
    @property
    def floating(self) -> bool: ...


def decodes_tile_rows(params: Coding, dtype: np.dtype, predictor: Predictor | None) -> bool:
    """Whether decode_tile_row decodes tiles of these parameters into this dtype, with
    this predictor (None for none) undone after it."""
    layout = params.layout
    kind = _FORMATS.get(dtype.kind)
    return (
        layout.tiled
        and layout.segment[0] == 1
        and params.compression in _CODINGS
        and (predictor is None or not predictor.floating)
        and params.fillorder == 1
        and not params.subsampled
        and kind is not None
        and params.sampleformat == kind[0]
        and params.bitspersample == dtype.itemsize * 8 in kind[1]
        and np.dtype(params.byteorder + dtype.char) == dtype  # nothing to swap
    )


def decode_tile_row(
    params: Coding,
    predictor: Predictor | None,
    tiles: Sequence[bytes],
    out: np.ndarray,
) -> bool:
    """Decode the stored bytes of whole tiles into out, C-contiguous of shape (tiles,
    length, width, samples) and the decoded type: True where libtiff did and every
    stream's checksum holds; False, out's content undefined, where the caller must
    decode them one by one."""
    if not tiles or any(len(tile) < 6 for tile in tiles):
        return False
    _, length, width, samples = out.shape
    stacked = out.reshape((len(tiles) * length, width) + ((samples,) if samples > 1 else ()))
    try:
        imagecodecs.tiff_decode(_stacked_tiff(params, tiles), out=stacked)
    except (imagecodecs.TiffError, RuntimeError, ValueError, TypeError, MemoryError):
        return False
    size = out[0].nbytes
    expected = int.from_bytes(tiles[0][-4:], "big")
    for tile in tiles[1:]:
        expected = _adler32_combine(expected, int.from_bytes(tile[-4:], "big"), size)
    if imagecodecs.deflate_adler32(out) != expected:  # type: ignore[arg-type]  # a buffer
        return False
    if predictor is not None:
        predictor.decode(out, axis=-2, dist=predictor.distance, out=out)
    return True


def _adler32_combine(first: int, second: int, second_length: int) -> int:
    """The Adler-32 of two byte strings one after the other, from theirs (zlib's way)."""
    remainder = second_length % _ADLER_BASE
    low = first & 0xFFFF
    high = (remainder * low) % _ADLER_BASE
    low = (low + (second & 0xFFFF) + _ADLER_BASE - 1) % _ADLER_BASE
    high = (high + (first >> 16) + (second >> 16) + _ADLER_BASE - remainder) % _ADLER_BASE
    return low | (high << 16)


def _stacked_tiff(params: Coding, tiles: Sequence[bytes]) -> bytes:
    """A TIFF in the byte order of the tiles: header, the tiles, then the IFD describing
    them as one image a tile wide, without a predictor, and the values its entries
    point to."""
    order = "<" if params.byteorder == "<" else ">"
    _, length, width, samples = params.layout.segment
    offsets, position = [], 8
    for tile in tiles:
        offsets.append(position)
        position += len(tile)
    padding = b"\0" * (position % 2)  # an IFD starts on a word boundary
    position += len(padding)
    short, long = FieldType.SHORT, FieldType.LONG
    entries: list[tuple[int, int, Sequence[int] | bytes]] = [
        (TagCode.ImageWidth, long, [width]),
        (TagCode.ImageLength, long, [length * len(tiles)]),
        (TagCode.BitsPerSample, short, [params.bitspersample] * samples),
        (TagCode.Compression, short, [params.compression]),
        (TagCode.PhotometricInterpretation, short, [Photometric.MINISBLACK]),
        (TagCode.SamplesPerPixel, short, [samples]),
        (TagCode.PlanarConfiguration, short, [1]),
        (TagCode.TileWidth, long, [width]),
        (TagCode.TileLength, long, [length]),
        (TagCode.TileOffsets, long, offsets),
        (TagCode.TileByteCounts, long, [len(tile) for tile in tiles]),
        (TagCode.SampleFormat, short, [params.sampleformat] * samples),
    ]
    if samples > 1:  # the other samples of a grey image: unspecified extra samples
        entries.append((TagCode.ExtraSamples, short, [0] * (samples - 1)))
    header = (b"II*\0" if order == "<" else b"MM\0*") + struct.pack(order + "I", position)
    return b"".join([header, *tiles, padding, ifd_bytes(entries, position, order=order)])
