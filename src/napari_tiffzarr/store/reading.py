"""Reading one chunk: its bytes (read here, or fetched already in a batch), then decoded.

What the store does per chunk on a decoding thread, apart from the zarr protocol: check
the page against its level's keyframe, read the segment under the store's lock, decode it
with the page's SegmentDecoder, and apply on_error to what the file's content breaks.
"""

from __future__ import annotations

import warnings
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import numpy as np

from ..errors import TiffFileError
from ..tiff.codecs import SegmentDecoder
from ..tiff.page import TiffPage
from .batching import Fetched, fetch_chunk
from .index import ChunkIndex
from .keys import ChunkRef

__all__ = ["ChunkReader", "TiffChunkWarning"]


class TiffChunkWarning(UserWarning):
    """A chunk could not be read and shows the fill value instead."""


class ChunkReader:
    """Reads and decodes the chunks of an index, remembering the ones that failed."""

    def __init__(self, index: ChunkIndex, lock: AbstractContextManager[Any] | None) -> None:
        self.index = index
        self._lock = lock or nullcontext()
        self._decoders: dict[tuple[int, int], SegmentDecoder] = {}
        self.failed: set[ChunkRef] = set()  # unreadable, shown as the fill value

    async def fetch(self, ref: ChunkRef) -> Fetched | None:
        """A remote chunk's bytes, fetched with the others asked for in this turn; None
        where read() should read them itself."""
        return None if ref in self.failed else await fetch_chunk(self.index, ref)

    def read(self, ref: ChunkRef, data: Fetched | None = None) -> np.ndarray | None:
        """Decode one chunk at full chunk size, or None where it is missing or sparse.

        data are the chunk's stored bytes where they were fetched already (or why they
        could not be).  With on_error='fill', a chunk that cannot be read is missing (zarr
        fills it) and the first such failure is warned about once: a viewer should show
        the fill value, not raise on every frame.  The default raises, as a library should.
        """
        if ref in self.failed:
            return None  # known unreadable: do not decode it again for every frame
        try:
            return self._read(ref, data)
        except TiffFileError as exc:
            if self.index.config.on_error == "raise":
                raise
            self.failed.add(ref)
            if len(self.failed) == 1:
                warnings.warn(
                    f"{exc}; unreadable chunks show the fill value {self.index.fillvalue}",
                    TiffChunkWarning,
                    stacklevel=3,
                )
            return None

    def _read(self, ref: ChunkRef, data: Fetched | None) -> np.ndarray | None:
        index = self.index
        page = index.page(ref)
        if page is None:
            return None
        keyframe = index.levels[ref.level].keyframe
        if page is not keyframe and (
            page.layout != keyframe.layout or page.dtype != keyframe.dtype
        ):
            raise TiffFileError(
                f"{page.name}: shape, type or strips and tiles differ from the series' first page"
            )
        if ref.segment is None:
            config = index.config
            return page.asarray(
                maxworkers=config.maxworkers,
                buffersize=config.buffersize,
                fillvalue=index.fillvalue,
            )
        if isinstance(data, BaseException):
            raise data
        if data is None:
            segment = page.segment_range(ref.segment)
            if segment is None:
                return None
            with self._lock:
                data = page.source.read(*segment)
        return self._decoder(page).decode(data, ref.segment)

    def _decoder(self, page: TiffPage) -> SegmentDecoder:
        # pages of a multi-file series may share offsets: the file is part of the key
        key = (id(page.source), page.offset)
        decoder = self._decoders.get(key)
        if decoder is None:
            decoder = SegmentDecoder(page.coding(self.index.fillvalue), page.dtype)
            self._decoders[key] = decoder
        return decoder
