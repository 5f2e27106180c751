"""ZarrTiffStore: a read-mostly zarr-python 3 store over a TIFF page, series or pyramid.

The store is a frozen StoreConfig, the series it serves and its file's read scheduler,
set in one place.  Keys, metadata and listing come from the ChunkIndex; chunks are read,
decoded, cached and prefetched by the ReadScheduler that all stores of the file share,
so zarr's many concurrent requests decode on every core while the event loop only waits.
A chunk comes back at its full size, edge chunks padded, in native byte order, so zarr
needs nothing but the ``bytes`` codec.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any, TextIO, TypeVar, Unpack

import numpy as np
from zarr.abc.store import (
    ByteRequest,
    OffsetByteRequest,
    RangeByteRequest,
    Store,
    SuffixByteRequest,
)
from zarr.core.buffer import Buffer, BufferPrototype
from zarr.core.buffer.core import default_buffer_prototype

from ..errors import TiffClosedError
from ..tiff.page import TiffPage
from ..tiff.series import TiffPageSeries
from .config import CHUNKMODE, Layout, OnError, StoreConfig, ZarrFormat
from .index import ChunkIndex
from .keys import ChunkRef
from .location import StoreLocation, home_source, target_of
from .metadata import chunk_dtype
from .scheduler import ChunkCache, ChunkReader, ReadScheduler, TiffChunkWarning, page_key
from .writing import erase_chunk, write_chunk

if TYPE_CHECKING:
    from ..references import FsspecOptions

Made = TypeVar("Made")  # what a caller makes of a view's chunks

__all__ = ["CHUNKMODE", "TiffChunkWarning", "ZarrTiffStore"]


class ZarrTiffStore(Store):
    """Zarr store over a TIFF page or series, with the parameters of tifffile's."""

    supports_writes: bool = True
    supports_deletes: bool = False
    supports_listing: bool = True

    def __init__(
        self,
        arg: TiffPage | TiffPageSeries,
        /,
        *,
        level: int | None = None,
        chunkmode: CHUNKMODE | int | str | None = None,
        fillvalue: int | float | None = None,
        zattrs: Mapping[str, Any] | None = None,
        multiscales: bool | None = None,
        lock: AbstractContextManager[Any] | None = None,
        squeeze: bool | None = None,
        maxworkers: int | None = None,
        buffersize: int | None = None,
        zarr_format: ZarrFormat = 3,
        read_only: bool | None = None,
        on_error: OnError = "raise",
        chunkshape: int | Sequence[int] | None = None,
        cachesize: int | None = None,
        readahead: bool = False,
        layout: Layout = "tifffile",
    ) -> None:
        series = _as_series(arg)
        config = StoreConfig.resolve(
            len(series.levels),
            level=level,
            multiscales=multiscales,
            chunkmode=chunkmode,
            zattrs=zattrs,
            zarr_format=zarr_format,
            on_error=on_error,
            fillvalue=fillvalue,
            squeeze=squeeze,
            maxworkers=maxworkers,
            buffersize=buffersize,
            chunkshape=chunkshape,
            cachesize=cachesize,
            readahead=readahead,
            layout=layout,
        )
        if read_only is None:
            read_only = not getattr(home_source(series), "writable", False)
        self._start(config, series, None, lock, read_only)

    def _start(
        self,
        config: StoreConfig,
        series: TiffPageSeries | None,
        location: StoreLocation | None,
        lock: AbstractContextManager[Any] | None,
        read_only: bool,
    ) -> None:
        """Set every field: the one place for the constructor, copies and unpickling."""
        super().__init__(read_only=read_only)
        self.config = config
        self._series = series  # None until an unpickled store opens location
        self._location = location
        self._opening = threading.Lock()
        self._lock = lock
        self._closed = False

    def _copy(self, config: StoreConfig, read_only: bool) -> ZarrTiffStore:
        """A store over the same open series and lock, with config."""
        copy = ZarrTiffStore.__new__(ZarrTiffStore)
        ZarrTiffStore._start(copy, config, self.series, None, self._lock, read_only)
        return copy

    def with_read_only(self, read_only: bool = False) -> ZarrTiffStore:
        return self._copy(self.config, read_only)

    def with_zarr_format(self, zarr_format: ZarrFormat) -> ZarrTiffStore:
        """A read-only twin serving the same chunks in the other zarr format."""
        if zarr_format not in (2, 3):
            raise ValueError(f"zarr_format must be 2 or 3, not {zarr_format}")
        return self._copy(self.config.replace(zarr_format=zarr_format), True)

    def with_layout(self, layout: Layout) -> ZarrTiffStore:
        """A read-only twin serving the same chunks in the other layout (a series of one
        level as a group in NGFF's, which lives on groups)."""
        if layout not in ("tifffile", "ngff"):
            raise ValueError(f"layout must be 'tifffile' or 'ngff', not {layout!r}")
        single = len(self.series.levels) == 1 and layout == "ngff"
        multiscales = self.config.multiscales or single
        return self._copy(self.config.replace(layout=layout, multiscales=multiscales), True)

    # -- what the store serves ----------------------------------------------------------
    @property
    def series(self) -> TiffPageSeries:
        """The series served; a store made by unpickling opens its file on first use."""
        series = self._series
        if series is None:
            with self._opening:
                if self._series is None:
                    self._check_open()
                    assert self._location is not None  # set by __setstate__
                    # a writable store reopens its file for update, or set() could not write
                    self._series = self._location.open(writable=not self.read_only)
                series = self._series
        return series

    @cached_property
    def index(self) -> ChunkIndex:
        """The levels, keys, metadata and chunk locations served: public, read-only."""
        return ChunkIndex(self.series, self.config)

    @property
    def chunkmode(self) -> CHUNKMODE:
        return self.config.chunkmode

    @property
    def is_multiscales(self) -> bool:
        return self.config.multiscales

    @property
    def zarr_format(self) -> ZarrFormat:
        return self.config.zarr_format

    @property
    def fillvalue(self) -> int | float:
        return self.index.fillvalue

    @property
    def errors(self) -> int:
        """How many chunks could not be read, wholly or in some of their tiles, and show
        the fill value there (on_error='fill')."""
        return self._reader.errors

    @property
    def scheduler(self) -> ReadScheduler:
        """The reads of this store's file: shared by its stores, as is its cache."""
        return self._scheduler

    @property
    def cache(self) -> ChunkCache:
        """The decoded chunks of this store's file, shared with its other stores."""
        return self._scheduler.cache

    @property
    def readahead(self) -> bool:
        """Whether the chunks of the views that the motion of the last ones predicts are
        decoded ahead.  A viewer turns it on once the layer is open, so the reads that
        open it start none; it is part of the config, so a pickled copy keeps it."""
        return self.config.readahead

    @readahead.setter
    def readahead(self, value: bool) -> None:
        self.config = self.config.replace(readahead=bool(value))
        reader = self.__dict__.get("_reader")
        if reader is not None:
            reader.readahead = self.config.readahead

    @property
    def closed(self) -> bool:
        return self._closed

    # -- reading chunks --------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise self._closed_error()

    def _closed_error(self) -> TiffClosedError:
        return TiffClosedError(f"{self!r} is closed")

    @cached_property
    def _scheduler(self) -> ReadScheduler:
        return ReadScheduler.of(self.series.keyframe.source)

    @cached_property
    def _reader(self) -> ChunkReader:
        # the store's readahead, not the index's: a viewer turns it on after reading the
        # metadata, which built the index
        return self._scheduler.reader(self.index, self._lock, readahead=self.config.readahead)

    def read_chunk(self, ref: ChunkRef, data: Any = None) -> np.ndarray | None:
        """Decode one chunk at full size on the calling thread, None where it is missing
        or sparse (or, with on_error='fill', unreadable); data: its stored bytes where
        fetched already."""
        self._check_open()
        return self._reader.read(ref, data)

    async def read_view(
        self,
        level: int,
        coords: Sequence[tuple[int, ...]],
        assemble: Callable[[list[np.ndarray | None]], Made],
    ) -> Made:
        """What assemble makes of the chunks of one selection of a level, as zarr's codecs
        make them of the bytes get returns (the served shape and order, little-endian),
        None where zarr shows the fill value: read together as one view (see
        ReadScheduler.read_view)."""
        self._check_open()
        return await self._scheduler.read_view(
            self._reader, level, coords, lambda chunks: assemble(self._served(level, chunks))
        )

    def read_view_here(
        self,
        level: int,
        coords: Sequence[tuple[int, ...]],
        assemble: Callable[[list[np.ndarray | None]], Made],
    ) -> Made:
        """As read_view, on the calling thread, without an event loop (see
        ReadScheduler.read_view_here)."""
        self._check_open()
        return self._scheduler.read_view_here(
            self._reader, level, coords, lambda chunks: assemble(self._served(level, chunks))
        )

    def _served(self, level: int, chunks: Sequence[np.ndarray | None]) -> list[np.ndarray | None]:
        """Decoded chunks as zarr's codecs would serve their bytes."""
        grid = self.index.levels[level].grid
        stored_dtype = chunk_dtype(self.series.dtype)
        served: list[np.ndarray | None] = []
        for chunk in chunks:
            array = None
            if chunk is not None:
                array = _flat_bytes(chunk).view(stored_dtype).reshape(grid.stored_chunks)
                if grid.order is not None:  # what zarr's transpose codec does
                    array = array.transpose(grid.order)
            served.append(array)
        return served

    # -- zarr Store API ---------------------------------------------------------------
    async def get(
        self,
        key: str,
        prototype: BufferPrototype | None = None,
        byte_range: ByteRequest | None = None,
    ) -> Buffer | None:
        prototype, found = self._lookup(key, prototype, byte_range)
        if not isinstance(found, ChunkRef):
            return found
        chunk = await self._scheduler.read(self._reader, found, key)
        return _chunk_buffer(prototype, chunk, byte_range)

    def get_sync(
        self,
        key: str,
        *,
        prototype: BufferPrototype | None = None,
        byte_range: ByteRequest | None = None,
    ) -> Buffer | None:
        prototype, found = self._lookup(key, prototype, byte_range)
        if not isinstance(found, ChunkRef):
            return found
        return _chunk_buffer(prototype, self.read_chunk(found), byte_range)

    def _lookup(
        self, key: str, prototype: BufferPrototype | None, byte_range: ByteRequest | None
    ) -> tuple[BufferPrototype, Buffer | ChunkRef | None]:
        """What key names, for get and get_sync alike: a metadata document, already as a
        buffer, the chunk to read, or nothing."""
        self._check_open()
        if prototype is None:
            prototype = default_buffer_prototype()
        document = self.index.metadata.get(key)
        if document is not None:
            return prototype, prototype.buffer.from_bytes(_slice(document, byte_range))
        return prototype, self.index.parse(key)

    async def get_partial_values(
        self,
        prototype: BufferPrototype,
        key_ranges: Iterable[tuple[str, ByteRequest | None]],
    ) -> list[Buffer | None]:
        gets = (self.get(key, prototype, byte_range) for key, byte_range in key_ranges)
        return list(await asyncio.gather(*gets))

    async def exists(self, key: str) -> bool:
        self._check_open()
        return self.index.exists(key)

    async def getsize(self, key: str) -> int:
        self._check_open()
        size = self.index.size(key)
        if size is None:
            raise FileNotFoundError(key)
        return size

    async def set(self, key: str, value: Buffer) -> None:
        self._check_writable()
        self._check_open()
        document = self.index.metadata.get(key)
        if document is not None:
            if value.to_bytes() != document:
                raise ValueError(f"{key}: the metadata of a TIFF cannot be changed")
            return
        ref = self.index.parse(key)
        if ref is None:
            raise KeyError(key)
        page = self.index.page(ref)
        if page is None:
            raise ValueError(f"{key}: the series has no page for this chunk")
        with self._invalidating(page):
            write_chunk(page, ref, value.as_numpy_array(), self._lock)

    async def delete(self, key: str) -> None:
        """Make a chunk read as the fill value, which is what zarr means by deleting it.

        zarr deletes a chunk instead of writing it when every value equals the fill value
        (``write_empty_chunks=False``, its default), whatever ``supports_deletes`` says; a
        TIFF's segments cannot be removed, so the fill value is written over the chunk's
        bytes.  A sparse chunk already reads as the fill value; metadata cannot go.
        """
        self._check_writable()
        self._check_open()
        if key in self.index.metadata:
            raise NotImplementedError(f"{key}: the metadata of a TIFF cannot be deleted")
        ref = self.index.parse(key)
        if ref is None:
            return  # nothing is stored under the key: deleting it is done
        page = self.index.page(ref)
        if page is None:
            return  # a page the series lacks already reads as the fill value
        with self._invalidating(page):
            erase_chunk(self.index, ref, self._lock)

    @contextmanager
    def _invalidating(self, page: TiffPage) -> Iterator[None]:
        # dropped before and after: a read between the two cannot keep what it decoded
        self.cache.invalidate(page_key(page))
        try:
            yield
        finally:
            self.cache.invalidate(page_key(page))

    async def list(self) -> AsyncIterator[str]:
        self._check_open()
        for key in self.index.stored_keys():
            yield key

    async def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        self._check_open()
        for key in self.index.stored_keys(prefix):
            yield key

    async def list_dir(self, prefix: str) -> AsyncIterator[str]:
        self._check_open()
        for key in self.index.children(prefix):
            yield key

    def write_fsspec(
        self,
        jsonfile: str | os.PathLike[str] | TextIO,
        /,
        url: str | None,
        **options: Unpack[FsspecOptions],
    ) -> None:
        """Write fsspec ReferenceFileSystem (kerchunk) JSON that opens as this store does:
        :func:`napari_tiffzarr.references.write_fsspec`, whose options these are."""
        from ..references import write_fsspec

        write_fsspec(self, jsonfile, url, **options)

    def close(self) -> None:
        """Release the threads and the file; reads after this raise TiffClosedError."""
        self._closed = True
        series = self._series
        if series is not None:
            # the file closes below and ends its scheduler, shared by its stores; a
            # sequence's pool of files may keep its first file's source open
            scheduler = self.__dict__.get("_scheduler")
            if scheduler is not None:
                scheduler.close()
            if series.parent is not None:
                series.parent.close()
            else:
                series.keyframe.source.close()
        super().close()

    def __enter__(self) -> ZarrTiffStore:
        return self

    def __exit__(self, *args: object) -> None:
        self.close()

    # -- identity and pickling: by path and config; the copy reopens the file itself ----
    def _location_now(self) -> StoreLocation | None:
        return self._location if self._series is None else StoreLocation.of(self._series)

    def _identity(self) -> tuple[Any, ...]:
        """What file and which part of it: equal stores serve the same chunks."""
        location = self._location_now()
        if location is None:  # memory or a file object: this very source
            return (id(home_source(self.series)), target_of(self.series))
        return (location.where, location.target)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ZarrTiffStore)
            and other._identity() == self._identity()
            and other.config == self.config
        )

    def __hash__(self) -> int:
        return hash((self._identity(), self.config.multiscales, self.config.level))

    def __repr__(self) -> str:
        if self._series is None and self._location is not None:  # not reopened yet
            name, (kind, index) = self._location.name, self._location.target
        else:
            name, (kind, index) = home_source(self.series).name, target_of(self.series)
        config = self.config
        return (
            f"ZarrTiffStore({name!r}, {kind}={index}, "
            f"level={'all' if config.multiscales else config.level}, "
            f"chunkmode={config.chunkmode.name}, zarr_format={config.zarr_format}"
            + (f", layout={config.layout!r})" if config.layout != "tifffile" else ")")
        )

    def __str__(self) -> str:
        return repr(self)

    def __getstate__(self) -> dict[str, Any]:
        location = self._location_now()
        if location is None:
            raise TypeError(f"{self!r} reads from memory or a file object and cannot be pickled")
        return {"location": location, "config": self.config, "read_only": self.read_only}

    def __setstate__(self, state: dict[str, Any]) -> None:
        # the lock and the decoding threads are the process's own: a copy starts without
        self._start(state["config"], None, state["location"], None, state["read_only"])


def _as_series(arg: TiffPage | TiffPageSeries) -> TiffPageSeries:
    if isinstance(arg, TiffPage):
        return TiffPageSeries(None, [arg], arg.shape, arg.axes, kind="page")
    if isinstance(arg, TiffPageSeries):
        return arg
    raise TypeError(f"arg must be a TiffPage or TiffPageSeries, not {type(arg).__name__}")


def _slice(data: bytes | np.ndarray, byte_range: ByteRequest | None) -> Any:
    if byte_range is None:
        return data
    size = len(data)
    if isinstance(byte_range, RangeByteRequest):
        return data[byte_range.start : byte_range.end]
    if isinstance(byte_range, OffsetByteRequest):
        return data[byte_range.offset :]
    if isinstance(byte_range, SuffixByteRequest):
        return data[max(0, size - byte_range.suffix) :]
    raise TypeError(f"unexpected byte range {byte_range!r}")


def _flat_bytes(array: np.ndarray) -> np.ndarray:
    """The chunk's bytes as zarr's bytes codec reads them: flat, C order, no copy."""
    return np.ascontiguousarray(array).reshape(-1).view(np.uint8)


def _chunk_buffer(
    prototype: BufferPrototype, chunk: np.ndarray | None, byte_range: ByteRequest | None
) -> Buffer | None:
    """A decoded chunk's bytes as zarr's buffer, None for a chunk zarr fills itself."""
    if chunk is None:
        return None
    return prototype.buffer.from_array_like(_slice(_flat_bytes(chunk), byte_range))
