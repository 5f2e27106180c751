"""The docked widget: series, level, chunk mode and fill value of a TIFF layer; the file's
structure and the export of kerchunk references, each in a section folded until opened.

Narrow by design (napari's own docks are about 350 pixels): nothing in it asks for more
width than its labels and a short combo box, long texts elide and show whole in tooltips.
Its parts: the controls (_form), the workers (_jobs), the dock's height (_dock), napari's
reader for TIFF files (_reader_choice); this module ties them to the viewer's layers and
the files they come from.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from magicgui.widgets import TextEdit
from qtpy.QtCore import QSize, Qt
from qtpy.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QScrollArea,
    QSizePolicy,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from ..tiff.file import TiffFile
from ..tiff.sequence import TiffSequence, open_tiff
from ._dock import WIDGET_NAME, DockFitting, dock_left
from ._form import ALL_LEVELS, ExportForm, SourceForm, StatusLine, section
from ._info import describe_file, describe_series, format_shape
from ._jobs import Jobs, LayerData, Worker
from ._layers import LayerSource
from ._reader_choice import ReaderChoice
from ._view import KeepFitted

if TYPE_CHECKING:
    import napari

__all__ = ["WIDGET_NAME", "TiffZarrWidget", "layer_source"]

WIDTH = 300  # what the widget asks for; the dock may make it wider, never the widget
MIN_HEIGHT = 100  # below its full height the widget scrolls


def layer_source(layer: Any) -> LayerSource | None:
    """The TIFF a layer was opened from, as the reader recorded it, or None."""
    return LayerSource.from_metadata(getattr(layer, "metadata", None))


class TiffZarrWidget(QWidget):
    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self._files: dict[str, TiffFile | TiffSequence] = {}
        dock_left()
        self.form = SourceForm(self._layer_choices, self._series_choices, self._level_choices)
        self.info = TextEdit(value="")
        info: QTextEdit = self.info.native
        info.setReadOnly(True)
        info.setLineWrapMode(QTextEdit.LineWrapMode.NoWrap)  # one line per level
        info.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        info.setMinimumHeight(90)
        self.structure = section("File structure", info)
        self.exporting = ExportForm()
        self.export_section = section("Export references", self.exporting.native)
        self.status = StatusLine()
        self.reader_choice = ReaderChoice(self.status)
        self.form.beside_cache(self.reader_choice.button.native)  # no row of its own
        self.jobs = Jobs(
            self.form.apply,
            self.exporting.export,
            self.status,
            reopen=self.reopen,
            export_to=self._ask_export,
        )
        self._scroll = self._lay_out()
        self.dock_fit = DockFitting(self, self._scroll, [self.structure, self.export_section])
        # what the widget says shows where it is said, below the sections
        self.status.said.connect(lambda _text: self.dock_fit.settle(self.status))
        self.view_fit = KeepFitted(napari_viewer)  # the image in view while docks settle
        self.form.layer.changed.connect(self._layer_changed)
        self.form.series.changed.connect(lambda _value=None: self.form.level.reset_choices())
        self.viewer.layers.events.inserted.connect(self._refresh_layers)
        self.viewer.layers.events.removed.connect(self._refresh_layers)
        self._refresh_layers()

    def _lay_out(self) -> QScrollArea:
        """The parts one under the other in a scroll area: napari's layer controls and
        layer list share the left dock with it, in windows of any height."""
        self.content = QWidget()
        layout = QVBoxLayout(self.content)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.setSpacing(2)
        for part in (self.form.native, self.structure, self.export_section, self.status):
            layout.addWidget(part)
        layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(self.content)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        outer = QHBoxLayout(self)  # not vertical: napari would add a stretch under it
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        # no taller than the content: napari gives the rest of the dock area to the others
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        return scroll

    def sizeHint(self) -> Any:  # Qt's name
        # napari's style sheet borders the scroll area: its frame above and below the content
        return QSize(WIDTH, self.content.sizeHint().height() + 2 * self._scroll.frameWidth())

    def minimumSizeHint(self) -> Any:  # Qt's name
        return QSize(min(WIDTH, self.content.minimumSizeHint().width()), MIN_HEIGHT)

    @property
    def native(self) -> QWidget:
        """The Qt widget, as magicgui widgets name theirs."""
        return self

    def reset_choices(self, _event: Any = None) -> None:
        """napari calls this as layers come and go."""
        for combo in (self.form.layer, self.form.series, self.form.level):
            combo.reset_choices()

    # -- layers and their files -------------------------------------------------------
    def _layer_choices(self, _form: SourceForm) -> list[tuple[str, Any]]:
        return [(layer.name, layer) for layer in self.viewer.layers if layer_source(layer)]

    def _refresh_layers(self, _event: Any = None) -> None:
        self.form.layer.reset_choices()
        self._close_unused_files()
        self._layer_changed()

    def _close_unused_files(self) -> None:
        """Close the files that no TIFF layer comes from any more: a session of opening
        and removing slides must not accumulate open descriptors."""
        in_use = {source.path for layer in self.viewer.layers if (source := layer_source(layer))}
        for path in [path for path in self._files if path not in in_use]:
            self._files.pop(path).close()

    def _tiff(self, path: str) -> TiffFile | TiffSequence:
        tif = self._files.get(path)
        if tif is None or tif.closed:
            tif = open_tiff(path)  # a folder opens as a sequence of files
            self._files[path] = tif
        return tif

    def _source(self) -> LayerSource | None:
        return layer_source(self.form.layer.value)

    def _series_choices(self, form: SourceForm) -> list[tuple[str, int]]:
        source = layer_source(form.layer.value)
        if source is None:
            return []
        return [(describe_series(s), s.index) for s in self._tiff(source.path).series]

    def _level_choices(self, form: SourceForm) -> list[str]:
        source = layer_source(form.layer.value)
        if source is None or form.series.value is None:
            return [ALL_LEVELS]
        series = self._tiff(source.path).series[form.series.value]
        levels = [f"{i}: {format_shape(level.shape)}" for i, level in enumerate(series.levels)]
        return [ALL_LEVELS, *levels]

    def _layer_changed(self, _value: Any = None) -> None:
        source = self._source()
        if source is None:
            self.form.series.reset_choices()
            self.info.value = ""
            return
        self.info.value = describe_file(self._tiff(source.path))
        self.form.show(source)

    # -- actions ----------------------------------------------------------------------
    def reopen(self) -> Worker:
        """Reopen the chosen layer with the controls' settings, in a worker thread."""
        layer = self.form.layer.value
        source = self._source()
        if source is None:
            return None
        try:
            chosen = self.form.chosen(source.path)
        except ValueError:
            text = self.form.fillvalue.value
            self.status.report(f"fill value {text!r} is not a number", notify=False)
            return None
        return self.jobs.reopen(chosen, lambda layers: self._replace(layer, layers))

    def cancel_reopen(self) -> None:
        self.jobs.cancel_reopen()

    def _replace(self, old: Any, layers: list[LayerData]) -> str:
        """Put the reopened layers where the old ones were; the old ones are the layer and,
        for a series opened as one layer per channel, its sibling channels.  Returns the
        first new layer's name."""
        viewer = self.viewer
        source = layer_source(old)
        stale = [
            layer
            for layer in viewer.layers
            if layer is old or (source is not None and layer_source(layer) == source)
        ]
        index = min((viewer.layers.index(layer) for layer in stale), default=len(viewer.layers))
        added = []
        for data, kwargs, _ in layers:
            result = viewer.add_image(data, **kwargs)
            added.extend(result if isinstance(result, list) else [result])
        for layer in stale:
            viewer.layers.remove(layer)
        for offset, layer in enumerate(added):
            viewer.layers.move(viewer.layers.index(layer), index + offset)
        self.form.layer.value = added[0]
        return str(added[0].name)

    def _ask_export(self) -> None:
        from qtpy.QtWidgets import QFileDialog

        layer = self.form.layer.value
        if layer is None:
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Export kerchunk references", f"{layer.name}.json", "JSON (*.json)"
        )
        if path:
            self.export_references(path)

    def export_references(self, jsonfile: str) -> Worker:
        """Write the references of the chosen layer's series in a worker."""
        source = self._source()
        if source is None:
            return None
        return self.jobs.export(source, jsonfile, self.exporting.options())

    def cancel_export(self) -> None:
        self.jobs.cancel_export()

    def closeEvent(self, event: Any) -> None:  # Qt's name
        self.dock_fit.close()
        self.view_fit.disconnect()
        for tif in self._files.values():
            tif.close()
        self._files.clear()
        super().closeEvent(event)
