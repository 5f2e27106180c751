"""Fixtures of the plugin tests: small pyramids and stacks written with tifffile."""

from __future__ import annotations

import collections
import itertools
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_tiffzarr.store.scheduler import ChunkReader


def _gradient_rgb(size: int) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size]
    rgb = np.stack([x * 255 // size, y * 255 // size, (x + y) * 127 // size], axis=-1)
    return rgb.astype(np.uint8)


@pytest.fixture
def pyramid_path(tmp_path: Path) -> Path:
    """A 2048 x 2048 RGB pyramid in SubIFDs, four levels, 256-pixel zlib tiles."""
    path = tmp_path / "pyramid.ome.tif"
    levels = [_gradient_rgb(2048)]
    for _ in range(3):
        levels.append(levels[-1][::2, ::2].copy())
    with tifffile.TiffWriter(path, bigtiff=False) as tif:
        options = {"tile": (256, 256), "compression": "zlib", "photometric": "rgb"}
        tif.write(levels[0], subifds=3, metadata=None, **options)
        for level in levels[1:]:
            tif.write(level, subfiletype=1, metadata=None, **options)
    return path


@pytest.fixture
def gray_pyramid_path(tmp_path: Path) -> Path:
    """A 2048 x 2048 uint16 pyramid in SubIFDs, four levels, 128-pixel zlib tiles: not RGB,
    so opening it reads pixels for contrast limits."""
    path = tmp_path / "gray.tif"
    levels = [_gradient_rgb(2048)[..., 0].astype(np.uint16) * 200 + 7]
    for _ in range(3):
        levels.append(levels[-1][::2, ::2].copy())
    with tifffile.TiffWriter(path) as tif:
        options = {"tile": (128, 128), "compression": "zlib", "photometric": "minisblack"}
        tif.write(levels[0], subifds=3, metadata=None, **options)
        for level in levels[1:]:
            tif.write(level, subfiletype=1, metadata=None, **options)
    return path


@pytest.fixture
def stack_path(tmp_path: Path) -> Path:
    """A 3-channel ImageJ hyperstack with a micrometre pixel size."""
    path = tmp_path / "stack.tif"
    data = np.arange(2 * 3 * 40 * 50, dtype=np.uint16).reshape(2, 3, 40, 50)
    tifffile.imwrite(
        path,
        data,
        imagej=True,
        resolution=(1 / 0.25, 1 / 0.25),
        metadata={"axes": "ZCYX", "unit": "um", "spacing": 2.0},
    )
    return path


class DecodeCounts(collections.Counter[int]):
    """Chunks decoded, by pyramid level; ahead: those of them read ahead."""

    def __init__(self) -> None:
        super().__init__()
        self.ahead: collections.Counter[int] = collections.Counter()


@pytest.fixture
def decode_counter(monkeypatch: pytest.MonkeyPatch) -> DecodeCounts:
    """Counts chunks decoded through any ZarrTiffStore, by pyramid level."""
    counts = DecodeCounts()
    decode = ChunkReader._decode

    def counting(self: ChunkReader, page, ref, data, ahead, *parts):  # type: ignore[no-untyped-def]
        counts[ref.level] += 1
        counts.ahead[ref.level] += bool(ahead)
        return decode(self, page, ref, data, ahead, *parts)

    monkeypatch.setattr(ChunkReader, "_decode", counting)
    return counts


def write_huge_pyramid(path: Path, size: int = 100_000, tile: int = 256) -> Path:
    """A size x size grey pyramid of deflate tiles, levels in SubIFDs down to less than 1024;
    every tile is the same few compressed bytes, so the file stays small."""
    levels = [size]
    while levels[-1] >= 1024:
        levels.append(levels[-1] // 2)
    chunk = zlib.compress(np.full((tile, tile), 160, np.uint8).tobytes())
    with tifffile.TiffWriter(path) as tif:
        for index, length in enumerate(levels):
            count = ((length + tile - 1) // tile) ** 2
            tif.write(
                itertools.repeat(chunk, count),
                shape=(length, length),
                dtype=np.uint8,
                tile=(tile, tile),
                compression="zlib",
                subifds=len(levels) - 1 if index == 0 else None,
                subfiletype=1 if index else 0,
                metadata=None,
            )
    return path


@pytest.fixture
def huge_pyramid_path(tmp_path: Path) -> Path:
    """100,000 x 100,000 pixels, eight levels, 152,881 tiles at level 0."""
    return write_huge_pyramid(tmp_path / "huge.tif")
