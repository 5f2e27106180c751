"""Multi-file OME-TIFF datasets: planes in other files read as tifffile reads them."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

from napari_tiffzarr import TiffFile
from napari_tiffzarr.store import ZarrTiffStore
from ome_xml import channel_files_xml

NAMES = ["cells_c0.ome.tif", "cells_c1.ome.tif", "cells_c2.ome.tif"]
UUIDS = [f"urn:uuid:0000000{c}-1111-2222-3333-444444444444" for c in range(3)]


def _xml(own: int) -> str:
    """The dataset's OME-XML as the file of channel own holds it: 3 channels of 2 planes,
    each channel in its own file."""
    return channel_files_xml(NAMES, UUIDS, own, planes=2, length=16, width=20, name="cells")


@pytest.fixture
def dataset(tmp_path: Path) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(7)
    data = rng.integers(1, 60000, (3, 2, 16, 20), np.uint16)
    for c in range(3):
        tifffile.imwrite(
            tmp_path / NAMES[c], data[c], description=_xml(c), metadata=None, tile=(16, 16)
        )
    return tmp_path / NAMES[0], data


@pytest.mark.parametrize("openfiles", [8, 1])
def test_planes_in_other_files_read_as_tifffile(
    dataset: tuple[Path, np.ndarray], openfiles: int
) -> None:
    path, data = dataset
    want = tifffile.imread(path)
    np.testing.assert_array_equal(want, data)  # the oracle reads all three files
    with TiffFile(path, _openfiles=openfiles) as tif:
        series = tif.series[0]
        assert series.shape == want.shape
        assert series.missing_files == []
        assert tif.files.opened == 0  # opening the series opened no other file
        np.testing.assert_array_equal(series.asarray(), want)
        assert tif.files.open_count <= openfiles
    with TiffFile(path, _openfiles=openfiles) as tif:
        store = ZarrTiffStore(tif.series[0], chunkmode=0)
        array = zarr.open_array(store, mode="r")
        np.testing.assert_array_equal(array[:], want)
        np.testing.assert_array_equal(array[2, 1, 3:9, 5:19], want[2, 1, 3:9, 5:19])
        assert tif.files.open_count <= openfiles
        if openfiles == 1:
            assert tif.files.opened >= 2  # two other files, one open at a time: reopened


def test_any_file_of_the_dataset_opens_it_whole(dataset: tuple[Path, np.ndarray]) -> None:
    path, data = dataset
    with TiffFile(path.with_name(NAMES[1])) as tif:
        np.testing.assert_array_equal(tif.series[0].asarray(), data)


def test_store_of_a_dataset_pickles(dataset: tuple[Path, np.ndarray]) -> None:
    path, data = dataset
    with TiffFile(path, _openfiles=1) as tif:
        store = ZarrTiffStore(tif.series[0])
        copy = pickle.loads(pickle.dumps(store))
    np.testing.assert_array_equal(zarr.open_array(copy, mode="r")[:], data)
    copy.close()


def test_missing_file_is_reported_once_and_reads_as_fill(
    dataset: tuple[Path, np.ndarray], caplog: pytest.LogCaptureFixture
) -> None:
    path, data = dataset
    path.with_name(NAMES[2]).unlink()
    with caplog.at_level(logging.WARNING, logger="napari_tiffzarr"), TiffFile(path) as tif:
        series = tif.series[0]
        assert series.missing_files == [NAMES[2]]
        whole = series.asarray()
        through_zarr = zarr.open_array(ZarrTiffStore(series), mode="r")[:]
    named = [r for r in caplog.records if NAMES[2] in r.getMessage()]
    assert len(named) == 1
    for got in (whole, through_zarr):
        np.testing.assert_array_equal(got[:2], data[:2])
        assert not got[2].any()


@pytest.mark.parametrize("version", [0, 1])
def test_references_point_each_chunk_at_its_file(
    dataset: tuple[Path, np.ndarray], tmp_path: Path, version: int
) -> None:
    import json

    import fsspec

    from napari_tiffzarr.references import register_codecs

    register_codecs()
    path, data = dataset
    out = tmp_path / "refs.json"
    with TiffFile(path, _openfiles=1) as tif:
        ZarrTiffStore(tif.series[0], chunkmode=0).write_fsspec(
            out, path.parent.as_uri() + "/", version=version
        )
    refs = json.loads(out.read_text())
    chunks = refs["refs"] if version == 1 else refs
    urls = {v[0] for k, v in chunks.items() if isinstance(v, list)}
    base = "{{u}}" if version == 1 else path.parent.as_uri() + "/"
    assert urls == {base + name for name in NAMES}
    fs = fsspec.filesystem("reference", fo=str(out), remote_protocol="file", asynchronous=True)
    store = zarr.storage.FsspecStore(fs, read_only=True, path="")
    np.testing.assert_array_equal(zarr.open_array(store, mode="r")[:], data)
