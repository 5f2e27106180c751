"""Finding series parses no more IFDs than it needs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

import napari_tiffzarr.tiff.file as file_module
import napari_tiffzarr.tiff.pages as pages_module
from napari_tiffzarr import TiffFile


@pytest.fixture
def ifd_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Offsets of the IFDs parsed with all their entries: the main chain's pages
    (tiff.pages) and SubIFDs (tiff.file)."""
    parsed: list[int] = []
    read_ifd = pages_module.read_ifd
    assert file_module.read_ifd is read_ifd

    def counting(source, header, offset):  # type: ignore[no-untyped-def]
        parsed.append(offset)
        return read_ifd(source, header, offset)

    for module in (pages_module, file_module):
        monkeypatch.setattr(module, "read_ifd", counting)
    return parsed


def test_imagej_stack_of_10000_images_parses_one_ifd(tmp_path: Path, ifd_reads: list[int]) -> None:
    path = tmp_path / "stack.tif"
    data = np.arange(10000, dtype=np.uint8)[:, None, None] * np.ones((1, 8, 8), np.uint8)
    tifffile.imwrite(path, data, imagej=True)
    with TiffFile(path) as tif:
        series = tif.series[0]
        assert series.kind == "imagej"
        assert series.shape == (10000, 8, 8)
        frame = series.pages[9876]
        assert frame is not None
        np.testing.assert_array_equal(frame.asarray(), data[9876])
    assert len(ifd_reads) == 1


def test_uniform_stack_parses_sampled_pages_only(tmp_path: Path, ifd_reads: list[int]) -> None:
    path = tmp_path / "pages.tif"
    data = np.random.default_rng(0).integers(0, 255, (300, 16, 16), np.uint8)
    tifffile.imwrite(path, data, metadata=None, compression="lzw")
    with TiffFile(path) as tif:
        series = tif.series[0]
        assert (series.kind, series.shape) == ("uniform", (300, 16, 16))
        assert len(ifd_reads) == 4  # pages 0, 1, 7 and the last
        page = series.pages[150]
        assert page is not None
        np.testing.assert_array_equal(page.asarray(), data[150])
        assert len(ifd_reads) == 5


def test_page_differing_from_a_uniform_sample_raises(tmp_path: Path) -> None:
    """Trusting the sample must not misread a page that differs: it raises."""
    path = tmp_path / "odd.tif"
    with tifffile.TiffWriter(path) as tif:
        for index in range(10):
            shape = (16, 16) if index != 4 else (8, 16)
            tif.write(np.zeros(shape, np.uint8), metadata=None)
    with TiffFile(path) as tif:
        series = tif.series[0]
        if series.kind == "uniform":
            with pytest.raises(ValueError, match="differs"):
                series.asarray()
        else:  # grouped by shape instead: page 4 is a series of its own
            assert [s.shape for s in tif.series] == [(9, 16, 16), (8, 16)]
