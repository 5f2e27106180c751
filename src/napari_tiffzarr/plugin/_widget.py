"""The docked widget: series, level, chunk mode and fill value of a TIFF layer; file
structure; export of kerchunk references.

Reopening and exporting run in worker threads, so the window never freezes; the layer is
replaced at its place in the layer list.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    Label,
    LineEdit,
    PushButton,
    TextEdit,
)

from ..store import CHUNKMODE
from ..tiff.file import TiffFile
from ..tiff.sequence import TiffSequence, open_tiff
from ._info import describe_file, describe_series

if TYPE_CHECKING:
    import napari

__all__ = ["TiffZarrWidget"]

ALL_LEVELS = "all levels (pyramid)"
CHUNKMODES = {"tiles or strips": int(CHUNKMODE.NONE), "whole pages": int(CHUNKMODE.PAGE)}


def tiffzarr_source(layer: Any) -> dict[str, Any] | None:
    """The TIFF a layer was opened from, as the reader recorded it, or None."""
    source = getattr(layer, "metadata", {}).get("tiffzarr")
    return source if isinstance(source, dict) and "path" in source else None


class TiffZarrWidget(Container):
    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        super().__init__(labels=True)
        self.viewer = napari_viewer
        self._files: dict[str, TiffFile | TiffSequence] = {}
        self.layer = ComboBox(label="layer", choices=self._layer_choices)
        # choices are computed, not stored: napari resets a docked widget's choices
        self.series = ComboBox(label="series", choices=self._series_choices)
        self.level = ComboBox(label="level", choices=self._level_choices)
        self.chunkmode = ComboBox(label="chunks", choices=list(CHUNKMODES))
        self.fillvalue = LineEdit(label="fill value", value="")
        self.apply = PushButton(text="Apply")
        self.info = TextEdit(label="file", value="")
        self.info.native.setReadOnly(True)
        self.url = LineEdit(label="URL", value="")
        self.version = ComboBox(label="references", choices=["1", "0"])
        # format 2 first: it opens with imagecodecs alone, format 3 needs our codecs
        self.zarr_format = ComboBox(label="zarr format", choices=["2", "3"])
        # portable: imagecodecs' codecs only, refusing what needs our TIFF segment codec
        self.portable = CheckBox(text="portable (imagecodecs only)", value=False)
        self.export = PushButton(text="Export references…")
        self.status = Label(value="")
        self.extend(
            [
                self.layer,
                self.series,
                self.level,
                self.chunkmode,
                self.fillvalue,
                self.apply,
                self.info,
                self.url,
                self.version,
                self.zarr_format,
                self.portable,
                self.export,
                self.status,
            ]
        )
        self.layer.changed.connect(self._layer_changed)
        self.series.changed.connect(self._series_changed)
        self.apply.changed.connect(self.reopen)
        self.export.changed.connect(self._ask_export)
        self.viewer.layers.events.inserted.connect(self._refresh_layers)
        self.viewer.layers.events.removed.connect(self._refresh_layers)
        self._refresh_layers()

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
        return [ALL_LEVELS] + [f"{i}: {level.shape}" for i, level in enumerate(series.levels)]

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
        }

    # -- actions ---------------------------------------------------------------
    def reopen(self, _value: Any = None) -> Any:
        """Reopen the chosen layer with the controls' settings, in a worker thread."""
        from napari.qt.threading import create_worker

        from ._reader import open_layers

        layer = self.layer.value
        source = self._source()
        if source is None:
            return None
        try:
            chosen = self.selection()
        except ValueError:
            self.status.value = f"fill value {self.fillvalue.value!r} is not a number"
            return None
        # errors are reported by _report, once: not re-raised in the event loop as well
        worker = create_worker(
            open_layers, source["path"], **chosen, _start_thread=False, _ignore_errors=True
        )
        worker.returned.connect(lambda layers: self._replace(layer, layers))
        worker.errored.connect(lambda exc: self._report(f"cannot reopen: {exc}"))
        self.status.value = "opening…"
        worker.start()
        return worker

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

    def _report(self, message: str) -> None:
        from napari.utils.notifications import show_error

        self.status.value = message
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

    def export_references(self, jsonfile: str) -> Any:
        """Write the references of the chosen layer's series in a worker, with napari's
        progress bar (indeterminate: the store does not report its progress)."""
        from napari.qt.threading import create_worker

        from ._writer import write_layer_references

        source = self._source()
        if source is None:
            return None
        options = {
            "url": self.url.value.strip() or None,  # None: where the TIFF is
            "version": int(self.version.value),
            "zarr_format": int(self.zarr_format.value),
            "portable": bool(self.portable.value),
        }
        worker = create_worker(
            write_layer_references,
            jsonfile,
            dict(source),
            **options,
            _progress={"desc": "writing references", "total": 0},
            _start_thread=False,
            _ignore_errors=True,
        )
        worker.returned.connect(self._exported)
        worker.errored.connect(lambda exc: self._report(f"export failed: {exc}"))
        self.status.value = "writing references…"
        worker.start()
        return worker

    def _exported(self, path: str) -> None:
        from napari.utils.notifications import show_info

        self.status.value = f"wrote {path}"
        show_info(f"wrote kerchunk references to {path}")
