"""The widget's button that makes napari open TIFF files with this plugin, and undoes it.

The same as ``napari-tiffzarr use-as-default [--undo]``: napari's own reader preference
(*Preferences > Plugins*) for the file patterns of the manifest, the previous choice kept
to be put back.
"""

from __future__ import annotations

from magicgui.widgets import PushButton
from qtpy.QtCore import QSignalBlocker

from ._default_reader import is_default, undo_default, use_as_default
from ._form import StatusLine

__all__ = ["ReaderChoice"]

TEXT = "Use for TIFF files"
USE_TIP = (
    "Make napari open TIFF files (.tif, .tiff, .svs, .ndpi, ...) with this plugin when they "
    "are dropped on the window or opened from File > Open, without asking which reader: "
    "napari's reader preference, also in Preferences > Plugins."
)
UNDO_TIP = (
    "napari opens TIFF files with this plugin. Click to put back the reader napari used "
    "for them before."
)


class ReaderChoice:
    """One button, pressed while napari opens TIFF files with this plugin; a click makes
    it do so, or undoes it."""

    def __init__(self, status: StatusLine) -> None:
        self.status = status
        self.button = PushButton(text=TEXT)
        self.button.native.setCheckable(True)
        self.button.changed.connect(self._clicked)
        self.refresh()

    @property
    def pressed(self) -> bool:
        return bool(self.button.native.isChecked())

    def refresh(self) -> None:
        """Show what napari does now (the preference may change elsewhere)."""
        ours = is_default()
        with QSignalBlocker(self.button.native):
            self.button.native.setChecked(ours)
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
