"""Sparse segments for the tests: zero the offsets and/or byte counts of some strips or
tiles of a page in place, as writers of sparse files leave them.

tifffile reports where each tag's values lie (``valueoffset``, inline or not), so the
patch needs no IFD parsing of ours.  Either field at zero makes a segment sparse; tests
zero one or the other to see that both are recognised.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import tifffile

__all__ = ["make_sparse"]

# TIFF field type -> bytes per value of an offsets or byte counts tag (SHORT, LONG, LONG8)
_VALUE_SIZES = {3: 2, 4: 4, 16: 8}


def make_sparse(
    path: Path,
    segments: Iterable[int],
    page: int = 0,
    *,
    offsets: bool = True,
    counts: bool = True,
) -> None:
    """Zero the offsets (if offsets) and byte counts (if counts) of segments of page."""
    segments = list(segments)
    patches: list[tuple[int, int]] = []
    with tifffile.TiffFile(path) as tif:
        tags = tif.pages[page].tags
        offsets_code, counts_code = (324, 325) if 324 in tags else (273, 279)
        codes = [offsets_code] * offsets + [counts_code] * counts
        for code in codes:
            tag = tags[code]
            size = _VALUE_SIZES[int(tag.dtype)]
            patches += [(tag.valueoffset + i * size, size) for i in segments]
    with open(path, "r+b") as fh:
        for offset, size in patches:
            fh.seek(offset)
            fh.write(b"\0" * size)
