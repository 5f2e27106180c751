"""The napari reader with URLs: which it claims, the layers it makes, and in a viewer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from remote_server import PYRAMID_LEVELS, RangeServer

from napari_tiffzarr.plugin._reader import get_reader, read_tiff
from napari_tiffzarr.sources.remote import FsspecSource
from napari_tiffzarr.store import ZarrTiffStore


def test_get_reader_opens_a_served_pyramid_lazily(server: RangeServer, pyramid: Path) -> None:
    url = server.url("pyramid.tif")
    reader = get_reader(url)
    assert reader is read_tiff
    server.served.reset()
    [(data, options, kind)] = reader(url)
    assert kind == "image"
    assert options["rgb"]
    assert options["name"] == "pyramid"  # the file's name without extension, as napari names it
    assert len(data) == PYRAMID_LEVELS
    stores = [level.store for level in data]
    assert all(isinstance(store, ZarrTiffStore) for store in stores)
    assert isinstance(stores[0].series.keyframe.source, FsspecSource)
    # lazy: the metadata blocks and the coarsest level for contrast limits, not level 0
    level0_tiles = (2048 // 256) ** 2
    assert server.served.gets < level0_tiles
    with tifffile.TiffFile(pyramid) as ref:
        for level, array in enumerate(data):
            np.testing.assert_array_equal(
                array[:200, :300], ref.series[0].levels[level].asarray()[:200, :300]
            )


@pytest.mark.parametrize(
    "name", ["notes.txt", "pyramid.zarr", "pyramid"], ids=["text", "zarr", "no-suffix"]
)
def test_get_reader_declines_other_names_without_a_request(
    server: RangeServer, pyramid: Path, name: str
) -> None:
    assert get_reader(server.url(name)) is None
    assert server.served.requests == []


def test_get_reader_declines_junk_missing_and_unreachable_urls(
    server: RangeServer, http_root: Path
) -> None:
    (http_root / "junk.tif").write_bytes(b"<html>not found</html>")
    assert get_reader(server.url("junk.tif")) is None
    assert get_reader(server.url("missing.tif")) is None
    assert get_reader("http://127.0.0.1:1/unreachable.tif") is None
    server.served.fail_every = 1
    assert get_reader(server.url("junk.tif")) is None  # a 500 is "not ours", not a crash


def test_get_reader_accepts_query_strings(server: RangeServer, pyramid: Path) -> None:
    # presigned URLs carry their signature in the query; the name is the path's
    assert get_reader(server.url("pyramid.tif") + "?signature=abc") is read_tiff


@pytest.mark.viewer
def test_viewer_opens_a_url(make_napari_viewer, server: RangeServer, pyramid: Path) -> None:  # type: ignore[no-untyped-def]
    viewer = make_napari_viewer()
    layers = viewer.open(server.url("pyramid.tif"), plugin="napari-tiffzarr")
    assert len(layers) == 1
    layer = layers[0]
    assert layer.multiscale
    assert layer.rgb
    assert all(isinstance(level.store, ZarrTiffStore) for level in layer.data)
    np.testing.assert_array_equal(
        np.asarray(layer.data[-1]), tifffile.imread(pyramid, series=0, level=PYRAMID_LEVELS - 1)
    )


@pytest.mark.viewer
def test_file_menu_opens_a_url(make_napari_viewer, server: RangeServer, pyramid: Path) -> None:  # type: ignore[no-untyped-def]
    """napari has no Open from URL of its own: ours sits in File > IO Utilities."""
    from napari._app_model import get_app_model
    from napari.utils.notifications import notification_manager

    from napari_tiffzarr.plugin._open_url import open_url

    viewer = make_napari_viewer()
    menu = get_app_model().menus.get_menu("napari/file/io_utilities")
    assert "napari-tiffzarr.open_url" in {getattr(item, "command", item).id for item in menu}
    (layer,) = open_url(viewer, " " + server.url("pyramid.tif") + "\n")  # as pasted
    assert layer.multiscale
    assert all(isinstance(level.store, ZarrTiffStore) for level in layer.data)
    np.testing.assert_array_equal(
        np.asarray(layer.data[-1]), tifffile.imread(pyramid, series=0, level=PYRAMID_LEVELS - 1)
    )
    # a URL that is no TIFF is told in the viewer, not raised at the user
    before = len(notification_manager.records)
    assert open_url(viewer, server.url("missing.tif")) == []
    assert "missing.tif" in notification_manager.records[before].message
    assert len(viewer.layers) == 1
