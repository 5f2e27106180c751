"""The grid of strips or tiles that a page is stored in.

A page's samples are addressed as (plane, depth, length, width, sample): ``plane`` counts
separately stored samples (PlanarConfiguration 2), ``sample`` the interleaved ones.  Every
strip or tile, a *segment*, covers a box of that 5-d array; its index in the file's offset
arrays runs plane by plane, then depth, length and width, as TIFF stores them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["SegmentLayout"]


@dataclass(frozen=True, slots=True)
class SegmentLayout:
    """Image and segment shapes in the 5-d (plane, depth, length, width, sample) frame."""

    shaped: tuple[int, int, int, int, int]
    segment: tuple[int, int, int, int]  # (depth, length, width, sample), full size
    tiled: bool

    @property
    def grid(self) -> tuple[int, int, int, int]:
        """Segments along plane, depth, length and width."""
        planes, depth, length, width, _ = self.shaped
        sdepth, slength, swidth, _ = self.segment
        return (
            planes,
            math.ceil(depth / sdepth),
            math.ceil(length / slength),
            math.ceil(width / swidth),
        )

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
