"""OME-TIFF: the OME-XML in the first page's description maps planes to IFDs.

Each OME Image is a series; its DimensionOrder read backwards gives the axes (XYCZT ->
TCZYX), its TiffData elements give the IFD of every plane, and SubIFDs of those IFDs are
the pyramid levels (Bio-Formats 6 and later).  Planes stored in other files of a
multi-file dataset are reported and read as the fill value.
"""

from __future__ import annotations

import logging
import math
import os
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from ...errors import TiffFileError
from .base import TiffPageSeries, squeeze_axes, subifd_index
from .resolution import PhysicalSizes, normalize_unit

if TYPE_CHECKING:
    from ..file import TiffFile
    from ..page import TiffPage

__all__ = ["detect_ome", "ome_root"]

log = logging.getLogger("napari_tiffzarr")


def _local(tag: str) -> str:
    """An element's name without its XML namespace."""
    return tag.rsplit("}", 1)[-1]


def ome_root(page: TiffPage) -> ET.Element | None:
    text = page.description.strip()
    if not (text.startswith("<") and text.endswith("OME>")):
        return None
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        log.warning("%s: OME-XML cannot be parsed: %s", page.name, exc)
        return None
    return root if _local(root.tag) == "OME" else None


def _int(attrib: dict[str, str], key: str, default: int) -> int:
    try:
        return int(attrib.get(key, default))
    except ValueError as exc:
        raise TiffFileError(f"OME-XML attribute {key}={attrib[key]!r} is not an integer") from exc


def _physical_sizes(pixels: ET.Element) -> PhysicalSizes:
    sizes: PhysicalSizes = {}
    attrib = pixels.attrib
    for axis in "XYZ":
        value = attrib.get(f"PhysicalSize{axis}")
        if value is None:
            continue
        unit = normalize_unit(attrib.get(f"PhysicalSize{axis}Unit", "µm"))
        try:
            size = float(value)
        except ValueError:
            continue
        if unit is not None and size > 0:
            sizes[axis] = (size, unit)
    increment = attrib.get("TimeIncrement")
    if increment is not None:
        unit = normalize_unit(attrib.get("TimeIncrementUnit", "s"))
        try:
            size = float(increment)
        except ValueError:
            size = 0.0
        if unit is not None and size > 0:
            sizes["T"] = (size, unit)
    return sizes


class _Planes:
    """The IFD of each plane of one OME Image, from its TiffData elements."""

    def __init__(self, tif: TiffFile, shape: list[int], axes: str, root_uuid: str | None) -> None:
        self.tif = tif
        self.root_uuid = root_uuid
        self.plane_shape = shape[:-2]
        self.pages: list[TiffPage | None] = []
        self.elsewhere: set[str] = set()
        self.axes = axes

    def place(self, index: int, count: int, first_ifd: int) -> None:
        if len(self.pages) < index + count:
            self.pages.extend([None] * (index + count - len(self.pages)))
        pages = self.tif.pages
        for i in range(count):
            try:
                self.pages[index + i] = pages[first_ifd + i]
            except IndexError:
                log.warning(
                    "%s: OME TiffData IFD %d is past the last page",
                    self.tif.filename,
                    first_ifd + i,
                )
                return

    def add(self, data: ET.Element) -> None:
        attrib = data.attrib
        first_ifd = _int(attrib, "IFD", 0)
        count = _int(attrib, "NumPlanes", 1 if "IFD" in attrib else 0)
        count = _int(attrib, "PlaneCount", count)
        firsts = [_int(attrib, "First" + ax, 0) for ax in self.axes[:-2]]
        if any(not 0 <= f < n for f, n in zip(firsts, self.plane_shape, strict=True)):
            log.warning("%s: OME TiffData index %s is out of range", self.tif.filename, firsts)
            return
        index = 0
        for f, n in zip(firsts, self.plane_shape, strict=True):
            index = index * n + f
        for uuid in data:
            if _local(uuid.tag) != "UUID":
                continue
            filename = uuid.attrib.get("FileName", "")
            this_file = (uuid.text or "").strip() == self.root_uuid or (
                os.path.basename(filename).lower() == self.tif.filename.lower()
            )
            if filename and not this_file:
                # a multi-file dataset: these planes live in another file
                self.elsewhere.add(filename)
                size = count or 1
                if len(self.pages) < index + size:
                    self.pages.extend([None] * (index + size - len(self.pages)))
                return
            break
        if count == 0:
            count = len(self.tif.pages) - first_ifd
        self.place(index, count, first_ifd)


def _image_series(
    tif: TiffFile, image: ET.Element, root_uuid: str | None
) -> TiffPageSeries | None:
    pixels = next((e for e in image if _local(e.tag) == "Pixels"), None)
    if pixels is None:
        return None
    order = pixels.attrib.get("DimensionOrder", "XYZCT")
    axes = "".join(reversed(order))
    if sorted(axes) != sorted("TZCYX"):
        raise TiffFileError(f"OME DimensionOrder {order!r} is invalid")
    shape = [_int(pixels.attrib, "Size" + ax, 1) for ax in axes]
    if any(size < 1 for size in shape):
        raise TiffFileError(f"OME Pixels sizes {shape} are invalid")
    channels = [e for e in pixels if _local(e.tag) == "Channel"]
    spp = _int(channels[0].attrib, "SamplesPerPixel", 1) if channels else 1
    if spp > 1:
        shape = [size // spp if ax == "C" else size for size, ax in zip(shape, axes, strict=True)]
    planes = _Planes(tif, shape, axes, root_uuid)
    tiffdata = [e for e in pixels if _local(e.tag) == "TiffData"]
    for data in tiffdata:
        planes.add(data)
    if not tiffdata:
        planes.place(0, len(tif.pages), 0)
    pages = planes.pages
    keyframe = next((p for p in pages if p is not None), None)
    if keyframe is None:
        if planes.elsewhere:
            log.warning(
                "%s: OME image %r is stored in other files (%s): multi-file OME "
                "datasets are not read",
                tif.filename,
                image.attrib.get("Name", ""),
                ", ".join(sorted(planes.elsewhere)),
            )
        return None
    if spp > 1:
        if keyframe.planarconfig == 1:
            shape.append(spp)
            axes += "S"
        else:
            shape = [*shape[:-2], spp, *shape[-2:]]
            axes = axes[:-2] + "S" + axes[-2:]
    if "S" not in axes:
        shape.append(1)
        axes += "S"
    size = max(math.prod(shape) // keyframe.size, 1)
    if len(pages) > size:
        pages = pages[:size]
    elif len(pages) < size:
        log.warning(
            "%s: OME image misses %d planes: they read as fill", tif.filename, size - len(pages)
        )
        pages = pages + [None] * (size - len(pages))
    squeezed = squeeze_axes(shape, axes)[0]
    if keyframe.shape != tuple(squeezed[-len(keyframe.shape) :]):
        log.warning(
            "%s: OME image planes %s do not match pages of %s",
            tif.filename,
            squeezed,
            keyframe.shape,
        )
        return None
    if planes.elsewhere:
        log.warning(
            "%s: multi-file OME dataset: planes in %s are not read and show the fill value",
            tif.filename,
            ", ".join(sorted(planes.elsewhere)),
        )
    series = TiffPageSeries(tif, pages, shape, axes, kind="ome", name=image.attrib.get("Name", ""))
    series.physical_sizes = _physical_sizes(pixels)
    series.channel_names = [c.attrib.get("Name", "") for c in channels]
    series.missing_files = sorted(planes.elsewhere)
    _add_subifd_levels(tif, series)
    return series


def _add_subifd_levels(tif: TiffFile, series: TiffPageSeries) -> None:
    """SubIFD i of every plane's IFD is that plane at pyramid level i + 1."""
    keyframe = series.keyframe
    base_shape = list(series.get_shape(False))
    base_axes = series.get_axes(False)
    for level in range(len(keyframe.subifds)):
        pages: list[TiffPage | None] = []
        for page in series.pages:
            if page is None or len(page.subifds) <= level:
                pages.append(None)
                continue
            pages.append(tif.subifd_page(page.subifds[level], subifd_index(page, level)))
        first = next((p for p in pages if p is not None), None)
        if first is None:
            return
        shape = list(base_shape)
        shape[base_axes.rindex("Y")] = first.imagelength
        shape[base_axes.rindex("X")] = first.imagewidth
        try:
            item = TiffPageSeries(tif, pages, shape, base_axes, kind="ome", name=series.name)
        except TiffFileError as exc:
            log.warning("%s: OME pyramid level %d skipped: %s", tif.filename, level + 1, exc)
            return
        series.levels.append(item)


def detect_ome(tif: TiffFile) -> list[TiffPageSeries] | None:
    root = ome_root(tif.pages.first())
    if root is None:
        return None
    series: list[TiffPageSeries] = []
    for element in root:
        name = _local(element.tag)
        if name == "BinaryOnly":
            log.info("%s: OME-XML is BinaryOnly: not the dataset's root file", tif.filename)
            return []
        if name != "Image":
            continue
        try:
            item = _image_series(tif, element, root.attrib.get("UUID"))
        except TiffFileError as exc:
            log.warning("%s: OME image skipped: %s", tif.filename, exc)
            continue
        if item is not None:
            series.append(item)
    return series
