"""Pages alike an earlier page borrow its geometry and coding, and still read as tifffile
reads them; pages that differ in anything decoding depends on are parsed in full."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_tiffzarr import TiffFile, TiffFileError
from napari_tiffzarr.tiff.alike import AlikePage
from napari_tiffzarr.tiff.page import TiffPage
from tiffbuild import broken_page_stack


def test_a_stack_parses_one_page_of_each_kind(tmp_path: Path) -> None:
    path = tmp_path / "stack.tif"
    rng = np.random.default_rng(1)
    data = rng.integers(0, 60000, (6, 40, 30), np.uint16)
    # the first page holds a description of its own; the others are alike each other
    tifffile.imwrite(path, data, compression="zlib", predictor=True, rowsperstrip=16)
    with TiffFile(path) as tif, tifffile.TiffFile(path) as oracle:
        pages = [tif.pages[i] for i in range(6)]
        assert type(pages[0]) is TiffPage
        assert type(pages[1]) is TiffPage  # the first of its kind: the model
        for page in pages[2:]:
            assert isinstance(page, AlikePage)
            assert page.model is pages[1]
            assert page.layout is pages[1].layout  # worked out once
        for i, page in enumerate(pages):
            assert page.index == i
            assert page.name.endswith(f"page {i}")
            assert [int(o) for o in page.dataoffsets] == list(oracle.pages[i].dataoffsets)
            np.testing.assert_array_equal(page.asarray(), oracle.pages[i].asarray())
        np.testing.assert_array_equal(tif.series[0].asarray(), data)


def test_pages_that_differ_in_coding_are_not_alike(tmp_path: Path) -> None:
    path = tmp_path / "mixed.tif"
    rng = np.random.default_rng(2)
    frames = rng.integers(0, 255, (4, 24, 24), np.uint8)
    with tifffile.TiffWriter(path) as tif:
        for i, frame in enumerate(frames):
            # same shape and type, alternating compression and predictor
            options = {"compression": "zlib", "predictor": True} if i % 2 else {}
            tif.write(frame, metadata=None, contiguous=False, **options)
    with TiffFile(path) as tif:
        pages = [tif.pages[i] for i in range(4)]
        assert [type(p) for p in pages[:2]] == [TiffPage, TiffPage]
        assert isinstance(pages[2], AlikePage)
        assert pages[2].model is pages[0]
        assert isinstance(pages[3], AlikePage)
        assert pages[3].model is pages[1]
        for page, frame in zip(pages, frames, strict=True):
            np.testing.assert_array_equal(page.asarray(), frame)
        assert int(pages[2].compression) == 1
        assert int(pages[3].compression) == 8


def test_an_alike_page_names_itself_in_errors(tmp_path: Path) -> None:
    path = tmp_path / "broken.tif"
    data = broken_page_stack(path, broken=4)  # page 4's deflate stream is garbage
    with TiffFile(path) as tif:
        model = tif.pages[1]  # the first of its kind parsed is the model of the others
        page = tif.pages[4]
        assert isinstance(page, AlikePage)
        assert page.model is model
        with pytest.raises(TiffFileError, match="page 4"):
            page.asarray()
        np.testing.assert_array_equal(tif.pages[3].asarray(), data[3])


def test_pages_with_their_own_shared_values_are_parsed_in_full(tmp_path: Path) -> None:
    """A writer that stores each page's resolution at its own place: the pages' raw
    entries differ in more than their per-page values, so each is compared by value, and
    every page reads its own resolution and pixels as tifffile does."""
    path = tmp_path / "resolutions.tif"
    frames = np.random.default_rng(7).integers(0, 60000, (5, 20, 12), np.uint16)
    with tifffile.TiffWriter(path) as writer:
        for i, frame in enumerate(frames):
            resolution = (10 + (i == 3), 10)  # page 3's differs; the others' are equal
            writer.write(frame, metadata=None, contiguous=False, resolution=resolution)
    with TiffFile(path) as tif, tifffile.TiffFile(path) as oracle:
        pages = [tif.pages[i] for i in range(5)]
        for page, expected in zip(pages, oracle.pages, strict=True):
            for code in (282, 283):
                assert page.tags[code].value == expected.tags[code].value
                assert page.tags[code].offset == expected.tags[code].valueoffset
            assert [int(o) for o in page.dataoffsets] == list(expected.dataoffsets)
            np.testing.assert_array_equal(page.asarray(), expected.asarray())
        assert not isinstance(pages[3], AlikePage) or pages[3].model is not pages[1]


def test_pages_found_alike_by_their_raw_entries_read_as_tifffile(tmp_path: Path) -> None:
    """tifffile shares the resolution of a stack's pages: their entries differ only in
    where their strips are, and each page still has its own strips and its own IFD."""
    path = tmp_path / "stack.tif"
    data = np.random.default_rng(8).integers(0, 255, (7, 30, 20), np.uint8)
    tifffile.imwrite(path, data, compression="zlib", rowsperstrip=8, resolution=(3, 4))
    with TiffFile(path) as tif, tifffile.TiffFile(path) as oracle:
        pages = [tif.pages[i] for i in range(7)]
        for page in pages[2:]:
            assert isinstance(page, AlikePage)
            assert page.model is pages[1]
        # found by their raw entries: the shared tags are those parsed for page 2
        assert all(page.tags[282] is pages[2].tags[282] for page in pages[3:])
        assert all(page.tags[273] is not pages[2].tags[273] for page in pages[3:])
        for i, page in enumerate(pages):
            expected = oracle.pages[i]
            assert page.offset == expected.offset
            assert page.ifd.next_offset == (oracle.pages[i + 1].offset if i < 6 else 0)
            assert sorted(page.tags) == sorted(tag.code for tag in expected.tags)
            assert [int(o) for o in page.dataoffsets] == list(expected.dataoffsets)
            assert [int(c) for c in page.databytecounts] == list(expected.databytecounts)
            assert page.tags[282].value == expected.tags[282].value
            np.testing.assert_array_equal(page.asarray(), data[i])
