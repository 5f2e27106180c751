"""Output arrays of a viewer's selections, their memory used again once nobody holds them.

A viewer re-slices the same region size over and over (napari, a pan at one zoom), and
each selection of several chunks is copied into a new array of a few megabytes.  New
memory of that size costs more than the copy: the kernel zero-fills every page on its
first write, and numpy asks for transparent huge pages for arrays of 4 MiB or more, whose
faults cost more still.  Measured in napari on a 1536 x 1536 RGB view (7 MB): the new
array and the copy into it took 11 to 20 ms in the first selections of a session, 1 to
2 ms in memory used again (benchmarks/RESULTS.md, Notes).  So the last few buffers of a
store's arrays are kept, and one is handed out
again when no array still refers to it: numpy's views keep their base alive, so a
buffer only this keeper refers to is free, and one still shown by the viewer, or kept by
a caller, is never written.  The first buffer of a size brings a spare of the same size
with it, its pages written on a thread of its own: the viewer's next selection, which
needs a second buffer while it still shows the first, then finds one ready.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from .scheduler.memory import MIN_KEPT_BYTES, only_listed

__all__ = ["OutputBuffers"]

KEPT = 3  # buffers kept: the viewer's shown slice, the one being made, a spare


class OutputBuffers:
    """Empty arrays for selections, on memory of earlier ones nobody holds any more."""

    def __init__(self, kept: int = KEPT) -> None:
        self._kept = kept
        self._buffers: list[np.ndarray] = []  # least recently handed out first
        self._lock = threading.Lock()  # zarr's loop and a caller's own loop may both read

    def __reduce__(self) -> tuple[type[OutputBuffers], tuple[int]]:
        return OutputBuffers, (self._kept,)  # a copy keeps no buffers: they are this one's

    def empty(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A writable C-contiguous array of shape and dtype, contents undefined."""
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes < MIN_KEPT_BYTES:
            return np.empty(shape, dtype)
        with self._lock:
            buffer = self._take(nbytes)
            first = buffer is None and all(b.nbytes != nbytes for b in self._buffers)
            if buffer is None:
                # a new size (a zoom): the free buffers of other sizes go back to the
                # allocator first, which hands their memory out again, pages and all
                kept = self._buffers
                self._buffers = [kept[i] for i in range(len(kept)) if not only_listed(kept, i)]
                buffer = np.empty(nbytes, np.uint8)
            self._keep(buffer)
        if first:
            threading.Thread(
                target=self._add_spare, args=(nbytes,), name="tiffzarr-spare", daemon=True
            ).start()
        return buffer.view(dtype).reshape(shape)

    def _add_spare(self, nbytes: int) -> None:
        spare = np.empty(nbytes, np.uint8)
        spare[...] = 0  # every page written here, not in the viewer's next selection
        with self._lock:
            self._keep(spare)

    def _keep(self, buffer: np.ndarray) -> None:
        """With the lock held: keep buffer as the most recent, the oldest beyond kept
        dropped (an array still made of one keeps it alive; it is only not used again)."""
        self._buffers.append(buffer)
        del self._buffers[: -self._kept]

    def _take(self, nbytes: int) -> np.ndarray | None:
        """With the lock held: a kept buffer of nbytes that nobody else refers to."""
        buffers = self._buffers
        for i in range(len(buffers)):
            if buffers[i].nbytes == nbytes and only_listed(buffers, i):
                return buffers.pop(i)
        return None
