"""The widget's controls: what a layer is opened with, how its references are exported, the
folding sections and the status line.  They show a LayerSource and say what is chosen;
opening files and running workers is the widget's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from magicgui.widgets import CheckBox, ComboBox, LineEdit, PushButton, SpinBox
from qtpy.QtCore import Qt, Signal  # type: ignore[attr-defined]  # qtpy's per-binding alias
from qtpy.QtWidgets import QFormLayout, QHBoxLayout, QLabel, QSizePolicy, QWidget
from superqt import QCollapsible

from ..store import CHUNKMODE
from ..store.config import ZarrFormat
from ..store.scheduler import DEFAULT_CACHE_BYTES
from ._layers import LayerSource
from ._narrow import narrow_combo

__all__ = [
    "ALL_LEVELS",
    "CHUNKMODES",
    "ExportForm",
    "ExportOptions",
    "SourceForm",
    "StatusLine",
    "section",
]

ALL_LEVELS = "all levels (pyramid)"
CHUNKMODES = {"tiles or strips": int(CHUNKMODE.NONE), "whole pages": int(CHUNKMODE.PAGE)}
CHUNKMODE_TIP = (
    "How the levels are cut into zarr chunks.\n"
    "tiles or strips: one chunk per tile or strip of the file; napari reads only what is "
    "in view.\n"
    "whole pages: one chunk per page; fewer, larger reads, suited to small pages or to "
    "files whose strips are tiny."
)
FILL_TIP = (
    "The value shown where the file has no data: missing (sparse) tiles and tiles that "
    "cannot be decoded. Empty: 0, or the file's GDAL_NODATA."
)
DEFAULT_CACHE_MB = DEFAULT_CACHE_BYTES >> 20

FormChoices = Callable[["SourceForm"], list[Any]]


def _label(text: str, tip: str | None) -> QLabel:
    label = QLabel(text)
    label.setToolTip(tip or "")
    return label


def _rows(widgets: Sequence[Any]) -> tuple[QWidget, QFormLayout]:
    """Labels in one column, controls in the next, rows packed tight."""
    form = QWidget()
    layout = QFormLayout(form)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setVerticalSpacing(2)
    layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    for widget in widgets:
        layout.addRow(_label(widget.label, widget.tooltip), widget.native)
    return form, layout


def _beside(first: QWidget, *others: QWidget) -> QWidget:
    """Controls side by side in one form field, the first taking what the others leave."""
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(first, 1)
    for other in others:
        layout.addWidget(other)
    return row


def section(title: str, content: QWidget) -> QCollapsible:
    """A section folded until clicked; it unfolds with superqt's animation."""
    folded = QCollapsible(title, expandedIcon="▾", collapsedIcon="▸")
    folded.addWidget(content)
    layout = folded.layout()
    if layout is not None:
        layout.setContentsMargins(0, 0, 0, 0)
        # no gap under a folded title: 1280 x 800 leaves the widget no pixel to spare
        layout.setSpacing(0)
    folded.collapse(animate=False)
    return folded


class SourceForm:
    """Layer, series, level, chunk mode, fill value and cache size, and Apply.

    The choices are functions of the form, not lists: napari resets a docked widget's
    choices as layers come and go, and the series and levels are those of the chosen
    layer's file, and series.
    """

    def __init__(self, layers: FormChoices, series: FormChoices, levels: FormChoices) -> None:
        self.layer = ComboBox(label="layer", choices=lambda _combo: layers(self))
        self.series = ComboBox(label="series", choices=lambda _combo: series(self))
        self.level = ComboBox(label="level", choices=lambda _combo: levels(self))
        self.chunkmode = ComboBox(label="chunks", choices=list(CHUNKMODES))
        self.fillvalue = LineEdit(label="fill value", value="")
        self.fillvalue.native.setPlaceholderText("default")
        self.fillvalue.tooltip = FILL_TIP
        # decoded tiles kept for panning back and forth, shared by the file's layers
        self.cachesize = SpinBox(label="cache MB", min=0, max=1 << 20, value=DEFAULT_CACHE_MB)
        self.cachesize.tooltip = "Decoded tiles kept in memory for panning back; 0: none"
        self.apply = PushButton(text="Apply")
        self.apply.tooltip = "Reopen the layer with this series, level, chunk mode and fill"
        for combo, tip in [
            (self.layer, "The TIFF layer these settings apply to"),
            (self.series, "The image series of the file"),
            (self.level, "The whole pyramid, or one level alone"),
            (self.chunkmode, CHUNKMODE_TIP),
        ]:
            narrow_combo(combo, tip)
        self.native, form = _rows([self.layer, self.series, self.level, self.chunkmode])
        # Apply beside the fill value: one row less in a dock shared with napari's own
        fill = _beside(self.fillvalue.native, self.apply.native)
        form.addRow(_label(self.fillvalue.label, FILL_TIP), fill)
        self._cache_row = _beside(self.cachesize.native)
        form.addRow(_label(self.cachesize.label, self.cachesize.tooltip), self._cache_row)

    def beside_cache(self, widget: QWidget) -> None:
        """A control of the whole plugin, like the cache, on the cache's row."""
        layout = self._cache_row.layout()
        if layout is not None:
            layout.addWidget(widget)

    def show(self, source: LayerSource) -> None:
        """Set the controls to what the layer was opened with."""
        self.series.reset_choices()
        self.series.value = source.series
        self.level.reset_choices()
        self.level.value = self._level_label(source.level)
        names = {value: name for name, value in CHUNKMODES.items()}
        self.chunkmode.value = names.get(source.chunkmode, "tiles or strips")
        self.fillvalue.value = "" if source.fillvalue is None else str(source.fillvalue)
        size = source.cachesize
        self.cachesize.value = DEFAULT_CACHE_MB if size is None else size >> 20

    def _level_label(self, level: int | None) -> str:
        labels = [str(choice) for choice in self.level.choices]
        if level is None:
            return ALL_LEVELS
        return next((label for label in labels if label.startswith(f"{level}:")), ALL_LEVELS)

    def chosen(self, path: str) -> LayerSource:
        """The file at path as the controls would open it; ValueError if the fill value is
        no number."""
        text = self.fillvalue.value.strip()
        fill: float | int | None = None
        if text:
            value = float(text)
            fill = int(value) if value.is_integer() else value
        level = None if self.level.value == ALL_LEVELS else int(self.level.value.split(":")[0])
        return LayerSource(
            path=path,
            series=int(self.series.value),
            level=level,
            chunkmode=CHUNKMODES[self.chunkmode.value],
            fillvalue=fill,
            cachesize=int(self.cachesize.value) << 20,
        )


@dataclass(frozen=True)
class ExportOptions:
    url: str | None  # None: where the TIFF is
    version: int
    zarr_format: ZarrFormat
    portable: bool


class ExportForm:
    """URL, reference version, zarr format, portable, and the Export button."""

    def __init__(self) -> None:
        self.url = LineEdit(label="URL", value="")
        self.url.native.setPlaceholderText("the TIFF's folder")
        self.url.tooltip = "Where the references point: the URL of the TIFF's folder"
        self.version = ComboBox(label="version", choices=["1", "0"])
        self.version.tooltip = "kerchunk reference version: 1 (with templates) or 0 (flat)"
        # format 2 first: it opens with imagecodecs alone, format 3 needs our codecs
        self.zarr_format = ComboBox(label="zarr format", choices=["2", "3"])
        self.zarr_format.tooltip = "2 opens wherever imagecodecs is installed; 3 needs ours"
        # portable: imagecodecs' codecs only, refusing what needs our TIFF segment codec
        self.portable = CheckBox(text="portable (imagecodecs only)", value=False)
        self.portable.tooltip = (
            "Only codecs imagecodecs provides: series that need our TIFF segment codec "
            "are refused, naming why"
        )
        self.export = PushButton(text="Export references…")
        self.native, form = _rows([self.url, self.version, self.zarr_format])
        form.addRow(self.portable.native)
        form.addRow(self.export.native)

    def options(self) -> ExportOptions:
        zarr_format: ZarrFormat = 3 if self.zarr_format.value == "3" else 2
        return ExportOptions(
            url=self.url.value.strip() or None,
            version=int(self.version.value),
            zarr_format=zarr_format,
            portable=bool(self.portable.value),
        )


class StatusLine(QLabel):
    """One line saying what the widget is doing or what went wrong; hidden while it says
    nothing.  said: emitted with each new text, once the line shows or hides."""

    said = Signal(str)

    def __init__(self) -> None:
        super().__init__("")
        self.setWordWrap(True)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setVisible(False)

    @property
    def native(self) -> QLabel:
        """The Qt widget, as magicgui widgets name theirs."""
        return self

    @property
    def value(self) -> str:
        return str(self.text())

    @value.setter
    def value(self, text: str) -> None:
        self.setText(text)
        self.setVisible(bool(text))
        self.said.emit(text)

    def report(self, message: str, *, notify: bool = True) -> None:
        """The line and, for what went wrong in a worker, one notification."""
        from napari.utils.notifications import show_error

        self.value = message
        self.setToolTip(message)
        if notify:
            show_error(message)
