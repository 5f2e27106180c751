"""What ``napari-tiffzarr demo`` shows: a TIFF (the sample slide by default) and the widget."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import napari

__all__ = ["open_demo"]


def open_demo(viewer: napari.viewer.Viewer, path: str | None = None) -> Any:
    """Open path (the sample slide when None) and dock the widget; return the widget.

    The same napari calls as the command's (which may not import the plugin): the widget
    keeps the image fitted while the canvas settles (its own dock, the window manager's
    size), so nothing here fits the view.
    """
    from ..tiff.sample import sample_path

    viewer.open(path or sample_path(), plugin="napari-tiffzarr")
    _, widget = viewer.window.add_plugin_dock_widget("napari-tiffzarr")  # its one widget
    return widget
