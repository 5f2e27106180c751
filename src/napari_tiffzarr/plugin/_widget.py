"""The docked widget: series, level, chunk mode and fill value of a TIFF layer; the file's
structure and the export of kerchunk references, each in a section folded until opened.

Narrow by design (napari's own docks are about 300 pixels): nothing in it asks for more
width than its labels and a short combo box, long texts elide and show whole in tooltips.
Reopening and exporting run in worker threads with napari's progress; the button that
started one cancels it, and a cancelled export leaves no file behind.
"""

from __future__ import annotations

import contextlib
import os
import weakref
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from magicgui.widgets import CheckBox, ComboBox, Label, LineEdit, PushButton, SpinBox, TextEdit
from qtpy.QtCore import QEvent, QSize, Qt, QTimer
from qtpy.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QScrollArea,
    QSizePolicy,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)
from superqt import QCollapsible

from ..store import CHUNKMODE
from ..store.scheduler import DEFAULT_CACHE_BYTES
from ..tiff.file import TiffFile
from ..tiff.sequence import TiffSequence, open_tiff
from ._info import describe_file, describe_series, format_shape
from ._view import KeepFitted

if TYPE_CHECKING:
    import napari

__all__ = ["DOCK_AREA", "WIDGET_NAME", "TiffZarrWidget"]

PLUGIN = "napari-tiffzarr"
# The widget's display name in the manifest: napari names its dock after it.
WIDGET_NAME = "Levels and export"
# Left, below the layer list: napari's layer controls already make the left dock about
# 350 pixels wide, and a second dock on the right would leave the image half the window.
DOCK_AREA = "left"
WIDTH = 300  # what the widget asks for; the dock may make it wider, never the widget
MIN_HEIGHT = 100  # below its full height the widget scrolls

ALL_LEVELS = "all levels (pyramid)"
_DEFAULT_CACHE_MB = DEFAULT_CACHE_BYTES >> 20
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


def tiffzarr_source(layer: Any) -> dict[str, Any] | None:
    """The TIFF a layer was opened from, as the reader recorded it, or None."""
    source = getattr(layer, "metadata", {}).get("tiffzarr")
    return source if isinstance(source, dict) and "path" in source else None


def _narrow_combo(combo: ComboBox, tip: str = "") -> None:
    """A combo box that never widens the dock for a long choice: the choice elides, its
    whole text is the tooltip, and the list opens as wide as its longest line."""
    native: QComboBox = combo.native
    native.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    native.setMinimumContentsLength(6)
    native.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)

    def update(_value: Any = None) -> None:
        text = native.currentText()
        native.setToolTip(f"{text}\n\n{tip}" if tip and text else text or tip)
        view = native.view()
        if view is not None:
            view.setMinimumWidth(view.sizeHintForColumn(0) + 24)

    combo.changed.connect(update)
    native.currentTextChanged.connect(update)
    update()


def _form(widgets: list[Any]) -> tuple[QWidget, QFormLayout]:
    """Labels in one column, controls in the next, rows packed tight."""
    form = QWidget()
    layout = QFormLayout(form)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setVerticalSpacing(2)
    layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    for widget in widgets:
        label = QLabel(widget.label)
        label.setToolTip(widget.tooltip or "")
        layout.addRow(label, widget.native)
    return form, layout


def _section(title: str, content: QWidget) -> QCollapsible:
    section = QCollapsible(title, expandedIcon="▾", collapsedIcon="▸")
    section.setDuration(0)  # unfolds at once: an animation only delays reading
    section.addWidget(content)
    layout = section.layout()
    if layout is not None:
        layout.setContentsMargins(0, 0, 0, 0)
    section.collapse(animate=False)
    return section


class _Job:
    """One worker at a time per button: the button reads "Cancel" while it runs.  A
    cancelled worker is marked, so its late signals are told from a newer worker's."""

    def __init__(self, button: PushButton) -> None:
        self.button = button
        self.text = button.text
        self.worker: Any = None

    @property
    def running(self) -> bool:
        return self.worker is not None

    def start(self, worker: Any, **slots: Callable[..., None]) -> None:
        """Start worker; slots (returned=..., errored=...) are called unless it was
        cancelled."""
        worker.cancelled = False
        for signal, slot in slots.items():
            getattr(worker, signal).connect(
                lambda *args, slot=slot: None if worker.cancelled else slot(*args)
            )
        self.worker = worker
        self.button.text = "Cancel"
        worker.finished.connect(lambda: self._finished(worker))
        worker.start()

    def cancel(self) -> None:
        worker = self.worker
        if worker is not None:
            worker.cancelled = True
            worker.quit()  # the thread ends on its own; nothing waits for it
            self._finished(worker)

    def _finished(self, worker: Any) -> None:
        if self.worker is worker:
            self.worker = None
            self.button.text = self.text


class TiffZarrWidget(QWidget):
    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self._files: dict[str, TiffFile | TiffSequence] = {}
        self._watched: weakref.ref[QWidget] | None = None  # the window whose resizes refit
        self._dock_left()

        # choices are computed, not stored: napari resets a docked widget's choices
        self.layer = ComboBox(label="layer", choices=self._layer_choices)
        self.series = ComboBox(label="series", choices=self._series_choices)
        self.level = ComboBox(label="level", choices=self._level_choices)
        self.chunkmode = ComboBox(label="chunks", choices=list(CHUNKMODES))
        self.fillvalue = LineEdit(label="fill value", value="")
        self.fillvalue.native.setPlaceholderText("default")
        self.fillvalue.tooltip = FILL_TIP
        # decoded tiles kept for panning back and forth, shared by the file's layers
        self.cachesize = SpinBox(label="cache MB", min=0, max=1 << 20, value=_DEFAULT_CACHE_MB)
        self.cachesize.tooltip = "Decoded tiles kept in memory for panning back; 0: none"
        self.apply = PushButton(text="Apply")
        self.apply.tooltip = "Reopen the layer with this series, level, chunk mode and fill"
        for combo, tip in [
            (self.layer, "The TIFF layer these settings apply to"),
            (self.series, "The image series of the file"),
            (self.level, "The whole pyramid, or one level alone"),
            (self.chunkmode, CHUNKMODE_TIP),
        ]:
            _narrow_combo(combo, tip)
        controls, form = _form([self.layer, self.series, self.level, self.chunkmode])
        # Apply beside the fill value: one row less in a dock shared with napari's own
        fill = QWidget()
        row = QHBoxLayout(fill)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.fillvalue.native, 1)
        row.addWidget(self.apply.native)
        label = QLabel(self.fillvalue.label)
        label.setToolTip(FILL_TIP)
        form.addRow(label, fill)
        cache_label = QLabel(self.cachesize.label)
        cache_label.setToolTip(self.cachesize.tooltip or "")
        form.addRow(cache_label, self.cachesize.native)

        self.info = TextEdit(value="")
        info: QTextEdit = self.info.native
        info.setReadOnly(True)
        info.setLineWrapMode(QTextEdit.LineWrapMode.NoWrap)  # one line per level
        info.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        info.setMinimumHeight(90)
        self.structure = _section("File structure", info)

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
        export, form = _form([self.url, self.version, self.zarr_format])
        form.addRow(self.portable.native)
        form.addRow(self.export.native)
        self.export_section = _section("Export references", export)

        self.status = Label(value="")
        status = self.status.native
        status.setWordWrap(True)
        status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        status.setVisible(False)  # shown while it says something
        self.status.changed.connect(lambda text: status.setVisible(bool(text)))

        # the content scrolls rather than ask for height: napari's layer controls and
        # layer list share the left dock with it, in windows of any height
        self.content = QWidget()
        layout = QVBoxLayout(self.content)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.setSpacing(2)
        layout.addWidget(controls)
        layout.addWidget(self.structure)
        layout.addWidget(self.export_section)
        layout.addWidget(status)
        layout.addStretch(1)
        self._scroll = scroll = QScrollArea()
        scroll.setWidget(self.content)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        outer = QHBoxLayout(self)  # not vertical: napari would add a stretch under it
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)

        for section in (self.structure, self.export_section):
            section.toggled.connect(partial(self._section_toggled, section))
        # timers owned by the widget: they die with it, and hold no viewer alive
        self._opened: QCollapsible | None = None
        self._dock_timer = QTimer(self)
        self._dock_timer.setSingleShot(True)
        self._dock_timer.setInterval(50)
        self._dock_timer.timeout.connect(self._fit_dock)
        self._section_timer = QTimer(self)
        self._section_timer.setSingleShot(True)
        self._section_timer.setInterval(50)
        self._section_timer.timeout.connect(self._section_settled)
        self._reopening = _Job(self.apply)
        self._exporting = _Job(self.export)
        self.fit = KeepFitted(napari_viewer)
        self.layer.changed.connect(self._layer_changed)
        self.series.changed.connect(self._series_changed)
        self.apply.changed.connect(self._apply_clicked)
        self.export.changed.connect(self._export_clicked)
        self.viewer.layers.events.inserted.connect(self._refresh_layers)
        self.viewer.layers.events.removed.connect(self._refresh_layers)
        self._refresh_layers()

    def sizeHint(self) -> Any:  # Qt's name
        # napari's style sheet borders the scroll area: a few pixels more than the content
        return QSize(WIDTH, self.content.sizeHint().height() + 4)

    def minimumSizeHint(self) -> Any:  # Qt's name
        return QSize(min(WIDTH, self.content.minimumSizeHint().width()), MIN_HEIGHT)

    def showEvent(self, event: Any) -> None:  # Qt's name
        # napari shares the left dock's height out before this widget has its own size,
        # and a growing window gives its height to the layer list: take what is needed
        super().showEvent(event)
        window = self.window()
        watched = self._watched() if self._watched is not None else None
        if window is not None and window is not self and window is not watched:
            if watched is not None:
                watched.removeEventFilter(self)
            window.installEventFilter(self)
            # weakly: a closed viewer's window must not live on through its widget
            self._watched = weakref.ref(window)
        self._dock_timer.start()

    def resizeEvent(self, event: Any) -> None:  # Qt's name
        # squeezed by the other docks: ask for the height back once the layouts settle
        super().resizeEvent(event)
        if self.height() < self.sizeHint().height():
            self._dock_timer.start()

    def eventFilter(self, watched: Any, event: Any) -> bool:  # Qt's name
        if event.type() == QEvent.Type.Resize and watched is self.window():
            self._dock_timer.start()
        return False

    def _section_toggled(self, section: QCollapsible, opened: bool) -> None:
        self._opened = section if opened else None
        self._section_timer.start()  # after the layouts have taken the section's height

    def _section_settled(self) -> None:
        self._fit_dock()
        if self._opened is not None:  # where the dock cannot grow, it scrolls into view
            self._scroll.verticalScrollBar().setValue(self._opened.y())  # type: ignore[union-attr]

    def _fit_dock(self) -> None:
        """Give the dock the height an opened or folded section needs, as far as the other
        docks let it; what does not fit scrolls."""
        dock = self.parentWidget()
        while dock is not None and not isinstance(dock, QDockWidget):
            dock = dock.parentWidget()
        window = dock.parentWidget() if dock is not None else None
        if dock is not None and isinstance(window, QMainWindow):
            if self.height() == self.sizeHint().height():
                return
            height = self.sizeHint().height() + dock.height() - self.height()
            window.resizeDocks([dock], [height], Qt.Orientation.Vertical)

    def _dock_left(self) -> None:
        """Ask napari to dock this widget on the left, unless the user has docked it
        somewhere else before (napari remembers that, under the dock's name: the
        plugin's package name from Window.add_plugin_dock_widget, its display name from
        the Plugins menu)."""
        from napari.settings import get_settings
        from npe2 import PluginManager

        names = {PLUGIN}
        with contextlib.suppress(KeyError):
            names.add(PluginManager.instance().get_manifest(PLUGIN).display_name)
        positions = get_settings().application.plugin_widget_positions
        for name in names:
            positions.setdefault(f"{WIDGET_NAME} ({name})", DOCK_AREA)

    def reset_choices(self, _event: Any = None) -> None:
        """napari calls this as layers come and go."""
        for combo in (self.layer, self.series, self.level):
            combo.reset_choices()

    # -- choices -----------------------------------------------------------------
    def _layer_choices(self, _widget: Any = None) -> list[tuple[str, Any]]:
        return [(layer.name, layer) for layer in self.viewer.layers if tiffzarr_source(layer)]

    def _refresh_layers(self, _event: Any = None) -> None:
        self.layer.reset_choices()
        self._close_unused_files()
        self._layer_changed()

    def _close_unused_files(self) -> None:
        """Close the files that no TIFF layer comes from any more: a session of opening
        and removing slides must not accumulate open descriptors."""
        in_use = {
            source["path"] for layer in self.viewer.layers if (source := tiffzarr_source(layer))
        }
        for path in [path for path in self._files if path not in in_use]:
            self._files.pop(path).close()

    def _tiff(self, path: str) -> TiffFile | TiffSequence:
        tif = self._files.get(path)
        if tif is None or tif.closed:
            tif = open_tiff(path)  # a folder opens as a sequence of files
            self._files[path] = tif
        return tif

    def _source(self) -> dict[str, Any] | None:
        layer = self.layer.value
        return tiffzarr_source(layer) if layer is not None else None

    def _series_choices(self, _widget: Any = None) -> list[tuple[str, int]]:
        source = self._source()
        if source is None:
            return []
        return [(describe_series(s), s.index) for s in self._tiff(source["path"]).series]

    def _level_choices(self, _widget: Any = None) -> list[str]:
        source = self._source()
        if source is None or self.series.value is None:
            return [ALL_LEVELS]
        series = self._tiff(source["path"]).series[self.series.value]
        levels = [f"{i}: {format_shape(level.shape)}" for i, level in enumerate(series.levels)]
        return [ALL_LEVELS, *levels]

    def _layer_changed(self, _value: Any = None) -> None:
        source = self._source()
        self.series.reset_choices()
        if source is None:
            self.info.value = ""
            return
        tif = self._tiff(source["path"])
        self.series.value = source["series"]
        self.info.value = describe_file(tif)
        self.level.reset_choices()
        self.level.value = self._level_label(source["level"])
        mode = {value: key for key, value in CHUNKMODES.items()}
        self.chunkmode.value = mode.get(int(source["chunkmode"]), "tiles or strips")
        fill = source.get("fillvalue")
        self.fillvalue.value = "" if fill is None else str(fill)
        size = source.get("cachesize")
        self.cachesize.value = _DEFAULT_CACHE_MB if size is None else size >> 20

    def _level_label(self, level: int | None) -> str:
        if level is None:
            return ALL_LEVELS
        labels = [str(choice) for choice in self.level.choices]
        return next((c for c in labels if c.startswith(f"{level}:")), ALL_LEVELS)

    def _series_changed(self, _value: Any = None) -> None:
        self.level.reset_choices()

    # -- what the controls say ---------------------------------------------------
    def selection(self) -> dict[str, Any]:
        """The series, level, chunk mode and fill value the controls are set to."""
        text = self.fillvalue.value.strip()
        fill: float | int | None = None
        if text:
            value = float(text)
            fill = int(value) if value.is_integer() else value
        level = None if self.level.value == ALL_LEVELS else int(self.level.value.split(":")[0])
        return {
            "series": int(self.series.value),
            "level": level,
            "chunkmode": CHUNKMODES[self.chunkmode.value],
            "fillvalue": fill,
            "cachesize": int(self.cachesize.value) << 20,
        }

    # -- actions ---------------------------------------------------------------
    def _apply_clicked(self, _value: Any = None) -> None:
        if self._reopening.running:
            self.cancel_reopen()
        else:
            self.reopen()

    def _export_clicked(self, _value: Any = None) -> None:
        if self._exporting.running:
            self.cancel_export()
        else:
            self._ask_export()

    def _worker(self, function: Callable[..., Any], *args: Any, desc: str, **kwargs: Any) -> Any:
        """A worker with napari's progress bar (indeterminate: the store does not count),
        whose errors are reported by _report once, not re-raised in the event loop."""
        from napari.qt.threading import create_worker

        return create_worker(
            function,
            *args,
            **kwargs,
            _progress={"desc": desc, "total": 0},
            _start_thread=False,
            _ignore_errors=True,
        )

    def reopen(self, _value: Any = None) -> Any:
        """Reopen the chosen layer with the controls' settings, in a worker thread."""
        from ._reader import open_layers

        layer = self.layer.value
        source = self._source()
        if source is None or self._reopening.running:
            return None
        try:
            chosen = self.selection()
        except ValueError:
            self._report(f"fill value {self.fillvalue.value!r} is not a number", notify=False)
            return None
        name = _file_name(source["path"])
        worker = self._worker(open_layers, source["path"], **chosen, desc=f"opening {name}")
        self.status.value = f"opening {name}…"
        self._reopening.start(
            worker,
            returned=lambda layers: self._replace(layer, layers),
            errored=lambda exc: self._report(f"cannot reopen {name}: {exc}"),
        )
        return worker

    def cancel_reopen(self) -> None:
        """Stop waiting for the reopened layer: the layer stays as it was."""
        if self._reopening.running:
            self._reopening.cancel()
            self.status.value = "reopening cancelled"

    def _replace(self, old: Any, layers: list[tuple[Any, dict[str, Any], str]]) -> None:
        """Put the reopened layers where the old ones were; the old ones are the layer and,
        for a series opened as one layer per channel, its sibling channels."""
        viewer = self.viewer
        source = tiffzarr_source(old)
        stale = [
            layer
            for layer in viewer.layers
            if layer is old or (source is not None and tiffzarr_source(layer) == source)
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
        self.layer.value = added[0]
        self.status.value = f"reopened {added[0].name}"

    def _report(self, message: str, *, notify: bool = True) -> None:
        """The status line and, for what went wrong in a worker, one notification."""
        from napari.utils.notifications import show_error

        self.status.value = message
        self.status.native.setToolTip(message)
        if notify:
            show_error(message)

    def _ask_export(self, _value: Any = None) -> None:
        from qtpy.QtWidgets import QFileDialog

        layer = self.layer.value
        if layer is None:
            return
        path, _ = QFileDialog.getSaveFileName(
            self.native, "Export kerchunk references", f"{layer.name}.json", "JSON (*.json)"
        )
        if path:
            self.export_references(path)

    @property
    def native(self) -> QWidget:
        """The Qt widget, as magicgui widgets name theirs."""
        return self

    def export_references(self, jsonfile: str) -> Any:
        """Write the references of the chosen layer's series in a worker.

        The worker writes a hidden file beside the target; only here, in the event loop,
        is it renamed into place, so a cancel, which also runs here, always comes first or
        not at all: a cancelled export leaves neither the file nor the hidden one.
        """
        from ._writer import write_layer_references

        source = self._source()
        if source is None or self._exporting.running:
            return None
        options = {
            "url": self.url.value.strip() or None,  # None: where the TIFF is
            "version": int(self.version.value),
            "zarr_format": int(self.zarr_format.value),
            "portable": bool(self.portable.value),
        }
        folder, name = os.path.split(os.path.abspath(jsonfile))
        tiff = _file_name(source["path"])
        partial = os.path.join(folder, f".{name}.{os.getpid()}.part")
        worker = self._worker(
            write_layer_references,
            partial,
            dict(source),
            **options,
            desc=f"writing {name}",
        )

        def returned(_path: str) -> None:
            os.replace(partial, jsonfile)
            self._exported(jsonfile)

        def finished() -> None:
            if worker.cancelled:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(partial)

        worker.finished.connect(finished)
        self.status.value = f"writing {name}…"
        self._exporting.start(
            worker,
            returned=returned,
            errored=lambda exc: self._report(f"cannot export the references of {tiff}: {exc}"),
        )
        return worker

    def cancel_export(self) -> None:
        if self._exporting.running:
            self._exporting.cancel()
            self.status.value = "export cancelled: no file written"

    def _exported(self, path: str) -> None:
        from napari.utils.notifications import show_info

        self.status.value = f"wrote {path}"
        show_info(f"wrote kerchunk references to {path}")

    def closeEvent(self, event: Any) -> None:  # Qt's name
        watched = self._watched() if self._watched is not None else None
        if watched is not None:
            watched.removeEventFilter(self)
        self._watched = None
        self.fit.disconnect()
        for tif in self._files.values():
            tif.close()
        self._files.clear()
        super().closeEvent(event)


def _file_name(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0] or path
