"""NDPI pages: one-strip JPEG levels read as the tiles their restart markers make."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_tiffzarr import TiffFile
from napari_tiffzarr.tiff.ndpi import NDPI_MCU_STARTS, NdpiPage
from napari_tiffzarr.tiff.page import TiffPage
from napari_tiffzarr.tiff.tags import TagCode

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
NDPI = CORPUS / "slideio-tutorial" / "test3-DAPI-2-387.ndpi"


def test_pages_without_mcu_starts_are_generic(tmp_path: Path) -> None:
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, np.zeros((16, 16), np.uint8))
    with TiffFile(path) as tif:
        assert type(tif.pages[0]) is TiffPage


def test_mcu_starts_that_make_no_tiling_leave_one_strip(tmp_path: Path) -> None:
    """Restart offsets that do not increase describe no tiling: the page is the single
    JPEG strip it is stored as, and decodes as tifffile decodes it."""
    path = tmp_path / "strip.tif"
    rgb = np.random.default_rng(3).integers(0, 255, (40, 48, 3), np.uint8)
    tifffile.imwrite(
        path,
        rgb,
        photometric="rgb",
        compression="jpeg",
        rowsperstrip=40,
        extratags=[(NDPI_MCU_STARTS, "I", 3, (600, 500, 400), True)],
    )
    with tifffile.TiffFile(path) as ref:
        expected = ref.pages[0].asarray()
    with TiffFile(path) as tif:
        page = tif.pages[0]
        assert isinstance(page, NdpiPage)
        assert page.restart_tiles is None
        assert not page.is_tiled
        assert page.chunks == (40, 48, 3)
        assert page.coding().jpegheader is None
        assert np.array_equal(page.asarray(), expected)


@pytest.mark.skipif(not NDPI.is_file(), reason="the shared corpus is not beside the checkout")
def test_restart_intervals_are_tiles() -> None:
    with tifffile.TiffFile(NDPI) as ref:
        expected = ref.pages[1].asarray()
    with TiffFile(NDPI) as tif:
        page = tif.pages[1]
        assert isinstance(page, NdpiPage)
        assert page.restart_tiles is not None
        tiling, starts = page.restart_tiles
        stored = page.ifd.value(TagCode.StripOffsets), page.ifd.value(TagCode.StripByteCounts)
        assert page.is_tiled
        assert (page.tilelength, page.tilewidth) == (tiling.tilelength, tiling.tilewidth)
        assert page.layout.count == len(starts) == len(page.dataoffsets)
        # the tiles cover the strip after its header, end to end
        assert int(page.dataoffsets[0]) == stored[0] + int(starts[0])
        ends = page.dataoffsets[:-1] + page.databytecounts[:-1]
        assert np.array_equal(ends, page.dataoffsets[1:])
        assert int(page.dataoffsets[-1] + page.databytecounts[-1]) == sum(stored)
        assert page.coding().jpegheader == tiling.header
        assert np.array_equal(page.asarray(), expected)


@pytest.mark.skipif(not NDPI.is_file(), reason="the shared corpus is not beside the checkout")
def test_restart_intervals_are_named_as_such(capsys: pytest.CaptureFixture[str]) -> None:
    """info and the widget's file structure call the level's segments restart-interval
    strips, with their size, not tiles; pages stored otherwise keep their own name."""
    from napari_tiffzarr.cli import main
    from napari_tiffzarr.plugin._info import describe_file, format_shape

    with TiffFile(NDPI) as tif, tifffile.TiffFile(NDPI) as ref:
        named = {page.index: page.storage for page in tif.pages}
        structure = describe_file(tif).splitlines()
        level0 = tif.series[0].levels[0].keyframe
        assert isinstance(level0, NdpiPage)
        assert level0.restart_tiles is not None
        interval = level0.restart_tiles[0]
        plain = [p.index for p in tif.pages if not isinstance(p, NdpiPage)]
        ref_chunks = ref.pages[0].chunks
        shape = ref.series[0].levels[0].shape
    assert named[0] == "restart-interval strips"
    assert plain  # the macro and map images are plain strips
    assert all(named[i] == "strips" for i in plain)
    assert main(["info", str(NDPI), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["listed_pages"]
    assert [page["storage"] for page in listed] == [named[i] for i in range(len(named))]
    # the interval's size is tifffile's chunk shape of the page
    assert (
        tuple(listed[0]["chunk"][:2])
        == ref_chunks[:2]
        == (
            interval.tilelength,
            interval.tilewidth,
        )
    )
    line = (
        f"  0: {format_shape(shape)}, restart-interval strips "
        f"{format_shape((interval.tilelength, interval.tilewidth))}"
    )
    assert line in structure
    assert not any("tiles" in text for text in structure)
