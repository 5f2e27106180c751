"""The widget's two jobs, reopening a layer and exporting its references, in worker threads
with napari's progress.  The button that starts a job cancels it while it runs, and a
cancelled export leaves no file behind.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any

from magicgui.widgets import PushButton

from ._form import ExportOptions, StatusLine
from ._layers import LayerSource

__all__ = ["Job", "Jobs", "file_name"]

# napari.qt.threading's FunctionWorker; napari is imported only where a job starts
Worker = Any
LayerData = tuple[Any, dict[str, Any], str]


def file_name(path: str) -> str:
    """The last part of a path or URL, without a URL's query."""
    return path.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0] or path


def _worker(function: Callable[..., Any], *args: Any, desc: str, **kwargs: Any) -> Worker:
    """A worker with napari's progress bar (indeterminate: the store does not count),
    whose errors are told by the job once, not raised again in the event loop."""
    from napari.qt.threading import create_worker

    return create_worker(
        function,
        *args,
        **kwargs,
        _progress={"desc": desc, "total": 0},
        _start_thread=False,
        _ignore_errors=True,
    )


class Job:
    """One worker at a time per button: the button reads "Cancel" while it runs, and a
    click on it then cancels.  A cancelled worker is marked, so its late signals are told
    from a newer worker's."""

    def __init__(
        self, button: PushButton, start: Callable[[], object], stop: Callable[[], object]
    ) -> None:
        self.button = button
        self.text = button.text
        self.worker: Worker = None
        button.changed.connect(lambda _value=None: stop() if self.running else start())

    @property
    def running(self) -> bool:
        return self.worker is not None

    def start(self, worker: Worker, **slots: Callable[..., None]) -> None:
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

    def cancel(self) -> bool:
        """Stop waiting for the worker; whether one was running."""
        worker = self.worker
        if worker is None:
            return False
        worker.cancelled = True
        worker.quit()  # the thread ends on its own; nothing waits for it
        self._finished(worker)
        return True

    def _finished(self, worker: Worker) -> None:
        if self.worker is worker:
            self.worker = None
            self.button.text = self.text


class Jobs:
    """Reopening and exporting, one of each at a time, told in the status line."""

    def __init__(
        self,
        apply: PushButton,
        export: PushButton,
        status: StatusLine,
        *,
        reopen: Callable[[], object],
        export_to: Callable[[], object],
    ) -> None:
        self.reopening = Job(apply, reopen, self.cancel_reopen)
        self.exporting = Job(export, export_to, self.cancel_export)
        self.status = status

    def reopen(self, source: LayerSource, place: Callable[[list[LayerData]], str]) -> Worker:
        """Open source's layers in a worker; place puts them in the viewer and names them."""
        from ._reader import open_source

        if self.reopening.running:
            return None
        name = file_name(source.path)
        worker = _worker(open_source, source, desc=f"opening {name}")
        self.status.value = f"opening {name}…"
        self.reopening.start(
            worker,
            returned=lambda layers: self._reopened(place(layers)),
            errored=lambda exc: self.status.report(f"cannot reopen {name}: {exc}"),
        )
        return worker

    def _reopened(self, name: str) -> None:
        self.status.value = f"reopened {name}"

    def cancel_reopen(self) -> None:
        """Stop waiting for the reopened layer: the layer stays as it was."""
        if self.reopening.cancel():
            self.status.value = "reopening cancelled"

    def export(self, source: LayerSource, jsonfile: str, options: ExportOptions) -> Worker:
        """Write the references of source's series to jsonfile in a worker.

        The worker writes a hidden file beside the target; only here, in the event loop,
        is it renamed into place, so a cancel, which also runs here, always comes first or
        not at all: a cancelled export leaves neither the file nor the hidden one.
        """
        from ._writer import write_layer_references

        if self.exporting.running:
            return None
        folder, name = os.path.split(os.path.abspath(jsonfile))
        hidden = os.path.join(folder, f".{name}.{os.getpid()}.part")
        worker = _worker(
            write_layer_references,
            hidden,
            source,
            url=options.url,
            version=options.version,
            zarr_format=options.zarr_format,
            portable=options.portable,
            desc=f"writing {name}",
        )

        def returned(_path: str) -> None:
            os.replace(hidden, jsonfile)
            self._exported(jsonfile)

        def finished() -> None:
            if worker.cancelled:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(hidden)

        worker.finished.connect(finished)
        self.status.value = f"writing {name}…"
        failed = f"cannot export the references of {file_name(source.path)}"
        self.exporting.start(
            worker,
            returned=returned,
            errored=lambda exc: self.status.report(f"{failed}: {exc}"),
        )
        return worker

    def cancel_export(self) -> None:
        if self.exporting.cancel():
            self.status.value = "export cancelled: no file written"

    def _exported(self, path: str) -> None:
        from napari.utils.notifications import show_info

        self.status.value = f"wrote {path}"
        show_info(f"wrote kerchunk references to {path}")
