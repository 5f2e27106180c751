"""ScanImage: frames, slices and saved channels from its 'SI.' settings.

ScanImage writes its non-varying settings as MATLAB-style 'SI.key = value' lines into the
Software tag of every page (and, in BigTIFF v3/v4 files, into a block after the header).
Two of them give the shape: the saved channels and the frames per slice.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from ..pages import LazyPages
from .base import TiffPageSeries

if TYPE_CHECKING:
    from ..file import TiffFile
    from ..page import TiffPage

__all__ = ["detect_scanimage", "scanimage_settings"]

log = logging.getLogger("napari_tiffzarr")
_SETTING = re.compile(r"^(SI\.[\w.]+)\s*=\s*(.*?)\s*$", re.MULTILINE)


def _is_scanimage(page: TiffPage) -> bool:
    return (
        page.software.startswith("SI.")
        or page.description.startswith("state.")
        or "scanimage.SI" in page.description[-256:]
    )


def scanimage_settings(page: TiffPage) -> dict[str, str]:
    """The 'SI.key = value' settings of a page, values as the text MATLAB wrote."""
    return dict(_SETTING.findall(page.software))


def _count(value: str) -> int:
    """How many entries a MATLAB scalar or vector literal holds: '2' -> 1, '[1;2]' -> 2."""
    inner = value.strip().strip("[]{}")
    return len([v for v in re.split(r"[;,\s]+", inner) if v]) or 1


def detect_scanimage(tif: TiffFile) -> list[TiffPageSeries] | None:
    page = tif.pages.first()
    if not _is_scanimage(page):
        return None
    count = len(tif.pages)
    pages = LazyPages(count, tif.pages.__getitem__)
    settings = scanimage_settings(page)
    shape: tuple[int, ...] = (count, *page.shape)
    axes = "I" + page.axes
    if "SI.hChannels.channelSave" in settings:
        channels = _count(settings["SI.hChannels.channelSave"])
        try:
            frames = int(settings.get("SI.hStackManager.framesPerSlice", ""))
            slices = max(count // (frames * channels), 1)
        except ValueError:  # framesPerSlice is Inf: one slice of all frames
            slices = 1
            frames = count // channels
        if slices * frames * channels == count and frames > 0:
            shape = (slices, frames, channels, *page.shape)
            axes = "ZTC" + page.axes
        else:
            log.warning("%s: ScanImage settings do not fit %d pages", tif.filename, count)
    return [TiffPageSeries(tif, pages, shape, axes, kind="scanimage")]
