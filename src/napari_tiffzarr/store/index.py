"""The public, read-only chunk index of a store: what it serves and where each chunk lives.

Levels, their chunk grids and metadata documents, chunk key <-> (level, page, segment), and
the stored chunks with their byte ranges.  The store, its listing, the references and the
remote batching read only this.  Listing is arithmetic on the grids: a directory listing
never parses a page, and the stored chunk keys are streamed, each page parsed only when
its own chunks are reached.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np

from ..errors import TiffFileError
from ..tiff.page import TiffPage
from ..tiff.series import TiffPageSeries
from .config import CHUNKMODE, StoreConfig, ZarrFormat
from .keys import ChunkGrid, ChunkRef, chunk_segments, chunk_span, map_dimensions
from .metadata import array_metadata, group_metadata, multiscales_attributes
from .names import level_names, served_axes
from .ngff import NgffAxis, ngff_order, ngff_problems, omero_attributes

__all__ = ["ChunkIndex", "ChunkLocation", "Level"]

# Keys parsed and kept per index: a few MB at most, many screens of tiles
_KEYS_REMEMBERED = 1 << 16
Located = tuple[int, tuple[int, ...]]  # a chunk key's level and chunk coordinates
# A ChunkRef's fields, as a parsed key is kept: a tuple of numbers only, which the garbage
# collector stops tracking.  Kept ChunkRefs stay tracked, and a few thousand of them
# added per screen of tiles bring the interpreter's full collections (10 to 30 ms here,
# far more in a viewer's process) into the reads sooner.
_RefFields = tuple[int, int, int | None, tuple[int, int]]

# An index as zarr writes it (see is_index), and the chunk keys made of them, by zarr
# format and whether levels are prefixed: one match per key, where splitting and testing
# each part cost the event loop more than the rest of a cold chunk's Python.
_INDEX = "(?:0|[1-9][0-9]*)"
_INDEX_TEXT = re.compile(_INDEX)
_KEY_PATTERNS = {
    (3, False): re.compile(f"c(?:/({_INDEX}(?:/{_INDEX})*))?"),
    (3, True): re.compile(f"({_INDEX})/c(?:/({_INDEX}(?:/{_INDEX})*))?"),
    (2, False): re.compile(f"({_INDEX}(?:\\.{_INDEX})*)"),
    (2, True): re.compile(f"({_INDEX})/({_INDEX}(?:\\.{_INDEX})*)"),
}


@dataclass(frozen=True)
class Level:
    """One array the store serves: a level of the series, its grid and key prefix."""

    index: int
    series: TiffPageSeries
    grid: ChunkGrid
    prefix: str  # "" for a lone array, "<index>/" in a multiscales group

    @property
    def keyframe(self) -> TiffPage:
        return self.series.keyframe


class ChunkLocation(NamedTuple):
    """A stored chunk: its key, where it lives, and its bytes (None: the whole page)."""

    key: str
    ref: ChunkRef
    page: TiffPage
    byte_range: tuple[int, int] | None


def is_index(text: str) -> bool:
    """Whether text is a chunk or level index as zarr writes it: ASCII digits, no leading
    zero.  str.isdigit() alone also accepts Arabic-Indic digits and superscripts, and int()
    reads '01': keys that zarr never asks for would alias real chunks."""
    return _INDEX_TEXT.fullmatch(text) is not None


class ChunkIndex:
    """The levels, keys and chunks of a series served with a config; built without I/O
    beyond the keyframes' tags, which finding the series has read already."""

    def __init__(self, series: TiffPageSeries, config: StoreConfig) -> None:
        self.series = series
        self.config = config
        served = list(series.levels) if config.multiscales else [series.levels[config.level]]
        self.levels: tuple[Level, ...] = tuple(
            Level(i, level, _grid(i, level, config), f"{i}/" if config.multiscales else "")
            for i, level in enumerate(served)
        )
        self._parsed: dict[str, tuple[Located | None, _RefFields | None]] = {}

    @property
    def zarr_format(self) -> ZarrFormat:
        return self.config.zarr_format

    @cached_property
    def fillvalue(self) -> int | float:
        fill = self.config.fillvalue
        return self.series.keyframe.nodata if fill is None else fill

    def chunk_nbytes(self, level: int) -> int:
        """The bytes of one decoded chunk of level, edge chunks padded."""
        return int(np.prod(self.levels[level].grid.chunks)) * self.series.dtype.itemsize

    # -- metadata ------------------------------------------------------------------------
    @cached_property
    def axes(self) -> str:
        """The served axes' letters (tifffile's), in the order the arrays serve them."""
        axes = self.series.get_axes(self.config.squeeze)
        order = self.levels[0].grid.order
        return axes if order is None else "".join(axes[i] for i in order)

    @cached_property
    def named_axes(self) -> list[NgffAxis]:
        """The served axes' names and NGFF types, as the layout names them: the multiscales
        axes, and the arrays' dimension names."""
        return served_axes(self.axes, self.config.layout)

    def dimension_names(self, level: Level) -> list[str]:
        """The dimension names of a level's array, from the axes' names."""
        return level_names(
            self.named_axes,
            self.config.layout,
            level.index,
            level.grid.shape,
            self.levels[0].grid.shape,
        )

    @cached_property
    def metadata(self) -> Mapping[str, bytes]:
        """The metadata documents by key: the group's (multiscales) and every array's."""
        config = self.config
        fmt = config.zarr_format
        ngff = config.layout == "ngff"
        axes = self.axes
        documents: dict[str, bytes] = {}
        if config.multiscales:
            sizes = self.series.physical_sizes
            attributes = multiscales_attributes(
                name=self.series.name or self.series.kind,
                axes=self.named_axes,
                shapes=[level.grid.shape for level in self.levels],
                # level 0's physical pixel size per axis, 1 where the file does not say
                scale=[sizes[ax][0] if ax in sizes else 1.0 for ax in axes] if sizes else None,
                units={ax: sizes[ax][1] for ax in axes if ax in sizes} or None,
                zarr_format=fmt,
                omero=self._omero() if ngff else None,
            )
            documents.update(group_metadata({**attributes, **config.zattrs}, fmt))
        for level in self.levels:
            grid = level.grid
            arrays = array_metadata(
                shape=grid.shape,
                chunks=grid.chunks,
                dtype=self.series.dtype,
                fill_value=self.fillvalue,
                dimensions=self.dimension_names(level),
                attributes=None if config.multiscales else config.zattrs,
                zarr_format=fmt,
                transpose=_transpose(grid.order),
            )
            documents.update({level.prefix + key: value for key, value in arrays.items()})
        return documents

    def _omero(self) -> Mapping[str, Any] | None:
        series = self.series
        return omero_attributes(
            self.named_axes,
            self.levels[0].grid.shape,
            series.dtype,
            series.channel_names,
            series.channel_colors,
        )

    @cached_property
    def ngff_problems(self) -> list[str]:
        """Why the metadata served are not valid OME-NGFF; empty where they are."""
        problems = []
        if not self.config.multiscales:
            problems.append("a lone array: NGFF's metadata lives on a multiscales group")
        if self.config.zarr_format == 3:  # NGFF 0.4 says nothing of zarr 2's names
            wanted = [axis.name for axis in self.named_axes]
            if any(self.dimension_names(level) != wanted for level in self.levels):
                problems.append(
                    "smaller levels name their shrunk dimensions apart (Y_1), as tifffile's"
                    " layout does: NGFF 0.5 wants the axes' names on every level"
                )
        return problems + ngff_problems(self.axes)

    # -- keys ----------------------------------------------------------------------------
    def key(self, level: int, coords: tuple[int, ...]) -> str:
        """The chunk key of coords in level (coords may lead with a sequence's indices)."""
        prefix = self.levels[level].prefix
        if self.config.zarr_format == 3:
            return prefix + "/".join(["c", *map(str, coords)])
        return prefix + ".".join(map(str, coords))

    def parse(self, key: str) -> ChunkRef | None:
        """The chunk that key names, or None where it names none."""
        fields = self._known(key)[1]
        return None if fields is None else ChunkRef(*fields)

    def locate(self, key: str) -> Located | None:
        """The level and chunk coordinates that key names, or None where it names none."""
        return self._known(key)[0]

    def _known(self, key: str) -> tuple[Located | None, _RefFields | None]:
        """Where key points and its chunk's fields, remembered: a viewer asks for the same
        chunks again and again, and parsing costs the event loop thread more than the
        rest of a read's work there."""
        known = self._parsed
        found = known.get(key)
        if found is None:
            if len(known) >= _KEYS_REMEMBERED:
                known.clear()
            located = self._locate(key)
            ref = None if located is None else self.levels[located[0]].grid.chunk_ref(located[1])
            fields = None if ref is None else (ref.level, ref.page, ref.segment, ref.span)
            found = known[key] = (located, fields)
        return found

    def _locate(self, key: str) -> Located | None:
        config = self.config
        match = _KEY_PATTERNS[config.zarr_format, config.multiscales].fullmatch(key)
        if match is None:
            return None
        level = 0
        if config.multiscales:
            level = int(match[1])
            if level >= len(self.levels):
                return None
        coords = match[match.re.groups]
        if not coords:
            return level, ()
        return level, tuple(map(int, coords.split("/" if config.zarr_format == 3 else ".")))

    # -- chunks --------------------------------------------------------------------------
    def page(self, ref: ChunkRef) -> TiffPage | None:
        """The page of a chunk (parsed on first use), None for a page the series lacks."""
        return self.levels[ref.level].series.pages[ref.page]

    def byte_ranges(self, ref: ChunkRef) -> list[tuple[int, int]]:
        """(offset, length) of every stored segment of a strip, tile or spanned chunk."""
        page = self.page(ref)
        if page is None or ref.segment is None:
            return []
        if ref.span == (1, 1):
            indices = [ref.segment]
        else:
            indices = [index for index, _, _ in chunk_segments(page.layout, ref)]
        return [r for r in map(page.segment_range, indices) if r is not None]

    def is_stored(self, ref: ChunkRef) -> bool:
        """Whether the chunk has data: reads its page's tags, no other page's."""
        page = self.page(ref)
        if page is None:
            return False
        if ref.segment is None:
            return True
        try:
            return bool(self.byte_ranges(ref))
        except TiffFileError:
            return True  # present but corrupt: reading it says why

    def exists(self, key: str) -> bool:
        if key in self.metadata:
            return True
        ref = self.parse(key)
        return ref is not None and self.is_stored(ref)

    def size(self, key: str) -> int | None:
        """The bytes get(key) returns in full, None where nothing is stored under key."""
        document = self.metadata.get(key)
        if document is not None:
            return len(document)
        ref = self.parse(key)
        return None if ref is None or not self.is_stored(ref) else self.chunk_nbytes(ref.level)

    def chunks(self, lead: tuple[int, ...] = ()) -> Iterator[ChunkLocation]:
        """Every stored chunk of every level in key order, streamed; keys get lead's
        indices in front (a file's place in a sequence).  A corrupt offset raises."""
        for level in self.levels:
            for coords, ref in _positions(level.grid, ()):
                page = self.page(ref)
                if page is None:
                    continue
                found = None if ref.segment is None else page.segment_range(ref.segment)
                if ref.segment is not None and found is None:
                    continue
                yield ChunkLocation(self.key(level.index, (*lead, *coords)), ref, page, found)

    # -- listing -------------------------------------------------------------------------
    def stored_keys(self, prefix: str = "") -> Iterator[str]:
        """Metadata keys, then the stored chunk keys, that start with prefix; streamed,
        and only the chunks of the levels and leading indices the prefix can match."""
        yield from (key for key in self.metadata if key.startswith(prefix))
        for level in self.levels:
            if level.prefix.startswith(prefix):
                fixed: tuple[int, ...] | None = ()
            elif prefix.startswith(level.prefix):
                fixed = self._fixed(level.grid, prefix[len(level.prefix) :])
            else:
                continue
            if fixed is None:
                continue
            for coords, ref in _positions(level.grid, fixed):
                key = self.key(level.index, coords)
                if key.startswith(prefix) and self.is_stored(ref):
                    yield key

    def _fixed(self, grid: ChunkGrid, rest: str) -> tuple[int, ...] | None:
        """The leading chunk indices that every key starting with rest has, None if no
        chunk key of the array can start with rest."""
        separator = "/" if self.config.zarr_format == 3 else "."
        if self.config.zarr_format == 3:
            if "c/".startswith(rest):
                return ()
            if not rest.startswith("c/"):
                return None
            rest = rest[2:]
        complete = rest.split(separator)[:-1]  # the last part may be a partial index
        if len(complete) > len(grid.shape) or not all(is_index(p) for p in complete):
            return None
        fixed = tuple(int(p) for p in complete)
        if any(i >= n for i, n in zip(fixed, grid.grid, strict=False)):
            return None
        return fixed

    def children(self, prefix: str) -> Iterator[str]:
        """The names one level below directory prefix, as list_dir gives them.

        Answered from the metadata and grid arithmetic alone, never parsing a page: chunk
        names are every position of the grid, sparse ones included (they read as the fill
        value).  Which chunks hold data is what stored_keys() and exists() say.
        """
        prefix = prefix.rstrip("/")
        prefix = prefix + "/" if prefix else ""
        seen: set[str] = set()
        for key in self.metadata:
            if key.startswith(prefix):
                child = key[len(prefix) :].split("/", 1)[0]
                if child not in seen:
                    seen.add(child)
                    yield child
        for level in self.levels:
            if prefix.startswith(level.prefix):
                yield from self._chunk_children(level.grid, prefix[len(level.prefix) :])

    def _chunk_children(self, grid: ChunkGrid, rest: str) -> Iterator[str]:
        if 0 in grid.grid:
            return  # an empty array has no chunks
        if self.config.zarr_format == 2:
            if rest == "":  # chunk keys sit in the array's directory, streamed
                yield from (".".join(map(str, coords)) for coords in np.ndindex(*grid.grid))
            return
        if rest == "":
            yield "c"
            return
        if not rest.startswith("c/"):
            return
        parts = rest[2:-1].split("/") if rest != "c/" else []
        if not all(is_index(p) for p in parts) or len(parts) >= len(grid.shape):
            return
        if any(int(p) >= n for p, n in zip(parts, grid.grid, strict=False)):
            return
        yield from map(str, range(grid.grid[len(parts)]))


def _grid(index: int, series: TiffPageSeries, config: StoreConfig) -> ChunkGrid:
    shape = series.get_shape(config.squeeze)
    keyframe = series.keyframe
    axes = series.get_axes(config.squeeze)
    # NGFF's order where zarr can reorder a chunk's axes: format 3's transpose codec
    order = ngff_order(axes) if config.layout == "ngff" and config.zarr_format == 3 else None
    return ChunkGrid(
        level=index,
        stored_shape=shape,
        roles=map_dimensions(shape, axes, keyframe.layout.shaped, len(series.pages)),
        layout=keyframe.layout,
        whole_pages=config.chunkmode == CHUNKMODE.PAGE,
        span=chunk_span(keyframe.layout, config.chunkshape),
        order=None if order == tuple(range(len(axes))) else order,
    )


def _transpose(order: tuple[int, ...] | None) -> list[int] | None:
    """The transpose codec's order that gives a chunk's stored bytes from the served array:
    stored dimension i is served dimension result[i]."""
    if order is None:
        return None
    inverse = [0] * len(order)
    for served, stored in enumerate(order):
        inverse[stored] = served
    return inverse


def _positions(
    grid: ChunkGrid, fixed: tuple[int, ...]
) -> Iterator[tuple[tuple[int, ...], ChunkRef]]:
    """(coords, ref) of every chunk of grid whose coords start with fixed, in C order."""
    for tail in np.ndindex(*grid.grid[len(fixed) :]):
        coords = (*fixed, *tail)
        ref = grid.chunk_ref(coords)
        if ref is not None:
            yield coords, ref
