"""The plugin in a real napari viewer: reader, widget, sample data, what users see."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_tiffzarr.plugin._form import ALL_LEVELS
from napari_tiffzarr.plugin._widget import WIDGET_NAME, TiffZarrWidget
from napari_tiffzarr.store import ZarrTiffStore

pytestmark = pytest.mark.viewer


def test_open_pyramid_in_viewer(make_napari_viewer, pyramid_path: Path, decode_counter) -> None:  # type: ignore[no-untyped-def]
    viewer = make_napari_viewer()
    layers = viewer.open(str(pyramid_path), plugin="napari-tiffzarr")
    assert len(layers) == 1
    layer = layers[0]
    assert layer.multiscale
    assert layer.rgb
    assert all(isinstance(level.store, ZarrTiffStore) for level in layer.data)
    # no level-0 tile read to open it; read-ahead may decode the finer level under the
    # first view (level 1 whole): level 0 at most, 4 x 4 chunks of 512
    assert decode_counter[0] == decode_counter.ahead[0], "opening must not read level 0"
    assert decode_counter.ahead[0] <= 16


def test_screenshot_is_not_blank(make_napari_viewer, pyramid_path: Path) -> None:  # type: ignore[no-untyped-def]
    viewer = make_napari_viewer(show=True)
    viewer.open(str(pyramid_path), plugin="napari-tiffzarr")
    shot = viewer.screenshot(canvas_only=True, flash=False)
    pixels = shot[..., :3].reshape(-1, 3)
    # the gradient shows many colours; a blank canvas shows one
    assert len(np.unique(pixels, axis=0)) > 100
    assert pixels.std() > 20


def _widget_for(viewer, qtbot) -> TiffZarrWidget:  # type: ignore[no-untyped-def]
    _, widget = viewer.window.add_plugin_dock_widget("napari-tiffzarr", WIDGET_NAME)
    assert isinstance(widget, TiffZarrWidget)
    return widget


def test_widget_changes_level_chunkmode_and_fill(
    make_napari_viewer, qtbot, pyramid_path: Path
) -> None:  # type: ignore[no-untyped-def]
    viewer = make_napari_viewer()
    viewer.open(str(pyramid_path), plugin="napari-tiffzarr")
    widget = _widget_for(viewer, qtbot)
    assert widget.form.series.value == 0
    assert widget.form.level.value == ALL_LEVELS
    # one line per level, what the levels share (the compression) said once
    lines = widget.info.value.splitlines()
    assert [line for line in lines if line.startswith("  ")] == [
        f"  {i}: {n} \u00d7 {n} \u00d7 3, tiles 256 \u00d7 256"
        for i, n in enumerate([2048, 1024, 512, 256])
    ]
    assert "ADOBE_DEFLATE" in lines[2] or "DEFLATE" in lines[2]

    widget.form.level.value = "1: 1024 \u00d7 1024 \u00d7 3"
    widget.form.chunkmode.value = "whole pages"
    widget.form.fillvalue.value = "7"
    assert widget.reopen() is not None  # the worker; its end shows in the status line
    qtbot.waitUntil(lambda: widget.status.value.startswith("reopened"), timeout=20000)

    assert len(viewer.layers) == 1
    layer = viewer.layers[0]
    assert not layer.multiscale
    assert layer.metadata["tiffzarr"] == {
        "path": str(pyramid_path),
        "series": 0,
        "level": 1,
        "chunkmode": 2,
        "fillvalue": 7,
        "cachesize": 256 << 20,  # the widget's default, in bytes
    }
    assert layer.data.chunks == layer.data.shape
    assert layer.data.fill_value == 7
    with tifffile.TiffFile(pyramid_path) as tif:
        np.testing.assert_array_equal(layer.data[:], tif.series[0].levels[1].asarray())


def test_widget_rejects_a_fill_value_that_is_not_a_number(
    make_napari_viewer, qtbot, pyramid_path: Path
) -> None:  # type: ignore[no-untyped-def]
    viewer = make_napari_viewer()
    viewer.open(str(pyramid_path), plugin="napari-tiffzarr")
    widget = _widget_for(viewer, qtbot)
    widget.form.fillvalue.value = "lots"
    assert widget.reopen() is None
    assert "not a number" in widget.status.value
    assert viewer.layers[0].multiscale  # unchanged


def test_widget_closes_a_file_when_its_last_layer_goes(
    make_napari_viewer, qtbot, pyramid_path: Path
) -> None:  # type: ignore[no-untyped-def]
    viewer = make_napari_viewer()
    viewer.open(str(pyramid_path), plugin="napari-tiffzarr")
    widget = _widget_for(viewer, qtbot)
    (tif,) = widget._files.values()
    assert not tif.closed  # the widget reads the file's series and levels from it
    viewer.layers.clear()
    assert tif.closed
    assert widget._files == {}


def test_sample_data_opens_a_pyramid(make_napari_viewer) -> None:  # type: ignore[no-untyped-def]
    viewer = make_napari_viewer()
    viewer.open_sample("napari-tiffzarr", "slide")
    layer = viewer.layers[0]
    assert layer.multiscale
    assert layer.data[0].shape == (4096, 4096, 3)
    assert len(layer.data) == 5


def test_corrupt_tile_shows_fill_and_warns_once(make_napari_viewer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Browsing past a corrupt tile: fill value and one warning, not an error per frame;
    the library still raises by default."""
    import warnings

    import zarr

    from napari_tiffzarr import TiffFile, TiffFileError
    from napari_tiffzarr.store import TiffChunkWarning

    path = tmp_path / "corrupt.tif"
    data = np.full((64, 64), 200, np.uint8)
    tifffile.imwrite(path, data, tile=(16, 16), compression="zlib", metadata=None)
    with tifffile.TiffFile(path) as tif:
        offset = int(tif.pages[0].dataoffsets[5])
    raw = bytearray(path.read_bytes())
    raw[offset : offset + 8] = b"\xff" * 8  # tile 5 no longer inflates
    path.write_bytes(bytes(raw))

    with TiffFile(path) as tif, pytest.raises(TiffFileError, match="segment 5"):
        zarr.open_array(ZarrTiffStore(tif.series[0]), mode="r")[...]

    viewer = make_napari_viewer()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        (layer,) = viewer.open(str(path), plugin="napari-tiffzarr")
        first = np.asarray(layer.data[...])
        second = np.asarray(layer.data[...])
    assert (first[16:32, 16:32] == 0).all()  # the fill value where tile 5 was
    assert (first[:16] == 200).all()
    np.testing.assert_array_equal(first, second)
    assert sum(issubclass(w.category, TiffChunkWarning) for w in caught) == 1
    assert layer.data.store.errors == 1  # one chunk, decoded once, remembered


def test_huge_pyramid_decodes_level_0_only_where_in_view(
    make_napari_viewer, qtbot, huge_pyramid_path: Path, decode_counter
) -> None:  # type: ignore[no-untyped-def]
    """100,000 x 100,000: opening and drawing the whole slide reads a coarse level only;
    zooming in reads the level-0 tiles in view, not the 152,881 of the level."""
    viewer = make_napari_viewer(show=True)
    (layer,) = viewer.open(str(huge_pyramid_path), plugin="napari-tiffzarr")
    assert [array.shape[0] for array in layer.data][:2] == [100_000, 50_000]
    qtbot.waitUntil(lambda: decode_counter[layer.data_level] > 0, timeout=20000)
    qtbot.wait(300)  # further draws, if any, settle
    assert layer.data_level >= 5
    assert decode_counter[0] == 0

    viewer.camera.center = (50_000, 50_000)
    viewer.camera.zoom = 1.0  # one screen pixel per level-0 pixel
    qtbot.waitUntil(lambda: layer.data_level == 0 and decode_counter[0] > 0, timeout=20000)
    qtbot.wait(300)
    width, height = viewer.canvas.size
    in_view = (width // 256 + 3) * (height // 256 + 3)  # napari rounds out to whole chunks
    assert 0 < decode_counter[0] - decode_counter.ahead[0] <= in_view
    # read-ahead after the jump: the chunks around the view, not the level
    assert decode_counter.ahead[0] <= in_view
    np.testing.assert_array_equal(np.asarray(layer._slice.image.view)[:8, :8], 160)


def test_viewer_declines_junk_with_our_reader(make_napari_viewer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    viewer = make_napari_viewer()
    junk = tmp_path / "junk.tif"
    junk.write_bytes(b"this is not a TIFF at all")
    with pytest.raises(ValueError, match="napari-tiffzarr"):
        viewer.open(str(junk), plugin="napari-tiffzarr")
    assert len(viewer.layers) == 0


def test_channel_layers_stay_lazy_and_read_the_plane_shown(
    make_napari_viewer, stack_path: Path, decode_counter
) -> None:  # type: ignore[no-untyped-def]
    """napari splits channels of what it knows as zarr arrays lazily (through dask): the
    viewer's arrays stay zarr's, so opening decodes the planes of the z shown, no more."""
    viewer = make_napari_viewer()
    layers = viewer.open(str(stack_path), plugin="napari-tiffzarr")
    assert len(layers) == 3
    expected = tifffile.imread(stack_path)
    middle = (len(expected) - 1) // 2
    for channel, layer in enumerate(layers):
        assert type(layer.data).__module__.startswith("dask"), type(layer.data)
        np.testing.assert_array_equal(
            np.asarray(layer._slice.image.view), expected[middle, channel]
        )
    assert decode_counter == {0: 3}  # one whole-plane chunk per channel of that z


def test_reopening_a_channel_layer_replaces_all_its_channels(
    make_napari_viewer, qtbot, stack_path: Path
) -> None:  # type: ignore[no-untyped-def]
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((4, 4), np.uint8), name="other")
    layers = viewer.open(str(stack_path), plugin="napari-tiffzarr")
    assert len(layers) == 3  # one per channel
    widget = _widget_for(viewer, qtbot)
    widget.form.layer.value = layers[1]
    widget.form.fillvalue.value = "3"
    assert widget.reopen() is not None
    qtbot.waitUntil(lambda: widget.status.value.startswith("reopened"), timeout=20000)
    assert viewer.layers[0].name == "other"
    reopened = list(viewer.layers)[1:]
    assert len(reopened) == 3
    assert all(layer.metadata["tiffzarr"]["fillvalue"] == 3 for layer in reopened)
    assert not any(layer in viewer.layers for layer in layers)


def test_widget_reports_a_failed_reopen_and_keeps_the_layer(
    make_napari_viewer, qtbot, pyramid_path: Path
) -> None:  # type: ignore[no-untyped-def]
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(pyramid_path), plugin="napari-tiffzarr")
    widget = _widget_for(viewer, qtbot)
    pyramid_path.unlink()
    assert widget.reopen() is not None
    qtbot.waitUntil(lambda: widget.status.value.startswith("cannot reopen"), timeout=20000)
    assert "cannot reopen pyramid.ome.tif" in widget.status.value
    assert list(viewer.layers) == [layer]


def test_panning_with_async_slicing_shows_the_files_pixels(
    make_napari_viewer, qtbot, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """napari's async slicing (NAPARI_ASYNC=1) reads from its own threads while read-ahead
    fills the cache from ours: every view drawn while panning there and back holds the
    file's pixels where napari says they are."""
    from napari.settings import get_settings

    rng = np.random.default_rng(11)
    data = rng.integers(0, 255, (2048, 2048, 3), dtype=np.uint8)
    path = tmp_path / "noise.tif"
    with tifffile.TiffWriter(path) as tif:
        options = {"tile": (128, 128), "compression": "zlib", "photometric": "rgb"}
        tif.write(data, subifds=1, metadata=None, **options)
        tif.write(data[::2, ::2].copy(), subfiletype=1, metadata=None, **options)
    settings = get_settings()
    was = settings.experimental.async_
    settings.experimental.async_ = True
    try:
        viewer = make_napari_viewer(show=True)
        (layer,) = viewer.open(str(path), plugin="napari-tiffzarr")
        viewer.camera.zoom = 1.0
        for x in (600, 900, 1200, 1500, 1200, 900, 600):
            viewer.camera.center = (1000, x)

            def shows_it(x: int = x) -> bool:
                if layer.data_level != 0 or not layer.loaded:
                    return False
                left = layer._transforms["tile2data"].translate[1]
                width = np.asarray(layer._slice.image.raw).shape[1]
                return bool(left <= x - 100 and x + 100 <= left + width)

            qtbot.waitUntil(shows_it, timeout=20000)
            top, left = (int(v) for v in layer._transforms["tile2data"].translate[:2])
            raw = np.asarray(layer._slice.image.raw)
            height, width = raw.shape[:2]
            assert height > 0
            assert width > 0
            np.testing.assert_array_equal(raw, data[top : top + height, left : left + width])
    finally:
        settings.experimental.async_ = was
