"""Series described by the JSON that tifffile writes into the first page's description."""

from __future__ import annotations

import json
import logging
import math
from typing import TYPE_CHECKING, Any

from ...errors import TiffFileError
from .base import TiffPageSeries

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
        shape = data.get("shape") if isinstance(data, dict) else None
        if isinstance(shape, list) and all(isinstance(s, int) and s >= 0 for s in shape):
            return data
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


def detect_shaped(tif: TiffFile) -> list[TiffPageSeries] | None:
    """Series that tifffile wrote, each starting at a page with a shape description."""
    pages = tif.pages
    if shaped_metadata(pages.first()) is None:
        return None
    series: list[TiffPageSeries] = []
    index = 0
    count = len(pages)
    while index < count:
        keyframe = pages[index]
        meta = shaped_metadata(keyframe)
        if meta is None:
            log.warning("%s: no shape description where a series should start", keyframe.name)
            return None
        reshape = tuple(int(s) for s in meta["shape"])
        size = math.prod(reshape)
        npages = max(1, size // keyframe.size) if keyframe.size else 1
        if size and size % keyframe.size:
            log.warning("%s: shape %s does not fit pages of %s", keyframe.name, reshape, keyframe.shape)
            npages = 1
            reshape = keyframe.shape
        group = [pages[i] for i in range(index, min(index + npages, count))]
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
        name = meta.get("name", "")
        try:
            item = TiffPageSeries(
                tif, group, shape, axes, kind="shaped", name=str(name), squeeze=False
            )
        except TiffFileError as exc:
            log.warning("%s", exc)
            return None
        _add_subifd_levels(tif, item)
        series.append(item)
        index += len(group)
    return series


def _add_subifd_levels(tif: TiffFile, series: TiffPageSeries) -> None:
    """Pyramid levels written by tifffile into the SubIFDs of every page of a series."""
    keyframe = series.keyframe
    for level in range(len(keyframe.subifds)):
        pages = []
        for page in series.pages:
            if page is None or len(page.subifds) <= level:
                return
            pages.append(tif.subifd_page(page.subifds[level], (int(page.index), level)))  # type: ignore[arg-type]
        first = pages[0]
        base = series.levels[0]
        shape = list(base.get_shape(False))
        # spatial axes shrink; the others are the same as level 0's
        page_axes = keyframe.axes
        for ax, size in zip(page_axes, first.shape, strict=True):
            if ax in "YXZ":
                position = base.get_axes(False).rfind(ax)
                shape[position] = size
        try:
            item = TiffPageSeries(
                tif, pages, shape, base.get_axes(False), kind="shaped", squeeze=False
            )
        except TiffFileError as exc:
            log.warning("%s", exc)
            return
        series.levels.append(item)
