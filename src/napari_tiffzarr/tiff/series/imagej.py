"""ImageJ hyperstacks: the 'ImageJ=' description of the first page gives T, Z and C."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..pages import LazyPages, PageSequence
from .base import TiffPageSeries
from .frames import is_contiguous, virtual_frames
from .resolution import imagej_physical_sizes

if TYPE_CHECKING:
    from ..file import TiffFile
    from ..page import TiffPage

__all__ = ["detect_imagej", "imagej_metadata"]

log = logging.getLogger("napari_tiffzarr")

# ImageJ's 'order' key -> (axes, which of frames/slices/channels each is)
_ORDERS: dict[str, str] = {
    "czt": "TZC",
    "default": "TZC",
    "ctz": "ZTC",
    "zct": "TCZ",
    "ztc": "CTZ",
    "tcz": "ZCT",
    "tzc": "CZT",
}


def _value(text: str) -> Any:
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return text


def imagej_metadata(page: TiffPage) -> dict[str, Any] | None:
    """The key=value lines of an ImageJ description, values typed, or None."""
    text = page.description
    if not text.startswith(("ImageJ=", "SCIFIO=")):  # SCIFIO writes ImageJ's keys too
        return None
    meta: dict[str, Any] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            meta[key.strip()] = _value(value.strip())
    return meta


def detect_imagej(tif: TiffFile) -> list[TiffPageSeries] | None:
    page = tif.pages.first()
    meta = imagej_metadata(page)
    if meta is None:
        return None
    if not page.size:
        return None  # an empty image is no hyperstack: read as its page, as tifffile does
    counts = {}
    for key in ("frames", "slices", "channels", "images"):
        value = meta.get(key, 1)
        if not isinstance(value, int) or value < 1:
            log.warning("%s: ImageJ %s=%r is invalid", page.name, key, value)
            return []
        counts[key] = value
    frames, slices, channels, images = (
        counts["frames"],
        counts["slices"],
        counts["channels"],
        counts["images"],
    )
    planes, _, _, _, samples = page.shaped
    if channels == 1 or (planes > 1 and planes == channels):
        images = frames * slices  # Bio-Formats declares separate samples as channels
    elif images == frames * slices and samples == channels:
        channels = 1  # contiguous RGB samples declared as channels
    else:
        images = frames * slices * channels
    multipage = page.ifd.next_offset != 0
    if images == 1 and multipage:
        images = len(tif.pages)
    nbytes = images * page.nbytes_stored
    pages: Sequence[TiffPage]
    if is_contiguous(page):
        start = int(page.dataoffsets[0])
        if start + nbytes > tif.filesize:
            log.warning("%s: ImageJ images run past the end of the file", page.name)
            return []
        if images <= 1 or not multipage or start + nbytes <= page.ifd.next_offset:
            # all images follow the first page's data: read no other IFD
            pages = virtual_frames(page, images)
        else:
            pages = tif.pages
    else:
        pages = tif.pages  # parsed when read
    order = str(meta.get("order", "czt")).lower()
    axes = _ORDERS.get(order, "TZC")
    sizes = {"T": frames, "Z": slices, "C": channels}
    shape: tuple[int, ...] = tuple(sizes[ax] for ax in axes)
    product = frames * slices * channels
    remain = images // product if product else 1
    if remain > 1:
        shape = (remain, *shape)
        axes = "I" + axes
    if planes > 1:
        shape = shape[:-1] + page.shape
        axes += page.axes[1:]
    else:
        shape += page.shape
        axes += page.axes
    if "S" not in axes:
        shape += (1,)
        axes += "S"
    needed = max(1, math.prod(shape) // page.size) if page.size else 1
    listed: Sequence[TiffPage | None]
    if isinstance(pages, PageSequence) and len(pages) >= needed:
        listed = pages if len(pages) == needed else LazyPages(needed, pages.__getitem__)
    else:
        listed = list(pages[:needed])
        if len(listed) < needed:
            log.warning(
                "%s: ImageJ series lacks %d images: they read as fill",
                page.name,
                needed - len(listed),
            )
            listed = [*listed, *([None] * (needed - len(listed)))]
    series = TiffPageSeries(tif, listed, shape, axes, kind="imagej")
    series.physical_sizes = imagej_physical_sizes(page, meta)
    return [series]
