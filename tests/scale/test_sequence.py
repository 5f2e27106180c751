"""Folders and file sequences read as one lazy stack, compared with tifffile."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

from napari_tiffzarr import TiffFileError
from napari_tiffzarr.store import ZarrTiffStore
from napari_tiffzarr.tiff.sequence import TiffSequence, open_tiff, parse_names


@pytest.mark.parametrize(
    ("names", "shape", "axes"),
    [
        ([f"frame_{i:03d}.tif" for i in range(5)], (5,), "T"),
        ([f"{i}.tif" for i in (1, 2, 10)], (3,), "I"),
        ([f"img_t{t:03d}_c{c:02d}.tif" for t in range(3) for c in range(2)], (3, 2), "TC"),
        ([f"s{s}_z{z:04d}.tif" for s in (1, 2) for z in range(4)], (2, 4), "PZ"),
        (["a_1.tif", "b_x.tif"], (2,), "I"),  # names of no common pattern
        ([f"run7_t{t}.tif" for t in range(4)], (4,), "T"),  # a constant number is no axis
    ],
)
def test_axes_from_names(names: list[str], shape: tuple[int, ...], axes: str) -> None:
    got_shape, got_axes, indices = parse_names(names)
    assert (got_shape, got_axes) == (shape, axes)
    assert sorted(indices) == list(range(len(names)))


def _frames(folder: Path, count: int, shape: tuple[int, ...] = (24, 32)) -> list[Path]:
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(count)
    files = []
    for i in range(count):
        path = folder / f"frame_{i:04d}.tif"
        tifffile.imwrite(path, rng.integers(0, 60000, shape, np.uint16), metadata=None)
        files.append(path)
    return files


def test_folder_reads_as_tifffile(tmp_path: Path) -> None:
    files = _frames(tmp_path / "frames", 24)
    want = tifffile.imread(sorted(files))
    with TiffSequence(tmp_path / "frames") as seq:
        series = seq.series[0]
        assert (series.shape, series.axes) == (want.shape, "TYX")
        np.testing.assert_array_equal(series.asarray(), want)
        array = zarr.open_array(ZarrTiffStore(series), mode="r")
        np.testing.assert_array_equal(array[:], want)
        np.testing.assert_array_equal(array[3:20:4, 5:9], want[3:20:4, 5:9])


def test_two_axes_from_names_read_as_tifffile(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    data = rng.integers(0, 255, (3, 2, 4, 16, 16), np.uint8)  # t, c, pages z, y, x
    for t in range(3):
        for c in range(2):
            tifffile.imwrite(tmp_path / f"img_t{t + 1:03d}_c{c:02d}.ome.tif", data[t, c])
    with open_tiff(str(tmp_path / "img_t*_c*.ome.tif")) as seq:
        assert isinstance(seq, TiffSequence)
        series = seq.series[0]
        assert series.shape == data.shape
        assert series.axes.startswith("TC")
        got = zarr.open_array(ZarrTiffStore(series), mode="r")[:]
    np.testing.assert_array_equal(got, data)
    files = sorted(tmp_path.glob("img_t*_c*.ome.tif"))
    np.testing.assert_array_equal(got.reshape(-1, 4, 16, 16), tifffile.imread(files))


def test_a_thousand_files_open_parsing_one(tmp_path: Path) -> None:
    files = _frames(tmp_path / "many", 2000, (8, 8))
    with TiffSequence(tmp_path / "many", _openfiles=4) as seq:
        series = seq.series[0]
        array = zarr.open_array(ZarrTiffStore(series), mode="r")
        assert array.shape == (2000, 8, 8)
        assert seq.pool.opened == 1  # the first file only: its IFDs give everything
        np.testing.assert_array_equal(array[1234], tifffile.imread(files[1234]))
        np.testing.assert_array_equal(array[7:10], tifffile.imread(files[7:10]))
        assert seq.pool.opened == 5  # and the files in view
        assert seq.pool.open_count <= 4


def test_unlike_file_is_named(tmp_path: Path) -> None:
    files = _frames(tmp_path / "mixed", 6)
    tifffile.imwrite(files[4], np.zeros((24, 33), np.uint16), metadata=None)
    tifffile.imwrite(files[2], np.zeros((24, 32), np.uint16), compression="zlib")
    with TiffSequence(tmp_path / "mixed") as seq:
        series = seq.series[0]
        with pytest.raises(TiffFileError, match=r"frame_0002\.tif.*differs from frame_0000"):
            series.asarray()
        array = zarr.open_array(ZarrTiffStore(series), mode="r")
        with pytest.raises(TiffFileError, match=r"frame_0004\.tif: \(24, 33\)"):
            array[4]
        np.testing.assert_array_equal(array[5], tifffile.imread(files[5]))


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TiffFileError, match="no TIFF files"):
        TiffSequence(tmp_path)


def test_sequence_store_pickles_and_references_every_file(tmp_path: Path) -> None:
    from napari_tiffzarr.plugin._layers import LayerSource
    from napari_tiffzarr.plugin._writer import write_layer_references

    files = _frames(tmp_path / "frames", 5)
    want = tifffile.imread(sorted(files))
    with TiffSequence(tmp_path / "frames") as seq:
        store = ZarrTiffStore(seq.series[0])
        copy = pickle.loads(pickle.dumps(store))
    np.testing.assert_array_equal(zarr.open_array(copy, mode="r")[:], want)
    copy.close()

    out = tmp_path / "refs.json"
    source = LayerSource(str(tmp_path / "frames"), series=0, level=None, chunkmode=0)
    write_layer_references(str(out), source, version=0, zarr_format=3)
    refs = json.loads(out.read_text())
    urls = {value[0] for value in refs.values() if isinstance(value, list)}
    assert urls == {(tmp_path / "frames").as_uri() + "/" + path.name for path in files}
    import fsspec

    from napari_tiffzarr.references import register_codecs

    register_codecs()
    fs = fsspec.filesystem("reference", fo=str(out), remote_protocol="file", asynchronous=True)
    group = zarr.open_group(zarr.storage.FsspecStore(fs, read_only=True, path=""), mode="r")
    np.testing.assert_array_equal(group["0"][:], want)


@pytest.mark.parametrize("chunkmode", [0, 2])
def test_tiled_files_chunk_by_tile_or_by_page(tmp_path: Path, chunkmode: int) -> None:
    rng = np.random.default_rng(9)
    data = rng.integers(0, 255, (7, 40, 56), np.uint8)
    for i, frame in enumerate(data):
        tifffile.imwrite(tmp_path / f"z{i:02d}.tif", frame, tile=(16, 16), compression="zlib")
    with TiffSequence(tmp_path) as seq:
        array = zarr.open_array(ZarrTiffStore(seq.series[0], chunkmode=chunkmode), mode="r")
        assert array.chunks == ((1, 16, 16) if chunkmode == 0 else (1, 40, 56))
        np.testing.assert_array_equal(array[:], tifffile.imread(sorted(tmp_path.glob("*.tif"))))
        np.testing.assert_array_equal(array[3, 17:33, 5:50], data[3, 17:33, 5:50])
