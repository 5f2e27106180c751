"""Philips DP TIFF: a pyramid of tiled pages, each reduced level padded to whole tiles.

The XML description lists every level's DICOM_PIXEL_SPACING (row and column spacing in
millimetres); a level's true size is the baseline's divided by the ratio of its spacing to
the baseline's, and its page is cropped to it.  Label and macro images are pages of their
own, named by their descriptions; untiled pages are series of their own too.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from xml.etree import ElementTree

from ..page import TiffPage
from .base import TiffPageSeries

if TYPE_CHECKING:
    from ..file import TiffFile

__all__ = ["detect_philips", "is_philips", "pixel_spacings"]

log = logging.getLogger("napari_tiffzarr")

PIXEL_DATA = "PixelDataRepresentation"
PIXEL_SPACING = "DICOM_PIXEL_SPACING"


def is_philips(page: TiffPage) -> bool:
    return page.software.startswith("Philips DP") and page.description.rstrip().endswith(
        "</DataObject>"
    )


def pixel_spacings(description: str) -> list[tuple[float, float]]:
    """(row, column) spacing in millimetres of every level the XML describes, in order;
    none where the XML cannot be read."""
    try:
        root = ElementTree.fromstring(description)
    except ElementTree.ParseError as exc:
        log.warning("Philips description not read: %s", exc)
        return []
    spacings = []
    for element in root.iter("DataObject"):
        if element.get("ObjectType") != PIXEL_DATA:
            continue
        for attribute in element.findall("Attribute"):
            if attribute.get("Name") != PIXEL_SPACING or attribute.text is None:
                continue
            try:
                values = [float(v) for v in attribute.text.replace('"', "").split()]
            except ValueError:
                return []
            if len(values) != 2 or min(values) <= 0:
                return []
            spacings.append((values[0], values[1]))
    return spacings


def _true_size(stored: int, tile: int, expected: int) -> int:
    """A level's size along one axis: the expected size where the page's padding is less
    than a tile, as a Philips writer pads.  A page a whole tile larger is cropped by less
    than a tile, as tifffile does; one smaller than expected keeps its size.  Never fewer
    tiles than stored: chunks address tiles by their place in the page's grid."""
    if tile < 1:
        return stored  # the page's layout refuses it, naming the tile size
    size = stored - (tile - 1) if stored - tile >= expected else min(stored, expected)
    smallest = (-(-stored // tile) - 1) * tile + 1
    return max(size, smallest)


def _cropped(page: TiffPage, length: int, width: int) -> TiffPage:
    """A fresh page over the same IFD whose image is cropped to length x width, within its
    last tiles; the file's own page stays as stored."""
    cropped = TiffPage(page.source, page.header, page.ifd, page.index)
    cropped.__dict__["imagelength"] = length  # what the cached properties would hold
    cropped.__dict__["imagewidth"] = width
    return cropped


def detect_philips(tif: TiffFile) -> list[TiffPageSeries] | None:
    first = tif.pages.first()
    if not is_philips(first):
        return None
    spacings = pixel_spacings(first.description)
    if len(spacings) < 2:
        log.warning("%s: Philips levels not found in the description", tif.filename)
        return []
    levels: list[TiffPage] = []
    others: list[TiffPage] = []
    named: dict[str, TiffPage] = {}
    for page in tif.pages:
        if page.description.startswith("Macro"):
            named["Macro"] = page
        elif page.description.startswith("Label"):
            named["Label"] = page
        elif page.is_tiled:
            levels.append(page)
        else:
            others.append(page)
    if len(levels) != len(spacings):
        log.warning(
            "%s: %d tiled pages for %d Philips levels", tif.filename, len(levels), len(spacings)
        )
        return []
    base = levels[0]
    row0, column0 = spacings[0]
    pyramid = [base]
    for page, (row, column) in zip(levels[1:], spacings[1:], strict=True):
        length = _true_size(
            page.imagelength, page.tilelength, base.imagelength // max(1, round(row / row0))
        )
        width = _true_size(
            page.imagewidth, page.tilewidth, base.imagewidth // max(1, round(column / column0))
        )
        pyramid.append(_cropped(page, length, width))
    sizes = {"Y": (row0 * 1000, "micrometer"), "X": (column0 * 1000, "micrometer")}
    series_levels = [
        TiffPageSeries(
            tif,
            [page],
            page.shape,
            page.axes,
            kind="philips",
            name="Baseline" if index == 0 else f"Level{index}",
        )
        for index, page in enumerate(pyramid)
    ]
    for level in series_levels:
        level.physical_sizes = sizes
    baseline = series_levels[0]
    baseline.levels.extend(series_levels[1:])
    series = [baseline]
    series += [
        TiffPageSeries(tif, [page], page.shape, page.axes, kind="philips", name="Other")
        for page in others
    ]
    series += [
        TiffPageSeries(tif, [page], page.shape, page.axes, kind="philips", name=name)
        for name, page in named.items()
    ]
    return series
