"""Reading chunks of one store: their bytes (read here, or fetched already), then decoded.

What a decoding thread does per chunk, apart from the zarr protocol: look in the
decoded-chunk cache, check the page against its level's keyframe, read the segment (or
the segments of a spanned chunk) under the store's lock, decode with the page's
SegmentDecoder (one for all pages that decode alike), keep the result in the cache, and
apply on_error to what the file's content breaks.  A run of single-segment chunks of one
page is read with one coalesced read before they are decoded one after the other on the
same thread.
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from functools import partial
from typing import Any, NamedTuple
from weakref import WeakKeyDictionary

import numpy as np

from ...errors import TiffFileError
from ...tiff.codecs import SegmentDecoder
from ...tiff.page import TiffPage
from ..index import ChunkIndex
from ..keys import ChunkRef, chunk_segments
from .cache import ChunkCache
from .memory import ChunkMemory

__all__ = [
    "DECODERS_KEPT",
    "ChunkData",
    "ChunkReader",
    "Fetched",
    "Stored",
    "TiffChunkWarning",
    "page_key",
]

Fetched = bytes | BaseException  # a segment's bytes, or why they could not be fetched
# what a read is given: one segment's, or for a chunk of several segments each one's by range
ChunkData = Fetched | Mapping[tuple[int, int], Fetched | None]
# runs the parts of one chunk, the calling thread among those that run them
Share = Callable[[Sequence[Callable[[], None]]], None]
# runs the parts of one chunk read ahead, given whether a read waits for that chunk, and
# handing what runs the parts left to whoever may help
ShareAhead = Callable[
    [Sequence[Callable[[], None]], Callable[[], bool], Callable[[Callable[[], None]], None]],
    None,
]

# Decoders a reader keeps, one per set of coding parameters, least recently used dropped:
# a series' pages decode alike (a stack, the files of a dataset), its levels in a few ways
DECODERS_KEPT = 16


class Stored(NamedTuple):
    """Where a chunk is read from and kept: its page, and its key in the cache.  Found
    once per chunk zarr asks for, by the look in the cache, and handed to its decode."""

    page: TiffPage
    key: tuple[Hashable, ...]


class TiffChunkWarning(UserWarning):
    """A chunk could not be read and shows the fill value instead."""


def _serially(parts: Sequence[Callable[[], None]]) -> None:
    for part in parts:
        part()


def _serially_ahead(
    parts: Sequence[Callable[[], None]],
    wanted: Callable[[], bool],
    helped_by: Callable[[Callable[[], None]], None],
) -> None:
    """Nothing to give way to, nobody to help."""
    _serially(parts)


class ChunkReader:
    """Reads and decodes the chunks of one store's index into its file's cache,
    remembering the ones that failed."""

    def __init__(
        self,
        index: ChunkIndex,
        cache: ChunkCache,
        lock: AbstractContextManager[Any] | None,
        share: Share = _serially,
        share_ahead: ShareAhead = _serially_ahead,
        *,
        memory: ChunkMemory | None = None,
        readahead: bool = False,
        parts_ahead: int = 1,
    ) -> None:
        self.index = index
        self.cache = cache
        self._lock = lock  # the store's, held around reads of the file where given
        self._memory = memory or ChunkMemory()  # where chunks of several segments are made
        self._share = share
        self._share_ahead = share_ahead
        # the parts a chunk read ahead is cut into: one for each thread that shares them
        self._parts_ahead = parts_ahead
        # whether the views of this store feed the scheduler's prefetch; the store's
        # readahead, which a viewer turns on once a layer is open (the store's config
        # then, not the index's, which keeps the config of the metadata's first read)
        self.readahead = readahead
        # each page's decoder, found once per page through the page whose parameters its
        # are (pages alike one model: one look-up of parameters for all of them); the
        # decoders themselves, by parameters
        self._page_decoders: dict[tuple[int, int], SegmentDecoder] = {}
        # each page read, by level and index, with its part of the cache's keys
        self._pages: dict[tuple[int, int], tuple[TiffPage, tuple[Any, ...]]] = {}
        self._like_decoders: WeakKeyDictionary[TiffPage, SegmentDecoder] = WeakKeyDictionary()
        self._decoders: OrderedDict[tuple[Hashable, ...], SegmentDecoder] = OrderedDict()
        self._decoders_lock = threading.Lock()  # decoding threads find decoders at once
        self.failed: set[ChunkRef] = set()  # unreadable, shown as the fill value
        self.partly_failed: set[ChunkRef] = set()  # spanned chunks with unreadable tiles

    def stored(self, ref: ChunkRef) -> Stored | None:
        """Where ref's chunk is read from and kept, or None where nothing is to be read:
        its page is absent from the series, or the chunk is known to be unreadable.
        Raises TiffFileError where the page, parsed on first use, is broken."""
        if ref in self.failed:
            return None
        found = self._pages.get((ref.level, ref.page))
        if found is None:
            page = self.index.page(ref)
            if page is None:
                return None
            found = self._pages[ref.level, ref.page] = (page, page_key(page))
        page, key = found
        return Stored(page, (key, ref.segment, ref.span, self.index.fillvalue))

    @property
    def errors(self) -> int:
        return len(self.failed) + len(self.partly_failed)

    def read(
        self,
        ref: ChunkRef,
        data: ChunkData | None = None,
        *,
        generation: int | None = None,
        ahead: bool = False,
        parts: int | None = None,
        stored: Stored | None = None,
    ) -> np.ndarray | None:
        """Decode one chunk at full chunk size, or None where it is missing or sparse.

        data are the chunk's stored bytes where they were read already (or why they could
        not be), and generation the cache's generation from before they were read.  A
        chunk read ahead is decoded on the calling thread alone and never waits for
        another thread's decode of it (the prefetch threads mark what they decode).  With
        on_error='fill', a chunk that cannot be read is missing (zarr fills it) and the
        first such failure is warned about once: a viewer should show the fill value,
        not raise on every frame.  The default raises, as a library should.  parts: the
        parts a chunk of several segments read ahead is cut into (None: parts_ahead).
        stored: what stored(ref) gave the caller already.
        """
        try:
            if stored is None:
                # None also where the chunk is known unreadable: not decoded for every frame
                stored = self.stored(ref)
                if stored is None:
                    return None
            return self._read(ref, stored, data, generation, ahead, parts=parts)
        except TiffFileError as exc:
            self._fail(ref, exc)
            return None

    def _fail(self, ref: ChunkRef, exc: TiffFileError) -> None:
        """Raise exc, or with on_error='fill' remember ref as unreadable and warn once."""
        if self.index.config.on_error == "raise":
            raise exc
        self.failed.add(ref)
        self._warn_once(exc)

    def read_run(self, refs: Sequence[ChunkRef]) -> dict[tuple[int, int], Fetched]:
        """The stored bytes of single-segment chunks of one page, read together: ranges
        that lie close are one read.  Empty where the caller should read each itself."""
        page = self.index.page(refs[0]) if refs else None
        if page is None or len(refs) < 2:
            return {}
        try:
            ranges = [found for found in map(self._segment_range, refs) if found is not None]
            with self._lock or nullcontext():
                blobs = page.source.read_ranges(ranges)
        except (TiffFileError, OSError):
            return {}  # each chunk's own read meets the error and reports it as usual
        return dict(zip(ranges, blobs, strict=True))

    def _segment_range(self, ref: ChunkRef) -> tuple[int, int] | None:
        page = self.index.page(ref)
        if page is None or ref.segment is None or ref.span != (1, 1):
            return None
        return page.segment_range(ref.segment)

    def _warn_once(self, exc: TiffFileError) -> None:
        if self.errors == 1:
            warnings.warn(
                f"{exc}; unreadable chunks show the fill value {self.index.fillvalue}",
                TiffChunkWarning,
                stacklevel=4,
            )

    def _read(
        self,
        ref: ChunkRef,
        stored: Stored,
        data: ChunkData | None,
        generation: int | None,
        ahead: bool,
        *,
        parts: int | None = None,
    ) -> np.ndarray | None:
        page, key = stored
        keyframe = self.index.levels[ref.level].keyframe
        if page is not keyframe and (
            page.layout != keyframe.layout or page.dtype != keyframe.dtype
        ):
            raise TiffFileError(
                f"{page.name}: shape, type or strips and tiles differ from the series' first page"
            )
        cache = self.cache
        found = cache.get(key, count_miss=not ahead)  # misses count what reads wait for
        if found is None and not ahead:
            found = cache.wait_decoding(key)  # a prefetch thread decodes it right now
        if found is not None:
            return found
        if generation is None:
            generation = cache.generation  # before the bytes are read: see ChunkCache
        array = self._decode(page, ref, data, key if ahead else None, parts)
        if array is not None:
            cache.put(key, array, generation)
        return array

    def _decode(
        self,
        page: TiffPage,
        ref: ChunkRef,
        data: ChunkData | None,
        ahead: tuple[Hashable, ...] | None,
        parts: int | None = None,
    ) -> np.ndarray | None:
        """ahead: the chunk's cache key where it is read ahead (on one thread, giving way
        to the foreground, in parts), None where zarr waits for it (on every thread
        free)."""
        index = self.index
        if ref.segment is None:
            config = index.config
            return page.asarray(
                maxworkers=1 if ahead else config.maxworkers,
                buffersize=config.buffersize,
                fillvalue=index.fillvalue,
            )
        if ref.span != (1, 1):
            fetched = data if isinstance(data, Mapping) else {}
            return self._decode_spanned(page, ref, fetched, ahead, parts)
        segment = page.segment_range(ref.segment)
        if data is not None:
            if isinstance(data, Mapping):  # fetched by range, with other chunks' segments
                data = None if segment is None else data.get(segment)
            if isinstance(data, BaseException):
                raise data
        if data is None:
            if segment is None:
                return None
            data = self._read_segment(page, segment)
        return self.decoder(page).decode(data, ref.segment, page.name)

    def _read_segment(self, page: TiffPage, segment: tuple[int, int]) -> bytes:
        """The bytes of one segment, under the store's lock where it has one."""
        if self._lock is None:
            return page.source.read(*segment)
        with self._lock:
            return page.source.read(*segment)

    def _decode_spanned(
        self,
        page: TiffPage,
        ref: ChunkRef,
        fetched: Mapping[tuple[int, int], Fetched | None],
        ahead: tuple[Hashable, ...] | None,
        parts: int | None = None,
    ) -> np.ndarray | None:
        """A chunk of several segments decoded into one padded buffer, a row of its
        segments at a time: one read per row, each row on whichever thread is free, and
        where the coding allows, one call into the codec per row (see tilerow)."""
        tiles = chunk_segments(page.layout, ref)
        located = {i: page.segment_range(i) for i, _, _ in tiles}
        if all(found is None for found in located.values()):
            return None  # wholly sparse: zarr fills it, as for a single segment
        depth, length, width, samples = page.layout.segment
        rows, columns = ref.span
        out = self._memory.empty((depth, length * rows, width * columns, samples), page.dtype)
        out[...] = self.index.fillvalue  # where a tile is missing, or unreadable
        decoder = self.decoder(page)
        on_error = self.index.config.on_error

        def decode_rows(rows: list[list[tuple[int, int, int]]]) -> None:
            tiles = [tile for row in rows for tile in row]
            wanted = [located[i] for i, _, _ in tiles]
            blobs: dict[tuple[int, int], Fetched | None] = {
                r: fetched[r] for r in wanted if r is not None and fetched.get(r) is not None
            }
            missing = [r for r in wanted if r is not None and r not in blobs]
            if len(missing) > 1:
                try:
                    with self._lock or nullcontext():
                        blobs.update(zip(missing, page.source.read_ranges(missing), strict=True))
                except (TiffFileError, OSError):
                    pass  # each tile's own read below meets the error and reports it
            if decoder.decodes_rows and self._decoded_rows(
                decoder, page, rows, wanted, blobs, out=out
            ):
                return
            for (segment, y, x), found in zip(tiles, wanted, strict=True):
                if found is None:
                    continue
                try:
                    tile = decoder.decode(self._blob(page, found, blobs), segment, page.name)
                except TiffFileError as exc:
                    if on_error == "raise":
                        raise
                    # one bad tile shows the fill value, not the fifteen good ones beside it
                    self.partly_failed.add(ref)
                    self._warn_once(exc)
                    continue
                y0, x0 = y * length, x * width
                out[:, y0 : y0 + length, x0 : x0 + width] = tile

        by_row: dict[int, list[tuple[int, int, int]]] = {}
        for tile in tiles:
            by_row.setdefault(tile[1], []).append(tile)
        tile_rows = list(by_row.values())
        if ahead is None:
            # a row a part, on every thread free: zarr waits for the whole chunk
            self._share([partial(decode_rows, [row]) for row in tile_rows])
            return out
        # read ahead, while a viewer draws: in parts (parts_ahead, unless the plan says),
        # each one call into the codec where the coding allows (see tilerow), giving way
        # to the reads zarr waits for before each (unless one waits for this chunk): a
        # frame read ahead delays a jump elsewhere by a part, not by the frame
        size = -(-len(tile_rows) // max(1, parts or self._parts_ahead))
        groups = [tile_rows[i : i + size] for i in range(0, len(tile_rows), size)]
        cache = self.cache
        self._share_ahead(
            [partial(decode_rows, group) for group in groups],
            lambda: cache.wanted(ahead),
            lambda work: cache.help_with(ahead, work),
        )
        return out

    def _blob(
        self, page: TiffPage, found: tuple[int, int], read: Mapping[tuple[int, int], Any]
    ) -> bytes:
        """A segment's stored bytes: fetched or read already, or read now; the error of a
        fetch that failed is raised."""
        blob = read.get(found)
        if isinstance(blob, BaseException):
            raise blob
        return self._read_segment(page, found) if blob is None else blob

    def _decoded_rows(
        self,
        decoder: SegmentDecoder,
        page: TiffPage,
        rows: list[list[tuple[int, int, int]]],
        wanted: list[tuple[int, int] | None],
        read: Mapping[tuple[int, int], Any],
        *,
        out: np.ndarray,
    ) -> bool:
        """Decode consecutive rows of a chunk's tiles in one call (see tilerow) where all
        of them are stored, and copy them into the chunk at once: False where the caller
        decodes them one by one instead."""
        if None in wanted:
            return False
        try:
            tiles = [self._blob(page, found, read) for found in wanted if found is not None]
        except (TiffFileError, OSError):
            return False
        _, length, width, samples = page.layout.segment
        decoded = np.empty((len(tiles), length, width, samples), page.dtype)
        if not decoder.decode_row_into(tiles, decoded):
            return False
        count, across = len(rows), len(rows[0])
        _, chunk_length, chunk_width, _ = out.shape  # a tile's depth is 1 here
        # the chunk as rows of tiles, each a tile's rows of tiles side by side
        by_tile = out.reshape(chunk_length // length, length, chunk_width // width, width, samples)
        first = rows[0][0][1]
        by_tile[first : first + count, :, :across] = decoded.reshape(
            count, across, length, width, samples
        ).transpose(0, 2, 1, 3, 4)
        return True

    def decoder(self, page: TiffPage) -> SegmentDecoder:
        """The decoder of page's segments, shared with the pages that decode alike."""
        # pages of a multi-file series may share offsets: the file is part of the key
        key = (id(page.source), page.offset)
        decoder = self._page_decoders.get(key)
        if decoder is None:
            like = page.coded_like  # the page whose parameters these are, worked out once
            decoder = self._like_decoders.get(like)
            if decoder is None:
                decoder = self._like_decoders[like] = self._shared_decoder(like)
            self._page_decoders[key] = decoder
        return decoder

    def _shared_decoder(self, page: TiffPage) -> SegmentDecoder:
        """The decoder of every page with this page's coding parameters and type: built
        once for them (its tables, its checks), not once per page."""
        params = page.coding(self.index.fillvalue)
        key = (params, page.dtype)
        try:
            hash(key)
        except TypeError:  # a fill value that cannot be a key: this page's own decoder
            return SegmentDecoder(params, page.dtype)
        with self._decoders_lock:
            decoder = self._decoders.get(key)
            if decoder is not None:
                self._decoders.move_to_end(key)
                return decoder
            decoder = self._decoders[key] = SegmentDecoder(params, page.dtype)
            if len(self._decoders) > DECODERS_KEPT:
                self._decoders.popitem(last=False)
        return decoder


def page_key(page: TiffPage) -> tuple[Any, ...]:
    """A page as every store of its file names it: the file, the IFD's offset and the
    page's index, since the frames of an ImageJ or shaped stack share their first IFD."""
    source = page.source
    return (source.path or id(source), page.offset, page.index)
