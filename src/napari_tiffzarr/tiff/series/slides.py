"""Whole-slide formats: Aperio SVS, Hamamatsu NDPI and PerkinElmer QPTIFF.

SVS stores the baseline image first, a stripped thumbnail second, then the other pyramid
levels, and at the end a label and a macro image; none of the levels is marked reduced.
NDPI stores its levels as pages with a magnification tag, the macro and map images
marked by magnifications -1 and -2.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from .base import SeriesKind, TiffPageSeries
from .generic import detect_generic
from .resolution import tag_physical_sizes

if TYPE_CHECKING:
    from ..file import TiffFile
    from ..page import TiffPage

__all__ = ["detect_ndpi", "detect_qpi", "detect_svs", "svs_physical_sizes"]

log = logging.getLogger("napari_tiffzarr")

NDPI_MAGNIFICATION = 65421
NDPI_NAME_TAGS = 65427
_MPP = re.compile(r"\|\s*MPP\s*=\s*([0-9.eE+-]+)")


def svs_physical_sizes(page: TiffPage) -> dict[str, tuple[float, str]]:
    """Aperio writes microns per pixel into the description as 'MPP = 0.499'."""
    match = _MPP.search(page.description)
    if match is None:
        return {}
    try:
        mpp = float(match.group(1))
    except ValueError:
        return {}
    return {"X": (mpp, "micrometer"), "Y": (mpp, "micrometer")} if mpp > 0 else {}


def _single(tif: TiffFile, page: TiffPage, name: str, kind: SeriesKind) -> TiffPageSeries:
    return TiffPageSeries(tif, [page], page.shape, page.axes, kind=kind, name=name)


def detect_svs(tif: TiffFile) -> list[TiffPageSeries] | None:
    pages = tif.pages
    first = pages.first()
    if not first.description.startswith("Aperio "):
        return None
    if not first.is_tiled:
        return []
    sizes = svs_physical_sizes(first)
    if len(pages) == 1:
        baseline = _single(tif, first, "Baseline", "svs")
        baseline.physical_sizes = sizes
        return [baseline]
    thumbnail = _single(tif, pages[1], "Thumbnail", "svs")
    levels: dict[tuple[int, ...], list[TiffPage]] = {first.shape: [first]}
    index = 2
    while index < len(pages):
        page = pages[index]
        if not page.is_tiled or page.is_reduced:
            break
        levels.setdefault(page.shape, []).append(page)
        index += 1
    zsize = len(levels[first.shape])
    if any(len(level) != zsize for level in levels.values()):
        log.warning("%s: SVS focal planes differ between levels", tif.filename)
        zsize = 1
    series_levels = [
        TiffPageSeries(
            tif,
            level[:zsize],
            (zsize, *level[0].shape),
            "Z" + level[0].axes,
            kind="svs",
            name="Baseline" if i == 0 else "Resolution",
        )
        for i, level in enumerate(levels.values())
    ]
    baseline = series_levels[0]
    baseline.levels.extend(series_levels[1:])
    for level in series_levels:
        level.physical_sizes = sizes
    series = [baseline, thumbnail]
    for page in (pages[i] for i in range(index, min(index + 2, len(pages)))):
        name = "Macro" if page.newsubfiletype == 9 else "Label"
        series.append(_single(tif, page, name, "svs"))
    return series


def detect_ndpi(tif: TiffFile) -> list[TiffPageSeries] | None:
    first = tif.pages.first()
    if 65420 not in first.ifd:
        return None
    series = detect_generic(tif) or []
    for item in series:
        for level in item.levels:
            level.kind = "ndpi"
            if level.get_axes(False).startswith("I"):
                level.rename_axis(0, "Z")
        keyframe = item.keyframe
        if item.is_pyramidal:
            name = keyframe.ifd.value(NDPI_NAME_TAGS)
            item.name = name if isinstance(name, str) and name else "Baseline"
            continue
        magnification = keyframe.ifd.value(NDPI_MAGNIFICATION)
        if magnification == -1.0:
            item.name = "Macro"
        elif magnification == -2.0:
            item.name = "Map"
    return series


def _qpi_channel_name(page: TiffPage) -> str:
    """The <Name> of a PerkinElmer page's own XML description, where it has one."""
    match = re.search(r"<Name>([^<]*)</Name>", page.description)
    return match.group(1).strip() if match else ""


def detect_qpi(tif: TiffFile) -> list[TiffPageSeries] | None:
    """PerkinElmer QPTIFF: channel pages at full size, a thumbnail, then per level the
    same number of channel pages at half the size, then macro and label images."""
    pages = tif.pages
    first = pages.first()
    if not first.software.startswith("PerkinElmer-QPI"):
        return None
    count = len(pages)
    index = 0
    channels: list[TiffPage] = []
    while index < count and pages[index].shape == first.shape:
        channels.append(pages[index])
        index += 1
    baseline = TiffPageSeries(
        tif, channels, (len(channels), *first.shape), "C" + first.axes, kind="qpi", name="Baseline"
    )
    baseline.channel_names = [_qpi_channel_name(p) for p in channels]
    baseline.physical_sizes = tag_physical_sizes(first)
    series = [baseline]
    if index < count:
        series.append(_single(tif, pages[index], "Thumbnail", "qpi"))
        index += 1
    if first.is_tiled:
        shape = first.shape
        while index < count:
            shape = (shape[0] // 2, shape[1] // 2, *shape[2:])
            level: list[TiffPage] = []
            while index < count and pages[index].shape == shape:
                level.append(pages[index])
                index += 1
            if len(level) != len(channels):
                index -= len(level)
                break
            baseline.levels.append(
                TiffPageSeries(
                    tif,
                    level,
                    (len(level), *shape),
                    "C" + first.axes,
                    kind="qpi",
                    name="Resolution",
                )
            )
    if baseline.is_pyramidal:
        for name in ("Macro", "Label"):
            if index >= count:
                break
            series.append(_single(tif, pages[index], name, "qpi"))
            index += 1
    return series
