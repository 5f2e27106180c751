"""What the napari browsing benchmarks share: the readers compared, a clock on napari's
slicing, and a watch on the canvas that tells when a step is on screen.

Only public paths are driven: ``viewer.open(path, plugin=...)`` for our reader and
napari-tiff, tifffile's store and numpy arrays handed to ``viewer.add_image``, and two
module settings of our reader, looked up by name so that a renamed one stops the run with
a message instead of silently measuring the defaults.  The clock sits on the one napari
internal that materialises a view's data; it fails loudly too where napari has moved it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

READERS = ("ours", "napari-tiff", "tifffile", "memory")
WINDOW = (1280, 1024)

# our reader's settings for napari, by their names in napari_tiffzarr.plugin._reader
CHUNKSHAPE = "VIEWER_CHUNKSHAPE"
WHOLE_PLANE = "WHOLE_PLANE_BYTES"
READAHEAD = "VIEWER_READAHEAD"


class MissingPiece(RuntimeError):
    """Something a viewer benchmark needs is not there: a package, a setting, a napari part."""


def reader_setting(name: str) -> Any:
    """A module setting of our napari reader, or MissingPiece naming it."""
    try:
        from napari_tiffzarr.plugin import _reader
    except ImportError as error:
        raise MissingPiece(f"cannot import napari_tiffzarr.plugin._reader: {error}") from error
    if not hasattr(_reader, name):
        raise MissingPiece(
            f"napari_tiffzarr.plugin._reader has no {name} any more: the viewer benchmarks "
            "set the reader's chunk shape and read-ahead through VIEWER_CHUNKSHAPE, "
            "WHOLE_PLANE_BYTES and VIEWER_READAHEAD; give the new names in benchmarks/_viewer.py"
        )
    return getattr(_reader, name)


def set_reader_setting(name: str, value: Any) -> None:
    reader_setting(name)  # exists, or a clear failure
    from napari_tiffzarr.plugin import _reader

    setattr(_reader, name, value)


def is_ours(reader: str) -> bool:
    return reader.partition("-")[0] == "ours"


def ours_variant(reader: str) -> dict[str, Any]:
    """The settings of ``ours[-<chunk pixels>][-noahead]``, e.g. ours-512 or ours-noahead.
    A chunk size given is every layer's, a layer of one level's too (not its whole plane)."""
    settings: dict[str, Any] = {}
    for option in reader.split("-")[1:]:
        if option == "noahead":
            settings[READAHEAD] = False
        elif option.isdigit():
            settings[CHUNKSHAPE] = int(option)
            settings[WHOLE_PLANE] = 0
        else:
            raise MissingPiece(f"{reader}: ours takes -<chunk pixels> and -noahead, not -{option}")
    return settings


def ours_settings(reader: str) -> dict[str, Any]:
    """What our reader runs with in this variant: the shipped settings, then the variant's."""
    return {
        **{name: reader_setting(name) for name in (CHUNKSHAPE, WHOLE_PLANE, READAHEAD)},
        **ours_variant(reader),
    }


def check_reader(reader: str) -> None:
    """Fail before any viewer starts where a reader cannot run here."""
    from importlib import import_module

    needs = {"napari-tiff": ["napari_tiff"], "tifffile": ["tifffile", "zarr"]}
    if is_ours(reader):
        ours_settings(reader)
        needed = ["napari_tiffzarr.plugin._reader"]
    elif reader in needs or reader == "memory":
        needed = needs.get(reader, ["tifffile"])
    else:
        raise MissingPiece(f"unknown reader {reader!r}: one of {', '.join(READERS)}, ours-<px>")
    for module in ["napari", *needed]:
        try:
            import_module(module)
        except ImportError as error:
            raise MissingPiece(
                f"reader {reader} needs {module}, which does not import: {error} "
                "(pip install -e '.[bench]')"
            ) from error


def add_layer(viewer: Any, reader: str, path: str) -> Any:
    """Open path in the viewer with one reader; its first layer."""
    if is_ours(reader):
        for name, value in ours_variant(reader).items():
            set_reader_setting(name, value)
        return viewer.open(path, plugin="napari-tiffzarr")[0]
    if reader == "napari-tiff":
        return viewer.open(path, plugin="napari-tiff")[0]
    import tifffile

    series = tifffile.TiffFile(path).series[0]
    levels = series.levels
    if reader == "tifffile":
        import zarr

        if len(levels) > 1:
            group = zarr.open_group(series.aszarr(multiscales=True), mode="r")
            data: Any = [group[str(i)] for i in range(len(levels))]
        else:
            data = zarr.open_array(series.aszarr(), mode="r")
    elif reader == "memory":  # every level decoded before napari sees it: the floor
        data = [level.asarray() for level in levels] if len(levels) > 1 else series.asarray()
    else:
        raise MissingPiece(f"unknown reader {reader!r}: one of {', '.join(READERS)}, ours-<px>")
    return viewer.add_image(data, multiscale=len(levels) > 1, rgb=series.axes.endswith("S"))


def camera(viewer: Any) -> Any:
    return viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera


class SliceClock:
    """Time inside napari's slicing call, the one that materialises the visible region of
    the level drawn (and the thumbnail): from any thread, since napari's async slicing runs
    it in a thread of its own.  ``last`` is the latest moment napari sliced or changed a
    layer's data; ``running`` counts the calls under way."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, float]] = []
        self.running = 0
        self.last = 0.0
        self._lock = threading.Lock()
        self._install()

    def touch(self) -> None:
        self.last = time.perf_counter()

    def since(self, start: float) -> tuple[float, int]:
        """Seconds spent slicing in the calls begun after start, and how many there were."""
        with self._lock:
            calls = [(a, b) for a, b in self.calls if a >= start]
        return sum(b - a for a, b in calls), len(calls)

    @staticmethod
    def check() -> Any:
        """napari's slice request class, or MissingPiece where napari has moved it."""
        import napari

        try:
            from napari.layers._scalar_field._slice import _ScalarFieldSliceRequest

            _ScalarFieldSliceRequest.__call__  # noqa: B018
        except (ImportError, AttributeError) as error:
            raise MissingPiece(
                f"napari {napari.__version__} has no _ScalarFieldSliceRequest.__call__ in "
                "napari.layers._scalar_field._slice, where the data fetch is timed (written "
                f"for napari 0.9.2): {error}"
            ) from error
        return _ScalarFieldSliceRequest

    def _install(self) -> None:
        request_class = self.check()
        original = request_class.__call__
        clock = self

        def timed(request: Any) -> Any:
            with clock._lock:
                clock.running += 1
            began = time.perf_counter()
            clock.last = began
            try:
                return original(request)
            finally:
                ended = time.perf_counter()
                with clock._lock:
                    clock.calls.append((began, ended))
                    clock.running -= 1
                clock.last = ended

        request_class.__call__ = timed


@dataclass(frozen=True)
class Frame:
    drawn: float  # its draw began
    swapped: float  # it reached the window
    idle: bool  # when it was swapped, nothing was being sliced and every layer was loaded


class Canvas:
    """Watches napari's canvas: each frame's draw and swap, and the layers' data changes."""

    def __init__(self, viewer: Any, clock: SliceClock) -> None:
        from qtpy.QtWidgets import QApplication

        app = QApplication.instance()
        if app is None:
            raise MissingPiece("no Qt application: start napari.Viewer(show=True) first")
        self.app = app
        self.viewer = viewer
        self.clock = clock
        self.scene = viewer.window._qt_viewer.canvas._scene_canvas
        self.frames: list[Frame] = []
        self._drawing = 0.0
        self.scene.events.draw.connect(self._on_draw, position="first")
        self.scene.native.frameSwapped.connect(self._on_swap)
        viewer.layers.events.inserted.connect(self._on_inserted)

    def _idle(self) -> bool:
        return self.clock.running == 0 and all(layer.loaded for layer in self.viewer.layers)

    def _on_draw(self, _event: Any) -> None:
        self._drawing = time.perf_counter()

    def _on_swap(self) -> None:
        self.frames.append(Frame(self._drawing, time.perf_counter(), self._idle()))

    def _on_inserted(self, event: Any) -> None:
        self.clock.touch()
        event.value.events.set_data.connect(lambda _event: self.clock.touch())

    def run_events(self, seconds: float) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            self.app.processEvents()
            time.sleep(0.001)

    def settle(self, since: float, limit: float = 300.0) -> float:
        """When the canvas showed what napari made of a change at `since`: the swap of the
        first frame drawn after napari's last slicing or data change, with nothing sliced
        or loading.  No quiet period is needed: napari decides in its draw handler whether
        the view left the chunks it holds, and either slices there (a change after the
        frame began) or hands the request to its slicing thread (the layer is not loaded
        when the frame is swapped); a frame that did neither shows the step's final state."""
        end = since + limit
        while True:
            self.app.processEvents()
            shown = self._shown(since)
            if shown is not None:
                return shown
            if time.perf_counter() > end:
                raise RuntimeError(
                    f"the view did not settle within {limit} s: {len(self.clock.calls)} "
                    f"slices, {len(self.frames)} frames, idle {self._idle()}"
                )
            time.sleep(0.0005)

    def _shown(self, since: float) -> float | None:
        if not self._idle():
            return None
        after = max(since, self.clock.last)
        shown = None
        for frame in reversed(self.frames):
            if frame.swapped < since:
                break
            if frame.drawn > after and frame.idle:
                shown = frame.swapped
        return shown
