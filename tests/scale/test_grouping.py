"""Grouping pages of unlike shapes and codings, compared with tifffile's series."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_tiffzarr import TiffFile


def _write(path: Path, count: int, byteorder: str, bigtiff: bool) -> list[np.ndarray]:
    rng = np.random.default_rng(count)
    frames = []
    with tifffile.TiffWriter(path, byteorder=byteorder, bigtiff=bigtiff) as writer:
        for i in range(count):
            shape = (8, 8) if i % 3 else (6, 10)
            frame = rng.integers(0, 255, shape, np.uint8)
            # every fifth page compressed: same shape, another coding, another group
            compression = "zlib" if i % 5 == 0 else None
            writer.write(frame, metadata=None, contiguous=False, compression=compression)
            frames.append(frame)
    return frames


@pytest.mark.parametrize(("byteorder", "bigtiff"), [("<", False), (">", False), ("<", True)])
def test_unlike_pages_group_as_tifffile(tmp_path: Path, byteorder: str, bigtiff: bool) -> None:
    path = tmp_path / "unlike.tif"
    _write(path, 60, byteorder, bigtiff)
    with TiffFile(path) as ours, tifffile.TiffFile(path) as theirs:
        got = sorted((s.shape, s.asarray().tobytes()) for s in ours.series)
        want = sorted((s.shape, s.asarray().tobytes()) for s in theirs.series)
        assert [g[0] for g in got] == [w[0] for w in want]
        assert got == want


def test_grouping_parses_one_page_per_kind(tmp_path: Path) -> None:
    path = tmp_path / "two.tif"
    _write(path, 300, "<", False)
    with TiffFile(path) as tif, tifffile.TiffFile(path) as theirs:
        series = tif.series
        # four kinds (two shapes x two codings), plus the pages detect_uniform samples
        assert len(tif.pages._pages) <= 8
        assert sorted(len(s.pages) for s in series) == sorted(len(s.pages) for s in theirs.series)
        want = {p.offset: p.asarray() for p in theirs.pages}
        got = {p.offset: p.asarray() for s in series for p in s.pages}
        assert got.keys() == want.keys()
        assert all(np.array_equal(got[k], want[k]) for k in want)


@pytest.mark.parametrize("writer", ["shaped", "imagej-compressed"])
def test_formats_parse_one_page_per_series(tmp_path: Path, writer: str) -> None:
    """tifffile's shaped stacks and compressed ImageJ stacks: series found from the first
    page, the other pages parsed only when read."""
    path = tmp_path / f"{writer}.tif"
    data = np.random.default_rng(5).integers(0, 255, (500, 8, 8), np.uint8)
    if writer == "shaped":
        tifffile.imwrite(path, data, contiguous=False)
    else:
        tifffile.imwrite(path, data, imagej=True, compression="zlib")
    with TiffFile(path) as tif:
        series = tif.series[0]
        assert series.shape == (500, 8, 8)
        assert len(tif.pages._pages) <= 8
        np.testing.assert_array_equal(series.asarray(), tifffile.imread(path))


def test_far_apart_ifds_group_as_tifffile(tmp_path: Path) -> None:
    """IFDs tens of KB apart: the read window stays small and still finds every page."""
    path = tmp_path / "far.tif"
    rng = np.random.default_rng(2)
    with tifffile.TiffWriter(path) as writer:
        for i in range(12):
            shape = (160, 200) if i % 2 else (200, 160)
            writer.write(rng.integers(0, 255, shape, np.uint8), metadata=None, contiguous=False)
    with TiffFile(path) as ours, tifffile.TiffFile(path) as theirs:
        assert [s.shape for s in ours.series] == [s.shape for s in theirs.series]
        for mine, want in zip(ours.series, theirs.series, strict=True):
            np.testing.assert_array_equal(mine.asarray(), want.asarray())


def test_pages_asked_for_by_many_threads_walk_the_chain_once(tmp_path: Path) -> None:
    """Decoding threads ask for pages of a file not yet walked (another file of a
    dataset): the chain must come out whole, not cut short by a loop it does not have."""
    from concurrent.futures import ThreadPoolExecutor

    path = tmp_path / "chain.tif"
    tifffile.imwrite(path, np.zeros((300, 8, 8), np.uint8), metadata=None)
    order = list(range(300))
    np.random.default_rng(0).shuffle(order)
    with tifffile.TiffFile(path) as theirs:
        want = [page.offset for page in theirs.pages]
    for _ in range(5):
        with TiffFile(path) as tif, ThreadPoolExecutor(8) as pool:
            got = dict(zip(order, pool.map(lambda i: tif.pages[i].offset, order), strict=True))
            assert len(tif.pages) == 300
            assert [got[i] for i in range(300)] == want
