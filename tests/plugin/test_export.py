"""Reference export: the npe2 writer and the widget's export part, in a real viewer; the JSON
opened with zarr 3 through fsspec's reference filesystem equals tifffile's pixels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
import zarr

from napari_tiffzarr.plugin._widget import WIDGET_NAME, TiffZarrWidget
from napari_tiffzarr.plugin._writer import ReferenceWriterError, write_references

pytestmark = pytest.mark.viewer


def open_references(jsonfile: Path, zarr_format: int) -> Any:
    """The JSON as zarr sees it: imagecodecs' numcodecs for format 2, our zarr 3 wrappers of
    them for format 3."""
    import fsspec
    import imagecodecs.numcodecs

    from napari_tiffzarr.references import register_codecs

    imagecodecs.numcodecs.register_codecs(verbose=False)
    register_codecs()
    fs = fsspec.filesystem("reference", fo=str(jsonfile), remote_protocol="file")
    return zarr.open(fs.get_mapper(""), mode="r", zarr_format=zarr_format)


def assert_pyramid_equals_tiff(group: Any, tiff: Path) -> None:
    with tifffile.TiffFile(tiff) as tif:
        levels = tif.series[0].levels
        assert sorted(group.array_keys()) == [str(i) for i in range(len(levels))]
        for index, level in enumerate(levels):
            np.testing.assert_array_equal(group[str(index)][:], level.asarray())


def chunk_urls(document: dict[str, Any]) -> set[str]:
    """The files the chunk references point into, templates expanded (version 1)."""
    templates = document.get("templates", {})
    urls = set()
    for value in document.get("refs", document).values():
        if isinstance(value, list):
            url = value[0]
            for name, template in templates.items():
                url = url.replace("{{" + name + "}}", template)
            urls.add(url)
    return urls


def _widget(viewer: Any) -> TiffZarrWidget:
    _, widget = viewer.window.add_plugin_dock_widget("napari-tiffzarr", WIDGET_NAME)
    assert isinstance(widget, TiffZarrWidget)
    return widget


def _notifications() -> list[Any]:
    from napari.utils.notifications import notification_manager

    return notification_manager.records


def test_save_layer_with_the_writer_gives_references_equal_to_the_tiff(
    make_napari_viewer, pyramid_path: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    viewer = make_napari_viewer()
    viewer.open(str(pyramid_path), plugin="napari-tiffzarr")
    target = tmp_path / "saved.json"
    written = viewer.layers.save(str(target), selected=True, plugin="napari-tiffzarr")
    assert written == [str(target)]
    document = json.loads(target.read_text())
    assert document["version"] == 1
    # the url defaults to the TIFF's folder, so the JSON opens where the TIFF is
    assert chunk_urls(document) == {pyramid_path.as_uri()}
    # zarr format 2 by default: what kerchunk tools read
    assert_pyramid_equals_tiff(open_references(target, 2), pyramid_path)


def test_writer_refuses_a_layer_not_opened_from_a_tiff(make_napari_viewer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((32, 32), np.uint8), name="drawn")
    target = tmp_path / "drawn.json"
    # not a ValueError, which napari's save would report as "not a valid writer"
    with pytest.raises(ReferenceWriterError, match=r"'drawn' was not opened from a TIFF"):
        viewer.layers.save(str(target), selected=True, plugin="napari-tiffzarr")
    assert not target.exists()
    with pytest.raises(ReferenceWriterError, match="no file to reference"):
        write_references(str(target), np.zeros((2, 2)), {"name": "x", "metadata": {}})


def test_writer_names_why_a_series_cannot_be_referenced(
    make_napari_viewer, pyramid_path: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """Whole pages of deflate tiles are no byte range of the file: refused, saying so."""
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(pyramid_path), plugin="napari-tiffzarr")
    layer.metadata["tiffzarr"]["chunkmode"] = 2
    target = tmp_path / "pages.json"
    with pytest.raises(
        ReferenceWriterError, match=r"chunkmode 2 \(whole pages\).*cannot be represented"
    ):
        viewer.layers.save(str(target), selected=True, plugin="napari-tiffzarr")
    assert not target.exists()


@pytest.mark.parametrize("formats", [("0", "2"), ("1", "3")], ids=["v0-zarr2", "v1-zarr3"])
def test_widget_exports_references_with_progress_and_notice(
    make_napari_viewer, qtbot, pyramid_path: Path, tmp_path: Path, formats: tuple[str, str]
) -> None:  # type: ignore[no-untyped-def]
    version, zarr_format = formats
    viewer = make_napari_viewer()
    viewer.open(str(pyramid_path), plugin="napari-tiffzarr")
    widget = _widget(viewer)
    widget.exporting.url.value = "https://example.org/slides"
    widget.exporting.version.value = version
    widget.exporting.zarr_format.value = zarr_format
    target = tmp_path / "exported.json"

    worker = widget.export_references(str(target))
    assert worker.pbar.desc == "writing exported.json"  # napari's progress bar
    qtbot.waitUntil(lambda: widget.status.value == f"wrote {target}", timeout=20000)
    notice = f"wrote kerchunk references to {target}"
    assert any(notice in str(n.message) for n in _notifications())

    document = json.loads(target.read_text())
    assert document.get("version", 0) == int(version)
    assert chunk_urls(document) == {"https://example.org/slides/pyramid.ome.tif"}
    zarr_json = "zarr.json" if zarr_format == "3" else ".zgroup"
    assert zarr_json in document.get("refs", document)
    # opened from the TIFF's own folder, the references equal the TIFF
    local = tmp_path / "local.json"
    widget.exporting.url.value = ""
    widget.export_references(str(local))
    qtbot.waitUntil(lambda: widget.status.value == f"wrote {local}", timeout=20000)
    assert_pyramid_equals_tiff(open_references(local, int(zarr_format)), pyramid_path)


def test_widget_tells_why_an_export_failed(
    make_napari_viewer, qtbot, pyramid_path: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    viewer = make_napari_viewer()
    viewer.open(str(pyramid_path), plugin="napari-tiffzarr")
    widget = _widget(viewer)
    widget.form.chunkmode.value = "whole pages"
    assert widget.reopen() is not None
    qtbot.waitUntil(lambda: widget.status.value.startswith("reopened"), timeout=20000)

    target = tmp_path / "pages.json"
    assert widget.export_references(str(target)) is not None
    failed = "cannot export the references of pyramid.ome.tif"
    qtbot.waitUntil(lambda: widget.status.value.startswith(failed), timeout=20000)
    assert "chunkmode 2 (whole pages)" in widget.status.value
    # one notification, naming the file and the problem
    assert [str(n.message) for n in _notifications() if failed in str(n.message)] == [
        widget.status.value
    ]
    assert not target.exists()
    assert list(tmp_path.glob(".pages.json*")) == []
