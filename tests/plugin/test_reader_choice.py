"""The widget's "Use for TIFF files" button: napari's own open path picks our reader after
a click, and a second click puts back napari's earlier choice; napari's settings are the
test's own (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from qtpy.QtCore import Qt

from napari_tiffzarr.plugin._default_reader import MEMO_NAME, default_patterns, is_default
from napari_tiffzarr.plugin._demo import dock_widget
from napari_tiffzarr.plugin._reader_choice import TEXT

pytestmark = pytest.mark.viewer

OURS = "napari-tiffzarr"


def test_use_for_tiff_files_and_its_undo(
    napari_settings_file: Path, make_napari_viewer, qtbot, pyramid_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from napari.settings import get_settings

    viewer = make_napari_viewer(show=True)
    settings = get_settings()
    assert settings.config_path == napari_settings_file
    before = {"*.tif": "napari", "*.png": "napari"}  # the user's earlier choices
    settings.plugins.extension2reader = dict(before)
    widget = dock_widget(viewer)
    button = widget.reader_choice.button
    assert button.text == TEXT
    assert not widget.reader_choice.pressed
    assert "without asking" in button.tooltip
    assert not is_default()

    qtbot.mouseClick(button.native, Qt.MouseButton.LeftButton)
    assert is_default()
    table = settings.plugins.extension2reader
    assert all(table[pattern] == OURS for pattern in default_patterns())
    assert table["*.png"] == "napari"
    assert (napari_settings_file.parent / MEMO_NAME).exists()  # the earlier choice, kept
    assert widget.reader_choice.pressed
    assert "put back" in button.tooltip
    assert widget.status.value == "napari opens TIFF files with this plugin"
    # napari's open path with no plugin named, as drag and drop and File > Open call it
    viewer.window._qt_viewer._qt_open([str(pyramid_path)], stack=False)
    (layer,) = viewer.layers
    assert layer.source.reader_plugin == OURS
    assert layer.multiscale
    assert widget.form.layer.value is layer  # and the widget takes it up
    viewer.layers.clear()

    qtbot.mouseClick(button.native, Qt.MouseButton.LeftButton)
    assert settings.plugins.extension2reader == before
    assert not is_default()
    assert not widget.reader_choice.pressed
    assert "before" in widget.status.value
    (layer,) = viewer.open(pyramid_path, plugin=None)
    assert layer.source.reader_plugin == "napari"
