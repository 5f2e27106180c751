"""OME channel colours, for the colormaps napari-ome-zarr would give the same image."""

from __future__ import annotations

from ..tiff.file import TiffFile
from ..tiff.sequence import TiffSequence
from ..tiff.series import TiffPageSeries
from ..tiff.series.ome import ome_root

__all__ = ["channel_colors"]

RGB = tuple[float, float, float]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _rgb(value: str) -> RGB | None:
    """OME's Color: a signed 32-bit RGBA integer; None where it is not one."""
    try:
        rgba = int(value) & 0xFFFFFFFF
    except ValueError:
        return None
    return ((rgba >> 24) / 255, ((rgba >> 16) & 0xFF) / 255, ((rgba >> 8) & 0xFF) / 255)


def channel_colors(tif: TiffFile | TiffSequence, series: TiffPageSeries) -> list[RGB | None]:
    """The colour of each channel of an OME series, None where the XML gives none.

    The Image is the one whose name and channel names are the series'; images the series
    reader skipped would shift a match by position.
    """
    if series.kind != "ome" or not isinstance(tif, TiffFile):
        return []
    root = ome_root(tif.pages.first())
    if root is None:
        return []
    for image in (e for e in root if _local(e.tag) == "Image"):
        pixels = next((e for e in image if _local(e.tag) == "Pixels"), None)
        if pixels is None or image.attrib.get("Name", "") != series.name:
            continue
        channels = [e for e in pixels if _local(e.tag) == "Channel"]
        if [c.attrib.get("Name", "") for c in channels] != list(series.channel_names):
            continue
        return [_rgb(c.attrib["Color"]) if "Color" in c.attrib else None for c in channels]
    return []
