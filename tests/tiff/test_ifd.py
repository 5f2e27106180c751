"""The header, the IFD chain and tag values, on files built byte by byte."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import tifffile

import napari_tiffzarr.tiff.pages as pages_module
from napari_tiffzarr import TiffFile, TiffFileError

# (type, struct code, values) for every field type; rationals are pairs of 4-byte ints
FIELDS = [
    (1, "B", (1, 255)),
    (2, "s", b"text\x00"),
    (3, "H", (1, 65535)),
    (4, "I", (1, 2**32 - 1)),
    (5, "I", (3, 4, 5, 6)),
    (6, "b", (-128, 127)),
    (7, "B", (0, 9)),
    (8, "h", (-32768, 32767)),
    (9, "i", (-(2**31), 2**31 - 1)),
    (10, "i", (-3, 4, 5, -6)),
    (11, "f", (1.5, -2.25)),
    (12, "d", (1.5e300, -2.25)),
    (16, "Q", (1, 2**64 - 1)),
    (17, "q", (-(2**63), 2**63 - 1)),
    (18, "Q", (8, 2**40)),
]


def build_tiff(
    entries: list[tuple[int, int, int, bytes]], *, byteorder: str = "<", bigtiff: bool = False
) -> bytes:
    """A file with one IFD of the given (code, type, count, value bytes) entries and 4x4
    uint8 pixels; values go after the IFD when they do not fit in the entry."""
    o = byteorder
    width = 8 if bigtiff else 4
    head = (b"II" if o == "<" else b"MM") + (
        struct.pack(o + "HHHQ", 43, 8, 0, 16) if bigtiff else struct.pack(o + "HI", 42, 8)
    )
    pixels = bytes(range(16))
    image = [
        (256, 3, 1, struct.pack(o + "H", 4)),
        (257, 3, 1, struct.pack(o + "H", 4)),
        (258, 3, 1, struct.pack(o + "H", 8)),
        (273, 4, 1, b""),  # patched below
        (278, 3, 1, struct.pack(o + "H", 4)),
        (279, 4, 1, struct.pack(o + "I", 16)),
    ]
    entries = sorted(image + entries)
    count_format, entry_format = (o + "Q", o + "HHQ") if bigtiff else (o + "H", o + "HHI")
    ifd_size = struct.calcsize(count_format) + len(entries) * (20 if bigtiff else 12) + width
    extra = len(head) + ifd_size
    table = b""
    values = b""
    for code, kind, count, given in entries:
        # StripOffsets is replaced once the pixel position is known
        value = struct.pack(o + "I", 0) if code == 273 else given
        if len(value) <= width:
            table += struct.pack(entry_format, code, kind, count) + value.ljust(width, b"\x00")
        else:
            table += struct.pack(entry_format, code, kind, count) + struct.pack(
                o + ("Q" if bigtiff else "I"), extra + len(values)
            )
            values += value
    pixel_offset = extra + len(values)
    data = (
        head + struct.pack(count_format, len(entries)) + table + b"\x00" * width + values + pixels
    )
    # patch StripOffsets
    position = len(head) + struct.calcsize(count_format)
    for code, *_ in entries:
        if code == 273:
            break
        position += 20 if bigtiff else 12
    field = position + (12 if bigtiff else 8)
    raw = bytearray(data)
    struct.pack_into(o + "I", raw, field, pixel_offset)
    return bytes(raw)


@pytest.mark.parametrize("bigtiff", [False, True])
@pytest.mark.parametrize("byteorder", "<>")
@pytest.mark.parametrize(("kind", "code", "values"), FIELDS, ids=[str(f[0]) for f in FIELDS])
def test_field_types(kind: int, code: str, values: object, byteorder: str, bigtiff: bool) -> None:
    if isinstance(values, bytes):
        raw, count = values, len(values)
    else:
        raw = struct.pack(f"{byteorder}{len(values)}{code}", *values)  # type: ignore[arg-type]
        count = len(values) // (2 if kind in (5, 10) else 1)  # type: ignore[arg-type]
    data = build_tiff([(65000, kind, count, raw)], byteorder=byteorder, bigtiff=bigtiff)
    with TiffFile(data) as ours, tifffile.TiffFile(_as_file(data)) as theirs:
        tag = ours.pages[0].tags[65000]
        assert tag.count == count
        reference = theirs.pages[0].tags[65000].value
        value = tag.value
        if kind == 2:
            assert value == "text"
        elif kind in (1, 7) and isinstance(reference, bytes):
            assert value == reference
        else:
            expected = np.asarray(reference, dtype=np.float64).ravel()
            assert np.asarray(value, dtype=np.float64).ravel().tolist() == pytest.approx(
                expected.tolist()
            )
        assert ours.is_bigtiff == bigtiff
        assert ours.byteorder == byteorder
        np.testing.assert_array_equal(ours.pages[0].asarray(), theirs.pages[0].asarray())


def _as_file(data: bytes):  # type: ignore[no-untyped-def]
    import io

    return io.BytesIO(data)


def test_unknown_tags_are_kept() -> None:
    data = build_tiff([(60001, 3, 1, struct.pack("<H", 7)), (60002, 2, 6, b"hello\x00")])
    with TiffFile(data) as tif:
        assert tif.pages[0].tags[60001].value == 7
        assert tif.pages[0].tags[60002].value == "hello"
        assert tif.pages[0].tags[60001].name == "60001"


def test_ifd_loop_stops_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "loop.tif"
    tifffile.imwrite(path, np.zeros((3, 8, 9), np.uint8), photometric="minisblack", metadata=None)
    raw = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:
        last = tif.pages[2].offset
        first_offset = tif.pages[0].offset
    next_pointer = last + 2 + 12 * struct.unpack_from("<H", raw, last)[0]
    struct.pack_into("<I", raw, next_pointer, first_offset)  # page 2 points back to page 0
    path.write_bytes(bytes(raw))
    with TiffFile(path) as tif:
        assert len(tif.pages) == 3
        assert [p.index for p in tif.pages] == [0, 1, 2]


def test_subifds_are_exposed(tmp_path: Path) -> None:
    path = tmp_path / "sub.tif"
    with tifffile.TiffWriter(path) as tif:
        tif.write(np.zeros((32, 32), np.uint8), subifds=2, metadata=None)
        tif.write(np.ones((16, 16), np.uint8), subfiletype=1, metadata=None)
        tif.write(np.full((8, 8), 2, np.uint8), subfiletype=1, metadata=None)
    with TiffFile(path) as tif:
        page = tif.pages[0]
        assert len(page.subifds) == 2
        subs = [tif.subifd_page(offset, (0, i)) for i, offset in enumerate(page.subifds)]
        assert [s.shape for s in subs] == [(16, 16), (8, 8)]
        assert [int(s.asarray()[0, 0]) for s in subs] == [1, 2]
        assert all(s.is_reduced for s in subs)


def test_page_zero_of_100000_pages_reads_one_ifd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "many.tif"
    tifffile.imwrite(path, np.zeros((100_000, 1, 1), np.uint8), metadata=None)
    walked: list[int] = []
    parsed: list[int] = []
    read_next, read_ifd = pages_module.read_entries, pages_module.ifd_block
    monkeypatch.setattr(
        pages_module, "read_entries", lambda *a, **k: walked.append(1) or read_next(*a, **k)
    )
    monkeypatch.setattr(pages_module, "ifd_block", lambda *a: parsed.append(1) or read_ifd(*a))
    with TiffFile(path) as tif:
        assert tif.pages[0].shape == (1, 1)
        assert (len(walked), len(parsed)) == (0, 1)
        assert tif.pages[99_999].shape == (1, 1)
        assert len(tif.pages) == 100_000


def _first_page(data: bytes) -> None:
    with TiffFile(data) as tif:
        tif.pages[0].asarray()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "too short"),
        (b"XX*\x00\x08\x00\x00\x00", "byte order"),
        (b"II\x2a\x01\x08\x00\x00\x00", "version"),
        (b"II*\x00\x00\x00\x00\x00", "no image"),
        (b"II*\x00\xff\xff\x00\x00", "outside the file"),
        (b"II*\x00\x08\x00\x00\x00\xff\xff" + b"\x00" * 20, "entries"),
        (b"II+\x00\x04\x00\x00\x00" + b"\x00" * 8, "BigTIFF"),
    ],
    ids=["empty", "order", "version", "no-ifd", "ifd-past-end", "huge-count", "bigtiff-header"],
)
def test_bad_structure_raises_tifffileerror(data: bytes, message: str) -> None:
    with pytest.raises(TiffFileError, match=message):
        _first_page(data)


def test_tag_value_past_the_end_names_the_tag() -> None:
    data = build_tiff([(270, 2, 1000, b"x" * 1000)])
    data = data[:-600]  # cut into the description's value, after the IFD
    with TiffFile(data) as tif:
        tag = tif.pages[0].tags[270]
        with pytest.raises(TiffFileError, match="ImageDescription"):
            _ = tag.value


@pytest.mark.parametrize(("code", "name"), [(34677, "SGILOG24"), (34661, "JBIG")])
@pytest.mark.parametrize("byteorder", ["<", ">"])
def test_unsupported_compression_is_named(
    tmp_path: Path, code: int, name: str, byteorder: str
) -> None:
    """A user told 'compression 34677' cannot act on it; 'SGILOG24 (34677)' says what it
    is."""
    path = tmp_path / "coded.tif"
    tifffile.imwrite(path, np.zeros((8, 8), np.uint8), byteorder=byteorder, metadata=None)
    with tifffile.TiffFile(path) as tif:
        position = tif.pages[0].tags[259].valueoffset  # the SHORT value, inline in the entry
    with open(path, "r+b") as fh:
        fh.seek(position)
        fh.write(struct.pack(byteorder + "H", code))
    with TiffFile(path) as tif, pytest.raises(TiffFileError, match=rf"{name} \({code}\)"):
        tif.pages[0].asarray()


def test_single_strip_without_byte_count_past_the_end() -> None:
    """A lone CCITT strip with no byte count runs to the end of the file; one that starts
    past the end has no length at all (found by fuzzing a libtiff-written fax file)."""
    data = bytearray(build_tiff([(259, 3, 1, struct.pack("<H", 3))]))
    (count,) = struct.unpack_from("<H", data, 8)
    for position in range(10, 10 + 12 * count, 12):
        code = struct.unpack_from("<H", data, position)[0]
        if code == 273:
            struct.pack_into("<I", data, position + 8, 10**6)  # the strip's offset
        elif code == 279:
            struct.pack_into("<I", data, position + 8, 0)  # no byte count
    with pytest.raises(TiffFileError, match="segment 0 at offset 1000000 lies past the end"):
        _first_page(bytes(data))
