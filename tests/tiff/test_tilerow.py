"""Rows of tiles decoded in one call (tilerow): the pixels tifffile reads, for every coding
given to libtiff, and the tile-by-tile decode, with its messages, where libtiff refuses
or the streams' checksums do not hold."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
import zarr

from napari_tiffzarr import TiffFile, TiffFileError
from napari_tiffzarr.store import ZarrTiffStore
from napari_tiffzarr.store.scheduler import ChunkCache, ChunkReader
from napari_tiffzarr.tiff import codecs, tilerow
from napari_tiffzarr.tiff.tilerow import decode_tile_row

# 5 x 5 tiles of 64 x 128, the last row and column partly outside the image; chunks of
# 2 x 2 tiles, so rows of whole chunks, rows cut by the image's edge and edge chunks
SHAPE = (300, 520)
TILE = (64, 128)
CHUNK = (128, 256)


def _data(dtype: str, samples: int, seed: int = 0) -> np.ndarray:
    shape = SHAPE + ((samples,) if samples > 1 else ())
    values = np.random.default_rng(seed).random(shape) * 1000 - (500 if dtype[0] in "if" else 0)
    return values.astype(dtype)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """What each call of the one-call decode answered."""
    answers: list[bool] = []

    def counted(*args: Any) -> bool:
        answers.append(decode_tile_row(*args))
        return answers[-1]

    monkeypatch.setattr(codecs, "decode_tile_row", counted)
    return answers


def _read(path: Path, **options: Any) -> tuple[np.ndarray, ZarrTiffStore]:
    store = ZarrTiffStore(TiffFile(path).series[0], chunkshape=CHUNK, cachesize=0, **options)
    return zarr.open_array(store, mode="r")[...], store


BATCHED: list[tuple[str, str, bool, int, str]] = [
    ("uint8", "zlib", False, 1, "<"),
    ("uint8", "zlib", True, 3, ">"),  # bytes have no order: big-endian files too
    ("uint16", "zlib", True, 1, "<"),
    ("int16", "zlib", True, 1, "<"),
    ("int32", "zlib", True, 2, "<"),
    ("uint64", "zlib", False, 1, "<"),
    ("float32", "zlib", False, 1, "<"),
    ("float64", "zlib", False, 3, "<"),
]
TILE_BY_TILE: list[tuple[str, str, bool, int, str]] = [
    ("uint16", "zstd", True, 1, "<"),  # no checksum to prove libtiff's result
    ("uint16", "lzw", True, 1, "<"),
    ("uint8", "packbits", False, 1, "<"),
    ("float32", "zlib", True, 1, "<"),  # the floating point predictor
    ("uint16", "zlib", True, 1, ">"),  # samples to swap after decoding
]


Case = tuple[str, str, bool, int, str]  # dtype, compression, predictor, samples, byte order


def _written(path: Path, case: Case) -> np.ndarray:
    """The case's data, written to path in tiles; the data."""
    dtype, compression, predictor, samples, byteorder = case
    data = _data(dtype, samples)
    tifffile.imwrite(
        path,
        data,
        tile=TILE,
        compression=compression,
        predictor=predictor,
        byteorder=byteorder,
        photometric="rgb" if samples == 3 else "minisblack",
        planarconfig="contig",
        metadata=None,
    )
    return data


@pytest.mark.parametrize("case", BATCHED, ids=str)
def test_rows_of_tiles_decode_in_one_call_as_tifffile_reads_them(
    tmp_path: Path, calls: list[bool], case: Case
) -> None:
    path = tmp_path / "tiles.tif"
    data = _written(path, case)
    got, store = _read(path)
    np.testing.assert_array_equal(got, tifffile.imread(path))
    np.testing.assert_array_equal(got, data)
    # every row of every chunk: 3 rows of 3 chunks, the chunk rows 2, 2 and 1 tiles high
    assert calls == [True] * (3 * (2 + 2 + 1))
    store.close()


def test_a_chunk_read_ahead_decodes_in_one_call_a_part(tmp_path: Path, calls: list[bool]) -> None:
    """Read ahead, a chunk is cut into as many parts as threads share it, each one call."""
    data = _data("uint16", 1)
    path = tmp_path / "tiles.tif"
    tifffile.imwrite(path, data, tile=TILE, compression="zlib", predictor=True, metadata=None)
    store = ZarrTiffStore(TiffFile(path).series[0], chunkshape=(256, 512))
    reader = ChunkReader(store.index, ChunkCache(1 << 24), None, parts_ahead=2)
    grid = store.index.levels[0].grid
    ref = grid.chunk_ref((0, 0))
    assert ref is not None
    chunk = reader.read(ref, ahead=True)
    assert chunk is not None
    np.testing.assert_array_equal(chunk.reshape(256, 512), data[:256, :512])
    assert calls == [True, True]  # 4 rows of 4 tiles: two parts of two rows
    store.close()


def test_checksums_combine_as_zlib_computes_them() -> None:
    parts = [bytes(range(256)) * 40, b"tiles" * 999, np.arange(70_000, dtype=np.uint16).tobytes()]
    combined = zlib.adler32(parts[0])
    for part in parts[1:]:
        combined = tilerow._adler32_combine(combined, zlib.adler32(part), len(part))
    assert combined == zlib.adler32(b"".join(parts))


@pytest.mark.parametrize("case", TILE_BY_TILE, ids=str)
def test_other_codings_decode_tile_by_tile(tmp_path: Path, calls: list[bool], case: Case) -> None:
    path = tmp_path / "tiles.tif"
    _written(path, case)
    got, store = _read(path)
    np.testing.assert_array_equal(got, tifffile.imread(path))
    assert calls == []
    store.close()


def test_separate_planes_decode_in_one_call_a_plane(tmp_path: Path, calls: list[bool]) -> None:
    data = _data("uint16", 3)
    path = tmp_path / "planar.tif"
    tifffile.imwrite(
        path, data, tile=TILE, compression="zlib", photometric="rgb", planarconfig="separate"
    )
    got, store = _read(path)
    np.testing.assert_array_equal(got, tifffile.imread(path))
    assert calls
    assert all(calls)
    store.close()


def _break(path: Path, tile: int, how: Callable[[bytearray, int, int], None]) -> None:
    with tifffile.TiffFile(path) as tif:
        offset = int(tif.pages[0].dataoffsets[tile])
        count = int(tif.pages[0].databytecounts[tile])
    raw = bytearray(path.read_bytes())
    how(raw, offset, count)
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize(
    "how",
    [
        lambda raw, offset, count: raw.__setitem__(slice(offset, offset + 8), b"\xff" * 8),
        # the stream cut short: the tile's last bytes overwritten with zeros
        lambda raw, offset, count: raw.__setitem__(
            slice(offset + count // 2, offset + count), bytes(count - count // 2)
        ),
    ],
    ids=["garbage", "truncated"],
)
def test_a_row_libtiff_refuses_is_decoded_tile_by_tile(
    tmp_path: Path, calls: list[bool], how: Callable[[bytearray, int, int], None]
) -> None:
    """A broken tile makes libtiff refuse its row, or the row's checksum fail (a stream
    whose damaged end still inflates to a whole tile, which libtiff accepts): the tiles
    are decoded one by one, so the error names the tile, and with on_error='fill' only
    that tile shows the fill."""
    data = _data("uint16", 1)
    path = tmp_path / "broken.tif"
    tifffile.imwrite(path, data, tile=TILE, compression="zlib", metadata=None)
    _break(path, 6, how)  # row 1, column 1: the first chunk's second row
    with pytest.raises(TiffFileError, match="segment 6"):
        _read(path)
    assert False in calls
    calls.clear()
    got, store = _read(path, on_error="fill", fillvalue=7)
    expected = data.copy()
    expected[64:128, 128:256] = 7
    np.testing.assert_array_equal(got, expected)
    assert calls.count(False) == 1  # that row alone; the others in one call each
    assert store.errors == 1
    store.close()
