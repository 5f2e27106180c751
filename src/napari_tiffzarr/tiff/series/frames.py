"""Frames that have no IFD of their own: images stored one after another behind a page.

ImageJ writes every image of a stack contiguously after the first page's data, and hyper-
stacks over 4 GB have one IFD only.  A frame is the first page shifted by whole images, so
a stack of 10,000 images costs one parsed IFD, not 10,000.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from ..codecs import is_raw
from ..page import TiffPage
from ..pages import LazyPages

__all__ = ["VirtualPage", "is_contiguous", "virtual_frames"]


class VirtualPage(TiffPage):
    """An image at a fixed distance after a keyframe's data, sharing its tags."""

    def __init__(self, keyframe: TiffPage, frame: int) -> None:
        base = keyframe.index if isinstance(keyframe.index, tuple) else (keyframe.index,)
        super().__init__(keyframe.source, keyframe.header, keyframe.ifd, (*base, frame))
        self.keyframe = keyframe
        self.frame = frame

    @cached_property
    def dataoffsets(self) -> np.ndarray:
        shift = np.uint64(self.frame * self.keyframe.nbytes_stored)
        return self.keyframe.dataoffsets + shift

    @cached_property
    def databytecounts(self) -> np.ndarray:
        return self.keyframe.databytecounts

    @property
    def name(self) -> str:
        return f"{self.source.name}: frame {self.frame} of page {self.keyframe.index}"


def is_contiguous(page: TiffPage) -> bool:
    """Whether the page's samples are stored raw, byte-aligned and in one run of bytes."""
    if not is_raw(page):
        return False
    offsets = page.dataoffsets
    counts = page.databytecounts
    if len(offsets) != len(counts) or not len(offsets):
        return False
    ends = offsets[:-1] + counts[:-1]
    return bool(np.all(ends == offsets[1:])) and int(counts.sum()) == page.nbytes_stored


def virtual_frames(keyframe: TiffPage, count: int) -> LazyPages:
    """The keyframe followed by count - 1 frames stored right after its data."""
    return LazyPages(count, lambda i: keyframe if i == 0 else VirtualPage(keyframe, i))
