"""Writing chunks back into a TIFF opened for update, in place and only where it is safe.

Only what can be written without re-encoding is written: uncompressed, unpredicted,
byte-aligned samples in a strip or tile that already has its bytes in the file.  The
bytes go in the file's own byte order.  Everything else is refused before a byte is written.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

import numpy as np

from ..tiff.codecs import why_not_raw
from ..tiff.page import TiffPage
from .index import ChunkIndex
from .keys import ChunkRef

__all__ = ["erase_chunk", "write_chunk"]


def _refusal(page: TiffPage, ref: ChunkRef) -> str | None:
    if ref.segment is None:
        return "whole-page chunks (chunkmode 2) cannot be written"
    if ref.span != (1, 1):
        return "chunks of several strips or tiles (chunkshape) cannot be written"
    reason = why_not_raw(page)
    return None if reason is None else f"{reason} cannot be written in place"


def write_chunk(
    page: TiffPage,
    ref: ChunkRef,
    chunk: np.ndarray,
    lock: AbstractContextManager[Any] | None = None,
) -> None:
    """Write one full-size chunk's bytes over its strip or tile in the file."""
    refusal = _refusal(page, ref)
    if refusal is not None:
        raise ValueError(f"{page.name}: {refusal}")
    assert ref.segment is not None  # _refusal checked it
    segment = page.segment_range(ref.segment)
    if segment is None:
        raise ValueError(
            f"{page.name}: segment {ref.segment} is sparse: it has no bytes to overwrite"
        )
    layout = page.layout
    stored = np.dtype(page.header.byteorder + page.dtype.char)
    values = np.frombuffer(chunk.tobytes(), page.dtype)
    if values.size != int(np.prod(layout.segment)):
        raise ValueError(
            f"{page.name}: chunk of {values.size} samples does not fill segment {layout.segment}"
        )
    values = values.reshape(layout.segment)
    if not layout.tiled:
        # a strip holds only the rows inside the image
        values = values[:, : layout.valid_shape(ref.segment)[1]]
    data = values.astype(stored, copy=False).tobytes()
    offset, length = segment
    if len(data) != length:
        raise ValueError(
            f"{page.name}: segment {ref.segment} has {length} bytes in the file, "
            f"the chunk {len(data)}: refusing to write"
        )
    write = getattr(page.source, "write", None)
    if write is None or not getattr(page.source, "writable", False):
        raise PermissionError(f"{page.name}: the file is not open for update")
    with lock or nullcontext():
        write(offset, data)


def erase_chunk(
    index: ChunkIndex, ref: ChunkRef, lock: AbstractContextManager[Any] | None = None
) -> None:
    """Write the fill value over a stored chunk: what zarr means by deleting it.  A sparse
    chunk, or one of a page the series lacks, already reads as the fill value."""
    page = index.page(ref)
    if page is None or (ref.segment is not None and page.segment_range(ref.segment) is None):
        return
    fill = np.full(index.levels[ref.level].grid.chunks, index.fillvalue, index.series.dtype)
    write_chunk(page, ref, fill.reshape(-1).view(np.uint8), lock)
