"""What a user sees in the first minute, measured in a running viewer: the room the widget
leaves the image, the slide in view, menus that match the README, progress and cancel,
errors told once, layers named and scaled as napari's own readers do."""

from __future__ import annotations

import re
import shlex
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

from napari_tiffzarr.plugin import _writer
from napari_tiffzarr.plugin._demo import open_demo
from napari_tiffzarr.plugin._widget import WIDGET_NAME, TiffZarrWidget

pytestmark = pytest.mark.viewer

README = Path(__file__).parents[2] / "README.md"
WINDOW = (1280, 800)


def _settle(qtbot: Any, viewer: Any, size: tuple[int, int]) -> None:
    """Resize the window and let the docks, the canvas and the tiles settle."""
    window = viewer.window._qt_window
    window.resize(*size)
    qtbot.waitUntil(lambda: window.width() == size[0], timeout=30000)
    qtbot.wait(400)


def _canvas(viewer: Any) -> Any:
    return viewer.window._qt_viewer.canvas.native


def _widget(viewer: Any) -> TiffZarrWidget:
    _, widget = viewer.window.add_plugin_dock_widget("napari-tiffzarr", WIDGET_NAME)
    assert isinstance(widget, TiffZarrWidget)
    return widget


def _menu_paths(viewer: Any) -> set[str]:
    """Every action of the running window's menu bar as 'Menu > Submenu > Item'."""
    paths: set[str] = set()

    def walk(menu: Any, trail: list[str]) -> None:
        menu.aboutToShow.emit()  # napari fills some menus only when they open
        for action in menu.actions():
            text = action.text().replace("&", "")
            if not text:
                continue
            if action.menu() is not None:
                walk(action.menu(), [*trail, text])
            else:
                paths.add(" > ".join([*trail, text]))

    for action in viewer.window._qt_window.menuBar().actions():
        if action.menu() is not None:
            walk(action.menu(), [action.text().replace("&", "")])
    return paths


def test_canvas_keeps_most_of_the_window_with_the_widget_docked(make_napari_viewer, qtbot) -> None:  # type: ignore[no-untyped-def]
    viewer = make_napari_viewer(show=True)
    widget = open_demo(viewer)
    _settle(qtbot, viewer, WINDOW)
    window = viewer.window._qt_window
    # the docks fit in the window asked for: nothing forced it larger
    assert (window.width(), window.height()) == WINDOW
    fraction = _canvas(viewer).width() / window.width()
    assert fraction >= 0.65, f"the canvas has {fraction:.0%} of the window's width"

    # the widget asks for at most ~320 pixels and never makes napari's left dock wider
    assert widget.sizeHint().width() <= 320
    assert widget.minimumSizeHint().width() <= 320
    controls = viewer.window._qt_viewer.dockLayerControls
    dock = widget.parentWidget()
    while dock is not None and dock is not controls and not hasattr(dock, "inner_widget"):
        dock = dock.parentWidget()
    assert window.dockWidgetArea(dock) == window.dockWidgetArea(controls)
    assert dock.width() == controls.width()
    assert dock.width() <= controls.minimumSizeHint().width() + 2

    # file structure and export folded until opened; opening them widens nothing
    assert not widget.structure.isExpanded()
    assert not widget.export_section.isExpanded()
    folded = widget.export_section.content().height(), widget.structure.content().height()
    assert folded == (0, 0)
    widget.structure.expand(animate=False)
    widget.export_section.expand(animate=False)
    qtbot.wait(200)
    assert widget.exporting.url.native.visibleRegion().isEmpty() is False
    assert widget.exporting.export.native.visibleRegion().isEmpty() is False
    assert dock.width() == controls.width()
    assert _canvas(viewer).width() / window.width() >= 0.65
    # one line per level: four lines for the sample's five levels plus the first
    level_lines = [line for line in widget.info.value.splitlines() if line.startswith("  ")]
    assert len(level_lines) == len(viewer.layers[0].data) == 5

    # tooltips say what chunk mode and fill value mean
    assert "tile" in widget.form.chunkmode.native.toolTip()
    assert "zarr chunks" in widget.form.chunkmode.native.toolTip()
    assert "missing" in widget.form.fillvalue.tooltip


def test_a_long_file_name_does_not_widen_the_dock(
    make_napari_viewer, qtbot, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / ("a-slide-with-a-very-long-name-" * 4 + ".tif")
    tifffile.imwrite(path, np.zeros((64, 64), np.uint8))
    viewer = make_napari_viewer(show=True)
    open_demo(viewer, str(path))
    _settle(qtbot, viewer, WINDOW)
    controls = viewer.window._qt_viewer.dockLayerControls
    assert controls.width() <= controls.minimumSizeHint().width() + 2
    assert _canvas(viewer).width() / WINDOW[0] >= 0.65


def _slide_box(shot: np.ndarray) -> tuple[int, int, int, int]:
    """Rows and columns (first, last) of what is not the canvas' black background."""
    lit = shot[..., :3].max(axis=-1) > 40
    rows, cols = np.flatnonzero(lit.any(axis=1)), np.flatnonzero(lit.any(axis=0))
    assert rows.size, "the canvas shows nothing"
    assert cols.size, "the canvas shows nothing"
    return int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])


def _assert_slide_fits(viewer: Any) -> None:
    """The whole slide inside the canvas, filling it along one axis (napari's fit),
    judged from the drawn pixels: the slide is pale on a black canvas."""
    shot = viewer.screenshot(canvas_only=True, flash=False)
    height, width = shot.shape[:2]
    top, bottom, left, right = _slide_box(shot)
    where = f"rows {top}-{bottom} of {height}, columns {left}-{right} of {width}"
    assert top > 0, where
    assert left > 0, where
    assert bottom < height - 1, where
    assert right < width - 1, where
    assert (bottom - top) / height > 0.85 or (right - left) / width > 0.85


@pytest.mark.parametrize("size", [(1280, 800), (1089, 630), (1600, 1000), (900, 900)])
def test_demo_shows_the_whole_slide_at_any_window_size(
    make_napari_viewer, qtbot, size: tuple[int, int]
) -> None:  # type: ignore[no-untyped-def]
    viewer = make_napari_viewer(show=True)
    open_demo(viewer)
    _settle(qtbot, viewer, size)
    _assert_slide_fits(viewer)
    # and again after the window changes size, the user having touched nothing
    _settle(qtbot, viewer, (size[0] - 200, size[1]))
    _assert_slide_fits(viewer)


def test_sample_then_widget_from_the_plugins_menu_keeps_the_slide_in_view(
    make_napari_viewer, qtbot
) -> None:  # type: ignore[no-untyped-def]
    """The user's way: the sample from File > Open Sample, then the widget from the
    Plugins menu, both by their menu actions."""
    viewer = make_napari_viewer(show=True)
    _settle(qtbot, viewer, WINDOW)
    actions = _menu_actions(viewer)
    actions["File > Open Sample > Sample slide pyramid (TIFF as Zarr)"].trigger()
    qtbot.waitUntil(lambda: len(viewer.layers) == 1, timeout=60000)
    # the window narrowed since napari fitted the slide: napari's fit is stale, the slide
    # overflows the canvas; the widget, once docked, fits it again
    _settle(qtbot, viewer, (1000, 800))
    shot = viewer.screenshot(canvas_only=True, flash=False)
    assert _slide_box(shot)[2] == 0, "napari's own fit stays: the test would prove nothing"
    actions[f"Plugins > {WIDGET_NAME} (TIFF as Zarr)"].trigger()
    qtbot.waitUntil(lambda: bool(viewer.window.dock_widgets), timeout=30000)
    qtbot.wait(400)
    _assert_slide_fits(viewer)
    # docked on the left from the menu too: the canvas keeps most of the window
    assert _canvas(viewer).width() / 1000 >= 0.6
    # a zoom of the user's is kept when the canvas changes size
    camera = viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera
    camera.zoom *= 4
    zoom = camera.zoom
    qtbot.wait(500)  # a user's zoom, then a resize later
    _settle(qtbot, viewer, (1100, 800))
    assert camera.zoom == zoom


def _menu_actions(viewer: Any) -> dict[str, Any]:
    actions: dict[str, Any] = {}

    def walk(menu: Any, trail: list[str]) -> None:
        menu.aboutToShow.emit()
        for action in menu.actions():
            text = action.text().replace("&", "")
            if action.menu() is not None:
                walk(action.menu(), [*trail, text])
            elif text:
                actions[" > ".join([*trail, text])] = action

    for action in viewer.window._qt_window.menuBar().actions():
        if action.menu() is not None:
            walk(action.menu(), [action.text().replace("&", "")])
    return actions


def test_every_readme_menu_path_is_in_napari_menus(make_napari_viewer) -> None:  # type: ignore[no-untyped-def]
    viewer = make_napari_viewer()
    paths = _menu_paths(viewer)
    readme = README.read_text()
    found = re.findall(r"\*((?:File|View|Plugins|Layers|Window|Help) > [^*]+)\*", readme)
    mentioned = {" ".join(path.split()) for path in found}  # a path may wrap in the text
    assert len(mentioned) >= 4  # the sample, the widget, open URL, save
    missing = sorted(path for path in mentioned if path not in paths)
    assert not missing, f"README menu paths napari does not show: {missing}"
    # the plugin's items name the plugin once, and only where napari adds it
    ours = [path for path in paths if "TIFF as Zarr" in path or "TIFF" in path]
    assert ours
    for path in ours:
        assert path.count("TIFF as Zarr") <= 1, path
        assert "(generated)" not in path


def test_readme_commands_and_options_exist() -> None:
    from napari_tiffzarr.cli import build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    readme = README.read_text()
    spans = re.findall(r"`(napari-tiffzarr [^`]+)`", readme)
    blocks = re.findall(r"^(napari-tiffzarr .+)$", readme, flags=re.MULTILINE)
    mentions = [line.split("&&")[-1].strip() for line in spans + blocks]
    assert any(m.startswith("napari-tiffzarr demo") for m in mentions)
    top = {o for action in parser._actions for o in action.option_strings}
    for mention in mentions:
        words = shlex.split(mention.split("#")[0])
        command = words[1]
        if command.startswith("-"):  # the program's own options: --version, --help
            assert command in top, mention
            continue
        assert command in commands, mention
        known = {o for action in commands[command]._actions for o in action.option_strings}
        options = [w.split("=")[0] for w in words[2:] if w.startswith("-")]
        assert set(options) <= known, mention
    # options quoted alone belong to some command
    every = top | {
        o for c in commands.values() for action in c._actions for o in action.option_strings
    }
    for option in re.findall(r"`(--[a-z-]+)[^`]*`", readme):
        assert option in every, option
    # what a new user needs to know about the demo
    assert "--screenshot" in " ".join(mentions)
    assert re.search(r"demo[^.]*blocks until you close the window", readme)


def test_export_shows_progress_and_cancel_leaves_no_file(
    make_napari_viewer, qtbot, huge_pyramid_path: Path, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    viewer = make_napari_viewer(show=True)
    viewer.open(str(huge_pyramid_path), plugin="napari-tiffzarr")
    widget = _widget(viewer)
    target = tmp_path / "out" / "huge.json"
    target.parent.mkdir()
    # napari's notification records are the process's: an earlier test's export may be told
    # late on a busy machine, and only this test's count here
    told = len(_notifications())

    # Hold the writer until the test has seen the bar and cancelled: on a quiet machine the
    # export can otherwise end, and its bar close, before the test looks for it.
    release = threading.Event()
    write = _writer.write_layer_references

    def held_write(*args: Any, **kwargs: Any) -> Any:
        release.wait(60)
        return write(*args, **kwargs)

    monkeypatch.setattr(_writer, "write_layer_references", held_write)
    worker = widget.export_references(str(target))
    # napari's progress: a bar in the activity dock for this worker
    activity = viewer.window._qt_window._activity_dialog
    qtbot.waitUntil(lambda: activity.get_pbar_from_prog(worker.pbar) is not None, timeout=30000)
    assert "huge.json" in worker.pbar.desc
    assert widget.exporting.export.text == "Cancel"
    widget.exporting.export.native.click()  # the button that started the export cancels it
    assert widget.exporting.export.text == "Export references…"
    assert "cancelled" in widget.status.value
    release.set()  # the writer now finishes its (cancelled) work in the background
    qtbot.waitUntil(lambda: not worker.is_running, timeout=120000)
    qtbot.wait(100)
    assert list(target.parent.iterdir()) == [], "a cancelled export left a file"
    assert not any("wrote" in str(n.message) for n in _notifications()[told:])

    # and an export left alone writes its file
    monkeypatch.setattr(_writer, "write_layer_references", write)
    worker = widget.export_references(str(target))
    qtbot.waitUntil(lambda: widget.status.value == f"wrote {target}", timeout=120000)
    assert [p.name for p in target.parent.iterdir()] == ["huge.json"]


def test_reopen_shows_progress_and_cancel_keeps_the_layer(
    make_napari_viewer, qtbot, pyramid_path: Path
) -> None:  # type: ignore[no-untyped-def]
    viewer = make_napari_viewer(show=True)
    (layer,) = viewer.open(str(pyramid_path), plugin="napari-tiffzarr")
    widget = _widget(viewer)
    widget.form.chunkmode.value = "whole pages"
    worker = widget.reopen()
    assert worker.pbar.desc == "opening pyramid.ome.tif"
    assert widget.form.apply.text == "Cancel"
    widget.form.apply.native.click()
    assert widget.form.apply.text == "Apply"
    qtbot.waitUntil(lambda: not worker.is_running, timeout=20000)
    qtbot.wait(100)
    assert list(viewer.layers) == [layer]
    assert layer.metadata["tiffzarr"]["chunkmode"] == 0
    assert widget.status.value == "reopening cancelled"


def _notifications() -> list[Any]:
    from napari.utils.notifications import notification_manager

    return notification_manager.records


def test_a_failed_reopen_is_told_once_naming_file_and_problem(
    make_napari_viewer, qtbot, pyramid_path: Path
) -> None:  # type: ignore[no-untyped-def]
    viewer = make_napari_viewer()
    viewer.open(str(pyramid_path), plugin="napari-tiffzarr")
    widget = _widget(viewer)
    pyramid_path.write_bytes(b"II*\x00" + b"\xff" * 64)  # now a broken TIFF
    before = len(_notifications())
    widget.reopen()
    qtbot.waitUntil(lambda: widget.status.value.startswith("cannot reopen"), timeout=20000)
    qtbot.wait(200)
    new = [str(n.message) for n in _notifications()[before:]]
    assert len(new) == 1, new
    assert new[0].startswith("cannot reopen pyramid.ome.tif: ")
    assert len(new[0]) > len("cannot reopen pyramid.ome.tif: ") + 5  # says what is wrong


def test_layers_are_named_as_napari_names_files(make_napari_viewer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "cells.tif"
    tifffile.imwrite(path, np.zeros((32, 48), np.uint16))
    viewer = make_napari_viewer()
    (ours,) = viewer.open(str(path), plugin="napari-tiffzarr")
    (builtin,) = viewer.open(str(path), plugin="napari")
    assert ours.name == "cells"
    assert builtin.name.startswith(ours.name)


def write_ome_channels(path: Path) -> Path:
    """Three named, coloured channels, 0.325 um pixels, 1.5 um planes, a pyramid."""
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:512, 0:512]
    base = np.stack(
        [
            ((np.sin(x / 23.0 + k) + np.cos(y / 31.0 - k)) * 1500 + 3000).astype(np.uint16)
            for k in range(3)
        ]
    )
    data = np.stack([base, np.roll(base, 40, axis=-1)])  # ZCYX, two planes
    data += rng.integers(0, 400, data.shape, dtype=np.uint16)
    metadata = {
        "axes": "ZCYX",
        "PhysicalSizeX": 0.325,
        "PhysicalSizeXUnit": "µm",
        "PhysicalSizeY": 0.325,
        "PhysicalSizeYUnit": "µm",
        "PhysicalSizeZ": 1.5,
        "PhysicalSizeZUnit": "µm",
        "Channel": {
            "Name": ["DAPI", "GFP", "mCherry"],
            "Color": [0x0000FFFF, 0x00FF00FF, -16776961],  # blue, green, red (signed)
        },
    }
    with tifffile.TiffWriter(path, ome=True) as tif:
        tif.write(data, tile=(128, 128), subifds=1, metadata=metadata, compression="zlib")
        tif.write(data[..., ::2, ::2], tile=(128, 128), subfiletype=1, compression="zlib")
    return path


def test_ome_channels_named_coloured_and_scaled_as_napari_ome_zarr_does(
    make_napari_viewer, qtbot, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    path = write_ome_channels(tmp_path / "channels.ome.tif")
    viewer = make_napari_viewer(show=True)
    layers = viewer.open(str(path), plugin="napari-tiffzarr")
    assert [layer.name for layer in layers] == ["DAPI", "GFP", "mCherry"]
    ends = [tuple(np.round(layer.colormap.colors[-1][:3], 3)) for layer in layers]
    assert ends == [(0.0, 0.0, 1.0), (0.0, 1.0, 0.0), (1.0, 0.0, 0.0)]
    assert all(tuple(layer.colormap.colors[0][:3]) == (0, 0, 0) for layer in layers)
    for layer in layers:
        assert layer.multiscale
        np.testing.assert_allclose(layer.scale, [1.5, 0.325, 0.325])
        assert [str(u) for u in layer.units] == ["micrometer"] * 3
        np.testing.assert_allclose(layer.translate, [0, 0, 0])
        assert tuple(layer.axis_labels) == ("z", "y", "x")
    # the scale bar is on, in the file's unit
    bar = viewer.canvas.overlays["scale_bar"] if hasattr(viewer, "scene") else viewer.scale_bar
    assert bar.visible
    qtbot.wait(300)
    visual = viewer.window._qt_viewer.canvas._viewer_overlay_to_visual[bar][0]
    assert "µm" in visual.node.text.text or "um" in visual.node.text.text


def test_a_file_in_pixels_leaves_the_scale_bar_off(make_napari_viewer, pyramid_path: Path) -> None:  # type: ignore[no-untyped-def]
    viewer = make_napari_viewer()
    viewer.open(str(pyramid_path), plugin="napari-tiffzarr")
    bar = viewer.canvas.overlays["scale_bar"] if hasattr(viewer, "scene") else viewer.scale_bar
    assert not bar.visible
