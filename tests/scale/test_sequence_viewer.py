"""A folder of TIFF frames dragged into napari: one lazy stack, exported as one JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

from napari_tiffzarr.plugin._reader import get_reader
from napari_tiffzarr.plugin._widget import WIDGET_NAME, TiffZarrWidget
from napari_tiffzarr.store import ZarrTiffStore

pytestmark = pytest.mark.viewer


@pytest.fixture
def frames(tmp_path: Path) -> Path:
    folder = tmp_path / "timelapse"
    folder.mkdir()
    rng = np.random.default_rng(24)
    for t in range(24):
        frame = rng.integers(0, 4000, (40, 48), np.uint16)
        tifffile.imwrite(folder / f"cells_t{t + 1:03d}.tif", frame, metadata=None)
    return folder


def test_folder_opens_as_one_lazy_stack(make_napari_viewer, frames: Path) -> None:  # type: ignore[no-untyped-def]
    assert get_reader(str(frames)) is not None
    viewer = make_napari_viewer()
    layers = viewer.open(str(frames), plugin="napari-tiffzarr")
    assert len(layers) == 1
    data = layers[0].data
    assert isinstance(data, zarr.Array)
    assert isinstance(data.store, ZarrTiffStore)
    want = tifffile.imread(sorted(frames.glob("*.tif")))
    assert data.shape == want.shape
    assert viewer.dims.axis_labels[0] == "t"  # time, from the names t001...
    np.testing.assert_array_equal(data[:], want)


def test_widget_exports_the_sequence_as_one_json(
    make_napari_viewer, qtbot, frames: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    import fsspec

    from napari_tiffzarr.references import register_codecs

    viewer = make_napari_viewer()
    viewer.open(str(frames), plugin="napari-tiffzarr")
    _, widget = viewer.window.add_plugin_dock_widget("napari-tiffzarr", WIDGET_NAME)
    assert isinstance(widget, TiffZarrWidget)
    assert "24 files" in widget.info.value
    widget.exporting.zarr_format.value = "3"
    target = tmp_path / "timelapse.json"
    widget.export_references(str(target))
    qtbot.waitUntil(lambda: widget.status.value == f"wrote {target}", timeout=20000)
    document = json.loads(target.read_text())
    refs = document.get("refs", document)
    files = {value[0].rsplit("/", 1)[-1] for value in refs.values() if isinstance(value, list)}
    assert len(files) == 24
    register_codecs()
    fs = fsspec.filesystem("reference", fo=str(target), remote_protocol="file")
    group = zarr.open(fs.get_mapper(""), mode="r", zarr_format=3)
    want = tifffile.imread(sorted(frames.glob("*.tif")))
    np.testing.assert_array_equal(group["0"][:], want)


def test_two_thousand_files_open_reading_the_one_in_view(
    make_napari_viewer, qtbot, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "many"
    folder.mkdir()
    for t in range(2000):
        tifffile.imwrite(folder / f"t{t:04d}.tif", np.full((6, 7), t % 251, np.uint8))
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(folder), plugin="napari-tiffzarr")
    assert layer.data.shape == (2000, 6, 7)
    shown = viewer.dims.current_step[0]
    store = layer.data.store
    pool = store.series.parent.pool
    # the first file's IFDs for the whole stack and the frame napari shows; read ahead
    # once the view stands still, the three frames on either side of the middle one (none
    # beside napari's first frame, frame 0)
    assert pool.opened >= 2
    qtbot.waitUntil(lambda: store.scheduler.pool.idle, timeout=30_000)
    assert pool.opened <= 9  # t0000 (IFDs and frame 0), t0001, and shown - 3 to shown + 3
    np.testing.assert_array_equal(
        np.asarray(layer._slice.image.raw), tifffile.imread(folder / f"t{shown:04d}.tif")
    )
    before = pool.opened
    viewer.dims.set_current_step(0, 1500)
    assert pool.opened >= before + 1
    qtbot.waitUntil(lambda: store.scheduler.pool.idle, timeout=30_000)
    assert pool.opened <= before + 7  # 1500, and 1497 to 1503 read ahead
