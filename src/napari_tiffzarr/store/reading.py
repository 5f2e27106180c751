"""Reading one chunk: its bytes (read here, or fetched already in a batch), then decoded.

What the store does per chunk on a decoding thread, apart from the zarr protocol: look in
the decoded-chunk cache, check the page against its level's keyframe, read the segment (or
the segments of a spanned chunk) under the store's lock, decode with the page's
SegmentDecoder, keep the result in the cache, and apply on_error to what the file's
content breaks.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from functools import cached_property
from typing import Any

import numpy as np

from ..errors import TiffFileError
from ..tiff.codecs import SegmentDecoder
from ..tiff.page import TiffPage
from .batching import ChunkData, fetch_chunk
from .cache import ChunkCache, shared_cache
from .index import ChunkIndex
from .keys import ChunkRef
from .tiles import chunk_segments, decode_segments

_CPUS = os.cpu_count() or 1

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
        self.partly_failed: set[ChunkRef] = set()  # spanned chunks with unreadable tiles

    @cached_property
    def cache(self) -> ChunkCache:
        """The decoded chunks of the file, shared with its other stores."""
        return shared_cache(self.index.series.keyframe.source, self.index.config.cachesize)

    def cache_key(self, page: TiffPage, ref: ChunkRef) -> tuple[Any, ...]:
        return (page_key(page), ref.segment, ref.span, self.index.fillvalue)

    def cached(self, ref: ChunkRef) -> np.ndarray | None:
        """The chunk if it is decoded already, without reading anything.  A miss is
        counted by the read that follows it."""
        if ref in self.failed:
            return None
        page = self.index.page(ref)
        if page is None:
            return None
        return self.cache.get(self.cache_key(page, ref), count_miss=False)

    @property
    def errors(self) -> int:
        return len(self.failed) + len(self.partly_failed)

    async def fetch(self, ref: ChunkRef, key: str | None = None) -> ChunkData | None:
        """A remote chunk's bytes, fetched with the others asked for in this turn (key,
        where given, lets that turn fetch the chunks zarr asks for next); None where
        read() should read them itself."""
        return None if ref in self.failed else await fetch_chunk(self.index, ref, key)

    def read(
        self, ref: ChunkRef, data: ChunkData | None = None, workers: int | None = None
    ) -> np.ndarray | None:
        """Decode one chunk at full chunk size, or None where it is missing or sparse.

        data are the chunk's stored bytes where they were fetched already (or why they
        could not be).  With on_error='fill', a chunk that cannot be read is missing (zarr
        fills it) and the first such failure is warned about once: a viewer should show
        the fill value, not raise on every frame.  The default raises, as a library should.
        """
        if ref in self.failed:
            return None  # known unreadable: do not decode it again for every frame
        try:
            return self._read(ref, data, workers)
        except TiffFileError as exc:
            if self.index.config.on_error == "raise":
                raise
            self.failed.add(ref)
            self._warn_once(exc)
            return None

    def _warn_once(self, exc: TiffFileError) -> None:
        if self.errors == 1:
            warnings.warn(
                f"{exc}; unreadable chunks show the fill value {self.index.fillvalue}",
                TiffChunkWarning,
                stacklevel=4,
            )

    def _read(
        self, ref: ChunkRef, data: ChunkData | None, workers: int | None
    ) -> np.ndarray | None:
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
        cache = self.cache
        key = self.cache_key(page, ref)
        found = cache.get(key)
        if found is not None:
            return found
        generation = cache.generation  # before the bytes are read: see ChunkCache
        array = self._decode(page, ref, data, workers)
        if array is not None:
            cache.put(key, array, generation)
        return array

    def _decode(
        self, page: TiffPage, ref: ChunkRef, data: ChunkData | None, workers: int | None
    ) -> np.ndarray | None:
        index = self.index
        if ref.segment is None:
            config = index.config
            return page.asarray(
                maxworkers=config.maxworkers,
                buffersize=config.buffersize,
                fillvalue=index.fillvalue,
            )
        if ref.span != (1, 1):
            fetched = data if isinstance(data, Mapping) else {}
            return self._decode_spanned(page, ref, fetched, workers)
        segment = page.segment_range(ref.segment)
        if isinstance(data, Mapping):  # fetched by range, as read-ahead does
            data = None if segment is None else data.get(segment)
        if isinstance(data, BaseException):
            raise data
        if data is None:
            if segment is None:
                return None
            with self._lock:
                data = page.source.read(*segment)
        return self._decoder(page).decode(data, ref.segment)

    def _decode_spanned(
        self,
        page: TiffPage,
        ref: ChunkRef,
        fetched: Mapping[tuple[int, int], bytes | BaseException | None],
        workers: int | None,
    ) -> np.ndarray | None:
        """A chunk of several segments, decoded in parallel into one padded buffer."""
        tiles = chunk_segments(page.layout, ref)
        ranges = [page.segment_range(i) for i, _, _ in tiles]
        if all(found is None for found in ranges):
            return None  # wholly sparse: zarr fills it, as for a single segment
        located = dict(zip((i for i, _, _ in tiles), ranges, strict=True))
        depth, length, width, samples = page.layout.segment
        rows, columns = ref.span
        out = np.full(
            (depth, length * rows, width * columns, samples), self.index.fillvalue, page.dtype
        )
        decoder = self._decoder(page)
        on_error = self.index.config.on_error

        def decode(segment: int) -> np.ndarray | None:
            found = located[segment]
            if found is None:
                return None
            try:
                blob = fetched.get(found)
                if isinstance(blob, BaseException):
                    raise blob
                if blob is None:
                    with self._lock:
                        blob = page.source.read(*found)
                return decoder.decode(blob, segment)
            except TiffFileError as exc:
                if on_error == "raise":
                    raise
                # one bad tile shows the fill value, not the fifteen good ones beside it
                self.partly_failed.add(ref)
                self._warn_once(exc)
                return None

        config = self.index.config
        decode_segments(
            out, page.layout.segment, tiles, decode, workers or config.maxworkers or _CPUS
        )
        return out

    def _decoder(self, page: TiffPage) -> SegmentDecoder:
        # pages of a multi-file series may share offsets: the file is part of the key
        key = (id(page.source), page.offset)
        decoder = self._decoders.get(key)
        if decoder is None:
            decoder = SegmentDecoder(page.coding(self.index.fillvalue), page.dtype)
            self._decoders[key] = decoder
        return decoder


def page_key(page: TiffPage) -> tuple[Any, ...]:
    """A page as every store of its file names it: the file, the IFD's offset and the
    page's index, since the frames of an ImageJ or shaped stack share their first IFD."""
    source = page.source
    return (source.path or id(source), page.offset, page.index)
