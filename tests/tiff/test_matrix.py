"""Pages written by tifffile across compressions, predictors, dtypes, layouts and byte
orders, decoded by ours and compared with tifffile's page.asarray(), pixel for pixel."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

from napari_tiffzarr import TiffFile, TiffFileError
from sparse_segments import make_sparse

SHAPE = (37, 53)  # neither divides by the strip or tile sizes used
RNG = np.random.default_rng(7)


def _data(dtype: str, samples: int = 0, smooth: bool = False) -> np.ndarray:
    shape = (*SHAPE, samples) if samples else SHAPE
    kind = np.dtype(dtype).kind
    if kind == "b":
        return RNG.integers(0, 2, shape).astype(bool)
    if kind == "f":
        return RNG.normal(0, 100, shape).astype(dtype)
    if kind == "c":
        return (RNG.normal(size=shape) + 1j * RNG.normal(size=shape)).astype(dtype)
    info = np.iinfo(dtype)
    if smooth:  # lossy codecs: compare on content they keep
        y, x = np.mgrid[0 : shape[0], 0 : shape[1]]
        base = (x * 3 + y * 2) % 200 + 20
        return np.broadcast_to(base[..., None] if samples else base, shape).astype(dtype)
    return RNG.integers(max(info.min, -30000), min(info.max, 60000), shape, endpoint=True).astype(
        dtype
    )


def _compare(path: Path) -> int:
    with tifffile.TiffFile(path) as theirs, TiffFile(path) as ours:
        assert len(ours.pages) == len(theirs.pages)
        for mine, reference in zip(ours.pages, theirs.pages, strict=True):
            expected = reference.asarray()
            result = mine.asarray()
            assert (mine.shape, mine.axes) == (reference.shape, reference.axes)
            assert result.dtype == expected.dtype
            assert result.dtype.isnative
            np.testing.assert_array_equal(result, expected)
        return len(ours.pages)


LAYOUTS: dict[str, dict[str, Any]] = {
    "strips": {"rowsperstrip": 8},
    "one-strip": {},
    "tiles": {"tile": (16, 32)},
}

BYTE_CODECS = ["none", "lzw", "zlib", "adobe_deflate", "packbits", "zstd", "lzma"]
INTEGERS = ["uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64"]
FLOATS = ["float16", "float32", "float64"]


@pytest.mark.parametrize(
    ("compression", "layout", "byteorder"),
    list(itertools.product(BYTE_CODECS, LAYOUTS, "<>")),
)
def test_byte_codecs(tmp_path: Path, compression: str, layout: str, byteorder: str) -> None:
    path = tmp_path / "f.tif"
    kwargs = {"compression": None if compression == "none" else compression}
    with tifffile.TiffWriter(path, byteorder=byteorder) as tif:
        for dtype in ("uint8", "int16", "float32"):
            tif.write(_data(dtype), metadata=None, **kwargs, **LAYOUTS[layout])
        tif.write(_data("uint8", 3), photometric="rgb", metadata=None, **kwargs, **LAYOUTS[layout])
    assert _compare(path) == 4


@pytest.mark.parametrize(("dtype", "byteorder"), list(itertools.product(INTEGERS, "<>")))
@pytest.mark.parametrize("layout", ["strips", "tiles"])
def test_horizontal_predictor(tmp_path: Path, dtype: str, byteorder: str, layout: str) -> None:
    path = tmp_path / "f.tif"
    tifffile.imwrite(
        path,
        _data(dtype),
        compression="zlib",
        predictor=2,
        byteorder=byteorder,
        metadata=None,
        **LAYOUTS[layout],
    )
    _compare(path)


@pytest.mark.parametrize(("dtype", "byteorder"), list(itertools.product(FLOATS, "<>")))
@pytest.mark.parametrize("layout", ["strips", "tiles"])
def test_floating_point_predictor(tmp_path: Path, dtype: str, byteorder: str, layout: str) -> None:
    path = tmp_path / "f.tif"
    tifffile.imwrite(
        path,
        _data(dtype),
        compression="zlib",
        predictor=3,
        byteorder=byteorder,
        metadata=None,
        **LAYOUTS[layout],
    )
    _compare(path)


@pytest.mark.parametrize("dtype", ["bool", *INTEGERS, *FLOATS, "complex64", "complex128"])
@pytest.mark.parametrize("byteorder", "<>")
def test_sample_types(tmp_path: Path, dtype: str, byteorder: str) -> None:
    path = tmp_path / "f.tif"
    tifffile.imwrite(path, _data(dtype), byteorder=byteorder, metadata=None, rowsperstrip=5)
    _compare(path)


@pytest.mark.parametrize("planar", ["contig", "separate"])
@pytest.mark.parametrize("layout", ["strips", "tiles"])
@pytest.mark.parametrize("samples", [2, 3, 4, 5])
def test_planar_configurations(tmp_path: Path, planar: str, layout: str, samples: int) -> None:
    path = tmp_path / "f.tif"
    data = _data("uint16", samples)
    if planar == "separate":
        data = np.moveaxis(data, -1, 0).copy()
    photometric = "rgb" if samples in (3, 4) else "minisblack"
    extrasamples = {"extrasamples": ["unspecified"]} if samples == 4 else {}
    tifffile.imwrite(
        path,
        data,
        photometric=photometric,
        planarconfig=planar,
        compression="lzw",
        metadata=None,
        **extrasamples,
        **LAYOUTS[layout],
    )
    _compare(path)


@pytest.mark.parametrize("bigtiff", [False, True])
@pytest.mark.parametrize("byteorder", "<>")
def test_bigtiff_multipage(tmp_path: Path, bigtiff: bool, byteorder: str) -> None:
    path = tmp_path / "f.tif"
    data = np.stack([_data("uint16") for _ in range(5)])
    tifffile.imwrite(
        path,
        data,
        bigtiff=bigtiff,
        byteorder=byteorder,
        tile=(16, 16),
        compression="zlib",
        metadata=None,
    )
    assert _compare(path) == 5


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 5, 6, 7, 10, 12, 14, 24])
def test_packed_bit_depths(tmp_path: Path, bits: int) -> None:
    path = tmp_path / "f.tif"
    dtype = "uint8" if bits <= 8 else "uint16" if bits <= 16 else "uint32"
    data = RNG.integers(0, 2**bits, SHAPE).astype(dtype)
    tifffile.imwrite(path, data, bitspersample=bits, metadata=None, rowsperstrip=8)
    with tifffile.TiffFile(path) as tif:
        assert tif.pages[0].bitspersample == bits
    _compare(path)


def test_volumetric_tiles(tmp_path: Path) -> None:
    path = tmp_path / "f.tif"
    data = RNG.integers(0, 255, (10, 37, 53), np.uint8)
    tifffile.imwrite(
        path, data, tile=(4, 16, 16), volumetric=True, compression="zlib", metadata=None
    )
    with TiffFile(path) as tif:
        assert tif.pages[0].axes == "ZYX"
    _compare(path)


IMAGE_CODECS: dict[str, dict[str, Any]] = {
    "jpeg-gray": {"data": ("uint8", 0), "compression": "jpeg"},
    "jpeg-rgb": {"data": ("uint8", 3), "compression": "jpeg", "photometric": "rgb"},
    "jpeg-ycbcr": {"data": ("uint8", 3), "compression": "jpeg", "photometric": "ycbcr"},
    "jpeg-ycbcr-subsampled": {
        "data": ("uint8", 3),
        "compression": "jpeg",
        "photometric": "ycbcr",
        "subsampling": (2, 2),
    },
    "jpeg-12bit": {"data": ("uint16", 0), "compression": "jpeg", "bitspersample": 12},
    "jpeg2000": {"data": ("uint16", 0), "compression": "jpeg2000"},
    "jpeg2000-rgb": {"data": ("uint8", 3), "compression": "jpeg2000", "photometric": "rgb"},
    "jpegxl": {"data": ("uint8", 3), "compression": "jpegxl", "photometric": "rgb"},
    "jpegxr": {"data": ("uint8", 3), "compression": "jpegxr", "photometric": "rgb"},
    "webp": {"data": ("uint8", 3), "compression": "webp", "photometric": "rgb"},
    "webp-rgba": {
        "data": ("uint8", 4),
        "compression": "webp",
        "photometric": "rgb",
        "extrasamples": ["unassalpha"],
    },
    "png": {"data": ("uint16", 0), "compression": "png"},
    "lerc": {"data": ("float32", 0), "compression": "lerc"},
    "lerc-uint16": {"data": ("uint16", 0), "compression": "lerc"},
}


@pytest.mark.parametrize("name", list(IMAGE_CODECS))
@pytest.mark.parametrize("layout", ["strips", "tiles"])
def test_image_codecs(tmp_path: Path, name: str, layout: str) -> None:
    options = dict(IMAGE_CODECS[name])
    dtype, samples = options.pop("data")
    path = tmp_path / "f.tif"
    tile = {"tile": (16, 32)} if layout == "tiles" else {"rowsperstrip": 16}
    tifffile.imwrite(path, _data(dtype, samples, smooth=True), metadata=None, **options, **tile)
    _compare(path)


@pytest.mark.parametrize("compression", [None, "lzw", "packbits"])
def test_fill_order_2(tmp_path: Path, compression: str | None) -> None:
    """FillOrder 2 reverses the bits of every byte: a private tag, renamed to FillOrder,
    and the stored bytes reversed make such a file."""
    path = tmp_path / "f.tif"
    data = RNG.integers(0, 255, SHAPE, np.uint8)
    tifffile.imwrite(
        path, data, metadata=None, compression=compression, extratags=[(65000, 3, 1, 2, False)]
    )
    with tifffile.TiffFile(path) as tif:
        offset = tif.pages[0].dataoffsets[0]
        count = tif.pages[0].databytecounts[0]
        entry = tif.pages[0].tags[65000].offset
    raw = bytearray(path.read_bytes())
    raw[entry : entry + 2] = (266).to_bytes(2, "little")
    table = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))
    raw[offset : offset + count] = bytes(raw[offset : offset + count]).translate(table)
    path.write_bytes(bytes(raw))
    with TiffFile(path) as tif:
        assert tif.pages[0].fillorder == 2
        np.testing.assert_array_equal(tif.pages[0].asarray(), data)
    _compare(path)


def test_sparse_tiles_read_as_nodata(tmp_path: Path) -> None:
    """Offset and byte count 0: the tile reads as GDAL_NODATA, as tifffile reads it."""
    path = tmp_path / "f.tif"
    data = RNG.integers(1, 255, (64, 64), np.uint8)
    tifffile.imwrite(
        path, data, tile=(16, 16), metadata=None, extratags=[(42113, 2, 0, "7", False)]
    )
    make_sparse(path, [5], counts=False)  # tile 5: offset 0
    make_sparse(path, [9], offsets=False)  # tile 9: byte count 0
    with TiffFile(path) as tif:
        result = tif.pages[0].asarray()
        assert tif.pages[0].nodata == 7
    assert (result[16:32, 16:32] == 7).all()
    assert (result[32:48, 16:32] == 7).all()
    _compare(path)


def test_codec_out_of_memory_is_a_tifffileerror(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A corrupt segment whose own header declares gigapixels makes the codec fail to
    allocate: that is the file's fault and must say which segment, not escape."""
    from napari_tiffzarr.tiff import codecs

    path = tmp_path / "webp.tif"
    rgb = np.zeros((32, 32, 3), np.uint8)
    tifffile.imwrite(path, rgb, tile=(16, 16), compression="webp", photometric="rgb")

    def exhausted(data: bytes, **kwargs: object) -> np.ndarray:
        raise MemoryError("Unable to allocate 6.41 GiB")

    webp = codecs.CODECS[codecs.Compression.WEBP]
    table = {**codecs.CODECS, codecs.Compression.WEBP: dataclasses.replace(webp, decode=exhausted)}
    monkeypatch.setattr(codecs, "CODECS", table)
    with TiffFile(path) as tif, pytest.raises(TiffFileError, match="segment 0: cannot decode"):
        tif.pages[0].asarray()
