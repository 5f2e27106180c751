"""The widget's button that makes napari open TIFF files with this plugin, and undoes it.

The same as ``napari-tiffzarr use-as-default [--undo]``: napari's own reader preference
(*Preferences > Plugins*) for the file patterns of the manifest, the previous choice kept
to be put back.
"""

from __future__ import annotations

from magicgui.widgets import PushButton

from ._default_reader import is_default, undo_default, use_as_default
from ._form import StatusLine

__all__ = ["ReaderChoice"]

USE = "Use for TIFF files"
UNDO = "Undo: napari's reader for TIFFs"
USE_TIP = (
    "Make napari open TIFF files (.tif, .tiff, .svs, .ndpi, ...) with this plugin when they "
    "are dropped on the window or opened from File > Open, without asking which reader: "
    "napari's reader preference, also in Preferences > Plugins."
)
UNDO_TIP = "Put back the reader napari used for TIFF files before."


class ReaderChoice:
    """One button: "Use for TIFF files", or, once napari does, its undo."""

    def __init__(self, status: StatusLine) -> None:
        self.status = status
        self.button = PushButton(text=USE)
        self.button.changed.connect(self._clicked)
        self.refresh()

    def refresh(self) -> None:
        """Say what a click would do now (the preference may change elsewhere)."""
        ours = is_default()
        self.button.text = UNDO if ours else USE
        self.button.tooltip = UNDO_TIP if ours else USE_TIP

    def _clicked(self, _value: object = None) -> None:
        try:
            if is_default():
                undo_default()
                self.status.value = "napari opens TIFF files with the reader it used before"
            else:
                use_as_default()
                self.status.value = "napari opens TIFF files with this plugin"
        except (OSError, ValueError) as exc:  # the settings could not be read or written
            self.status.report(f"cannot change napari's reader for TIFF files: {exc}")
        self.refresh()
