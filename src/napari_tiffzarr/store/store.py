"""ZarrTiffStore: a read-mostly zarr-python 3 store over a TIFF page, series or pyramid.

The store is a frozen StoreConfig, the series it serves and a few pieces of runtime state,
set in one place.  Keys, metadata and listing come from the ChunkIndex; a chunk is read
with one pread (or one batched remote request) and decoded on the DecodeQueue's threads,
so zarr's many concurrent requests decode on every core while the event loop only waits.
A chunk comes back at its full size, edge chunks padded, in native byte order, so zarr
needs nothing but the ``bytes`` codec.
"""

from __future__ import annotations

import asyncio
import os
import threading
import warnings
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from functools import cached_property
from typing import Any, TextIO

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

from ..errors import TiffClosedError, TiffFileError
from ..sources.remote import RemoteLocation, source_location
from ..tiff.codecs import SegmentDecoder
from ..tiff.file import TiffFile
from ..tiff.page import TiffPage
from ..tiff.series import TiffPageSeries
from .batching import Fetched, fetch_chunk
from .config import CHUNKMODE, OnError, StoreConfig, ZarrFormat
from .decoding import DecodeQueue
from .index import ChunkIndex
from .keys import ChunkRef
from .writing import write_chunk

__all__ = ["CHUNKMODE", "TiffChunkWarning", "ZarrTiffStore"]

# Where a pickled store reopens its file: the path or URL, and ("page", index) or
# ("series", index) in it
Location = tuple["str | RemoteLocation", tuple[str, Any]]


class TiffChunkWarning(UserWarning):
    """A chunk could not be read and shows the fill value instead."""


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
    ) -> None:
        if isinstance(arg, TiffPage):
            series = TiffPageSeries(None, [arg], arg.shape, arg.axes, kind="page")
        elif isinstance(arg, TiffPageSeries):
            series = arg
        else:
            raise TypeError(f"arg must be a TiffPage or TiffPageSeries, not {type(arg).__name__}")
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
        )
        if read_only is None:
            read_only = not getattr(series.keyframe.source, "writable", False)
        self._start(config, series, None, lock, read_only)

    def _start(
        self,
        config: StoreConfig,
        series: TiffPageSeries | None,
        location: Location | None,
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
        self._failed: set[ChunkRef] = set()
        self._decoders: dict[int, SegmentDecoder] = {}
        self._queue: DecodeQueue[tuple[ChunkRef, Fetched | None]] = DecodeQueue(
            self._decode, self._closed_error, config.maxworkers
        )

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
                    path, target = self._location
                    # a writable store reopens its file for update, or set() could not write
                    self._series = _open_target(path, target, writable=not self.read_only)
                series = self._series
        return series

    @cached_property
    def index(self) -> ChunkIndex:
        """The levels, keys, metadata and chunk locations served: public, read-only."""
        return ChunkIndex(self.series, self.config)

    @property
    def lock(self) -> AbstractContextManager[Any] | None:
        return self._lock

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
        """How many chunks could not be read and show the fill value (on_error='fill')."""
        return len(self._failed)

    # -- reading chunks --------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise self._closed_error()

    def _closed_error(self) -> TiffClosedError:
        return TiffClosedError(f"{self!r} is closed")

    def read_chunk(self, ref: ChunkRef, data: Fetched | None = None) -> np.ndarray | None:
        """Decode one chunk at full chunk size, or None where it is missing or sparse.

        data are the chunk's stored bytes where they were fetched already (or why they
        could not be).  With on_error='fill', a chunk that cannot be read is missing (zarr
        fills it) and the first such failure is warned about once: a viewer should show
        the fill value, not raise on every frame.  The default raises, as a library should.
        """
        self._check_open()
        if ref in self._failed:
            return None  # known unreadable: do not decode it again for every frame
        try:
            return self._read_chunk(ref, data)
        except TiffFileError as exc:
            if self.config.on_error == "raise":
                raise
            self._failed.add(ref)
            if len(self._failed) == 1:
                warnings.warn(
                    f"{exc}; unreadable chunks show the fill value {self.fillvalue}",
                    TiffChunkWarning,
                    stacklevel=2,
                )
            return None

    def _read_chunk(self, ref: ChunkRef, data: Fetched | None) -> np.ndarray | None:
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
        config = self.config
        if ref.segment is None:
            return page.asarray(
                maxworkers=config.maxworkers,
                buffersize=config.buffersize,
                fillvalue=self.fillvalue,
            )
        if isinstance(data, BaseException):
            raise data
        if data is None:
            segment = page.segment_range(ref.segment)
            if segment is None:
                return None
            with self._lock or nullcontext():
                data = page.source.read(*segment)
        return self._decoder(page).decode(data, ref.segment)

    def _decoder(self, page: TiffPage) -> SegmentDecoder:
        decoder = self._decoders.get(page.offset)
        if decoder is None:
            decoder = SegmentDecoder(page.coding(self.fillvalue), page.dtype)
            self._decoders[page.offset] = decoder
        return decoder

    def _decode(self, request: tuple[ChunkRef, Fetched | None]) -> np.ndarray | None:
        array = self.read_chunk(*request)
        return None if array is None else _flat_bytes(array)

    async def _chunk_bytes(self, ref: ChunkRef) -> np.ndarray | None:
        # remote files: the bytes of the chunks asked for in one turn come in one batch
        data = None if ref in self._failed else await fetch_chunk(self.index, ref)
        return await self._queue.submit((ref, data))

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
        return _chunk_buffer(prototype, await self._chunk_bytes(found), byte_range)

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
        return _chunk_buffer(prototype, self._decode((found, None)), byte_range)

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
        return list(
            await asyncio.gather(
                *(self.get(key, prototype, byte_range) for key, byte_range in key_ranges)
            )
        )

    async def exists(self, key: str) -> bool:
        self._check_open()
        return self.index.exists(key)

    async def getsize(self, key: str) -> int:
        self._check_open()
        document = self.index.metadata.get(key)
        if document is not None:
            return len(document)
        ref = self.index.parse(key)
        if ref is None or not self.index.is_stored(ref):
            raise FileNotFoundError(key)
        return self.index.chunk_nbytes(ref.level)

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
        index = self.index
        if key in index.metadata:
            raise NotImplementedError(f"{key}: the metadata of a TIFF cannot be deleted")
        ref = index.parse(key)
        page = None if ref is None else index.page(ref)
        if ref is None or page is None:
            return  # nothing stored under the key: deleting it is done
        if ref.segment is not None and page.segment_range(ref.segment) is None:
            return
        fill = np.full(index.levels[ref.level].grid.chunks, self.fillvalue, self.series.dtype)
        write_chunk(page, ref, fill.reshape(-1).view(np.uint8), self._lock)

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
        *,
        groupname: str | None = None,
        templatename: str | None = None,
        compressors: Mapping[int, str | None] | None = None,
        version: int | None = None,
        zarr_format: ZarrFormat | None = None,
        _shape: Sequence[int] | None = None,
        _axes: Sequence[str] | None = None,
        _index: Sequence[int] | None = None,
        _append: bool = False,
        _close: bool = True,
    ) -> None:
        """Write fsspec ReferenceFileSystem (kerchunk) JSON that opens as this store does.

        url is where the TIFF lives, without its file name; version 0 is a flat mapping,
        1 uses templatename ('u') for the url.  ValueError names what cannot be referenced.
        ``_shape``, ``_axes``, ``_index``, ``_append`` and ``_close`` join the files of a
        sequence into one array; see :mod:`napari_tiffzarr.references`.
        """
        from ..references import write_fsspec

        write_fsspec(
            self,
            jsonfile,
            url,
            groupname=groupname,
            templatename=templatename,
            compressors=compressors,
            version=version,
            zarr_format=zarr_format,
            _shape=_shape,
            _axes=_axes,
            _index=_index,
            _append=_append,
            _close=_close,
        )

    def close(self) -> None:
        """Release the threads and the file; reads after this raise TiffClosedError."""
        self._closed = True
        self._queue.close()
        series = self._series
        if series is not None:
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
    def _location_now(self) -> Location | None:
        """Where the file is and what of it is served, None for memory and file objects."""
        if self._series is None:
            return self._location
        path = source_location(self.series.keyframe.source)
        return None if path is None else (path, _target(self.series))

    def _identity(self) -> tuple[Any, ...]:
        """What file and which part of it: equal stores serve the same chunks."""
        location = self._location_now()
        if location is None:
            return (id(self.series.keyframe.source), _target(self.series))
        return (_where(location[0]), location[1])

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ZarrTiffStore)
            and other._identity() == self._identity()
            and other.config == self.config
        )

    def __hash__(self) -> int:
        return hash((self._identity(), self.config.multiscales, self.config.level))

    def __repr__(self) -> str:
        if self._series is None and self._location is not None:
            name = _where_name(self._location[0])
            kind, index = self._location[1]
        else:
            name = self.series.keyframe.source.name
            kind, index = _target(self.series)
        config = self.config
        return (
            f"ZarrTiffStore({name!r}, {kind}={index}, "
            f"level={'all' if config.multiscales else config.level}, "
            f"chunkmode={config.chunkmode.name}, zarr_format={config.zarr_format})"
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
    return None if chunk is None else prototype.buffer.from_array_like(_slice(chunk, byte_range))


def _target(series: TiffPageSeries) -> tuple[str, Any]:
    if series.kind == "page":
        return ("page", series.keyframe.index)
    return ("series", series.index)


def _where(location: str | RemoteLocation) -> str | RemoteLocation:
    return location if isinstance(location, RemoteLocation) else os.path.realpath(location)


def _where_name(location: str | RemoteLocation) -> str:
    return location.name if isinstance(location, RemoteLocation) else os.path.basename(location)


def _open_target(
    path: str | RemoteLocation, target: tuple[str, Any], *, writable: bool
) -> TiffPageSeries:
    """The page (as a one-page series) or series that target names in the file at path."""
    tif = TiffFile(path, mode="r+" if writable else "r")
    kind, index = target
    if kind == "series":
        series: TiffPageSeries = tif.series[index]
        return series
    if isinstance(index, tuple):
        page = tif.subifd_page(tif.pages[index[0]].subifds[index[1]], index)
    else:
        page = tif.pages[index]
    return TiffPageSeries(None, [page], page.shape, page.axes, kind="page")
