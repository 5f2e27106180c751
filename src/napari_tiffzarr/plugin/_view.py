"""Keeping the whole image in view while the window settles.

napari fits the camera once, when the first layer arrives; a widget docking afterwards, or a
window manager resizing the window, shrinks the canvas and cuts the image off.  Until the
user zooms or pans, every canvas resize fits the view again.
"""

from __future__ import annotations

import weakref
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import napari

__all__ = ["KeepFitted", "data_box_on_canvas"]

# A view counts as fitted when the data span at least this fraction of the canvas along one
# axis (napari's fit leaves a 5% margin) and lie wholly inside it.
FILLED = 0.85
# How long a view that is no fit must stay so before it counts as the user's choice.
SETTLE_MS = 150


def _camera(viewer: napari.viewer.Viewer) -> Any:
    """napari 0.9 keeps the camera in the scene; earlier versions on the viewer."""
    return getattr(viewer, "scene", viewer).camera


def data_box_on_canvas(viewer: napari.viewer.Viewer) -> tuple[np.ndarray, np.ndarray] | None:
    """(top-left, bottom-right) of the layers' 2D extent in canvas pixels, (row, column).

    From napari's own model: the world extent of the displayed dimensions, the camera's
    centre and zoom (canvas pixels per world unit) and the canvas size.
    """
    if not len(viewer.layers) or viewer.dims.ndisplay != 2:
        return None
    displayed = list(viewer.dims.displayed)
    extent = np.asarray(viewer.layers.extent.world)[:, displayed]
    # pixels are drawn from their corner, half a step before the extent's first centre
    step = np.asarray(viewer.layers.extent.step)[displayed]
    low, high = extent[0] - step / 2, extent[1] - step / 2
    center = np.asarray(_camera(viewer).center)[-2:]
    zoom = float(_camera(viewer).zoom)
    size = np.asarray(viewer.canvas.size, dtype=float)  # (height, width)
    return (low - center) * zoom + size / 2, (high - center) * zoom + size / 2


def is_fitted(viewer: napari.viewer.Viewer) -> bool:
    """Whether the whole image is in view and fills the canvas along one axis."""
    box = data_box_on_canvas(viewer)
    if box is None:
        return True
    low, high = box
    size = np.asarray(viewer.canvas.size, dtype=float)
    inside = bool(np.all(low >= -1) and np.all(high <= size + 1))
    return inside and bool(np.any((high - low) >= FILLED * size))


def _call(keeper: weakref.ref[KeepFitted], method: str) -> None:
    fitted = keeper()
    if fitted is not None:
        getattr(fitted, method)()


def is_centered(viewer: napari.viewer.Viewer) -> bool:
    """Whether the camera looks at the middle of the data, as napari's fit leaves it."""
    box = data_box_on_canvas(viewer)
    if box is None:
        return True
    low, high = box
    middle = (low + high) / 2
    size = np.asarray(viewer.canvas.size, dtype=float)
    return bool(np.all(np.abs(middle - size / 2) <= 1.0))


class KeepFitted:
    """Fit the view at each canvas resize for as long as the view is a fit."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self.viewer = viewer
        # napari's fit when the layer arrived may be stale already (the window shown or
        # restored at another size since): still centred on the data, it is napari's
        fitted = is_fitted(viewer)
        self.armed = fitted or is_centered(viewer)
        if self.armed and not fitted:
            # fit once the widget has docked, whether or not the canvas then resizes
            from qtpy.QtCore import QTimer

            QTimer.singleShot(0, partial(_call, weakref.ref(self), "refit"))
        self._fitting = False
        viewer.canvas.events.size.connect(self._resized)
        _camera(viewer).events.zoom.connect(self._moved)
        _camera(viewer).events.center.connect(self._moved)

    def disconnect(self) -> None:
        self.viewer.canvas.events.size.disconnect(self._resized)
        _camera(self.viewer).events.zoom.disconnect(self._moved)
        _camera(self.viewer).events.center.disconnect(self._moved)

    def _moved(self, _event: Any = None) -> None:
        """A fit (napari's own, the home button) arms; a view that is no fit disarms, once
        events have settled: the camera may be catching up with a canvas still resizing,
        which the next resize event fits again."""
        if self._fitting:
            return
        if is_fitted(self.viewer):
            self.armed = True
        else:
            from qtpy.QtCore import QTimer

            # by weak reference: a pending judgement must not keep a closed viewer alive
            QTimer.singleShot(SETTLE_MS, partial(_call, weakref.ref(self), "judge"))

    def judge(self) -> None:
        """Disarm if the view is still no fit: the user's zoom or pan."""
        if not self._fitting and not is_fitted(self.viewer):
            self.armed = False

    def _resized(self, _event: Any = None) -> None:
        self.refit()

    def refit(self) -> None:
        """Fit the view, if it is still napari's fit."""
        if not self.armed or not len(self.viewer.layers):
            return
        self._fitting = True
        try:
            self.viewer.reset_view()
        finally:
            self._fitting = False
