"""Files no writer makes on purpose, built byte by byte and read as tifffile, libtiff or
GDAL read them: empty images, IFD chains that loop or leave the file, signed 24-bit
samples, old-style JPEG in its interchange and tables-in-tags forms."""

from __future__ import annotations

import io
import itertools
import logging
import shutil
import struct
import subprocess
import warnings
from pathlib import Path

import imagecodecs
import numpy as np
import pytest
import tifffile
import zarr

from napari_tiffzarr import TiffFile, TiffFileError
from napari_tiffzarr.errors import TiffNoPagesError
from tiffbuild import LONG, SHORT, TiffBuilder, gray_entries


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (libtiff-tools, gdal-bin)")
    return path


def _quiet_tifffile() -> None:
    logging.getLogger("tifffile").setLevel(logging.CRITICAL)


# -- empty images -------------------------------------------------------------------------
def _empty(length: int, width: int, samples: int) -> bytes:
    builder = TiffBuilder()
    entries = gray_entries(length, width, builder.blob(b""), 0)
    if samples == 3:
        entries |= {277: (SHORT, [3]), 258: (SHORT, [8, 8, 8]), 262: (SHORT, [2])}
    builder.first(builder.ifd(entries))
    return builder.bytes()


@pytest.mark.parametrize(
    ("length", "width", "samples"), [(0, 10, 1), (10, 0, 1), (0, 0, 1), (0, 5, 3)]
)
def test_empty_image_reads_as_tifffile_gives_it(length: int, width: int, samples: int) -> None:
    data = _empty(length, width, samples)
    _quiet_tifffile()
    with tifffile.TiffFile(io.BytesIO(data)) as theirs:
        page_facts = (theirs.pages[0].shape, theirs.pages[0].axes)
        series = theirs.series[0]
        expected = series.asarray()
        their_zarr = zarr.open(series.aszarr(), mode="r+")
        zarr_shape = their_zarr.shape
    with TiffFile(data) as ours:
        page = ours.pages[0]
        assert (page.shape, page.axes) == page_facts
        result = page.asarray()
        assert result.shape == page.shape
        assert result.size == 0
        assert result.dtype == expected.dtype
        assert ours.series[0].shape == expected.shape
        np.testing.assert_array_equal(ours.series[0].asarray(), expected)
        array = zarr.open(ours.series[0].aszarr(), mode="r")
        assert array.shape == zarr_shape
        assert array[...].shape == expected.shape


@pytest.mark.parametrize("shape", [(0, 10), (3, 0, 4), (0, 5, 3)])
@pytest.mark.parametrize("imagej", [False, True])
def test_empty_arrays_written_by_tifffile(
    tmp_path: Path, shape: tuple[int, ...], imagej: bool
) -> None:
    """tifffile writes an empty array as a page of no size and the array's shape in its
    description: the series has that shape, through the store too."""
    path = tmp_path / "empty.tif"
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore"
        )  # tifffile: "writing zero-size array to nonconformant TIFF"
        tifffile.imwrite(path, np.empty(shape, np.uint8), imagej=imagej)
    _quiet_tifffile()
    with tifffile.TiffFile(path) as theirs:
        expected = [(s.shape, s.axes, s.asarray().shape) for s in theirs.series]
    with TiffFile(path) as ours:
        assert [(s.shape, s.axes, s.asarray().shape) for s in ours.series] == expected
        for chunkmode in (0, 2):
            array = zarr.open(ours.series[0].aszarr(chunkmode=chunkmode), mode="r")
            assert array.shape == expected[0][0]
            assert array[...].size == 0


# -- IFD chains ---------------------------------------------------------------------------
def _chain(count: int, *, loop_to: int | None = None, last_next: int | None = None) -> bytes:
    """count one-strip 4 x 4 pages, page i filled with the value i, linked in order; the
    last links back to page loop_to, or to last_next."""
    builder = TiffBuilder()
    offsets = []
    for i in range(count):
        strip = builder.blob(bytes([i]) * 16)
        offsets.append(builder.ifd(gray_entries(4, 4, strip, 16)))
    for here, there in itertools.pairwise(offsets):
        builder.link(here, there)
    if loop_to is not None:
        builder.link(offsets[-1], offsets[loop_to])
    if last_next is not None:
        builder.link(offsets[-1], last_next)
    builder.first(offsets[0])
    return builder.bytes()


def _libtiff_directories(path: Path) -> int:
    done = subprocess.run(
        [_tool("tiffinfo"), str(path)], check=False, capture_output=True, text=True, timeout=60
    )
    return done.stdout.count("TIFF Directory at offset")


@pytest.mark.parametrize(
    ("count", "loop_to", "last_next"),
    [(3, 0, None), (3, 1, None), (1, 0, None), (3, None, 10**6), (3, None, 3)],
    ids=["loop-to-first", "loop-to-second", "loop-to-itself", "past-the-end", "in-header"],
)
def test_broken_chain_reads_every_reachable_page_with_one_warning(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    count: int,
    loop_to: int | None,
    last_next: int | None,
) -> None:
    path = tmp_path / "chain.tif"
    path.write_bytes(_chain(count, loop_to=loop_to, last_next=last_next))
    with TiffFile(path) as ours:
        assert len(ours.pages) == _libtiff_directories(path) == count
        values = [int(page.asarray()[0, 0]) for page in ours.pages]
        assert values == list(range(count))
        assert ours.series[0].shape == ((count, 4, 4) if count > 1 else (4, 4))
    messages = [r.getMessage() for r in caplog.records if r.name == "napari_tiffzarr"]
    assert len(messages) == 1, messages
    # tifffile stops at the loop's target (and never ends iterating a loop that it has
    # not counted first): the pages it gives are ours, pixel for pixel
    _quiet_tifffile()
    with tifffile.TiffFile(path) as theirs:
        reached = len(theirs.pages)
        assert reached >= 1
        for index in range(reached):
            np.testing.assert_array_equal(ours_page(path, index), theirs.pages[index].asarray())


def ours_page(path: Path, index: int) -> np.ndarray:
    with TiffFile(path) as tif:
        return tif.pages[index].asarray()


@pytest.mark.parametrize("first", [0, 10**6], ids=["zero", "past-the-end"])
def test_bogus_first_offset_is_a_file_without_pages(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, first: int
) -> None:
    data = bytearray(_chain(2))
    struct.pack_into("<I", data, 4, first)
    path = tmp_path / "first.tif"
    path.write_bytes(bytes(data))
    caplog.set_level(logging.WARNING, logger="napari_tiffzarr")
    _quiet_tifffile()
    with tifffile.TiffFile(path) as theirs:
        expected = (len(theirs.pages), len(theirs.series))
    with TiffFile(path) as ours:
        assert (len(ours.pages), len(ours.series)) == expected == (0, 0)
        with pytest.raises(TiffNoPagesError, match="no image"):
            ours.pages[0]
        with pytest.raises(TiffFileError, match="no image"):
            ours.asarray()
    messages = [r.getMessage() for r in caplog.records if r.name == "napari_tiffzarr"]
    assert len(messages) == 1, messages


# -- signed 24-bit samples ----------------------------------------------------------------
def test_signed_24_bit_samples_read_as_gdal_reads_them(tmp_path: Path) -> None:
    rng = np.random.default_rng(24)
    values = rng.integers(-(2**23), 2**23, (6, 10), dtype=np.int32)
    values[0, :4] = [-(2**23), -1, 0, 2**23 - 1]
    # GDAL's 24-bit samples in a little-endian file: the three bytes most significant first
    stored = (values.astype(np.int64) & 0xFFFFFF).astype(">u4").view(np.uint8)
    data = stored.reshape(-1, 4)[:, 1:].tobytes()
    builder = TiffBuilder()
    half = len(data) // 2  # two strips of three rows
    first, second = builder.blob(data[:half]), builder.blob(data[half:])
    entries = gray_entries(6, 10, first, half, bits=24, sampleformat=2)
    entries |= {273: (LONG, [first, second]), 278: (LONG, [3]), 279: (LONG, [half, half])}
    builder.first(builder.ifd(entries))
    path = tmp_path / "int24.tif"
    path.write_bytes(builder.bytes())
    converted = tmp_path / "gdal.tif"
    subprocess.run(
        [_tool("gdal_translate"), "-q", "-of", "GTiff", "-ot", "Int32", str(path), str(converted)],
        check=True,
        timeout=60,
    )
    gdal = tifffile.imread(converted).astype(np.int64)
    # GDAL (3.6) reads the 24 bits but types the band UInt32: the sign is ours to extend
    gdal = np.where(gdal >= 2**23, gdal - 2**24, gdal)
    with TiffFile(path) as ours:
        page = ours.pages[0]
        result = page.asarray()
        assert (page.dtype, result.dtype) == (np.dtype("int32"), np.dtype("int32"))
        np.testing.assert_array_equal(result, gdal)
        np.testing.assert_array_equal(result, values)
        np.testing.assert_array_equal(zarr.open(page.aszarr(), mode="r")[...], values)


# -- old-style JPEG -----------------------------------------------------------------------
def _segments(stream: bytes) -> list[tuple[int, int, int]]:
    """(marker, start of the segment, end of the segment) up to the scan header."""
    found, i = [], 2
    while True:
        marker, size = struct.unpack_from(">HH", stream, i)
        found.append((marker, i, i + 2 + size))
        if marker == 0xFFDA:
            return found
        i += 2 + size


def _baseline_jpeg() -> tuple[np.ndarray, bytes]:
    y, x = np.mgrid[0:48, 0:64]
    image = np.stack([x * 4, y * 5, (x + y) * 2], axis=-1).astype(np.uint8)
    image[10:30, 20:40] = (250, 30, 60)  # sharp colour edges: chroma subsampling shows
    return image, bytes(imagecodecs.jpeg8_encode(image, level=90, subsampling="420"))


def _ycbcr_entries(length: int, width: int) -> dict[int, tuple[int, list[int]]]:
    return {
        256: (LONG, [width]),
        257: (LONG, [length]),
        258: (SHORT, [8, 8, 8]),
        259: (SHORT, [6]),
        262: (SHORT, [6]),
        277: (SHORT, [3]),
        278: (LONG, [length]),
        512: (SHORT, [1]),
        530: (SHORT, [2, 2]),
    }


def _ojpeg_file(form: str) -> bytes:
    image, stream = _baseline_jpeg()
    segments = _segments(stream)
    scan_start = segments[-1][2]
    entropy = stream[scan_start:]  # the entropy-coded data and EOI
    builder = TiffBuilder()
    entries = _ycbcr_entries(*image.shape[:2])
    if form == "interchange-joined":
        # the whole stream at JPEGInterchangeFormat; the strip is its scan, inside it
        start = builder.blob(stream)
        entries |= {513: (LONG, [start]), 514: (LONG, [len(stream)])}
        entries |= {273: (LONG, [start + scan_start]), 279: (LONG, [len(entropy)])}
    elif form == "interchange-apart":
        # the stream's headers at JPEGInterchangeFormat, the scan in a strip of its own
        headers = builder.blob(stream[:scan_start])
        strip = builder.blob(entropy[:-2])  # without EOI, as such writers left it
        entries |= {513: (LONG, [headers]), 514: (LONG, [scan_start])}
        entries |= {273: (LONG, [strip]), 279: (LONG, [len(entropy) - 2])}
    else:
        # tables in tags: DQT and DHT split into the tables the tags point at
        qtables: dict[int, int] = {}
        htables: dict[int, int] = {}
        for marker, start, end in segments:
            payload = stream[start + 4 : end]
            while payload and marker == 0xFFDB:
                qtables[payload[0] & 15] = builder.blob(payload[1:65])
                payload = payload[65:]
            while payload and marker == 0xFFC4:
                size = 17 + sum(payload[1:17])
                htables[payload[0]] = builder.blob(payload[1:size])
                payload = payload[size:]
        strip = builder.blob(entropy)
        entries |= {
            273: (LONG, [strip]),
            279: (LONG, [len(entropy)]),
            519: (LONG, [qtables[0], qtables[1], qtables[1]]),
            520: (LONG, [htables[0x00], htables[0x01], htables[0x01]]),
            521: (LONG, [htables[0x10], htables[0x11], htables[0x11]]),
        }
    builder.first(builder.ifd(entries))
    return builder.bytes()


def _tiff2rgba(path: Path, tmp_path: Path) -> np.ndarray:
    out = tmp_path / "rgba.tif"
    subprocess.run(
        [_tool("tiff2rgba"), str(path), str(out)], check=False, capture_output=True, timeout=60
    )
    rgba: np.ndarray = tifffile.imread(out)
    return rgba[..., :3]


@pytest.mark.parametrize("form", ["interchange-joined", "interchange-apart", "tables-in-tags"])
def test_old_style_jpeg_reads_as_libtiff_reads_it(tmp_path: Path, form: str) -> None:
    path = tmp_path / f"{form}.tif"
    path.write_bytes(_ojpeg_file(form))
    libtiff = _tiff2rgba(path, tmp_path)
    _quiet_tifffile()
    with tifffile.TiffFile(path) as theirs, pytest.raises(Exception, match="JPEG"):
        theirs.pages[0].asarray()  # what the issue is about: tifffile cannot
    with TiffFile(path) as ours:
        page = ours.pages[0]
        result = page.asarray()
        assert (page.shape, result.dtype) == (libtiff.shape, np.dtype("uint8"))
        difference = np.abs(result.astype(int) - libtiff)
        # libjpeg interpolates chroma where libtiff repeats it; we undo the interpolation
        # to within the decoder's rounding
        assert difference.mean() < 0.5, difference.mean()
        assert difference.max() <= 4, difference.max()
        np.testing.assert_array_equal(zarr.open(page.aszarr(), mode="r")[...], result)


def test_old_style_jpeg_without_headers_is_refused(tmp_path: Path) -> None:
    data = _ojpeg_file("tables-in-tags")
    with TiffFile(data) as tif:
        del tif.pages[0].ifd.tags[519]  # no quantization tables: nothing to decode with
        with pytest.raises(TiffFileError, match="no JPEG headers"):
            tif.pages[0].asarray()
