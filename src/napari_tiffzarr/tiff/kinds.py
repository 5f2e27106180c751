"""Which page class reads an IFD: the few kinds of page that read differently."""

from __future__ import annotations

from .ifd import Ifd
from .ndpi import NDPI_MCU_STARTS, NdpiPage
from .ojpeg import OjpegPage
from .page import TiffPage
from .tags import Compression, TagCode

__all__ = ["page_class"]


def page_class(ifd: Ifd) -> type[TiffPage]:
    """NDPI's page where the IFD has McuStarts, old-style JPEG's where its compression
    is 6 (or missing beside a JPEG interchange stream), else the plain page."""
    if NDPI_MCU_STARTS in ifd:
        return NdpiPage
    tag = ifd.get(TagCode.Compression)
    if tag is None:
        # an interchange stream without a compression tag is old-style JPEG (tifffile
        # reads such SubIFDs as JPEG)
        return OjpegPage if TagCode.JPEGInterchangeFormat in ifd else TiffPage
    return OjpegPage if tag.value == Compression.OJPEG else TiffPage
