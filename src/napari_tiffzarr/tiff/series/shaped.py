"""Series described by the JSON that tifffile writes into the first page's description."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ...errors import TiffFileError
from ..pages import LazyPages
from .base import TiffPageSeries, pyramidize, subifd_index

if TYPE_CHECKING:
    from ..file import TiffFile
    from ..page import TiffPage

__all__ = ["detect_shaped", "shaped_metadata"]

log = logging.getLogger("napari_tiffzarr")


def shaped_metadata(page: TiffPage) -> dict[str, Any] | None:
    """The JSON (or legacy 'shape=(...)') series description of a page, if it has one."""
    text = page.description.strip()
    if text.startswith("{") and '"shape"' in text:
        try:
            data = json.loads(text)
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        shape = data.get("shape")
        if isinstance(shape, list) and all(isinstance(s, int) and s >= 0 for s in shape):
            return dict(data)
        return None
    if text.startswith("shape=(") and text.endswith(")"):
        try:
            shape = [int(s) for s in text[7:-1].split(",") if s.strip()]
        except ValueError:
            return None
        return {"shape": shape}
    return None


def _reshape_axes(axes: str, shape: tuple[int, ...], newshape: tuple[int, ...]) -> str:
    """Axes for newshape, a reshape of shape, unknown dimensions named Q."""
    if math.prod(shape) != math.prod(newshape):
        raise ValueError(f"cannot reshape {shape} to {newshape}")
    result: list[str] = []
    i = len(shape) - 1
    prod = 1
    for size in reversed(newshape):
        prod *= size
        while i > 0 and shape[i] == 1 and size != 1:
            i -= 1
        if size == shape[i] and prod == math.prod(shape[i:]):
            result.append(axes[i])
            i -= 1
        else:
            result.append("Q")
    return "".join(reversed(result))


def _run(pages: Sequence[TiffPage], start: int, count: int) -> LazyPages:
    """count pages from start, parsed when read."""
    return LazyPages(count, lambda i: pages[start + i])


def _detect_in(
    tif: TiffFile,
    pages: Sequence[TiffPage],
    offsets: Sequence[int],
    out: list[TiffPageSeries],
    seen: set[int],
) -> bool:
    """Append the shaped series of a run of pages (main chain or SubIFDs); False if invalid.

    Only the page starting each series is parsed: the others are trusted to be alike, as
    tifffile trusts them, and parsed when read.  seen holds the IFD offsets already
    visited: SubIFDs that point back up make no endless tree.
    """
    if not seen.isdisjoint(offsets):
        log.warning("%s: SubIFDs loop back to an IFD already read", tif.filename)
        return False
    seen.update(offsets)
    index = 0
    count = len(pages)
    while index < count:
        keyframe = pages[index]
        meta = shaped_metadata(keyframe)
        if meta is None:
            log.warning("%s: no shape description where a series should start", keyframe.name)
            return False
        reshape = tuple(int(s) for s in meta["shape"])
        size = math.prod(reshape)
        npages = max(1, size // keyframe.size) if keyframe.size else 1
        if size and (not keyframe.size or size % keyframe.size):  # empty pages hold none
            log.warning(
                "%s: shape %s does not fit pages of %s", keyframe.name, reshape, keyframe.shape
            )
            return False
        group = _run(pages, index, min(npages, count - index))
        if len(group) < npages:
            log.warning("%s: series is truncated to %d pages", keyframe.name, len(group))
        shape = (len(group), *keyframe.shape) if len(group) > 1 else keyframe.shape
        axes = ("Q" if len(group) > 1 else "") + keyframe.axes
        if len(group) == npages:
            named = meta.get("axes")
            if isinstance(named, str) and len(named) == len(reshape):
                shape, axes = reshape, named
            else:
                try:
                    axes = _reshape_axes(axes, shape, reshape)
                    shape = reshape
                except ValueError:
                    pass
        try:
            item = TiffPageSeries(
                tif,
                group,
                shape,
                axes,
                kind="shaped",
                name=str(meta.get("name", "")),
                squeeze=False,
            )
        except TiffFileError as exc:
            log.warning("%s", exc)
            return False
        out.append(item)
        index += len(group)
        # SubIFDs of the series' pages are series of their own; reduced ones become levels
        tif.prefetch_ifds(keyframe.subifds)
        for level in range(len(keyframe.subifds)):
            subpages = []
            for page in group:
                if len(page.subifds) <= level:
                    log.warning("%s: SubIFDs differ between pages of a series", page.name)
                    return False
                subpages.append(tif.subifd_page(page.subifds[level], subifd_index(page, level)))
            if not _detect_in(tif, subpages, [p.offset for p in subpages], out, seen):
                return False
    return True


def detect_shaped(tif: TiffFile) -> list[TiffPageSeries] | None:
    """Series that tifffile wrote, each starting at a page with a shape description."""
    pages = tif.pages
    if shaped_metadata(pages.first()) is None:
        return None
    series: list[TiffPageSeries] = []
    if not _detect_in(tif, pages, pages.offsets, series, set()):
        return []
    pyramidize(series, reduced_only=True)
    return series
