"""Read-ahead: decode the chunks around a view while the viewer draws it.

The chunks zarr asks for in one turn of its event loop are one view.  Around it, the
ring of chunks one step further in every direction (those in the direction the view last
moved first), then the chunks of the next finer level under the view, are read and
decoded into the cache by one background thread at low priority.  A new view replaces
what was planned for the old one; a chunk is only started while no foreground chunk is
waiting or decoding, and is decoded by that one thread alone, so read-ahead never holds
up a read.  It only ever fills the cache, so it cannot change what a read returns.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import weakref
from collections import deque
from contextlib import suppress
from typing import TYPE_CHECKING

from ..errors import TiffFileError
from .keys import ChunkRef

if TYPE_CHECKING:
    from .store import ZarrTiffStore

__all__ = ["ReadAhead"]

# How long the read-ahead thread waits for the foreground to finish before looking again.
_YIELD_SECONDS = 0.005
# Quiet time after the last chunk asked for before reading ahead: a view is asked for in a
# burst, and the viewer draws it right after; reading ahead then would slow both down.
_IDLE_SECONDS = 0.05
# How often an idle read-ahead thread looks whether its store is still there.
_ALIVE_SECONDS = 5.0
# Niceness of the read-ahead thread where the system sets it per thread (Linux).
_NICENESS = 10

_Box = tuple[int, int, int, int]  # chunk rows y0..y1, columns x0..x1, inclusive


def _place(store: ZarrTiffStore, ref: ChunkRef) -> tuple[int, int, int] | None:
    """(plane and depth index, chunk row, chunk column) of a spanned or single chunk."""
    if ref.segment is None:
        return None
    layout = store.index.levels[ref.level].grid.layout
    _, _, rows, columns = layout.grid
    base, x = divmod(ref.segment, columns)
    stack, y = divmod(base, rows)
    span_rows, span_columns = ref.span
    return stack, y // span_rows, x // span_columns


def _ref(store: ZarrTiffStore, level: int, page: int, place: tuple[int, int, int]) -> ChunkRef:
    stack, y, x = place
    grid = store.index.levels[level].grid
    _, _, rows, columns = grid.layout.grid
    span_rows, span_columns = grid.span
    first = (stack * rows + y * span_rows) * columns + x * span_columns
    return ChunkRef(level, page, first, grid.span)


def _chunk_rows_columns(store: ZarrTiffStore, level: int) -> tuple[int, int]:
    grid = store.index.levels[level].grid
    _, _, rows, columns = grid.layout.grid
    span_rows, span_columns = grid.span
    return -(-rows // span_rows), -(-columns // span_columns)


class ReadAhead:
    """The read-ahead of one store: notes views on zarr's loop, reads in its own thread."""

    def __init__(self, store: ZarrTiffStore, budget: int) -> None:
        self._owner = weakref.ref(store)
        self._budget = budget  # bytes of chunks planned per view at most
        self._lock = threading.Condition()
        self._pending: deque[ChunkRef] = deque()
        self._noted: list[ChunkRef] = []
        self._planned = False
        self._last: dict[tuple[int, int, int], _Box] = {}
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._busy_until = 0.0
        self.done = 0  # chunks decoded ahead, for benchmarks and tests

    def note(self, ref: ChunkRef) -> None:
        """A chunk zarr asked for; called on zarr's event loop thread."""
        self._busy_until = time.monotonic() + _IDLE_SECONDS
        with self._lock:  # zarr's loop, and a caller's own loop, may both read
            self._noted.append(ref)
            if self._planned:
                return
            self._planned = True
        asyncio.get_running_loop().call_soon(self._plan)

    def _plan(self) -> None:
        with self._lock:
            noted, self._noted = self._noted, []
            self._planned = False
        store = self._owner()
        if store is None or store.closed:
            return
        views: dict[tuple[int, int, int], list[tuple[int, int]]] = {}
        for ref in noted:
            place = _place(store, ref)
            if place is not None:
                stack, y, x = place
                views.setdefault((ref.level, ref.page, stack), []).append((y, x))
        plan: list[ChunkRef] = []
        for (level, page, stack), cells in views.items():
            box = (
                min(y for y, _ in cells),
                max(y for y, _ in cells),
                min(x for _, x in cells),
                max(x for _, x in cells),
            )
            previous = self._last.get((level, page, stack))
            self._last[(level, page, stack)] = box
            plan.extend(self._ring(store, level, page, stack, box, previous=previous))
        for (level, page, stack), cells in views.items():
            if level > 0 and store.is_multiscales:
                plan.extend(self._finer(store, level, page, stack, cells))
        chunk_bytes = [max(1, store.index.chunk_nbytes(ref.level)) for ref in plan]
        kept: list[ChunkRef] = []
        total = 0
        for ref, size in zip(plan, chunk_bytes, strict=True):
            if total + size > self._budget:
                break
            total += size
            kept.append(ref)
        with self._lock:
            self._pending = deque(dict.fromkeys(kept))  # the old view's plan is dropped
            if kept and self._thread is None and not self._stopped:
                self._thread = threading.Thread(
                    target=self._run, name="tiffzarr-readahead", daemon=True
                )
                self._thread.start()
            self._lock.notify()

    def _ring(
        self,
        store: ZarrTiffStore,
        level: int,
        page: int,
        stack: int,
        box: _Box,
        *,
        previous: _Box | None,
    ) -> list[ChunkRef]:
        rows, columns = _chunk_rows_columns(store, level)
        y0, y1, x0, x1 = box
        cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
        if previous is not None:  # lead in the direction the view moved
            cy += (y0 + y1) / 2 - (previous[0] + previous[1]) / 2
            cx += (x0 + x1) / 2 - (previous[2] + previous[3]) / 2
        cells = [
            (y, x)
            for y in range(max(0, y0 - 1), min(rows, y1 + 2))
            for x in range(max(0, x0 - 1), min(columns, x1 + 2))
            if not (y0 <= y <= y1 and x0 <= x <= x1)
        ]
        if previous is not None and (cy, cx) != ((y0 + y1) / 2, (x0 + x1) / 2):
            # the side the view came from was just read: only what lies ahead or aside
            dy, dx = cy - (y0 + y1) / 2, cx - (x0 + x1) / 2
            middle_y, middle_x = (y0 + y1) / 2, (x0 + x1) / 2
            cells = [c for c in cells if (c[0] - middle_y) * dy + (c[1] - middle_x) * dx >= 0]
        cells.sort(key=lambda c: (c[0] - cy) ** 2 + (c[1] - cx) ** 2)
        return [_ref(store, level, page, (stack, y, x)) for y, x in cells]

    def _finer(
        self, store: ZarrTiffStore, level: int, page: int, stack: int, cells: list[tuple[int, int]]
    ) -> list[ChunkRef]:
        """The chunks of level - 1 under the view's chunks, where its pages match."""
        coarse, fine = store.index.levels[level].grid, store.index.levels[level - 1].grid
        if fine.page_shape != coarse.page_shape or fine.layout.grid[:2] != coarse.layout.grid[:2]:
            return []
        (crows, ccolumns), (frows, fcolumns) = coarse.chunk_pixels(), fine.chunk_pixels()
        ylen, xlen = coarse.layout.shaped[2], coarse.layout.shaped[3]
        fylen, fxlen = fine.layout.shaped[2], fine.layout.shaped[3]
        rows, columns = _chunk_rows_columns(store, level - 1)
        found: dict[tuple[int, int], None] = {}
        for y, x in cells:
            top, bottom = y * crows * fylen // ylen, ((y + 1) * crows * fylen - 1) // ylen
            left, right = x * ccolumns * fxlen // xlen, ((x + 1) * ccolumns * fxlen - 1) // xlen
            for fy in range(top // frows, min(rows - 1, bottom // frows) + 1):
                for fx in range(left // fcolumns, min(columns - 1, right // fcolumns) + 1):
                    found[(fy, fx)] = None
        return [_ref(store, level - 1, page, (stack, y, x)) for y, x in found]

    def _run(self) -> None:
        if hasattr(os, "setpriority"):
            with suppress(OSError):  # Linux sets a thread's niceness by its native id
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _NICENESS)
        while True:
            with self._lock:
                while not self._pending and not self._stopped:
                    # the thread holds its store weakly: a store dropped unclosed ends it
                    if not self._lock.wait(_ALIVE_SECONDS) and self._owner() is None:
                        return
                if self._stopped:
                    return
            store = self._owner()
            if store is None or store.closed or not self._step(store):
                return
            del store  # not held while waiting

    def _step(self, store: ZarrTiffStore) -> bool:
        """Read one planned chunk ahead, or wait for the foreground; False when closed."""
        if store.decoding_busy or time.monotonic() < self._busy_until:
            with self._lock:  # the foreground is reading: let it have the cores
                self._lock.wait(_YIELD_SECONDS)
            return True
        with self._lock:
            if not self._pending:
                return True
            ref = self._pending.popleft()
        if store.cached_chunk(ref) is not None:
            return True
        try:
            store.read_ahead_chunk(ref)
        except (TiffFileError, OSError):
            pass  # a read of it in the foreground meets and reports the same error
        else:
            self.done += 1
        return not store.closed

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._pending.clear()
            self._lock.notify()
