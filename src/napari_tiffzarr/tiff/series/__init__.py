"""Finding the image series of a file: an ordered registry of detectors, generic last.

Every detector has one signature: it takes a TiffFile and returns its series, or None
when the file is not of its kind.  The first detector that claims a file decides: an
empty list means "mine, but its metadata cannot be used", and the generic grouping of
pages takes over, as tifffile does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from ...errors import TiffFileError
from .base import TiffPageSeries
from .generic import detect_generic, detect_uniform
from .imagej import detect_imagej
from .ome import detect_ome
from .philips import detect_philips
from .resolution import tag_physical_sizes
from .scanimage import detect_scanimage
from .shaped import detect_shaped
from .slides import detect_ndpi, detect_qpi, detect_svs

if TYPE_CHECKING:
    from ..file import TiffFile

__all__ = ["DETECTORS", "TiffPageSeries", "find_series"]

log = logging.getLogger("napari_tiffzarr")

Detector = Callable[["TiffFile"], "list[TiffPageSeries] | None"]

DETECTORS: list[tuple[str, Detector]] = [
    ("shaped", detect_shaped),
    ("ome", detect_ome),
    ("imagej", detect_imagej),
    ("svs", detect_svs),
    ("qpi", detect_qpi),
    ("ndpi", detect_ndpi),
    ("philips", detect_philips),
    ("scanimage", detect_scanimage),
    ("uniform", detect_uniform),
]


def find_series(tif: TiffFile) -> list[TiffPageSeries]:
    """The series of a file, as the first detector that recognises it sees them; none
    where the file has no page."""
    if not tif.pages:  # not len(): a file's detector may need no other IFD than the first
        return []
    series: list[TiffPageSeries] | None = None
    for kind, detect in DETECTORS:
        try:
            series = detect(tif)
        except TiffFileError as exc:
            log.warning("%s: %s series not read: %s", tif.filename, kind, exc)
            series = []
        if series is not None:
            break
    if not series:
        series = detect_generic(tif) or []
    for index, item in enumerate(series):
        item.index = index
        if not item.physical_sizes:  # formats without their own say: resolution tags
            item.physical_sizes = tag_physical_sizes(item.keyframe)
        for level in item.levels:
            level.index = index
    return series
