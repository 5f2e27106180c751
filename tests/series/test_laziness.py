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

    def counting(read):  # type: ignore[no-untyped-def]
        def counted(source, header, offset):  # type: ignore[no-untyped-def]
            parsed.append(offset)
            return read(source, header, offset)

        return counted

    # a page of the main chain reads its IFD's block, then parses what it needs of it
    monkeypatch.setattr(pages_module, "ifd_block", counting(pages_module.ifd_block))
    monkeypatch.setattr(file_module, "read_ifd", counting(file_module.read_ifd))
    return parsed


@pytest.fixture
def chain_steps(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Offsets of the IFDs read while walking the main chain to find where it goes next."""
    walked: list[int] = []
    read = pages_module.read_entries

    def counted(window, header, offset, **options):  # type: ignore[no-untyped-def]
        walked.append(offset)
        return read(window, header, offset, **options)

    monkeypatch.setattr(pages_module, "read_entries", counted)
    return walked


def test_imagej_stack_of_10000_images_parses_one_ifd(
    tmp_path: Path, ifd_reads: list[int], chain_steps: list[int]
) -> None:
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
    assert chain_steps == []  # nor walks the chain of the other 9,999 (tifffile's 10,000 IFDs)


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


def _stack_with_odd_page(path: Path, odd: int) -> None:
    """Ten 16x16 pages of value index, page odd 8x16 instead."""
    with tifffile.TiffWriter(path) as tif:
        for index in range(10):
            shape = (16, 16) if index != odd else (8, 16)
            tif.write(np.full(shape, index, np.uint8), metadata=None)


def test_page_differing_from_a_uniform_sample_raises(tmp_path: Path) -> None:
    """Page 4 is not among the pages sampled (0, 1, 7, last), so the stack is taken as
    uniform, as tifffile takes it; trusting the sample must not misread page 4: it raises."""
    path = tmp_path / "odd.tif"
    _stack_with_odd_page(path, 4)
    with TiffFile(path) as tif:
        series = tif.series[0]
        assert (series.kind, series.shape) == ("uniform", (10, 16, 16))
        with tifffile.TiffFile(path) as peer:
            assert (peer.series[0].kind, peer.series[0].shape) == ("uniform", (10, 16, 16))
        page = series.pages[3]
        assert page is not None
        np.testing.assert_array_equal(page.asarray(), np.full((16, 16), 3, np.uint8))
        with pytest.raises(ValueError, match=r"page 4: \(8, 16\) uint8 differs"):
            series.asarray()


@pytest.mark.parametrize("odd", [1, 7, 9])
def test_sampled_page_differing_groups_pages_by_shape(tmp_path: Path, odd: int) -> None:
    """A sampled page that differs makes the stack not uniform: pages are grouped by shape,
    the odd page a series of its own, as tifffile groups them."""
    path = tmp_path / "odd.tif"
    _stack_with_odd_page(path, odd)
    with TiffFile(path) as tif, tifffile.TiffFile(path) as peer:
        assert [s.shape for s in tif.series] == [(9, 16, 16), (8, 16)]
        assert [s.shape for s in tif.series] == [s.shape for s in peer.series]
        for ours, theirs in zip(tif.series, peer.series, strict=True):
            np.testing.assert_array_equal(ours.asarray(), theirs.asarray())
