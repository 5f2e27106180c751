"""Pyramids written by libvips and GDAL (Debian's libvips-tools and gdal-bin), compared
with tifffile: series, levels and every pixel."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import imagecodecs
import numpy as np
import pytest
import tifffile

from napari_tiffzarr import TiffFile


def _source_png(path: Path, alpha: bool = False) -> Path:
    y, x = np.mgrid[0:700, 0:900]
    rgb = np.stack([x % 256, y % 256, (x + y) // 8 % 256], axis=-1).astype(np.uint8)
    if alpha:
        disc = (x - 450) ** 2 + (y - 350) ** 2 < 300**2
        rgb = np.concatenate([rgb, (disc * 255).astype(np.uint8)[..., None]], axis=-1)
    path.write_bytes(imagecodecs.png_encode(rgb))
    return path


def _run(tool: str, *args: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (Debian: libvips-tools, gdal-bin)")
    subprocess.run([tool, *args], check=True, capture_output=True)


def _assert_equal_to_tifffile(path: Path) -> list[tuple[int, ...]]:
    with tifffile.TiffFile(path) as theirs, TiffFile(path) as ours:
        assert [(s.shape, s.axes, [lv.shape for lv in s.levels]) for s in ours.series] == [
            (s.shape, s.axes, [lv.shape for lv in s.levels]) for s in theirs.series
        ]
        for mine, reference in zip(ours.series, theirs.series, strict=True):
            for index, level in enumerate(reference.levels):
                np.testing.assert_array_equal(mine.asarray(level=index), level.asarray())
        return [s.shape for s in ours.series[0].levels]


@pytest.mark.parametrize(
    ("options", "levels"),
    [
        (["--subifd", "--compression", "jpeg", "--tile-width", "256", "--tile-height", "256"], 3),
        (["--compression", "deflate", "--tile-width", "128", "--tile-height", "128"], 4),
    ],
    ids=["subifd-jpeg", "pages-deflate"],
)
def test_libvips_pyramid(tmp_path: Path, options: list[str], levels: int) -> None:
    out = tmp_path / "vips.tif"
    _run(
        "vips",
        "tiffsave",
        str(_source_png(tmp_path / "in.png")),
        str(out),
        "--tile",
        "--pyramid",
        *options,
    )
    shapes = _assert_equal_to_tifffile(out)
    assert shapes[0] == (700, 900, 3)
    assert len(shapes) >= levels


def test_gdal_cog_with_mask(tmp_path: Path) -> None:
    out = tmp_path / "cog.tif"
    _run(
        "gdal_translate",
        "-q",
        "-of",
        "COG",
        "-co",
        "COMPRESS=LZW",
        "-co",
        "BLOCKSIZE=256",
        "-b",
        "1",
        "-b",
        "2",
        "-b",
        "3",
        "-mask",
        "4",
        "--config",
        "GDAL_TIFF_INTERNAL_MASK",
        "YES",
        str(_source_png(tmp_path / "in.png", alpha=True)),
        str(out),
    )
    _assert_equal_to_tifffile(out)
    with TiffFile(out) as tif:
        image, mask = tif.series
        assert image.shape == (700, 900, 3)
        assert mask.shape == (700, 900)  # the mask is a series of its own, with its levels
        assert len(mask.levels) == len(image.levels) > 1
