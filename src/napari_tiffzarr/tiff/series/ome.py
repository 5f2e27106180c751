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
    multi-file dataset open their file then, through the root file's pool.  A file found
    missing then (a remote one is looked for only when read) is named in missing, warned
    about once, and its planes read as the fill value."""

    def __init__(
        self,
        tif: TiffFile,
        refs: list[PlaneRef | None],
        missing: list[str],
        names: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self._tif = tif
        self._refs = refs
        self.missing = missing
        self._names = names or {}  # path -> the file's name in the OME-XML

    def __len__(self) -> int:
        return len(self._refs)

    def file(self, index: int) -> TiffFile | None:
        """The file holding plane index, None where it is missing."""
        ref = self._refs[index]
        if ref is None:
            return None
        path = ref[0]
        if path is None:
            return self._tif
        try:
            return self._tif.files.file(path)
        except FileNotFoundError:
            name = self._names.get(path, path)
            if name not in self.missing:
                self.missing.append(name)
                log.warning(
                    "%s: multi-file OME dataset: %s cannot be read: its planes show the "
                    "fill value",
                    self._tif.filename,
                    name,
                )
            return None
        except OSError as exc:  # unreadable since it was found: report as bad content
            raise TiffFileError(f"{path}: cannot be read: {exc}") from exc

    def _make(self, index: int) -> TiffPage | None:
        tif = self.file(index)
        if tif is None:
            return None
        ref = self._refs[index]
        assert ref is not None  # file() says so
        try:
            return tif.pages[ref[1]]
        except IndexError:
            log.warning("%s: OME TiffData IFD %d is past the last page", tif.filename, ref[1])
            return None
        except OSError as exc:
            raise TiffFileError(f"{tif.filename}: cannot be read: {exc}") from exc


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

    @property
    def names(self) -> dict[str, str]:
        """The name in the OME-XML of each other file found, by its path."""
        return {path: name for name, path in self._paths.items() if path is not None}

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
            path = self.tif.sibling(filename)
            if path is None:
                self.missing.add(filename)
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
                    try:
                        count = max(len(self.tif.files.file(path).pages) - first_ifd, 0)
                    except FileNotFoundError:  # a remote file, looked for only now
                        self.missing.add(filename)
                        self._paths[filename] = None
                        self._grow(index + 1)
                        return
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
    missing = sorted(planes.missing)
    lazy = PlanePages(tif, refs, missing, planes.names)
    first = next((i for i, ref in enumerate(refs) if ref is not None), None)
    keyframe = lazy[first] if first is not None else None
    if keyframe is None or first is None:
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
    if first >= len(refs):
        return None  # its only planes lie past the image's size
    pages = PlanePages(tif, refs, missing, planes.names)
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
    series.missing_files = missing  # grows where a remote file is found missing
    _add_subifd_levels(tif, series, pages, first)
    return series


class SubIfdPages(PageSequence["TiffPage | None"]):
    """SubIFD level of each plane's page, found when first asked for in the plane's own
    file (the offsets in a page's SubIFDs tag point into the file that holds it)."""

    def __init__(self, planes: PlanePages, level: int) -> None:
        super().__init__()
        self._planes = planes
        self._level = level

    def __len__(self) -> int:
        return len(self._planes)

    def _make(self, index: int) -> TiffPage | None:
        page = self._planes[index]
        if page is None or len(page.subifds) <= self._level:
            return None
        tif = self._planes.file(index)
        if tif is None:
            return None
        offset = page.subifds[self._level]
        return tif.subifd_page(offset, subifd_index(page, self._level))


def _add_subifd_levels(
    tif: TiffFile, series: TiffPageSeries, planes: PlanePages, first: int
) -> None:
    """SubIFD i of every plane's IFD is that plane at pyramid level i + 1; only the
    keyframe's (plane first's) are parsed here, the others when their chunks are read."""
    keyframe = series.keyframe
    home = planes.file(first)
    if home is None:
        return
    base_shape = list(series.get_shape(False))
    base_axes = series.get_axes(False)
    home.prefetch_ifds(keyframe.subifds)
    for level in range(len(keyframe.subifds)):
        pages = SubIfdPages(planes, level)
        try:
            top = pages[first]
            if top is None:
                return
            shape = list(base_shape)
            shape[base_axes.rindex("Y")] = top.imagelength
            shape[base_axes.rindex("X")] = top.imagewidth
            item = TiffPageSeries(
                tif, pages, shape, base_axes, kind="ome", name=series.name, keyframe=top
            )
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
