"""The file header, image file directories (IFDs) and their tags.

Parsing is lazy: an IFD's entries are read in one go, but a tag's value that lives elsewhere
in the file is read only when asked for, so the pages of a long uniform series cost one read
each.  Every offset and count is checked against the file size before it is used.
"""

from __future__ import annotations

import struct
from collections.abc import Container, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar, overload

import numpy as np

from ..errors import TiffFileError
from ..sources import ByteSource
from .tags import FIELD_TYPES, TAG_NAMES, FieldType

__all__ = [
    "Ifd",
    "EntryReader",
    "IfdEntries",
    "ReadWindow",
    "Tag",
    "TiffHeader",
    "ifd_block",
    "ifd_entries",
    "parse_ifd",
    "read_entries",
    "read_header",
    "read_ifd",
]

_T = TypeVar("_T")

# One read of this size at an IFD's offset usually holds all of its entries.
IFD_READ_AHEAD = 4096
# Walking the chain needs only the count and the next offset: a smaller read suffices.
CHAIN_READ_AHEAD = 512
# IFDs closer together than this are read through one window of WINDOW_SIZE bytes: the
# pages of a stack of small images cost one system call per few dozen IFDs.
WINDOW_SIZE = 1 << 16
CLOSE_IFDS = 1 << 13
# Values out of line up to this size are kept from the block read with their IFD, where
# they lie in it (resolutions, bits per sample): a page's tags then cost no further read.
NEAR_VALUE_LIMIT = 256
# More entries than any writer produces: a count beyond it is corruption, not a big IFD.
MAX_IFD_ENTRIES = 65535


@dataclass(frozen=True, slots=True)
class TiffHeader:
    """Byte order ('<' or '>'), classic or BigTIFF, and where the first IFD is."""

    byteorder: str
    bigtiff: bool
    first_offset: int

    @property
    def offset_format(self) -> str:
        return self.byteorder + ("Q" if self.bigtiff else "I")

    @property
    def offset_size(self) -> int:
        return 8 if self.bigtiff else 4

    @property
    def entry_size(self) -> int:
        return 20 if self.bigtiff else 12

    @property
    def count_format(self) -> str:
        return self.byteorder + ("Q" if self.bigtiff else "H")

    @property
    def count_size(self) -> int:
        return 8 if self.bigtiff else 2


def read_header(source: ByteSource) -> TiffHeader:
    """Parse the 8 or 16 bytes at the start of a TIFF."""
    if source.size < 8:
        raise TiffFileError(f"{source.name}: not a TIFF: {source.size} bytes is too short")
    head = source.read(0, min(16, source.size))
    if head[:2] == b"II":
        byteorder = "<"
    elif head[:2] == b"MM":
        byteorder = ">"
    else:
        raise TiffFileError(f"{source.name}: not a TIFF: the byte order mark is {head[:2]!r}")
    (version,) = struct.unpack(byteorder + "H", head[2:4])
    if version == 42:
        (first,) = struct.unpack(byteorder + "I", head[4:8])
        return TiffHeader(byteorder, False, first)
    if version == 43:
        if len(head) < 16:
            raise TiffFileError(f"{source.name}: BigTIFF header is truncated")
        offset_size, zero = struct.unpack(byteorder + "HH", head[4:8])
        if offset_size != 8 or zero != 0:
            raise TiffFileError(
                f"{source.name}: BigTIFF header declares {offset_size}-byte offsets, not 8"
            )
        (first,) = struct.unpack(byteorder + "Q", head[8:16])
        return TiffHeader(byteorder, True, first)
    raise TiffFileError(f"{source.name}: not a TIFF: version {version} is neither 42 nor 43")


class Tag:
    """One IFD entry; its value is decoded, and read when out of line, on first access."""

    __slots__ = ("_source", "_value", "byteorder", "code", "count", "dtype", "inline", "offset")

    def __init__(
        self,
        source: ByteSource,
        byteorder: str,
        code: int,
        dtype: int,
        *,
        count: int,
        inline: bytes | None,
        offset: int,
    ) -> None:
        self._source = source
        self.byteorder = byteorder
        self.code = code
        self.dtype = dtype
        self.count = count
        # the value's bytes when they fit in the entry, or lay in the block read with it
        self.inline = inline
        self.offset = offset  # where the value lives when they do not
        self._value: Any = None

    @property
    def name(self) -> str:
        return TAG_NAMES.get(self.code, str(self.code))

    @property
    def nbytes(self) -> int:
        return self.count * FIELD_TYPES[self.dtype].size

    def raw(self) -> bytes:
        """The value's bytes as stored."""
        if self.inline is not None:
            return self.inline[: self.nbytes]
        if self.offset + self.nbytes > self._source.size:
            raise TiffFileError(
                f"{self._source.name}: tag {self.name} ({self.code}) value of {self.nbytes} "
                f"bytes at offset {self.offset} lies past the end of the file "
                f"({self._source.size} bytes)"
            )
        return self._source.read(self.offset, self.nbytes)

    def array(self) -> np.ndarray:
        """Numeric values as a flat array in native byte order (rationals as pairs)."""
        fmt = FIELD_TYPES[self.dtype]
        code = fmt.code[-1]
        if code == "s":
            return np.frombuffer(self.raw(), dtype=np.uint8)
        values = np.frombuffer(self.raw(), dtype=np.dtype(self.byteorder + code))
        return values.astype(values.dtype.newbyteorder("="), copy=False)

    @property
    def value(self) -> Any:
        if self._value is None:
            self._value = self._decode()
        return self._value

    def _decode(self) -> Any:
        if self.dtype == FieldType.ASCII:
            text = self.raw()
            end = text.find(b"\x00")
            return (text if end < 0 else text[:end]).decode("utf-8", errors="replace")
        if self.dtype in (FieldType.BYTE, FieldType.UNDEFINED):
            data = self.raw()
            return data[0] if self.count == 1 and self.dtype == FieldType.BYTE else data
        values = self.array()
        items: tuple[Any, ...] = tuple(values.tolist())
        if self.dtype in (FieldType.RATIONAL, FieldType.SRATIONAL, FieldType.COMPLEX):
            return items if self.count > 1 else (items[0], items[1])
        return items[0] if self.count == 1 else items

    def __repr__(self) -> str:
        return f"<Tag {self.name} type={self.dtype} count={self.count}>"


class Ifd(Mapping[int, Tag]):
    """An image file directory: its tags by code and the offset of the next IFD."""

    __slots__ = ("next_offset", "offset", "tags")

    def __init__(self, offset: int, tags: dict[int, Tag], next_offset: int) -> None:
        self.offset = offset
        self.tags = tags
        self.next_offset = next_offset

    def __getitem__(self, code: int) -> Tag:
        return self.tags[code]

    def __iter__(self) -> Iterator[int]:
        return iter(self.tags)

    def __len__(self) -> int:
        return len(self.tags)

    @overload
    def get(self, code: int, /) -> Tag | None: ...

    @overload
    def get(self, code: int, /, default: Tag | _T) -> Tag | _T: ...

    def get(self, code: int, /, default: object = None) -> object:
        # Mapping's get raises and catches KeyError for every tag a page has not
        return self.tags.get(code, default)

    def value(self, code: int, default: Any = None) -> Any:
        tag = self.tags.get(code)
        return default if tag is None else tag.value

    def __repr__(self) -> str:
        return f"<Ifd at {self.offset} with {len(self.tags)} tags>"


def _check_ifd_offset(source: ByteSource, header: TiffHeader, offset: int) -> None:
    if offset < 8 or offset + header.count_size > source.size:
        raise TiffFileError(
            f"{source.name}: IFD offset {offset} is outside the file ({source.size} bytes)"
        )


def _entry_count(source: ByteSource, header: TiffHeader, offset: int, head: bytes) -> int:
    (count,) = struct.unpack(header.count_format, head[: header.count_size])
    # an IFD of no entries is a page without an image; the chain goes on past it, as
    # tifffile follows it
    if count > MAX_IFD_ENTRIES:
        raise TiffFileError(f"{source.name}: IFD at offset {offset} declares {count} entries")
    return int(count)


def read_ifd(source: ByteSource, header: TiffHeader, offset: int) -> Ifd:
    """Read all entries of the IFD at offset; values out of line are read later."""
    return parse_ifd(source, header, offset, ifd_block(source, header, offset))


def ifd_block(source: ByteSource, header: TiffHeader, offset: int) -> bytes:
    """The bytes at offset that hold the IFD's entry count, its entries and (unless the
    IFD ends the file) its next offset: one read, two where the IFD is large."""
    _check_ifd_offset(source, header, offset)
    block = source.read(offset, min(IFD_READ_AHEAD, source.size - offset))
    count = _entry_count(source, header, offset, block)
    size = header.count_size + count * header.entry_size
    if size + header.offset_size > len(block):
        if offset + size > source.size:
            raise TiffFileError(
                f"{source.name}: IFD at offset {offset} with {count} entries is truncated"
            )
        block = source.read(offset, min(size + header.offset_size, source.size - offset))
    return block


def ifd_entries(header: TiffHeader, block: bytes) -> bytes:
    """The raw entries in an IFD's block (see ifd_block)."""
    (count,) = struct.unpack_from(header.count_format, block)
    return block[header.count_size : header.count_size + count * header.entry_size]


def parse_ifd(
    source: ByteSource,
    header: TiffHeader,
    offset: int,
    block: bytes,
    keep: Container[int] | None = None,
) -> Ifd:
    """The IFD whose block ifd_block read; keep: parse only the entries of these tags."""
    count = _entry_count(source, header, offset, block)
    size = header.count_size + count * header.entry_size
    byteorder = header.byteorder
    value_size = header.offset_size
    entry = struct.Struct(byteorder + ("HHQ" if header.bigtiff else "HHI"))
    value_offset = struct.Struct(header.offset_format)
    tags: dict[int, Tag] = {}
    position = header.count_size
    for _ in range(count):
        code, dtype, value_count = entry.unpack_from(block, position)
        field = position + entry.size
        position += header.entry_size
        fmt = FIELD_TYPES.get(dtype)
        if fmt is None or code in tags or (keep is not None and code not in keep):
            # unknown field types cannot be sized; duplicate codes keep the first, as libtiff
            continue
        nbytes = value_count * fmt.size
        if nbytes <= value_size:
            tags[code] = Tag(
                source,
                byteorder,
                code,
                dtype,
                count=value_count,
                inline=block[field : field + value_size],
                offset=0,
            )
        else:
            (where,) = value_offset.unpack_from(block, field)
            # writers put small values right after the entries: already read, keep them
            start = where - offset
            near = block[start : start + nbytes] if nbytes <= NEAR_VALUE_LIMIT else None
            tags[code] = Tag(
                source,
                byteorder,
                code,
                dtype,
                count=value_count,
                inline=near if near is not None and len(near) == nbytes and start >= 0 else None,
                offset=int(where),
            )
    if len(block) >= size + header.offset_size:
        (next_offset,) = value_offset.unpack_from(block, size)
    else:
        next_offset = 0  # a final IFD flush with the end of the file has no next pointer
    return Ifd(offset, tags, int(next_offset))


class ReadWindow:
    """Reads of a source served from the last block read, for walking many IFDs in order.

    Stacks of small images have their IFDs a few KB apart: one read of WINDOW_SIZE holds
    dozens of them.  Where IFDs lie far apart each read stays small (CHAIN_READ_AHEAD).
    """

    __slots__ = ("_wide", "block", "source", "start")

    def __init__(self, source: ByteSource) -> None:
        self.source = source
        # the block last read and its offset: readers of many small values look in it first
        self.start = 0
        self.block = b""
        self._wide = True

    def span(self, offset: int, length: int) -> tuple[bytes, int]:
        """A block holding length bytes at offset, and where in it they start."""
        start = offset - self.start
        if start >= 0 and start + length <= len(self.block):
            return self.block, start
        if self.block:
            self._wide = 0 <= start < len(self.block) + CLOSE_IFDS
        ahead = WINDOW_SIZE if self._wide else CHAIN_READ_AHEAD
        size = self.source.size
        if offset < 0 or offset + length > size:
            raise TiffFileError(
                f"{self.source.name}: cannot read {length} bytes at offset {offset}: "
                f"the file has {size} bytes"
            )
        self.start = offset
        self.block = self.source.read(offset, min(max(length, ahead), size - offset))
        return self.block, 0

    def read(self, offset: int, length: int) -> bytes:
        block, start = self.span(offset, length)
        return block[start : start + length]


class IfdEntries(NamedTuple):
    """An IFD's raw entries (count x 12 or 20 bytes) and the offset of the next IFD."""

    offset: int
    entry_count: int
    entries: bytes
    next_offset: int


# (count, entry size, offset) structs per (byte order, BigTIFF): looked up once per IFD
_FORMATS = {
    (order, big): (
        struct.Struct(order + ("Q" if big else "H")),
        20 if big else 12,
        struct.Struct(order + ("Q" if big else "I")),
    )
    for order in "<>"
    for big in (False, True)
}


class EntryReader:
    """read_entries for many IFDs of one file: the formats and sizes looked up once."""

    __slots__ = ("_count", "_entry_size", "_filesize", "_header", "_next", "_window")

    def __init__(self, window: ReadWindow, header: TiffHeader) -> None:
        self._window = window
        self._header = header
        self._count, self._entry_size, self._next = _FORMATS[header.byteorder, header.bigtiff]
        self._filesize = window.source.size

    def __call__(self, offset: int) -> IfdEntries:
        window = self._window
        count_format = self._count
        count_size = count_format.size
        if offset < 8 or offset + count_size > self._filesize:
            _check_ifd_offset(window.source, self._header, offset)
        block = window.block
        start = offset - window.start
        if start < 0 or start + count_size > len(block):
            block, start = window.span(offset, count_size)
        (count,) = count_format.unpack_from(block, start)
        size = count_size + count * self._entry_size
        end = start + size + self._next.size
        if count == 0 or count > MAX_IFD_ENTRIES or end > len(block):
            return read_entries(window, self._header, offset)  # the checks, another read
        (next_offset,) = self._next.unpack_from(block, start + size)
        return IfdEntries(offset, count, block[start + count_size : start + size], next_offset)


def read_entries(
    window: ReadWindow, header: TiffHeader, offset: int, *, entries: bool = True
) -> IfdEntries:
    """The raw entries of the IFD at offset (or only its next offset), checked as read_ifd."""
    count_format, entry_size, offset_format = _FORMATS[header.byteorder, header.bigtiff]
    source = window.source
    filesize = source.size
    count_size = count_format.size
    if offset < 8 or offset + count_size > filesize:
        _check_ifd_offset(source, header, offset)
    block = window.block
    start = offset - window.start
    if start < 0 or start + count_size > len(block):  # not in the window yet
        block, start = window.span(offset, count_size)
    (count,) = count_format.unpack_from(block, start)
    if count > MAX_IFD_ENTRIES:
        raise TiffFileError(f"{source.name}: IFD at offset {offset} declares {count} entries")
    size = count_size + count * entry_size
    if offset + size > filesize:
        raise TiffFileError(f"{source.name}: IFD at offset {offset} is truncated")
    if offset + size + offset_format.size <= filesize:
        block, start = window.span(offset, size + offset_format.size)
        (next_offset,) = offset_format.unpack_from(block, start + size)
    else:
        block, start = window.span(offset, size)
        next_offset = 0  # a final IFD flush with the end of the file has no next pointer
    raw = block[start + count_size : start + size] if entries else b""
    return IfdEntries(offset, count, raw, next_offset)
