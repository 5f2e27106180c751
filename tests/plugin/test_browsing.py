"""Browsing in a real viewer with prefetch on, under napari's sync and async slicing: a
slider moved frame by frame and a pan with no rest show exactly the file's pixels, and
the frames ahead of the slider are decoded before napari asks for them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tifffile

pytestmark = pytest.mark.viewer


@pytest.fixture(params=["sync", "async"])
def slicing(request: pytest.FixtureRequest) -> Iterator[str]:
    from napari.settings import get_settings

    settings = get_settings()
    before = settings.experimental.async_
    settings.experimental.async_ = request.param == "async"
    yield request.param
    settings.experimental.async_ = before


@pytest.fixture
def timelapse(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """30 frames of 512 x 512 uint16 in 128-pixel deflate tiles, each frame different."""
    data = np.random.default_rng(7).integers(0, 4000, (30, 512, 512), np.uint16)
    path = tmp_path / "timelapse.tif"
    tifffile.imwrite(path, data, tile=(128, 128), compression="zlib", metadata={"axes": "TYX"})
    return path, tifffile.imread(path)


def _shown(layer) -> np.ndarray:  # type: ignore[no-untyped-def]
    return np.asarray(layer._slice.image.raw)


def test_a_slider_stepped_without_rest_shows_each_frame(
    make_napari_viewer, qtbot, slicing: str, timelapse: tuple[Path, np.ndarray]
) -> None:  # type: ignore[no-untyped-def]
    path, expected = timelapse
    viewer = make_napari_viewer(show=True)
    (layer,) = viewer.open(str(path), plugin="napari-tiffzarr")
    store = layer.data.store
    assert store.readahead
    for frame in range(12):
        viewer.dims.set_current_step(0, frame)
        qtbot.waitUntil(
            lambda frame=frame: (
                _shown(layer).shape == expected[frame].shape
                and np.array_equal(_shown(layer), expected[frame])
            ),
            timeout=30000,
        )

    # the slider moved forward: the frames after the last one shown were read ahead
    def cached_frames() -> set[int]:
        return {key[0][2] for key in list(store.cache._entries)}

    qtbot.waitUntil(lambda: {12, 13} <= cached_frames(), timeout=30000)
    assert store.scheduler.prefetched > 0
    _settle(viewer, qtbot)


def test_a_pan_without_rest_shows_the_file_at_every_step(
    make_napari_viewer, qtbot, slicing: str, pyramid_path: Path
) -> None:  # type: ignore[no-untyped-def]
    with tifffile.TiffFile(pyramid_path) as tif:
        level0 = tif.series[0].levels[0].asarray()
    viewer = make_napari_viewer(show=True)
    (layer,) = viewer.open(str(pyramid_path), plugin="napari-tiffzarr")
    viewer.camera.zoom = 2.0  # level 0 is drawn

    def shows_the_file() -> bool:
        if layer.data_level != 0:
            return False
        shown = _shown(layer)
        y, x = (int(c) for c in layer.corner_pixels[0, :2])
        return shown.ndim == 3 and np.array_equal(
            shown, level0[y : y + shown.shape[0], x : x + shown.shape[1]]
        )

    for step in range(8):
        viewer.camera.center = (1024, 300 + 150 * step)
        qtbot.waitUntil(shows_the_file, timeout=30000)
    # the pan moved right: chunks ahead of it were decoded before napari asked
    store = layer.data[0].store
    assert store.readahead
    qtbot.waitUntil(lambda: store.scheduler.prefetched > 0, timeout=30000)
    _settle(viewer, qtbot)


def _settle(viewer, qtbot) -> None:  # type: ignore[no-untyped-def]
    """Let napari's slicing thread finish and its results reach the layers, so that the
    viewer closes with nothing of it in flight."""
    slicer = viewer._layer_slicer
    slicer.wait_until_idle(timeout=30)
    qtbot.waitUntil(lambda: not slicer._layers_to_task, timeout=30000)
    qtbot.wait(200)  # the last slice's results reach the layers through Qt's event loop
