"""The grid of strips or tiles that a page is stored in.

A page's samples are addressed as (plane, depth, length, width, sample): ``plane`` counts
separately stored samples (PlanarConfiguration 2), ``sample`` the interleaved ones.  Every
strip or tile, a *segment*, covers a box of that 5-d array; its index in the file's offset
arrays runs plane by plane, then depth, length and width, as TIFF stores them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["SegmentLayout"]


@dataclass(frozen=True, slots=True)
class SegmentLayout:
    """Image and segment shapes in the 5-d (plane, depth, length, width, sample) frame."""

    shaped: tuple[int, int, int, int, int]
    segment: tuple[int, int, int, int]  # (depth, length, width, sample), full size
    tiled: bool

    # segments along plane, depth, length and width: worked out once, since every chunk
    # read asks for it (a property cost a microsecond a call)
    grid: tuple[int, int, int, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        planes, depth, length, width, _ = self.shaped
        sdepth, slength, swidth, _ = self.segment
        grid = (planes, -(-depth // sdepth), -(-length // slength), -(-width // swidth))
        object.__setattr__(self, "grid", grid)

    @property
    def count(self) -> int:
        return math.prod(self.grid)

    def origin(self, index: int) -> tuple[int, int, int, int]:
        """Where segment index starts: (plane, z, y, x) in pixels."""
        _, nz, ny, nx = self.grid
        sdepth, slength, swidth, _ = self.segment
        x = index % nx
        y = index // nx % ny
        z = index // (nx * ny) % nz
        plane = index // (nx * ny * nz)
        return plane, z * sdepth, y * slength, x * swidth

    def valid_shape(self, index: int) -> tuple[int, int, int, int]:
        """The part of segment index inside the image: (depth, length, width, sample)."""
        _, z, y, x = self.origin(index)
        _, depth, length, width, samples = self.shaped
        sdepth, slength, swidth, _ = self.segment
        return (min(sdepth, depth - z), min(slength, length - y), min(swidth, width - x), samples)

    @property
    def segment_nbytes_items(self) -> int:
        return math.prod(self.segment)
