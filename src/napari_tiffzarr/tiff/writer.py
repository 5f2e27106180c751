"""A small writer of tiled, pyramidal TIFFs: enough for sample data and demos.

Writes classic little-endian TIFF with one page per level, levels after the first marked
reduced (NewSubfileType 1), tiles compressed with imagecodecs.  Not a general writer: the
project reads TIFFs; this exists so the plugin can make its sample without tifffile.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence

import imagecodecs
import numpy as np

from .tags import Compression, FieldType, Photometric, TagCode

__all__ = ["ifd_bytes", "write_tiled_pyramid"]

_TYPES = {FieldType.SHORT: "H", FieldType.LONG: "I", FieldType.ASCII: "s"}


def _encode(tile: np.ndarray, compression: int, quality: int) -> bytes:
    if compression == Compression.JPEG:
        return bytes(imagecodecs.jpeg8_encode(np.ascontiguousarray(tile), level=quality))
    if compression == Compression.ADOBE_DEFLATE:
        return bytes(imagecodecs.zlib_encode(np.ascontiguousarray(tile).tobytes(), level=6))
    if compression == Compression.NONE:
        return np.ascontiguousarray(tile).tobytes()
    raise ValueError(f"cannot write compression {compression}")


def _tiles(image: np.ndarray, tile: tuple[int, int]) -> list[np.ndarray]:
    length, width = image.shape[:2]
    tl, tw = tile
    out = []
    for y in range(0, length, tl):
        for x in range(0, width, tw):
            block = image[y : y + tl, x : x + tw]
            if block.shape[:2] != (tl, tw):  # edge tiles are stored at full size
                padded = np.zeros((tl, tw, *image.shape[2:]), image.dtype)
                padded[: block.shape[0], : block.shape[1]] = block
                block = padded
            out.append(block)
    return out


def ifd_bytes(
    entries: list[tuple[int, int, Sequence[int] | bytes]],
    position: int,
    next_offset: int = 0,
    order: str = "<",
) -> bytes:
    """An IFD at file position, its out-of-line values following it; order: the file's
    byte order, "<" or ">"."""
    entries = sorted(entries)
    head = struct.pack(f"{order}H", len(entries))
    body = b""
    extra = b""
    extra_at = position + 2 + 12 * len(entries) + 4
    for code, dtype, values in entries:
        if dtype == FieldType.ASCII:
            raw = bytes(values) + b"\x00"
            count = len(raw)
        else:
            raw = struct.pack(f"{order}{len(values)}{_TYPES[FieldType(dtype)]}", *values)
            count = len(values)
        if len(raw) <= 4:
            body += struct.pack(f"{order}HHI", code, dtype, count) + raw.ljust(4, b"\x00")
        else:
            body += struct.pack(f"{order}HHII", code, dtype, count, extra_at + len(extra))
            extra += raw + (b"\x00" if len(raw) % 2 else b"")
    return head + body + struct.pack(f"{order}I", next_offset) + extra


def write_tiled_pyramid(
    path: str | os.PathLike[str],
    levels: Sequence[np.ndarray],
    *,
    tile: tuple[int, int] = (256, 256),
    compression: int = Compression.JPEG,
    quality: int = 90,
    description: str = "",
) -> None:
    """Write uint8 grey (Y, X) or RGB (Y, X, 3) levels as one tiled pyramidal TIFF."""
    with open(path, "wb") as fh:
        fh.write(b"II*\x00\x00\x00\x00\x00")
        pointer = 4  # where the offset of the next IFD goes
        for index, image in enumerate(levels):
            if image.dtype != np.uint8 or image.ndim not in (2, 3):
                raise ValueError("levels must be uint8 (Y, X) or (Y, X, 3) arrays")
            samples = 1 if image.ndim == 2 else image.shape[2]
            offsets, counts = [], []
            for block in _tiles(image, tile):
                data = _encode(block, compression, quality)
                offsets.append(fh.tell())
                counts.append(len(data))
                fh.write(data)
            if fh.tell() % 2:
                fh.write(b"\x00")
            position = fh.tell()
            photometric = Photometric.RGB if samples == 3 else Photometric.MINISBLACK
            entries: list[tuple[int, int, Sequence[int] | bytes]] = [
                (TagCode.NewSubfileType, FieldType.LONG, [1 if index else 0]),
                (TagCode.ImageWidth, FieldType.LONG, [image.shape[1]]),
                (TagCode.ImageLength, FieldType.LONG, [image.shape[0]]),
                (TagCode.BitsPerSample, FieldType.SHORT, [8] * samples),
                (TagCode.Compression, FieldType.SHORT, [int(compression)]),
                (TagCode.PhotometricInterpretation, FieldType.SHORT, [int(photometric)]),
                (TagCode.SamplesPerPixel, FieldType.SHORT, [samples]),
                (TagCode.PlanarConfiguration, FieldType.SHORT, [1]),
                (TagCode.TileWidth, FieldType.SHORT, [tile[1]]),
                (TagCode.TileLength, FieldType.SHORT, [tile[0]]),
                (TagCode.TileOffsets, FieldType.LONG, offsets),
                (TagCode.TileByteCounts, FieldType.LONG, counts),
            ]
            if description and index == 0:
                entries.append((TagCode.ImageDescription, FieldType.ASCII, description.encode()))
            fh.write(ifd_bytes(entries, position))
            end = fh.tell()
            fh.seek(pointer)
            fh.write(struct.pack("<I", position))
            fh.seek(end)
            pointer = position + 2 + 12 * len(entries)
