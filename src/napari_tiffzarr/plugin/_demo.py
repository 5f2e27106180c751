"""What ``napari-tiffzarr demo`` shows: a TIFF (the sample slide by default) and the widget."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._dock import PLUGIN, dock_title
from ._widget import TiffZarrWidget

if TYPE_CHECKING:
    import napari

__all__ = ["dock_widget", "open_demo"]


def dock_widget(viewer: napari.viewer.Viewer) -> TiffZarrWidget:
    """The widget docked as napari's Plugins menu docks it: under the menu's title, so
    that the menu item shows and hides this dock rather than adding a second one."""
    title = dock_title()
    docked = getattr(viewer.window, "dock_widgets", {}).get(title)  # napari >= 0.6.2
    if isinstance(docked, TiffZarrWidget):
        return docked
    widget = TiffZarrWidget(viewer)
    viewer.window.add_dock_widget(widget, name=title)  # as napari's own menu action does
    return widget


def open_demo(viewer: napari.viewer.Viewer, path: str | None = None) -> TiffZarrWidget:
    """Open path (the sample slide when None) and dock the widget; return the widget.

    The widget keeps the image fitted while the canvas settles (its own dock, the window
    manager's size), so nothing here fits the view.
    """
    from ..tiff.sample import sample_path

    viewer.open(path or sample_path(), plugin=PLUGIN)
    return dock_widget(viewer)
