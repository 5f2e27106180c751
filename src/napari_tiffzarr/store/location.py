"""Where a store's data lives: a file's path or URL and the page or series served in it.

A store pickles as its location and config; the copy opens the file from the location
when it is first read.  Equal locations serve the same chunks, whichever way the file's
path was spelled.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal

from ..sources import ByteSource
from ..sources.remote import RemoteLocation, source_location
from ..tiff.file import TiffFile
from ..tiff.sequence import TiffSequence
from ..tiff.series import TiffPageSeries

__all__ = ["StoreLocation", "home_source", "target_of"]

# ("page", index of the page or SubIFD path), ("series", index of the series) or
# ("sequence", the folder, pattern or files of a TiffSequence)
Target = tuple[Literal["page", "series", "sequence"], Any]


def home_source(series: TiffPageSeries) -> ByteSource:
    """The source a series was opened from: its root file's, not that of a plane stored
    in another file of a multi-file dataset."""
    parent = series.parent
    return parent.source if parent is not None else series.keyframe.source


def target_of(series: TiffPageSeries) -> Target:
    if series.kind == "page":
        return ("page", series.keyframe.index)
    if isinstance(series.parent, TiffSequence):
        return ("sequence", series.parent.origin)  # reopened from its folder or files
    return ("series", series.index)


@dataclass(frozen=True)
class StoreLocation:
    """A file (path or remote location) and the page or series served from it."""

    path: str | RemoteLocation
    target: Target

    @classmethod
    def of(cls, series: TiffPageSeries) -> StoreLocation | None:
        """Where series lives, None for memory and file objects (they cannot reopen)."""
        path = source_location(home_source(series))
        return None if path is None else cls(path, target_of(series))

    @property
    def where(self) -> str | RemoteLocation:
        """The file, spelled one way: a real path, or the remote location."""
        path = self.path
        return path if isinstance(path, RemoteLocation) else os.path.realpath(path)

    @property
    def name(self) -> str:
        path = self.path
        return path.name if isinstance(path, RemoteLocation) else os.path.basename(path)

    def open(self, *, writable: bool) -> TiffPageSeries:
        """Open the file and find the page (as a one-page series) or series."""
        kind, index = self.target
        if kind == "sequence":
            return TiffSequence(index).series[0]
        tif = TiffFile(self.path, mode="r+" if writable else "r")
        if kind == "series":
            series: TiffPageSeries = tif.series[index]
            return series
        if isinstance(index, tuple):
            page = tif.subifd_page(tif.pages[index[0]].subifds[index[1]], index)
        else:
            page = tif.pages[index]
        return TiffPageSeries(None, [page], page.shape, page.axes, kind="page")
