"""A page's integer tag properties: defaults, dependencies, errors, and reading once."""

from __future__ import annotations

import struct

import pytest

from napari_tiffzarr import TiffFileError
from napari_tiffzarr.sources import open_source
from napari_tiffzarr.tiff.ifd import Ifd, Tag, TiffHeader, read_header
from napari_tiffzarr.tiff.page import TiffPage
from napari_tiffzarr.tiff.tags import (
    Compression,
    FieldType,
    Photometric,
    PlanarConfig,
    Predictor,
    TagCode,
)

# The smallest little-endian classic TIFF header: an IFD is built in memory below
HEADER = b"II*\x00" + struct.pack("<I", 8) + bytes(8)

Value = int | tuple[int, ...] | str


def _header() -> tuple[object, TiffHeader]:
    source, _ = open_source(HEADER)
    return source, read_header(source)


def _tag(source: object, code: int, value: Value) -> Tag:
    if isinstance(value, str):
        data = value.encode() + b"\x00"
        dtype = FieldType.ASCII
    else:
        values = value if isinstance(value, tuple) else (value,)
        data = struct.pack(f"<{len(values)}H", *values)
        dtype = FieldType.SHORT
    assert len(data) <= 4, "inline values only"
    return Tag(
        source,  # type: ignore[arg-type]
        "<",
        code,
        dtype,
        count=len(data) if dtype == FieldType.ASCII else len(data) // 2,
        inline=data.ljust(4, b"\x00"),
        offset=0,
    )


def page_with(**tags: Value) -> TiffPage:
    """A page whose IFD holds the given tags, by TagCode name."""
    source, header = _header()
    ifd = Ifd(8, {TagCode[name]: _tag(source, TagCode[name], v) for name, v in tags.items()}, 0)
    return TiffPage(source, header, ifd, 0)  # type: ignore[arg-type]


def test_defaults_of_missing_tags() -> None:
    page = page_with(ImageWidth=30, ImageLength=20)
    assert (page.imagewidth, page.imagelength, page.imagedepth) == (30, 20, 1)
    assert page.compression is Compression.NONE
    assert page.predictor is Predictor.NONE
    assert page.planarconfig is PlanarConfig.CONTIG
    assert (page.bitspersample, page.sampleformat, page.samplesperpixel) == (1, 1, 1)
    assert (page.fillorder, page.newsubfiletype, page.t4options) == (1, 0, 0)
    assert page.photometric is Photometric.MINISBLACK
    assert (page.tilewidth, page.tilelength, page.tiledepth) == (0, 0, 0)


def test_old_style_jpeg_defaults() -> None:
    page = page_with(ImageWidth=8, ImageLength=8, Compression=Compression.OJPEG)
    assert page.is_ojpeg
    assert page.bitspersample == 8
    assert page.samplesperpixel == 3
    assert page.photometric is Photometric.YCBCR


def test_planar_configuration_applies_only_to_several_samples() -> None:
    one = page_with(ImageWidth=8, ImageLength=8, PlanarConfiguration=2)
    assert one.planarconfig is PlanarConfig.CONTIG
    three = page_with(ImageWidth=8, ImageLength=8, SamplesPerPixel=3, PlanarConfiguration=2)
    assert three.planarconfig is PlanarConfig.SEPARATE


def test_tile_sizes_need_both_tile_tags() -> None:
    half = page_with(ImageWidth=64, ImageLength=64, TileWidth=16)
    assert not half.is_tiled
    assert (half.tilewidth, half.tiledepth) == (0, 0)
    tiled = page_with(ImageWidth=64, ImageLength=64, TileWidth=16, TileLength=32)
    assert (tiled.tilewidth, tiled.tilelength, tiled.tiledepth) == (16, 32, 1)


def test_unknown_codes_stay_integers() -> None:
    page = page_with(ImageWidth=8, ImageLength=8, Compression=12345, Predictor=7)
    assert page.compression == 12345
    assert not isinstance(page.compression, Compression)
    assert page.predictor == 7


def test_per_sample_values_use_the_samples_only() -> None:
    # a third value beyond SamplesPerPixel is junk and ignored
    page = page_with(ImageWidth=8, ImageLength=8, SamplesPerPixel=2, BitsPerSample=(8, 8))
    assert page.bitspersample == 8
    page = page_with(ImageWidth=8, ImageLength=8, SamplesPerPixel=1, SampleFormat=(3, 1))
    assert page.sampleformat == 3


def test_differing_per_sample_values_are_refused() -> None:
    page = page_with(ImageWidth=8, ImageLength=8, SamplesPerPixel=2, SampleFormat=(1, 2))
    with pytest.raises(TiffFileError, match=r"page 0: per-sample values of tag 339 differ"):
        _ = page.sampleformat


def test_a_text_where_an_integer_belongs_is_refused() -> None:
    page = page_with(ImageWidth="abc", ImageLength=8)
    with pytest.raises(TiffFileError, match=r"page 0: tag 256 is not an integer: 'abc'"):
        _ = page.imagewidth
    assert page.imagelength == 8  # the other tags still read


def test_values_are_read_on_first_use_and_kept() -> None:
    page = page_with(ImageWidth=30, ImageLength=20)
    assert "imagewidth" not in page.__dict__
    assert page.imagewidth == 30
    assert page.__dict__["imagewidth"] == 30
    page.ifd.tags.pop(TagCode.ImageWidth)  # a second use does not read the tag again
    assert page.imagewidth == 30


def test_a_value_set_beforehand_wins() -> None:
    # as a cropped copy of a page sets its size (series/philips.py)
    page = page_with(ImageWidth=30, ImageLength=20)
    page.__dict__["imagelength"] = 7
    assert page.imagelength == 7
    assert page.shape == (7, 30)
