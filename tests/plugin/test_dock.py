"""The widget in napari's left dock as a user meets it: a click unfolds a section, which ends
up in view, in a dock grown where the layer list can spare height; long choices elided with
the whole text in their tooltips; one dock title, the Plugins menu's."""

from __future__ import annotations

from typing import Any

import pytest
from qtpy.QtCore import QAbstractAnimation, QPropertyAnimation, QRect, Qt
from qtpy.QtWidgets import QDockWidget, QWidget

from napari_tiffzarr.plugin._demo import open_demo
from napari_tiffzarr.plugin._dock import dock_title
from napari_tiffzarr.plugin._narrow import ElidedChoice, shown_text
from napari_tiffzarr.plugin._widget import WIDGET_NAME, TiffZarrWidget

pytestmark = pytest.mark.viewer

# generous: a busy machine may take seconds for what takes a tenth of one here
WAIT_MS = 60_000


def _demo(
    make_napari_viewer: Any, qtbot: Any, size: tuple[int, int]
) -> tuple[Any, TiffZarrWidget]:
    viewer = make_napari_viewer(show=True)
    widget = open_demo(viewer)
    window = viewer.window._qt_window
    window.resize(*size)
    qtbot.waitUntil(lambda: (window.width(), window.height()) == size, timeout=WAIT_MS)
    dock = _dock(widget)
    # the docks have shared the window out: the widget has the height napari gave it
    qtbot.waitUntil(lambda: dock.isVisible() and widget.height() > 0, timeout=WAIT_MS)
    qtbot.wait(300)
    return viewer, widget


def _dock(widget: QWidget) -> QDockWidget:
    dock = widget.parentWidget()
    while dock is not None and not isinstance(dock, QDockWidget):
        dock = dock.parentWidget()
    assert dock is not None
    return dock


def _in_view(widget: TiffZarrWidget, field: QWidget) -> bool:
    """Whether field lies wholly inside the part of the scroll area the dock shows, and is
    drawn there (nothing covers it)."""
    viewport = widget._scroll.viewport()
    if not field.isVisible() or not viewport.isVisible() or field.height() <= 0:
        return False
    box = QRect(field.mapTo(viewport, field.rect().topLeft()), field.size())
    whole = viewport.rect().contains(box)
    drawn = field.visibleRegion().boundingRect().size() == field.size()
    return whole and drawn


def _click_open(qtbot: Any, section: Any) -> None:
    """A real mouse click on the section's title; its unfolding is animated."""
    qtbot.mouseClick(section.toggleButton(), Qt.MouseButton.LeftButton)
    animation = section.findChild(QPropertyAnimation)
    assert animation is not None
    assert animation.duration() > 0
    assert animation.state() == QAbstractAnimation.State.Running  # still unfolding
    assert section.isExpanded()


@pytest.mark.parametrize("size", [(1280, 800), (1600, 1000)], ids=["1280x800", "1600x1000"])
def test_a_clicked_section_unfolds_into_view(make_napari_viewer, qtbot, size, tmp_path) -> None:  # type: ignore[no-untyped-def]
    viewer, widget = _demo(make_napari_viewer, qtbot, size)
    dock = _dock(widget)
    layer_list = viewer.window._qt_viewer.dockLayerList
    canvas = viewer.window._qt_viewer.canvas.native
    width, canvas_width, folded = dock.width(), canvas.width(), dock.height()
    spare = layer_list.height() - layer_list.minimumSizeHint().height()
    export = widget.exporting.export.native
    assert not _in_view(widget, export)

    _click_open(qtbot, widget.export_section)
    qtbot.waitUntil(lambda: _in_view(widget, export), timeout=WAIT_MS)
    # the whole section shows, from its title to its last field
    assert _in_view(widget, widget.export_section.toggleButton())
    assert _in_view(widget, widget.exporting.url.native)
    if spare > 0:  # the list had more than it needs: the dock grew, not only scrolled
        assert dock.height() > folded, (folded, spare, layer_list.height())
    assert layer_list.height() >= layer_list.minimumSizeHint().height()

    _click_open(qtbot, widget.structure)
    info = widget.info.native
    qtbot.waitUntil(lambda: _in_view(widget, info), timeout=WAIT_MS)
    assert _in_view(widget, widget.structure.toggleButton())
    # no wider for it: the image keeps its share of the window
    assert (dock.width(), canvas.width()) == (width, canvas_width)

    # what an export then says shows too, below both sections
    target = tmp_path / "slide.json"
    widget.export_references(str(target))
    qtbot.waitUntil(lambda: widget.status.value == f"wrote {target}", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: _in_view(widget, widget.status.native), timeout=WAIT_MS)


@pytest.mark.parametrize("size", [(1280, 800), (1600, 1000)], ids=["1280x800", "1600x1000"])
def test_a_status_said_while_a_section_unfolds_stays_in_view(  # type: ignore[no-untyped-def]
    make_napari_viewer, qtbot, size
) -> None:
    """On a busy machine an export can end before a section clicked open has finished
    unfolding: what was said last is what stays in view."""
    _, widget = _demo(make_napari_viewer, qtbot, size)
    _click_open(qtbot, widget.export_section)
    qtbot.waitUntil(lambda: _in_view(widget, widget.exporting.export.native), timeout=WAIT_MS)
    _click_open(qtbot, widget.structure)  # still unfolding when the status speaks
    widget.status.value = "wrote " + "/a/long/path/to/where/the/references/went" * 3
    animation = widget.structure.findChild(QPropertyAnimation)
    qtbot.waitUntil(lambda: animation.state() == QAbstractAnimation.State.Stopped, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: _in_view(widget, widget.status.native), timeout=WAIT_MS)
    qtbot.wait(300)  # nothing that settles later takes it out of view again
    assert _in_view(widget, widget.status.native)


def test_the_dock_grows_into_what_the_layer_list_spares(make_napari_viewer, qtbot) -> None:  # type: ignore[no-untyped-def]
    """1600 x 1000: the layer list, holding one layer, is given far more than its minimum;
    the unfolded export section takes it, and folding gives it back."""
    viewer, widget = _demo(make_napari_viewer, qtbot, (1600, 1000))
    dock = _dock(widget)
    layer_list = viewer.window._qt_viewer.dockLayerList
    folded, listed = dock.height(), layer_list.height()
    assert listed - layer_list.minimumSizeHint().height() > 150  # room to grow into

    _click_open(qtbot, widget.export_section)
    qtbot.waitUntil(lambda: _in_view(widget, widget.exporting.export.native), timeout=WAIT_MS)
    # all of the widget shows: no scrolling needed where the list had room
    qtbot.waitUntil(lambda: widget.height() >= widget.sizeHint().height(), timeout=WAIT_MS)
    assert widget._scroll.verticalScrollBar().value() == 0
    grown = dock.height() - folded
    assert grown > 0
    assert layer_list.height() == listed - grown

    qtbot.mouseClick(widget.export_section.toggleButton(), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dock.height() == folded, timeout=WAIT_MS)
    assert layer_list.height() == listed


def test_a_long_series_name_is_elided_and_whole_in_its_tooltip(make_napari_viewer, qtbot) -> None:  # type: ignore[no-untyped-def]
    _, widget = _demo(make_napari_viewer, qtbot, (1280, 800))
    combo = widget.form.series.native
    whole = combo.currentText()
    assert whole.startswith("0: generic 4096 \u00d7 4096 \u00d7 3 uint8")
    shown = shown_text(combo)
    assert shown.endswith("\u2026")  # the ellipsis says it is cut
    assert whole.startswith(shown[:-1])
    assert len(shown) < len(whole)
    assert whole in combo.toolTip().splitlines()

    # what the box paints is that text: the same as Qt's own box holding the cut text
    painted = combo.grab().toImage()
    combo.removeEventFilter(combo.findChild(ElidedChoice))
    combo.setItemText(combo.currentIndex(), shown)
    try:
        assert combo.grab().toImage() == painted
        combo.setItemText(combo.currentIndex(), whole)
        assert combo.grab().toImage() != painted  # Qt alone cuts it elsewhere, no ellipsis
    finally:
        combo.setItemText(combo.currentIndex(), whole)


def _plugins_menu(viewer: Any) -> dict[str, Any]:
    """The items of napari's Plugins menu, by their text."""
    for action in viewer.window._qt_window.menuBar().actions():
        if action.text().replace("&", "") == "Plugins":
            menu = action.menu()
            menu.aboutToShow.emit()  # napari fills some menus only when they open
            return {item.text().replace("&", ""): item for item in menu.actions()}
    raise AssertionError("napari shows no Plugins menu")


def test_demo_and_plugins_menu_give_the_dock_one_title(make_napari_viewer, qtbot) -> None:  # type: ignore[no-untyped-def]
    viewer, widget = _demo(make_napari_viewer, qtbot, (1280, 800))
    title = f"{WIDGET_NAME} (TIFF as Zarr)"
    assert dock_title() == title
    dock = _dock(widget)
    assert dock.windowTitle() == title
    assert dict(viewer.window.dock_widgets) == {title: widget}
    item = _plugins_menu(viewer)[title]  # napari's menu shows the same title
    # and the menu's item is this dock: it hides and shows it, adding no second one
    item.trigger()
    qtbot.waitUntil(lambda: not dock.isVisible(), timeout=WAIT_MS)
    item.trigger()
    qtbot.waitUntil(dock.isVisible, timeout=WAIT_MS)
    assert dict(viewer.window.dock_widgets) == {title: widget}


def test_the_demo_command_docks_the_widget_under_the_same_title(
    qtbot, monkeypatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """``napari-tiffzarr demo`` (which may not import the plugin) docks the widget through
    napari's own Plugins menu action: the same title as the menu's."""
    from napari.window import Window

    from napari_tiffzarr.cli import main

    seen: list[list[str]] = []
    screenshot = Window.screenshot

    def recording(self: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(list(self.dock_widgets))
        return screenshot(self, *args, **kwargs)

    monkeypatch.setattr(Window, "screenshot", recording)
    picture = tmp_path / "demo.png"
    assert main(["demo", "--screenshot", str(picture), "--size", "1280x800"]) == 0
    assert picture.stat().st_size > 10_000
    assert seen == [[dock_title()]]


def test_the_readme_gives_the_left_column_s_measured_width(make_napari_viewer, qtbot) -> None:  # type: ignore[no-untyped-def]
    import re
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    said = re.search(r"(\d+)\s+pixels\s+wide\s+at\s+1280\s+x\s+800", readme)
    assert said is not None, "the README gives no width at 1280 x 800"
    _, widget = _demo(make_napari_viewer, qtbot, (1280, 800))
    assert _dock(widget).width() == int(said.group(1))
