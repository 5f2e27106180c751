"""Chunk keys and where a chunk's pixels live: page and strip or tile.

A series' shape is its pages' shape reshaped without transposition, so every dimension
of the zarr array is either a *page* dimension (pages are laid out along it), or one of
the page's own dimensions in the (plane, depth, length, width, sample) frame, or a unit
dimension of length 1.  That mapping makes chunk lookup arithmetic, not search.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..errors import TiffFileError
from ..tiff.layout import SegmentLayout

__all__ = [
    "PAGE_DIM",
    "UNIT_DIM",
    "ChunkGrid",
    "ChunkRef",
    "chunk_segments",
    "chunk_span",
    "map_dimensions",
]

PAGE_DIM = -1  # the dimension counts pages
UNIT_DIM = -2  # a length-1 dimension that belongs to nothing


def map_dimensions(
    shape: tuple[int, ...], axes: str, shaped: tuple[int, int, int, int, int], npages: int
) -> tuple[int, ...]:
    """Assign every dimension of shape to PAGE_DIM, UNIT_DIM or a page dimension 0-4.

    Matches from the right, as a reshape of (pages, *shaped) without transposition.  Width
    and length are never squeezed away, so they are matched whatever their size; a
    length-1 sample dimension is recognised by its letter 'S', since a width of 1 looks
    just like it.
    """
    planes, depth, length, width, samples = shaped
    if 0 in shape and 0 in (length, width):
        # an empty series of empty pages (its shape from metadata, as tifffile writes
        # them): no chunk is ever read, each dimension is a chunk of one
        return (UNIT_DIM,) * len(shape)
    roles: list[int] = []
    position = len(shape) - 1

    def take(size: int, role: int) -> None:
        nonlocal position
        while position >= 0 and shape[position] == 1 and size != 1:
            roles.append(UNIT_DIM)  # a length-1 dimension the reshape inserted
            position -= 1
        if position < 0 or shape[position] != size:
            raise TiffFileError(
                f"series shape {shape} is not a reshape of pages of {shaped}: "
                f"no dimension of length {size} where the page has one"
            )
        roles.append(role)
        position -= 1

    if samples > 1:
        take(samples, 4)
    elif position >= 0 and axes[position] == "S" and shape[position] == 1:
        roles.append(4)
        position -= 1
    take(width, 3)
    take(length, 2)
    if depth > 1:
        take(depth, 1)
    if planes > 1:
        take(planes, 0)
    lead = shape[: position + 1]
    if math.prod(lead) != npages:
        raise TiffFileError(f"series shape {shape} does not hold {npages} pages of shape {shaped}")
    roles.extend([PAGE_DIM] * len(lead))
    return tuple(reversed(roles))


@dataclass(frozen=True, slots=True)
class ChunkRef:
    """Where one chunk lives: a page of the level, and a segment or (None) the whole page."""

    level: int
    page: int
    segment: int | None
    # segments per chunk along length and width: the chunk's first segment is ``segment``
    span: tuple[int, int] = (1, 1)

    @property
    def one_segment(self) -> bool:
        """Whether the chunk is one strip or tile: read with one range, decoded in one call."""
        return self.segment is not None and self.span == (1, 1)


@dataclass(frozen=True, slots=True)
class ChunkGrid:
    """The zarr shape and chunk shape of one level, and the key arithmetic for it.

    The series' dimensions may be served in another order (NGFF's, where zarr's transpose
    codec turns a chunk's stored bytes around): ``stored_shape`` and ``roles`` are in the
    series' order, ``shape``, ``chunks``, ``grid`` and chunk coordinates in the served one.
    """

    level: int
    stored_shape: tuple[int, ...]
    roles: tuple[int, ...]
    layout: SegmentLayout
    whole_pages: bool  # chunkmode 2: one chunk per page
    span: tuple[int, int] = (1, 1)  # segments per chunk along length and width
    order: tuple[int, ...] | None = None  # served dimension i is stored one order[i]

    # the served shapes, worked out once: every chunk key zarr asks for is checked
    # against the grid, and a property cost the event loop microseconds a key
    shape: tuple[int, ...] = field(init=False, repr=False, compare=False)
    stored_chunks: tuple[int, ...] = field(init=False, repr=False, compare=False)
    chunks: tuple[int, ...] = field(init=False, repr=False, compare=False)
    grid: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        depth, length, width, samples = self.layout.segment
        planes, idepth, ilength, iwidth, isamples = self.layout.shaped
        if self.whole_pages:
            full = (planes, idepth, ilength, iwidth, isamples)
        else:
            rows, columns = self.span
            full = (1, depth, length * rows, width * columns, samples)
        # an empty image's chunks are 1 long where it has no pixels: zarr needs a size
        stored_chunks = tuple(1 if role < 0 else max(1, full[role]) for role in self.roles)
        shape = self._served(self.stored_shape)
        chunks = self._served(stored_chunks)
        grid = tuple(-(-s // c) for s, c in zip(shape, chunks, strict=True))
        for name, value in (
            ("shape", shape),
            ("stored_chunks", stored_chunks),
            ("chunks", chunks),
            ("grid", grid),
        ):
            object.__setattr__(self, name, value)

    def _served(self, values: tuple[int, ...]) -> tuple[int, ...]:
        order = self.order
        return values if order is None else tuple(values[i] for i in order)

    @property
    def served_roles(self) -> tuple[int, ...]:
        """What each served dimension is (PAGE_DIM, UNIT_DIM or a page dimension 0-4)."""
        return self._served(self.roles)

    def chunk_pixels(self) -> tuple[int, int]:
        """A chunk's length and width in pixels of the page."""
        _, length, width, _ = self.layout.segment
        rows, columns = self.span
        return length * rows, width * columns

    @property
    def page_shape(self) -> tuple[int, ...]:
        """The shape of the page dimensions only, whose product is the page count."""
        shape, roles = self.stored_shape, self.roles
        return tuple(s for s, role in zip(shape, roles, strict=True) if role == PAGE_DIM)

    def chunk_ref(self, coords: tuple[int, ...]) -> ChunkRef | None:
        """The page and segment of chunk coords, or None where coords are out of range."""
        if len(coords) != len(self.stored_shape):
            return None
        for c, n in zip(coords, self.grid, strict=True):
            if not 0 <= c < n:
                return None
        order = self.order
        if order is not None:
            stored = [0] * len(coords)
            for served, coord in zip(order, coords, strict=True):
                stored[served] = coord
            coords = tuple(stored)
        page = 0
        position = [0, 0, 0, 0, 0]
        for coord, size, role in zip(coords, self.stored_shape, self.roles, strict=True):
            if role == PAGE_DIM:
                page = page * size + coord
            elif role >= 0:
                position[role] = coord
        if self.whole_pages:
            return ChunkRef(self.level, page, None)
        _, nz, ny, nx = self.layout.grid
        plane, z, y, x, _ = position
        rows, columns = self.span
        first = ((plane * nz + z) * ny + y * rows) * nx + x * columns
        return ChunkRef(self.level, page, first, self.span)


def chunk_span(layout: SegmentLayout, chunkshape: tuple[int, int] | None) -> tuple[int, int]:
    """Segments per chunk along length and width for chunks of at least chunkshape pixels.

    Whole segments only, so a chunk is decoded tile by tile with no partial tile; never
    more segments than the page has, so a small level is one chunk, not a padded one.
    """
    if chunkshape is None:
        return (1, 1)
    _, _, rows, columns = layout.grid
    _, length, width, _ = layout.segment
    return (
        max(1, min(rows, -(-chunkshape[0] // length))),
        max(1, min(columns, -(-chunkshape[1] // width))),
    )


def chunk_segments(layout: SegmentLayout, ref: ChunkRef) -> list[tuple[int, int, int]]:
    """(segment index, row, column of the segment in the chunk) of every segment of a
    chunk inside the page; segments of an edge chunk beyond the page are left out (they
    read as the fill value)."""
    if ref.segment is None:
        raise ValueError("a whole page is not made of segments")
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
