"""Pyramids stored in SubIFDs inside each file of a folder sequence or of a multi-file
OME dataset: every level reads as tifffile reads it, each file's SubIFDs found in that
file, and opening parses no file but the first."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

from napari_tiffzarr import TiffFile
from napari_tiffzarr.store import ZarrTiffStore
from napari_tiffzarr.tiff.sequence import TiffSequence
from ome_xml import channel_files_xml

LEVELS = 3  # the image and two SubIFD levels below it
PLANES, LENGTH, WIDTH = 2, 96, 80


def _write_pyramid(path: Path, data: np.ndarray, description: str | None = None) -> None:
    """data (planes, y, x), each plane's IFD holding its halved levels as SubIFDs."""
    options = {"tile": (32, 32), "compression": "zlib", "photometric": "minisblack"}
    with tifffile.TiffWriter(path) as tif:
        tif.write(data, subifds=LEVELS - 1, metadata=None, description=description, **options)
        level = data
        for _ in range(LEVELS - 1):
            level = level[:, ::2, ::2].copy()
            tif.write(level, subfiletype=1, metadata=None, **options)


def _planes(seed: int, count: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 60000, (count, PLANES, LENGTH, WIDTH), np.uint16)


def test_a_sequence_of_subifd_pyramids_has_their_levels(tmp_path: Path) -> None:
    data = _planes(5, 3)
    files = [tmp_path / f"t{t:02d}.tif" for t in range(3)]
    for path, frames in zip(files, data, strict=True):
        _write_pyramid(path, frames)
    # tifffile reads one file's level at a time; its TiffSequence has level 0 only
    want = [
        np.stack([tifffile.imread(path, series=0, level=level) for path in files])
        for level in range(LEVELS)
    ]
    np.testing.assert_array_equal(want[0], data)
    with TiffSequence(tmp_path) as seq:
        series = seq.series[0]
        assert len(series.levels) == LEVELS
        assert seq.pool.opened == 1  # the first file only
        for level in range(LEVELS):
            assert series.levels[level].shape == want[level].shape
            np.testing.assert_array_equal(series.asarray(level=level), want[level])
        group = zarr.open_group(ZarrTiffStore(series, multiscales=True), mode="r")
        for level in range(LEVELS):
            np.testing.assert_array_equal(group[str(level)][:], want[level])
        np.testing.assert_array_equal(group["1"][2, 1, 7:30, 3:33], want[1][2, 1, 7:30, 3:33])


NAMES = ["multi_c0.ome.tif", "multi_c1.ome.tif", "multi_c2.ome.tif"]
UUIDS = [f"urn:uuid:0000000{c}-1234-5678-9abc-def012345678" for c in range(3)]


def _xml(own: int) -> str:
    return channel_files_xml(
        NAMES, UUIDS, own, planes=PLANES, length=LENGTH, width=WIDTH, name="multi"
    )


@pytest.mark.parametrize("openfiles", [8, 1])
def test_ome_planes_in_other_files_have_their_subifd_levels(
    tmp_path: Path, openfiles: int
) -> None:
    data = _planes(9, 3)
    for c in range(3):
        _write_pyramid(tmp_path / NAMES[c], data[c], _xml(c))
    root = tmp_path / NAMES[0]
    want = [tifffile.imread(root, series=0, level=level) for level in range(LEVELS)]
    np.testing.assert_array_equal(want[0], data)
    # the levels differ from file to file: a SubIFD read from the wrong file would show
    assert not np.array_equal(want[1][0], want[1][1])
    with TiffFile(root, _openfiles=openfiles) as tif:
        series = tif.series[0]
        assert len(series.levels) == LEVELS
        assert tif.files.opened == 0  # finding the levels opened no other file
        group = zarr.open_group(ZarrTiffStore(series, multiscales=True), mode="r")
        for level in range(LEVELS):
            assert group[str(level)].shape == want[level].shape
            np.testing.assert_array_equal(group[str(level)][:], want[level])
            np.testing.assert_array_equal(series.asarray(level=level), want[level])
        assert tif.files.open_count <= openfiles


def test_single_file_ome_subifd_levels_parse_only_the_keyframes(tmp_path: Path) -> None:
    path = tmp_path / "pyramid.ome.tif"
    data = _planes(2, 1)[0]
    with tifffile.TiffWriter(path) as tif:
        options = {"tile": (32, 32), "photometric": "minisblack"}
        tif.write(data, subifds=LEVELS - 1, metadata={"axes": "ZYX"}, **options)
        level = data
        for _ in range(LEVELS - 1):
            level = level[:, ::2, ::2].copy()
            tif.write(level, subfiletype=1, metadata=None, **options)
    with TiffFile(path) as tif:
        series = tif.series[0]
        assert series.kind == "ome"
        assert len(series.levels) == LEVELS
        # the second plane's SubIFDs are found when its chunks are read, not on opening
        assert set(tif._subifd_pages) == set(series.keyframe.subifds)
        for level in range(LEVELS):
            np.testing.assert_array_equal(
                series.asarray(level=level), tifffile.imread(path, series=0, level=level)
            )
