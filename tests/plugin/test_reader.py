"""The reader: which paths it takes, and the layers it makes, without a viewer."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

from napari_tiffzarr.plugin import _reader
from napari_tiffzarr.plugin._layers import LayerSource, layer_data
from napari_tiffzarr.plugin._reader import VIEWER_CHUNKSHAPE, get_reader, open_layers
from napari_tiffzarr.store import ZarrTiffStore


@pytest.mark.parametrize(
    "content",
    [b"", b"hello, not a tiff", os.urandom(4096), b"II*\x00"[:3], b"MM\x00+"[:2]],
    ids=["empty", "text", "random", "short-ii", "short-mm"],
)
def test_get_reader_declines_junk(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "junk.tif"
    path.write_bytes(content)
    assert get_reader(str(path)) is None


def test_get_reader_declines_folders_without_tiffs_and_missing_files(tmp_path: Path) -> None:
    assert get_reader(str(tmp_path)) is None
    assert get_reader(str(tmp_path / "missing.tif")) is None
    assert get_reader([str(tmp_path / "a.tif"), str(tmp_path / "b.tif")]) is None


def test_get_reader_takes_tiff_by_content(tmp_path: Path) -> None:
    path = tmp_path / "named-otherwise.dat"
    tifffile.imwrite(path, np.zeros((8, 8), np.uint8))
    assert get_reader(str(path)) is not None
    assert get_reader([str(path)]) is not None


def test_pyramid_layer_is_multiscale_over_our_store(pyramid_path: Path) -> None:
    ((data, kwargs, kind),) = open_layers(str(pyramid_path))
    assert kind == "image"
    assert kwargs["multiscale"] is True
    assert kwargs["rgb"] is True
    with tifffile.TiffFile(pyramid_path) as tif:
        series = tif.series[0]
        assert [array.shape for array in data] == [level.shape for level in series.levels]
        for array in data:
            assert isinstance(array, zarr.Array)
            assert isinstance(array.store, ZarrTiffStore)
        np.testing.assert_array_equal(data[2][:], series.levels[2].asarray())
    assert kwargs["metadata"]["tiffzarr"] == {
        "cachesize": None,
        "path": str(pyramid_path),
        "series": 0,
        "level": None,
        "chunkmode": 0,
        "fillvalue": None,
    }


def test_opening_decodes_only_the_coarsest_level(gray_pyramid_path: Path, decode_counter) -> None:  # type: ignore[no-untyped-def]
    """Contrast limits come from the coarsest level: its four tiles (256 x 256 in 128-pixel
    tiles), one zarr chunk for the viewer (chunks of at least 512 pixels, never more tiles
    than the level has), are decoded once, and no tile of any other level: read-ahead
    starts with napari's first view, not with opening."""
    ((data, kwargs, _),) = open_layers(str(gray_pyramid_path))
    assert data[3].chunks == (256, 256)
    assert decode_counter == {3: 1}
    with tifffile.TiffFile(gray_pyramid_path) as tif:
        coarsest = tif.series[0].levels[3].asarray()
    assert kwargs["contrast_limits"] == [float(coarsest.min()), float(coarsest.max())]


def test_opening_an_rgb_pyramid_decodes_nothing(pyramid_path: Path, decode_counter) -> None:  # type: ignore[no-untyped-def]
    """8-bit RGB needs no contrast limits: opening reads metadata only."""
    ((_, kwargs, _),) = open_layers(str(pyramid_path))
    assert kwargs["rgb"] is True
    assert "contrast_limits" not in kwargs
    assert not decode_counter


def test_hyperstack_channels_scale_and_units(stack_path: Path) -> None:
    ((data, kwargs, _),) = open_layers(str(stack_path))
    assert kwargs["channel_axis"] == 1
    assert kwargs["scale"] == pytest.approx([2.0, 0.25, 0.25])
    assert kwargs["units"] == ["micrometer"] * 3
    assert kwargs["axis_labels"] == ["z", "y", "x"]
    expected = tifffile.imread(stack_path)
    # contrast of the plane napari shows first, the middle z: opening reads no other plane
    middle = expected[(len(expected) - 1) // 2]
    limits = [[float(middle[c].min()), float(middle[c].max())] for c in range(3)]
    assert kwargs["contrast_limits"] == limits
    np.testing.assert_array_equal(data[:], expected)


def test_single_level_layer(pyramid_path: Path) -> None:
    ((data, kwargs, _),) = open_layers(str(pyramid_path), level=1, chunkmode=2, fillvalue=5)
    assert kwargs["multiscale"] is False
    with tifffile.TiffFile(pyramid_path) as tif:
        np.testing.assert_array_equal(data[:], tif.series[0].levels[1].asarray())
    assert data.chunks == data.shape  # whole pages
    assert kwargs["metadata"]["tiffzarr"]["fillvalue"] == 5


def test_a_layer_of_one_level_is_read_in_whole_planes(
    tmp_path: Path, pyramid_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """napari reads the whole plane of a layer of one level at every step: a time-lapse's
    frame, one level picked of a pyramid.  Its chunks are whole planes (decoded tile rows
    on every core, one chunk a step); a pyramid's levels keep chunks of a few tiles, and
    so does a plane too big to be read ahead whole."""
    path = tmp_path / "timelapse.tif"
    frames = np.random.default_rng(1).integers(0, 4000, (6, 300, 700), dtype=np.uint16)
    tifffile.imwrite(path, frames, tile=(128, 128), compression="zlib", metadata={"axes": "TYX"})
    ((data, _, _),) = open_layers(str(path))
    assert data.chunks == (1, 384, 768)  # whole tiles: 3 x 6 of 128, all the frame's
    np.testing.assert_array_equal(data[2], frames[2])
    np.testing.assert_array_equal(data[:, 100:200, 650:], frames[:, 100:200, 650:])
    ((data, _, _),) = open_layers(str(pyramid_path), level=2)
    with tifffile.TiffFile(pyramid_path) as tif:
        level = tif.series[0].levels[2]
        assert data.nchunks == 1
        np.testing.assert_array_equal(data[:], level.asarray())
    ((levels, _, _),) = open_layers(str(pyramid_path))
    assert levels[0].chunks[:2] == (VIEWER_CHUNKSHAPE, VIEWER_CHUNKSHAPE)
    monkeypatch.setattr(_reader, "WHOLE_PLANE_BYTES", 300 * 700 * 2 - 1)
    ((data, _, _),) = open_layers(str(path))
    assert data.chunks == (1, 384, 512)  # 512 pixels, or all the tiles a frame has
    np.testing.assert_array_equal(data[:], frames)


def test_layer_data_names_channels_by_axis_without_names() -> None:
    arrays = [np.zeros((4, 10, 12), np.uint8)]
    source = LayerSource("/x/file.tif", 0, None, 0, None)
    ((_, kwargs, _),) = layer_data(arrays, axes="CYX", source=source)
    assert kwargs["name"] == [f"file [C{i}]" for i in range(4)]
    assert kwargs["contrast_limits"] == [[0.0, 1.0]] * 4
    many = [np.zeros((40, 10, 12), np.uint8)]
    ((_, kwargs, _),) = layer_data(many, axes="CYX", source=source)
    assert "channel_axis" not in kwargs  # too many channels: a slider, not 40 layers


def test_a_frame_napari_steps_to_is_the_decoded_chunk_itself(tmp_path: Path) -> None:
    """napari reads a whole frame of a layer of one level at every step of a slider: the
    frame it gets is the chunk in the cache, read-only, not a copy of it each step."""
    path = tmp_path / "timelapse.tif"
    frames = np.random.default_rng(2).integers(0, 4000, (5, 200, 300), dtype=np.uint16)
    tifffile.imwrite(path, frames, tile=(64, 64), compression="zlib", metadata={"axes": "TYX"})
    ((data, _, _),) = open_layers(str(path))
    first, again = data[3], data[3]
    np.testing.assert_array_equal(first, frames[3])
    assert np.shares_memory(first, again)
    assert not first.flags.writeable
    boxed = data[1:3, 50:150, 100:250]  # what a user's own slicing asks: a new array
    np.testing.assert_array_equal(boxed, frames[1:3, 50:150, 100:250])
    assert boxed.flags.writeable
