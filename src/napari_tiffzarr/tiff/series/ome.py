"""OME-TIFF: the OME-XML in the first page's description maps planes to IFDs.

Each OME Image is a series; its DimensionOrder read backwards gives the axes (XYCZT ->
TCZYX), its TiffData elements give the IFD of every plane, and SubIFDs of those IFDs are
the pyramid levels (Bio-Formats 6 and later).  Planes stored in other files of a
multi-file dataset are read from their files, opened on demand (at most the root
TiffFile's _openfiles at once); files that cannot be read are reported once and read as
the fill value.
"""

from __future__ import annotations

import logging
import math
import os
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from ...errors import TiffFileError
from ..pages import PageSequence
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


def _rgb(value: str) -> tuple[float, float, float] | None:
    """OME's Color: a signed 32-bit RGBA integer; None where it is not one."""
    try:
        rgba = int(value) & 0xFFFFFFFF
    except ValueError:
        return None
    return ((rgba >> 24) / 255, ((rgba >> 16) & 0xFF) / 255, ((rgba >> 8) & 0xFF) / 255)


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


# Where a plane is stored: (path of another file or None for this one, IFD index)
PlaneRef = tuple[str | None, int]


class PlanePages(PageSequence["TiffPage | None"]):
    """The page of each plane, found when first asked for: planes in other files of a
    multi-file dataset open their file then, through the root file's pool."""

    def __init__(self, tif: TiffFile, refs: list[PlaneRef | None]) -> None:
        super().__init__()
        self._tif = tif
        self._refs = refs

    def __len__(self) -> int:
        return len(self._refs)

    def _make(self, index: int) -> TiffPage | None:
        ref = self._refs[index]
        if ref is None:
            return None
        path, ifd = ref
        try:
            tif = self._tif if path is None else self._tif.files.file(path)
            return tif.pages[ifd]
        except IndexError:
            log.warning("%s: OME TiffData IFD %d is past the last page", path, ifd)
            return None
        except OSError as exc:  # unreadable since it was found: report as bad content
            raise TiffFileError(f"{path}: cannot be read: {exc}") from exc


class _Planes:
    """Where each plane of one OME Image is stored, from its TiffData elements."""

    def __init__(self, tif: TiffFile, shape: list[int], axes: str, root_uuid: str | None) -> None:
        self.tif = tif
        self.root_uuid = root_uuid
        self.plane_shape = shape[:-2]
        self.refs: list[PlaneRef | None] = []
        self.missing: set[str] = set()  # other files that cannot be read
        self._paths: dict[str, str | None] = {}  # other files named: path, None if missing
        self.axes = axes
        # other files are found beside this one; a remote or in-memory file has no beside
        self.folder = os.path.dirname(tif.path) if tif.path is not None else None

    def _grow(self, size: int) -> None:
        if len(self.refs) < size:
            self.refs.extend([None] * (size - len(self.refs)))

    def place(self, index: int, count: int, first_ifd: int, path: str | None = None) -> None:
        if path is None:
            last = len(self.tif.pages) - 1  # a walk of offsets, no page parsed
            if first_ifd + count - 1 > last:
                log.warning(
                    "%s: OME TiffData IFD %d is past the last page",
                    self.tif.filename,
                    max(first_ifd, last + 1),
                )
                count = max(0, last + 1 - first_ifd)
        self._grow(index + count)
        for i in range(count):
            self.refs[index + i] = (path, first_ifd + i)

    def _other_file(self, filename: str) -> str | None:
        """The path of another file of the dataset, or None where it cannot be read."""
        if filename not in self._paths:  # one look per file, not per TiffData element
            path = os.path.join(self.folder, filename) if self.folder is not None else None
            if path is None or not os.path.isfile(path):
                self.missing.add(filename)
                path = None
            self._paths[filename] = path
        return self._paths[filename]

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
                path = self._other_file(filename)
                if path is None:
                    self._grow(index + (count or 1))  # they read as the fill value
                    return
                if count == 0:  # the rest of that file: its chain is walked, not parsed
                    count = max(len(self.tif.files.file(path).pages) - first_ifd, 0)
                self.place(index, count, first_ifd, path)
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
    if planes.missing:
        log.warning(
            "%s: multi-file OME dataset: %s cannot be read: its planes show the fill value",
            tif.filename,
            ", ".join(sorted(planes.missing)),
        )
    refs = planes.refs
    lazy = PlanePages(tif, refs)
    first = next((i for i, ref in enumerate(refs) if ref is not None), None)
    keyframe = lazy[first] if first is not None else None
    if keyframe is None:
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
    size = max(math.prod(shape) // keyframe.size, 1) if keyframe.size else 1
    if len(refs) > size:
        refs = refs[:size]
    elif len(refs) < size:
        log.warning(
            "%s: OME image misses %d planes: they read as fill", tif.filename, size - len(refs)
        )
        refs = refs + [None] * (size - len(refs))
    pages = PlanePages(tif, refs)
    squeezed = squeeze_axes(shape, axes)[0]
    if keyframe.shape != tuple(squeezed[-len(keyframe.shape) :]):
        log.warning(
            "%s: OME image planes %s do not match pages of %s",
            tif.filename,
            squeezed,
            keyframe.shape,
        )
        return None
    series = TiffPageSeries(tif, pages, shape, axes, kind="ome", name=image.attrib.get("Name", ""))
    series.physical_sizes = _physical_sizes(pixels)
    series.channel_names = [c.attrib.get("Name", "") for c in channels]
    series.channel_colors = [_rgb(c.attrib.get("Color", "")) for c in channels]
    series.missing_files = sorted(planes.missing)
    _add_subifd_levels(tif, series)
    return series


def _add_subifd_levels(tif: TiffFile, series: TiffPageSeries) -> None:
    """SubIFD i of every plane's IFD is that plane at pyramid level i + 1."""
    keyframe = series.keyframe
    base_shape = list(series.get_shape(False))
    base_axes = series.get_axes(False)
    tif.prefetch_ifds(keyframe.subifds)
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
