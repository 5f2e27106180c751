"""ZarrTiffStore: a read-mostly zarr-python 3 store over a TIFF page, series or pyramid.

Metadata documents are built once from the series; chunk keys map arithmetically onto a
page and one of its strips or tiles (or the whole page), which is read with one pread and
decoded in a thread pool, so zarr's many concurrent requests decode on every core while
the event loop only waits.  A chunk comes back at its full size, edge chunks padded, in
native byte order, so zarr needs nothing but the ``bytes`` codec.
"""

from __future__ import annotations

import asyncio
import enum
import os
import threading
import warnings
from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext, suppress
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
from .batching import prefetch
from .keys import ChunkGrid, ChunkRef, map_dimensions
from .metadata import (
    array_metadata,
    dimension_names,
    group_metadata,
    multiscales_attributes,
)

__all__ = ["CHUNKMODE", "TiffChunkWarning", "ZarrTiffStore"]


class TiffChunkWarning(UserWarning):
    """A chunk could not be read and shows the fill value instead."""


class CHUNKMODE(enum.IntEnum):
    """What one zarr chunk is: a strip or tile, a plane, a page or the whole file."""

    NONE = 0
    PLANE = 1
    PAGE = 2
    FILE = 3


_CHUNKMODE_ALIASES = {"STRILE": 0, "TILE": 0, "STRIP": 0, "SEGMENT": 0, "CHUNK": 0, "PAGES": 2}


def parse_chunkmode(value: CHUNKMODE | int | str | None) -> CHUNKMODE:
    """Accept what tifffile accepts: the enum, its int, or its name in any case."""
    if value is None:
        return CHUNKMODE.NONE
    if isinstance(value, str):
        name = value.strip().upper()
        if name in CHUNKMODE.__members__:
            mode = CHUNKMODE[name]
        elif name in _CHUNKMODE_ALIASES:
            mode = CHUNKMODE(_CHUNKMODE_ALIASES[name])
        else:
            raise ValueError(f"unknown chunkmode {value!r}")
    else:
        try:
            mode = CHUNKMODE(int(value))
        except ValueError:
            raise ValueError(f"unknown chunkmode {value!r}") from None
    if mode not in (CHUNKMODE.NONE, CHUNKMODE.PAGE):
        raise ValueError(f"chunkmode {mode.name} is not supported: use NONE (0) or PAGE (2)")
    return mode


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


def _is_index(text: str) -> bool:
    """Whether text is a chunk or level index as zarr writes it: ASCII digits, no leading
    zero.  str.isdigit() alone also accepts Arabic-Indic digits and superscripts, and int()
    reads '01': keys that zarr never asks for would alias real chunks."""
    return text.isascii() and text.isdigit() and (text == "0" or text[0] != "0")


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
        zarr_format: int = 3,
        read_only: bool | None = None,
        on_error: str = "raise",
    ) -> None:
        if zarr_format not in (2, 3):
            raise ValueError(f"zarr_format must be 2 or 3, not {zarr_format}")
        if isinstance(arg, TiffPage):
            series = TiffPageSeries(None, [arg], arg.shape, arg.axes, kind="page")
        elif isinstance(arg, TiffPageSeries):
            series = arg
        else:
            raise TypeError(f"arg must be a TiffPage or TiffPageSeries, not {type(arg).__name__}")
        self._series: TiffPageSeries | None = series
        self._reopen_from: tuple[str | RemoteLocation, tuple[str, Any]] | None = None
        self._reopen_lock = threading.Lock()
        self._chunkmode = parse_chunkmode(chunkmode)
        self._fillvalue = fillvalue
        self._zattrs = dict(zattrs or {})
        levels = len(series.levels)
        if level is not None and not -levels <= level < levels:
            raise IndexError(f"level {level} out of range: the series has {levels} levels")
        if multiscales is None:
            multiscales = level is None and levels > 1
        self._multiscales = bool(multiscales)
        self._level = 0 if level is None else level % levels
        self._squeeze = squeeze
        self._maxworkers = maxworkers
        self._buffersize = buffersize
        self._zarr_format = zarr_format
        self._lock = lock
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()
        self._queue: deque[_Request] = deque()
        self._draining = 0
        self._closed = False
        self._decoders: dict[int, SegmentDecoder] = {}
        if on_error not in ("raise", "fill"):
            raise ValueError(f"on_error must be 'raise' or 'fill', not {on_error!r}")
        self._on_error = on_error
        self._failed: set[ChunkRef] = set()
        source = series.keyframe.source
        writable = bool(getattr(source, "writable", False))
        super().__init__(read_only=not writable if read_only is None else read_only)

    # -- what the store serves ----------------------------------------------------------
    @property
    def series(self) -> TiffPageSeries:
        """The series served; a store made by unpickling opens its file on first use."""
        series = self._series
        if series is None:
            with self._reopen_lock:
                if self._series is None:
                    self._check_open()
                    assert self._reopen_from is not None  # set by _reopen
                    path, target = self._reopen_from
                    # a writable store reopens its file for update, or set() could not write
                    self._series = _open_target(path, target, writable=not self.read_only)
                series = self._series
        return series

    @property
    def chunkmode(self) -> CHUNKMODE:
        return self._chunkmode

    @property
    def is_multiscales(self) -> bool:
        return self._multiscales

    @property
    def zarr_format(self) -> int:
        return self._zarr_format

    @property
    def fillvalue(self) -> int | float:
        if self._fillvalue is not None:
            return self._fillvalue
        return self.series.keyframe.nodata

    def _level_series(self) -> list[TiffPageSeries]:
        return self._served

    @cached_property
    def _served(self) -> list[TiffPageSeries]:
        """The levels served, looked up once: every chunk read asks for its level."""
        levels = self.series.levels
        return list(levels) if self._multiscales else [levels[self._level]]

    @cached_property
    def _grids(self) -> list[ChunkGrid]:
        grids = []
        for index, series in enumerate(self._level_series()):
            shape = series.get_shape(self._squeeze)
            keyframe = series.keyframe
            axes = series.get_axes(self._squeeze)
            roles = map_dimensions(shape, axes, keyframe.layout.shaped, len(series.pages))
            grids.append(
                ChunkGrid(
                    level=index,
                    shape=shape,
                    roles=roles,
                    layout=keyframe.layout,
                    whole_pages=self._chunkmode == CHUNKMODE.PAGE,
                )
            )
        return grids

    def _prefix(self, level: int) -> str:
        return f"{level}/" if self._multiscales else ""

    @cached_property
    def _metadata(self) -> dict[str, bytes]:
        documents: dict[str, bytes] = {}
        levels = self._level_series()
        dtype = self.series.dtype
        fill = self.fillvalue
        if self._multiscales:
            axes = levels[0].get_axes(self._squeeze)
            attributes = multiscales_attributes(
                name=self.series.name or self.series.kind,
                axes=axes,
                shapes=[grid.shape for grid in self._grids],
                scale=self._scale(axes),
                units=self._units(axes),
                zarr_format=self._zarr_format,
            )
            documents.update(group_metadata({**attributes, **self._zattrs}, self._zarr_format))
        base_shape = self._grids[0].shape
        for grid, series in zip(self._grids, levels, strict=True):
            prefix = self._prefix(grid.level)
            names = dimension_names(series.get_axes(self._squeeze))
            # a dimension that shrinks with the level gets a name of its own, so that
            # xarray can open all levels of the group as one dataset
            names = [
                name if size == base else f"{name}_{grid.level}"
                for name, size, base in zip(names, grid.shape, base_shape, strict=True)
            ]
            arrays = array_metadata(
                shape=grid.shape,
                chunks=grid.chunks,
                dtype=dtype,
                fill_value=fill,
                dimensions=names,
                attributes=None if self._multiscales else self._zattrs,
                zarr_format=self._zarr_format,
            )
            documents.update({prefix + key: value for key, value in arrays.items()})
        return documents

    def _parse_key(self, key: str) -> ChunkRef | None:
        """The chunk that key names, or None where it names none.

        Remembered: a viewer asks for the same chunks again and again, and parsing costs
        the event loop thread more than the rest of a read's work there.
        """
        known = self._keys
        if key in known:
            return known[key]
        if len(known) >= _KEYS_REMEMBERED:
            known.clear()
        ref = known[key] = self._parse_new_key(key)
        return ref

    @cached_property
    def _keys(self) -> dict[str, ChunkRef | None]:
        return {}

    def _parse_new_key(self, key: str) -> ChunkRef | None:
        grids = self._grids
        grid = grids[0]
        if self._multiscales:
            head, _, key = key.partition("/")
            if not _is_index(head) or int(head) >= len(grids):
                return None
            grid = grids[int(head)]
        if self._zarr_format == 3:
            if not key.startswith("c"):
                return None
            parts = key[2:].split("/") if key != "c" else []
            if key != "c" and key[1:2] != "/":
                return None
        else:
            parts = key.split(".")
        if not all(_is_index(p) for p in parts):
            return None
        return grid.chunk_ref(tuple(int(p) for p in parts))

    def _chunk_key(self, level: int, coords: tuple[int, ...]) -> str:
        if self._zarr_format == 3:
            return self._prefix(level) + "/".join(["c", *map(str, coords)])
        return self._prefix(level) + ".".join(map(str, coords))

    # -- reading chunks --------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise TiffClosedError(f"{self!r} is closed")

    def _page(self, ref: ChunkRef) -> TiffPage | None:
        pages = self._level_series()[ref.level].pages
        return pages[ref.page]

    def _decoder(self, page: TiffPage) -> SegmentDecoder:
        decoder = self._decoders.get(page.offset)
        if decoder is None:
            decoder = SegmentDecoder(page.coding(self.fillvalue), page.dtype)
            self._decoders[page.offset] = decoder
        return decoder

    def _read(self, page: TiffPage, offset: int, length: int) -> bytes:
        lock = self._lock or nullcontext()
        with lock:
            return page.source.read(offset, length)

    def _scale(self, axes: str) -> list[float] | None:
        """Level 0's physical pixel size per axis, 1 where the file does not say."""
        sizes = self.series.physical_sizes
        if not sizes:
            return None
        return [sizes[ax][0] if ax in sizes else 1.0 for ax in axes]

    def _units(self, axes: str) -> dict[str, str] | None:
        sizes = self.series.physical_sizes
        return {ax: sizes[ax][1] for ax in axes if ax in sizes} or None

    def read_chunk(self, ref: ChunkRef) -> np.ndarray | None:
        """Decode one chunk at full chunk size, or None where it is missing or sparse.

        With on_error='fill', a chunk that cannot be read is missing (zarr fills it) and
        the first such failure is warned about once: a viewer should show the fill value,
        not raise on every frame.  The default raises, as a library should.
        """
        self._check_open()
        if ref in self._failed:
            return None  # known unreadable: do not decode it again for every frame
        try:
            return self._read_chunk(ref)
        except TiffFileError as exc:
            if self._on_error == "raise" or self._closed:
                raise
            self._failed.add(ref)
            if len(self._failed) == 1:
                warnings.warn(
                    f"{exc}; unreadable chunks show the fill value {self.fillvalue}",
                    TiffChunkWarning,
                    stacklevel=2,
                )
            return None

    @property
    def errors(self) -> int:
        """How many chunks could not be read and show the fill value (on_error='fill')."""
        return len(self._failed)

    def _read_chunk(self, ref: ChunkRef) -> np.ndarray | None:
        page = self._page(ref)
        if page is None:
            return None
        keyframe = self._level_series()[ref.level].keyframe
        if page is not keyframe and (
            page.layout != keyframe.layout or page.dtype != keyframe.dtype
        ):
            raise TiffFileError(
                f"{page.name}: shape, type or strips and tiles differ from the series' first page"
            )
        if ref.segment is None:
            return page.asarray(
                maxworkers=self._maxworkers, buffersize=self._buffersize, fillvalue=self.fillvalue
            )
        segment = page.segment_range(ref.segment)
        if segment is None:
            return None
        data = self._read(page, *segment)
        return self._decoder(page).decode(data, ref.segment)

    async def _chunk_bytes(self, ref: ChunkRef) -> np.ndarray | None:
        await prefetch(self, ref)  # remote files: one batch per turn
        future: asyncio.Future[np.ndarray | None] = asyncio.get_running_loop().create_future()
        self._queue.append((ref, future))
        self._start_drain()
        return await future

    def _start_drain(self) -> None:
        """Have one more thread drain the queue of chunks, unless every thread already does.

        A thread that finishes a chunk takes the next one without going back to the pool:
        a full level costs one submission per thread instead of a future, a wake-up and a
        hand-over per chunk, which on a busy event loop thread cost more than decoding.
        """
        with self._executor_lock:
            # checked under the lock: a close() between a read's first check and here
            # would otherwise leave a new pool behind that nothing shuts down
            self._check_open()
            workers = self._maxworkers or _CPUS
            if self._draining >= workers:
                return
            if self._executor is None:
                self._executor = ThreadPoolExecutor(workers, thread_name_prefix="tiffzarr")
            self._draining += 1
            self._executor.submit(self._drain)

    def _drain(self) -> None:
        queue = self._queue
        while True:
            try:
                ref, future = queue.popleft()
            except IndexError:
                with self._executor_lock:
                    # checked again under the lock that _start_drain counts under: a chunk
                    # queued after the pop above either is seen here or starts a thread
                    if queue:
                        continue
                    self._draining -= 1
                    return
            if future.cancelled():
                continue  # zarr gave up on the selection: do not decode for nobody
            try:
                array = self.read_chunk(ref)
                chunk = None if array is None else _flat_bytes(array)
            except BaseException as exc:  # handed to the reader, as an executor would
                _deliver(future, None, exc)
            else:
                _deliver(future, chunk, None)

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
        array = self.read_chunk(found)
        return _chunk_buffer(prototype, None if array is None else _flat_bytes(array), byte_range)

    def _lookup(
        self, key: str, prototype: BufferPrototype | None, byte_range: ByteRequest | None
    ) -> tuple[BufferPrototype, Buffer | ChunkRef | None]:
        """What key names, for get and get_sync alike: a metadata document, already as a
        buffer, the chunk to read, or nothing."""
        self._check_open()
        if prototype is None:
            prototype = default_buffer_prototype()
        document = self._metadata.get(key)
        if document is not None:
            return prototype, prototype.buffer.from_bytes(_slice(document, byte_range))
        return prototype, self._parse_key(key)

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
        if key in self._metadata:
            return True
        ref = self._parse_key(key)
        if ref is None:
            return False
        page = self._page(ref)
        if page is None:
            return False
        if ref.segment is None:
            return True
        try:
            return page.segment_range(ref.segment) is not None
        except TiffFileError:
            return True  # present but corrupt: reading it says why

    async def getsize(self, key: str) -> int:
        self._check_open()
        document = self._metadata.get(key)
        if document is not None:
            return len(document)
        if not await self.exists(key):
            raise FileNotFoundError(key)
        ref = self._parse_key(key)
        assert ref is not None  # exists() parsed it
        grid = self._grids[ref.level]
        return int(np.prod(grid.chunks)) * self.series.dtype.itemsize

    async def set(self, key: str, value: Buffer) -> None:
        self._check_writable()
        self._check_open()
        from .writing import write_chunk

        document = self._metadata.get(key)
        if document is not None:
            if value.to_bytes() != document:
                raise ValueError(f"{key}: the metadata of a TIFF cannot be changed")
            return
        ref = self._parse_key(key)
        if ref is None:
            raise KeyError(key)
        page = self._page(ref)
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
        if key in self._metadata:
            raise NotImplementedError(f"{key}: the metadata of a TIFF cannot be deleted")
        ref = self._parse_key(key)
        if ref is None:
            return  # nothing stored under the key: deleting it is done
        page = self._page(ref)
        if page is None or (ref.segment is not None and page.segment_range(ref.segment) is None):
            return
        grid = self._grids[ref.level]
        fill = np.full(grid.chunks, self.fillvalue, self.series.dtype)
        from .writing import write_chunk

        write_chunk(page, ref, fill.reshape(-1).view(np.uint8), self._lock)

    async def list(self) -> AsyncIterator[str]:
        for key in self._all_keys():
            yield key

    async def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        for key in self._all_keys():
            if key.startswith(prefix):
                yield key

    async def list_dir(self, prefix: str) -> AsyncIterator[str]:
        prefix = prefix.rstrip("/")
        prefix = prefix + "/" if prefix else ""
        seen: set[str] = set()
        for key in self._all_keys():
            if key.startswith(prefix):
                child = key[len(prefix) :].split("/", 1)[0]
                if child not in seen:
                    seen.add(child)
                    yield child

    def _all_keys(self) -> Iterable[str]:
        self._check_open()
        yield from self._metadata
        for grid in self._grids:
            series = self._level_series()[grid.level]
            for coords in np.ndindex(*grid.grid):
                ref = grid.chunk_ref(coords)
                if ref is None:
                    continue
                page = series.pages[ref.page]
                if page is None:
                    continue
                if ref.segment is not None:
                    try:
                        if page.segment_range(ref.segment) is None:
                            continue
                    except TiffFileError:
                        pass
                yield self._chunk_key(grid.level, coords)

    def with_read_only(self, read_only: bool = False) -> ZarrTiffStore:
        clone = ZarrTiffStore(
            self.series,
            level=None if self._multiscales else self._level,
            chunkmode=self._chunkmode,
            fillvalue=self._fillvalue,
            zattrs=self._zattrs,
            multiscales=self._multiscales,
            lock=self._lock,
            squeeze=self._squeeze,
            maxworkers=self._maxworkers,
            buffersize=self._buffersize,
            zarr_format=self._zarr_format,
            read_only=read_only,
            on_error=self._on_error,
        )
        return clone

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
        zarr_format: int | None = None,
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
        """Release the thread pool and the file; reads after this raise TiffClosedError."""
        self._closed = True
        with self._executor_lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        # chunks still queued would wait forever once no thread drains them
        while self._queue:
            try:
                _, future = self._queue.popleft()
            except IndexError:
                break
            _deliver(future, None, TiffClosedError(f"{self!r} is closed"))
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

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ZarrTiffStore)
            and other._identity() == self._identity()
            and other._state() == self._state()
        )

    def __hash__(self) -> int:
        return hash((self._identity(), self._multiscales, self._level))

    def _identity(self) -> tuple[Any, ...]:
        """What file and which part of it: equal stores serve the same chunks."""
        if self._series is None and self._reopen_from is not None:
            path, target = self._reopen_from
            return (_where(path), target)
        series = self.series
        location = source_location(series.keyframe.source)
        where = _where(location) if location else id(series.keyframe.source)
        return (where, self._target())

    def __repr__(self) -> str:
        if self._series is None and self._reopen_from is not None:
            name = _where_name(self._reopen_from[0])
        else:
            name = self.series.keyframe.source.name
        kind, index = self._target()
        return (
            f"ZarrTiffStore({name!r}, {kind}={index}, "
            f"level={'all' if self._multiscales else self._level}, "
            f"chunkmode={self._chunkmode.name}, zarr_format={self._zarr_format})"
        )

    def __str__(self) -> str:
        return repr(self)

    # -- pickling: by path and parameters; the copy reopens the file itself -------------
    def _state(self) -> dict[str, Any]:
        return {
            "level": None if self._multiscales else self._level,
            "chunkmode": int(self._chunkmode),
            "fillvalue": self._fillvalue,
            "zattrs": self._zattrs,
            "multiscales": self._multiscales,
            "squeeze": self._squeeze,
            "maxworkers": self._maxworkers,
            "buffersize": self._buffersize,
            "zarr_format": self._zarr_format,
            "on_error": self._on_error,
        }

    def _target(self) -> tuple[str, Any]:
        if self._series is None and self._reopen_from is not None:
            return self._reopen_from[1]
        series = self.series
        if series.kind == "page":
            return ("page", series.keyframe.index)
        return ("series", series.index)

    def __reduce__(self) -> tuple[Any, ...]:
        if self._reopen_from is not None and self._series is None:
            path: str | RemoteLocation | None = self._reopen_from[0]
        else:
            path = source_location(self.series.keyframe.source)
        if path is None:
            raise TypeError(f"{self!r} reads from memory or a file object and cannot be pickled")
        return (_reopen, (path, self._target(), self._state(), self.read_only))


_Request = tuple[ChunkRef, "asyncio.Future[np.ndarray | None]"]

_CPUS = os.cpu_count() or 1
# Keys parsed and kept per store: a few MB at most, many screens of tiles
_KEYS_REMEMBERED = 1 << 16


def _flat_bytes(array: np.ndarray) -> np.ndarray:
    """The chunk's bytes as zarr's bytes codec reads them: flat, C order, no copy."""
    return np.ascontiguousarray(array).reshape(-1).view(np.uint8)


def _chunk_buffer(
    prototype: BufferPrototype, chunk: np.ndarray | None, byte_range: ByteRequest | None
) -> Buffer | None:
    """A decoded chunk's bytes as zarr's buffer, None for a chunk zarr fills itself."""
    return None if chunk is None else prototype.buffer.from_array_like(_slice(chunk, byte_range))


def _deliver(
    future: asyncio.Future[np.ndarray | None],
    chunk: np.ndarray | None,
    error: BaseException | None,
) -> None:
    """Hand a decoded chunk, or its error, from a decoding thread to the reader's loop."""
    # a closed event loop refuses it: then nobody waits for the chunk any more
    with suppress(RuntimeError):
        future.get_loop().call_soon_threadsafe(_resolve, future, chunk, error)


def _resolve(
    future: asyncio.Future[np.ndarray | None],
    chunk: np.ndarray | None,
    error: BaseException | None,
) -> None:
    if future.done():
        return  # cancelled while it was decoded
    if error is None:
        future.set_result(chunk)
    else:
        future.set_exception(error)


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


def _reopen(
    path: str | RemoteLocation, target: tuple[str, Any], state: dict[str, Any], read_only: bool
) -> ZarrTiffStore:
    """Rebuild a pickled store without touching the file until it is first read."""
    store = ZarrTiffStore.__new__(ZarrTiffStore)
    store._series = None
    store._reopen_from = (path, target)
    store._reopen_lock = threading.Lock()
    store._chunkmode = CHUNKMODE(state["chunkmode"])
    store._fillvalue = state["fillvalue"]
    store._zattrs = dict(state["zattrs"])
    store._multiscales = state["multiscales"]
    store._level = state["level"] or 0
    store._squeeze = state["squeeze"]
    store._maxworkers = state["maxworkers"]
    store._buffersize = state["buffersize"]
    store._zarr_format = state["zarr_format"]
    store._on_error = state["on_error"]
    store._failed = set()
    store._lock = None
    store._executor = None
    store._executor_lock = threading.Lock()
    store._queue = deque()
    store._draining = 0
    store._closed = False
    store._decoders = {}
    Store.__init__(store, read_only=read_only)
    return store
