"""Pages that decode alike share one decoder in a store's reader; pages that differ in
anything decoding depends on (predictor, JPEG tables) each have their own.  Whatever is
shared, the pixels are tifffile's and an error names the page it happened in."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

from napari_tiffzarr import TiffFile, TiffFileError
from napari_tiffzarr.store import ZarrTiffStore
from napari_tiffzarr.store.scheduler.cache import ChunkCache
from napari_tiffzarr.store.scheduler.chunks import DECODERS_KEPT, ChunkReader
from napari_tiffzarr.tiff.series.base import TiffPageSeries
from ome_xml import channel_files_xml
from tiffbuild import broken_page_stack


def _reader(series: TiffPageSeries) -> ChunkReader:
    """A reader of a store's chunks, on its own cache: what the store's scheduler makes.
    The store stays open: closing it would close the file."""
    return ChunkReader(ZarrTiffStore(series).index, ChunkCache(), None)


def _store_pixels(path: Path) -> np.ndarray:
    with TiffFile(path) as tif, ZarrTiffStore(tif.series[0]) as store:
        return np.asarray(zarr.open_array(store, mode="r")[:])


def test_alike_pages_share_one_decoder(tmp_path: Path) -> None:
    path = tmp_path / "stack.tif"
    data = np.random.default_rng(3).integers(0, 60000, (6, 40, 30), np.uint16)
    # page 0 holds a description the others have not: it still decodes as they do
    tifffile.imwrite(path, data, compression="zlib", predictor=True, rowsperstrip=16)
    with TiffFile(path) as tif:
        pages = list(tif.series[0].pages)
        reader = _reader(tif.series[0])
        decoders = {id(reader.decoder(page)) for page in pages if page is not None}
        assert len(decoders) == 1
        assert reader.decoder(pages[0]) is reader.decoder(pages[5])
    np.testing.assert_array_equal(_store_pixels(path), tifffile.imread(path))


def _ome_dataset(
    folder: Path, channels: list[np.ndarray], options: list[dict[str, object]]
) -> Path:
    """A multi-file OME-TIFF dataset, one file per channel written with its options, linked
    by TiffData UUID FileName elements; returns the first file."""
    planes, length, width = channels[0].shape
    names = [f"c{c}.ome.tif" for c in range(len(channels))]
    uuids = [f"urn:uuid:{c:08d}-0000-0000-0000-000000000000" for c in range(len(channels))]
    for c, (data, extra) in enumerate(zip(channels, options, strict=True)):
        xml = channel_files_xml(
            names, uuids, c, planes=planes, length=length, width=width, dtype=data.dtype.name
        )
        tifffile.imwrite(
            folder / names[c],
            data,
            description=xml,
            metadata=None,
            photometric="minisblack",
            **extra,
        )
    return folder / names[0]


def test_files_alike_share_decoders_and_differing_in_predictor_do_not(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    channels = [rng.integers(0, 4000, (3, 24, 32), np.uint16) for _ in range(3)]
    with_predictor = {"compression": "zlib", "predictor": True}
    without = {"compression": "zlib"}
    path = _ome_dataset(tmp_path, channels, [with_predictor, without, with_predictor])
    with TiffFile(path) as tif:
        series = tif.series[0]
        assert series.shape == (3, 3, 24, 32)
        reader = _reader(series)
        decoders = [reader.decoder(p) for p in series.pages if p is not None]
        assert len(decoders) == 9
        assert all(d is decoders[0] for d in decoders[:3] + decoders[6:])  # across files
        assert all(d is decoders[3] for d in decoders[3:6])
        assert decoders[0] is not decoders[3]
    expected = np.stack(channels)
    with tifffile.TiffFile(path) as tif:
        np.testing.assert_array_equal(tif.series[0].asarray(), expected)
    np.testing.assert_array_equal(_store_pixels(path), expected)


@pytest.mark.skipif(shutil.which("tiffcp") is None, reason="libtiff's tiffcp is not installed")
def test_pages_differing_in_jpeg_tables_have_their_own_decoders(tmp_path: Path) -> None:
    """libtiff keeps JPEG's tables in JPEGTables and its tiles' streams abbreviated:
    decoding a page with another page's tables gives other pixels."""
    rng = np.random.default_rng(5)
    base = np.linspace(0, 255, 64 * 64).reshape(64, 64)
    sources = []
    for i in range(2):
        source = tmp_path / f"gray{i}.tif"
        noise = rng.integers(0, 40, (64, 64))
        tifffile.imwrite(source, (base * 0.8 + noise).astype(np.uint8), metadata=None)
        sources.append(source)
    path = tmp_path / "jpeg.tif"
    common = ["-t", "-w", "32", "-l", "32"]
    subprocess.run(["tiffcp", "-c", "jpeg:95", *common, sources[0], path], check=True)
    subprocess.run(["tiffcp", "-a", "-c", "jpeg:20", *common, sources[1], path], check=True)
    with TiffFile(path) as tif:
        series = tif.series[0]
        pages = [p for p in series.pages if p is not None]
        assert len(pages) == 2
        assert pages[0].jpegtables is not None
        assert pages[1].jpegtables is not None
        assert pages[0].jpegtables != pages[1].jpegtables
        reader = _reader(series)
        assert reader.decoder(pages[0]) is not reader.decoder(pages[1])
    expected = tifffile.imread(path)
    assert not np.array_equal(expected[0], expected[1])
    np.testing.assert_array_equal(_store_pixels(path), expected)


def test_a_shared_decoder_names_the_page_that_fails(tmp_path: Path) -> None:
    path = tmp_path / "broken.tif"
    data = broken_page_stack(path, broken=3)  # page 3's deflate stream is garbage
    with TiffFile(path) as tif, ZarrTiffStore(tif.series[0]) as store:
        array = zarr.open_array(store, mode="r")
        np.testing.assert_array_equal(array[:3], data[:3])  # decoded by the shared decoder
        with pytest.raises(TiffFileError, match=r"page 3: segment 0"):
            array[3]
        np.testing.assert_array_equal(array[4], data[4])


def test_the_decoders_kept_are_bounded(tmp_path: Path) -> None:
    """Pages of more kinds than the reader keeps decoders for: it keeps the most recent."""
    path = tmp_path / "kinds.tif"
    count = DECODERS_KEPT + 4
    frames = np.random.default_rng(6).integers(0, 255, (count, 40, 16), np.uint8)
    with tifffile.TiffWriter(path) as writer:
        for i, frame in enumerate(frames):
            # rows per strip is part of the coding: each page a kind of its own
            writer.write(frame, metadata=None, contiguous=False, rowsperstrip=i + 1)
    with TiffFile(path) as tif:
        pages = [tif.pages[i] for i in range(count)]
        reader = _reader(tif.series[0])
        decoders = [reader.decoder(page) for page in pages]
        assert len({id(d) for d in decoders}) == count
        assert len(reader._decoders) == DECODERS_KEPT
        assert decoders[-1] in reader._decoders.values()
        assert decoders[0] not in reader._decoders.values()
