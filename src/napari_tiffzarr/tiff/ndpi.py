"""Hamamatsu NDPI pages: one-strip JPEG levels read as tiles cut at restart markers.

NDPI stores a level as a single JPEG strip of up to gigapixels, with a restart marker
every few MCUs and where each restart interval starts in the strip in McuStarts (65426,
the high 32 bits in 65432).  Each interval is a tile, decoded with the stream's header
patched to the tile's size (see :mod:`.jpeg`), so a viewport decodes its tiles instead of
the whole level.  Where the tags do not describe such a tiling, the page is read as the
one strip it is, like any other page.
"""

from __future__ import annotations

import logging
from functools import cached_property

import numpy as np

from ..errors import TiffFileError
from .jpeg import RestartTiling, restart_tiling
from .page import STRIP_BYTECOUNT_TAGS, STRIP_OFFSET_TAGS, TiffPage
from .tags import Compression

__all__ = ["NDPI_MCU_STARTS", "NdpiPage"]

log = logging.getLogger("napari_tiffzarr")

NDPI_MCU_STARTS = 65426
NDPI_MCU_STARTS_HIGH = 65432
# The largest JPEG header read to find the restart tiling; longer ones are not NDPI's
MAX_HEADER = 2**20


class NdpiPage(TiffPage):
    """A page with McuStarts: tiled at its restart markers where they make a tiling."""

    @cached_property
    def restart_tiles(self) -> tuple[RestartTiling, np.ndarray] | None:
        """The tiling and where each tile starts in the strip, or None where the strip is
        not one JPEG stream cut evenly into restart intervals."""
        tag = self.ifd.get(NDPI_MCU_STARTS)
        if tag is None or self.compression != Compression.JPEG:
            return None
        offsets = self._first_tag(*STRIP_OFFSET_TAGS)
        counts = self._first_tag(*STRIP_BYTECOUNT_TAGS)
        if offsets is None or counts is None or len(offsets) != 1 or len(counts) != 1:
            return None
        starts = tag.array().astype(np.uint64)
        high = self.ifd.get(NDPI_MCU_STARTS_HIGH)
        if high is not None and len(high.array()) == len(starts):
            starts += high.array().astype(np.uint64) << np.uint64(32)
        if not len(starts) or np.any(np.diff(starts.astype(np.int64)) <= 0):
            return None
        header_size = int(starts[0])
        if header_size > min(int(counts[0]), MAX_HEADER):
            return None
        try:
            tiling = restart_tiling(self.source.read(int(offsets[0]), header_size))
        except TiffFileError as exc:
            log.warning("%s: NDPI restart tiles not used: %s", self.name, exc)
            return None
        tiles = -(-self.imagelength // tiling.tilelength) * -(-self.imagewidth // tiling.tilewidth)
        if tiles != len(starts):
            log.warning("%s: %d restart intervals for %d tiles", self.name, len(starts), tiles)
            return None
        return tiling, starts

    @property
    def is_tiled(self) -> bool:
        return super().is_tiled or self.restart_tiles is not None

    @property
    def storage(self) -> str:
        """Its segments are not tiles of the file but the restart intervals of one JPEG
        strip: rows of MCUs, as wide as the interval (often the whole level)."""
        if self.restart_tiles is not None:
            return "restart-interval strips"
        return super().storage

    @cached_property
    def tilewidth(self) -> int:  # type: ignore[override]
        if self.restart_tiles is not None:
            return self.restart_tiles[0].tilewidth
        return TiffPage.tilewidth.__get__(self)

    @cached_property
    def tilelength(self) -> int:  # type: ignore[override]
        if self.restart_tiles is not None:
            return self.restart_tiles[0].tilelength
        return TiffPage.tilelength.__get__(self)

    @property
    def jpegheader(self) -> bytes | None:
        return None if self.restart_tiles is None else self.restart_tiles[0].header

    @cached_property
    def dataoffsets(self) -> np.ndarray:
        if self.restart_tiles is None:
            return super().dataoffsets
        _, starts = self.restart_tiles
        base = self._first_tag(*STRIP_OFFSET_TAGS)
        assert base is not None  # restart_tiles checked it
        shifted: np.ndarray = base[0] + starts
        return shifted

    @cached_property
    def databytecounts(self) -> np.ndarray:
        if self.restart_tiles is None:
            return super().databytecounts
        _, starts = self.restart_tiles
        total = self._first_tag(*STRIP_BYTECOUNT_TAGS)
        assert total is not None  # restart_tiles checked it
        spans: np.ndarray = np.diff(starts, append=total[0])
        return spans
