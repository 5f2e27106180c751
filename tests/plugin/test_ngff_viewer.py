"""References exported in the NGFF layout, opened in a napari viewer by napari-ome-zarr:
its layers show the pixels tifffile reads, with the channel names, colours and scale."""

from __future__ import annotations

from pathlib import Path

import fsspec
import numpy as np
import pytest
import tifffile
import zarr

from napari_tiffzarr import TiffFile
from napari_tiffzarr.store import ZarrTiffStore
from ngff_files import write_multichannel_ome, write_rgb_pyramid, write_tzcyx

pytestmark = [
    pytest.mark.viewer,
    pytest.mark.filterwarnings("ignore::zarr.errors.ZarrUserWarning"),
]
napari_ome_zarr = pytest.importorskip("napari_ome_zarr._reader")


def _open_with_napari_ome_zarr(viewer, tmp_path: Path, name: str) -> list:  # type: ignore[no-untyped-def]
    refs = tmp_path / f"{name}.json"
    with TiffFile(tmp_path / name) as tif:
        ZarrTiffStore(tif.series[0], layout="ngff").write_fsspec(refs, tmp_path.as_uri())
    fs = fsspec.filesystem("reference", fo=str(refs), remote_protocol="file", asynchronous=True)
    reader = napari_ome_zarr.napari_get_reader(
        zarr.storage.FsspecStore(fs, read_only=True, path="")
    )
    assert reader is not None
    # as napari adds what a reader plugin returns: a channel axis becomes a layer each
    return [layer for data in reader(str(refs)) for layer in viewer._add_layer_from_data(*data)]


def _theirs(path: Path) -> list[np.ndarray]:
    with tifffile.TiffFile(path) as tif:
        return [level.asarray() for level in tif.series[0].levels]


def test_channels_named_coloured_and_scaled(make_napari_viewer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = write_multichannel_ome(tmp_path / "channels.ome.tif")
    viewer = make_napari_viewer()
    layers = _open_with_napari_ome_zarr(viewer, tmp_path, "channels.ome.tif")
    assert [layer.name.rsplit(": ", 1)[-1] for layer in layers] == ["DAPI", "GFP", "mCherry"]
    for layer, channel, colour in zip(layers, data, ("blue", "green", "red"), strict=True):
        np.testing.assert_array_equal(np.asarray(layer.data), channel)
        assert layer.colormap.name == colour
        np.testing.assert_allclose(layer.scale, [0.5, 0.25])
        assert [str(u) for u in layer.units] == ["micrometer", "micrometer"]


def test_rgb_pyramid_as_three_multiscale_channels(make_napari_viewer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    write_rgb_pyramid(tmp_path / "rgb.tif")
    theirs = _theirs(tmp_path / "rgb.tif")
    viewer = make_napari_viewer()
    layers = _open_with_napari_ome_zarr(viewer, tmp_path, "rgb.tif")
    assert len(layers) == 3
    for sample, layer in enumerate(layers):
        assert layer.multiscale
        for level, expected in zip(layer.data, theirs, strict=True):
            np.testing.assert_array_equal(np.asarray(level), expected[..., sample])


def test_tzcyx_stack_with_time_and_z_sliders(make_napari_viewer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = write_tzcyx(tmp_path / "tzcyx.tif")
    viewer = make_napari_viewer()
    layers = _open_with_napari_ome_zarr(viewer, tmp_path, "tzcyx.tif")
    assert len(layers) == data.shape[2]  # one layer per channel
    for channel, layer in enumerate(layers):
        np.testing.assert_array_equal(np.asarray(layer.data), data[:, :, channel])
        assert layer.axis_labels == ("t", "z", "y", "x")
        np.testing.assert_allclose(layer.scale, [2.0, 1.5, 0.25, 0.25])
    assert viewer.dims.nsteps[:2] == (2, 3)
