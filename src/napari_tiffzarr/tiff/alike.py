"""Pages alike a model page: parsed for where their data lie, the rest taken from the model.

The pages of a stack share every tag but where their strips or tiles are (and texts such
as a description).  Working out a page's geometry, type and coding from its tags costs
more in Python than decoding a small strip, so a page whose IFD matches an earlier page's
in every tag that decoding depends on borrows what that page worked out.  The IFDs are
compared by value, so a page that differs in anything that matters is parsed in full.

Most stacks repeat their model's IFD entries byte for byte but for the per-page values
(writers share the out-of-line values such as resolutions): ModelEntries finds such a
page from its raw entries, and only its per-page tags are parsed.
"""

from __future__ import annotations

import dataclasses
import struct
from typing import Any

from ..errors import TiffFileError
from ..sources import ByteSource
from .codecs import CodingParameters
from .ifd import Ifd, TiffHeader
from .ndpi import NDPI_MCU_STARTS, NDPI_MCU_STARTS_HIGH
from .page import TiffPage
from .tags import TagCode

__all__ = [
    "PER_PAGE_TAGS",
    "UNSIGNED_TAGS",
    "VALUE_LIMIT",
    "AlikePage",
    "ModelEntries",
    "ifd_signature",
]

# Tags whose values differ from page to page without changing how a page is decoded or
# stacked: where its data are, its text.  Only their type and count are compared.
PER_PAGE_TAGS = frozenset(
    {
        TagCode.DocumentName,
        TagCode.ImageDescription,
        TagCode.StripOffsets,
        TagCode.StripByteCounts,
        TagCode.PageName,
        TagCode.Software,
        TagCode.DateTime,
        TagCode.Artist,
        TagCode.HostComputer,
        TagCode.TileOffsets,
        TagCode.TileByteCounts,
    }
)
# Pages with these tags are never alike: SubIFDs hold pages of their own; NDPI restart
# tiles are found from a page's data offsets.
UNSIGNED_TAGS = frozenset({TagCode.SubIFDs, NDPI_MCU_STARTS, NDPI_MCU_STARTS_HIGH})
# Values up to this size are compared by content; a larger one by where it lies, which
# makes pages unlike (correct, only slower).
VALUE_LIMIT = 256

# What a page works out from the tags that alike pages share: borrowed from the model.
SHARED = (
    "imagewidth",
    "imagelength",
    "imagedepth",
    "compression",
    "bitspersample",
    "sampleformat",
    "planarconfig",
    "predictor",
    "fillorder",
    "newsubfiletype",
    "t4options",
    "tilewidth",
    "tilelength",
    "tiledepth",
    "samplesperpixel",
    "photometric",
    "rowsperstrip",
    "extrasamples",
    "subsampling",
    "jpegtables",
    "nodata",
    "dtype",
    "shaped",
    "layout",
)


# Values read for signatures, per file, at most this many kept
VALUES_KEPT = 4096


def ifd_signature(ifd: Ifd, values: dict[tuple[int, int], bytes]) -> tuple[Any, ...] | None:
    """What an IFD's pages share with alike pages (of this file or another with the same
    byte order and offset size); None where no page may be alike it.

    values keeps the small values read so far by (offset, size): writers share one value
    between pages (tifffile's resolutions), so a file's pages read it once.
    """
    signature: list[Any] = []
    limit = VALUE_LIMIT
    for code, tag in ifd.tags.items():
        if code in UNSIGNED_TAGS:
            return None
        if code in PER_PAGE_TAGS:
            signature.append((code, tag.dtype, tag.count))
            continue
        nbytes = tag.nbytes
        if nbytes > limit:
            signature.append((code, tag.dtype, tag.count, tag.offset))
            continue
        value = tag.inline  # read with the IFD: in the entry or right after it
        if value is None:
            where = (tag.offset, nbytes)
            value = values.get(where)
            if value is None:
                if len(values) >= VALUES_KEPT:
                    values.clear()
                try:
                    value = values[where] = tag.raw()
                except TiffFileError:
                    return None  # parsed in full: reading the tag says what is wrong

        signature.append((code, tag.dtype, tag.count, value[:nbytes]))
    return tuple(signature)


class AlikePage(TiffPage):
    """A page whose IFD matches model's in every tag but its own data's places and texts:
    its geometry, type and coding are the model's, worked out once."""

    def __init__(
        self,
        model: TiffPage,
        source: ByteSource,
        header: TiffHeader,
        ifd: Ifd,
        index: int | tuple[int, ...],
    ) -> None:
        super().__init__(source, header, ifd, index)
        self.model = model

    def coding(self, fillvalue: Any = None) -> CodingParameters:
        return dataclasses.replace(self.model.coding(fillvalue), name=self.name)

    @property
    def coded_like(self) -> TiffPage:
        return self.model


def _borrowed(name: str) -> property:
    def get(page: AlikePage) -> Any:
        return getattr(page.model, name)

    return property(get, doc=f"The model page's {name}.")


for _name in SHARED:
    setattr(AlikePage, _name, _borrowed(_name))


class ModelEntries:
    """The raw IFD entries of a page alike a model, the value fields of its per-page tags
    blanked: a page whose entries blank to the same bytes has the same tags, all but the
    per-page ones with the same values at the same places (out-of-line values at the same
    offsets of the same file), so it is alike the model without parsing the rest."""

    __slots__ = ("_blanked", "_blanks", "_tags", "model")

    def __init__(self, model: TiffPage, ifd: Ifd, entries: bytes) -> None:
        """ifd: the IFD of a page alike model, entries its raw entries."""
        header = model.header
        size = header.entry_size
        value_at = size - header.offset_size  # code, type and count come first
        code = struct.Struct(header.byteorder + "H")
        self._blanks = [
            (start + value_at, start + size)
            for start in range(0, len(entries) - size + 1, size)
            if code.unpack_from(entries, start)[0] in PER_PAGE_TAGS
        ]
        self.model = model
        self._tags = ifd.tags
        self._blanked = self._blank(entries)

    def _blank(self, entries: bytes) -> bytes:
        blanked = bytearray(entries)
        for start, end in self._blanks:
            blanked[start:end] = bytes(end - start)
        return bytes(blanked)

    def matches(self, entries: bytes) -> bool:
        return len(entries) == len(self._blanked) and self._blank(entries) == self._blanked

    def ifd(self, own: Ifd) -> Ifd:
        """The IFD of a page that matches, from its own per-page tags and the others."""
        tags = dict(self._tags)
        tags.update(own.tags)  # the same codes, in the same order: the entries matched
        return Ifd(own.offset, tags, own.next_offset)
