"""Chunks that span several strips or tiles: which segments, and decoding them together.

zarr's own work per chunk, in Python on its one event-loop thread, costs more than
decoding a 256 x 256 JPEG tile; a chunk of 4 x 4 tiles pays it once for sixteen tiles.
The tiles of one chunk are decoded in parallel, straight into the chunk's buffer.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..tiff.layout import SegmentLayout
from .keys import ChunkRef

__all__ = ["chunk_segments", "decode_segments"]

_CPUS = os.cpu_count() or 1
# threads start on first use; tile decodes never wait on anything, so the store's own
# threads may wait on them without a deadlock
_pool = ThreadPoolExecutor(_CPUS, thread_name_prefix="tiffzarr-tiles")


def chunk_segments(layout: SegmentLayout, ref: ChunkRef) -> list[tuple[int, int, int]]:
    """(segment index, row, column of the segment in the chunk) of every segment inside the
    page; segments of an edge chunk beyond the page are left out and read as fill."""
    assert ref.segment is not None  # whole pages are not spanned
    _, _, rows, columns = layout.grid
    first = ref.segment
    base, x0 = divmod(first, columns)
    y0 = base % rows
    span_rows, span_columns = ref.span
    return [
        (first + row * columns + column, row, column)
        for row in range(min(span_rows, rows - y0))
        for column in range(min(span_columns, columns - x0))
    ]


def decode_segments(
    out: np.ndarray,
    segment: tuple[int, int, int, int],
    tiles: Sequence[tuple[int, int, int]],
    decode: Callable[[int], np.ndarray | None],
    workers: int,
) -> None:
    """Decode tiles into out, a (depth, length, width, samples) chunk already holding the
    fill value; decode(index) gives one full segment, or None where it is sparse.

    The calling thread takes a share itself, so a chunk never waits for a free thread to
    start; the rest go to a shared pool, one share per core.
    """
    _, length, width, _ = segment

    def run(share: Sequence[tuple[int, int, int]]) -> None:
        for index, row, column in share:
            array = decode(index)
            if array is not None:
                y, x = row * length, column * width
                out[:, y : y + length, x : x + width] = array

    shares = max(1, min(workers, len(tiles)))
    parts = [tiles[i::shares] for i in range(shares)]
    futures = [_pool.submit(run, part) for part in parts[1:]]
    try:
        run(parts[0])
    finally:
        # every share finishes before out is handed on, and the first error is raised
        errors = [f.exception() for f in futures]
    for error in errors:
        if error is not None:
            raise error
