"""Fixtures of the plugin tests: small pyramids and stacks written with tifffile."""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_tiffzarr.store import ZarrTiffStore


def _gradient_rgb(size: int) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size]
    rgb = np.stack([x * 255 // size, y * 255 // size, (x + y) * 127 // size], axis=-1)
    return rgb.astype(np.uint8)


@pytest.fixture
def pyramid_path(tmp_path: Path) -> Path:
    """A 2048 x 2048 RGB pyramid in SubIFDs, four levels, 256-pixel JPEG tiles."""
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


@pytest.fixture
def decode_counter(monkeypatch: pytest.MonkeyPatch) -> collections.Counter[int]:
    """Counts chunks decoded through any ZarrTiffStore, by pyramid level."""
    counts: collections.Counter[int] = collections.Counter()
    read_chunk = ZarrTiffStore.read_chunk

    def counting(self: ZarrTiffStore, ref):  # type: ignore[no-untyped-def]
        counts[ref.level] += 1
        return read_chunk(self, ref)

    monkeypatch.setattr(ZarrTiffStore, "read_chunk", counting)
    return counts
