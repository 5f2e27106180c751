"""The decoded-chunk cache and chunks of several tiles (chunkshape).

Pixels are compared with tifffile's; the cache's own bookkeeping with counts computed
from the arrays put in.  Nothing here is timed.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
import zarr

from napari_tiffzarr import TiffFile, TiffFileError
from napari_tiffzarr.store import TiffChunkWarning, ZarrTiffStore
from napari_tiffzarr.store.scheduler import ChunkCache
from sparse_segments import make_sparse


def _image(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, shape, dtype=np.uint8)


def _write(path: Path, data: np.ndarray, **kwargs: Any) -> Path:
    tifffile.imwrite(path, data, metadata=None, **kwargs)
    return path


@pytest.fixture
def tiled(tmp_path: Path) -> tuple[Path, np.ndarray]:
    # 5 x 7 tiles of 16 x 32, the last row and column partly outside the image
    data = _image((70, 210, 3))
    return _write(tmp_path / "tiled.tif", data, tile=(16, 32), photometric="rgb"), data


def _array(path: Path, **kwargs: Any) -> tuple[zarr.Array, ZarrTiffStore]:
    store = ZarrTiffStore(TiffFile(path).series[0], **kwargs)
    return zarr.open_array(store, mode="r"), store


# -- the cache on its own ---------------------------------------------------------------
def test_cache_bound_and_lru_order() -> None:
    cache = ChunkCache(maxbytes=3000)
    arrays = {i: np.full(1000, i, np.uint8) for i in range(5)}
    for i in range(3):
        cache.put(("p", i), arrays[i], cache.generation)
    assert cache.nbytes == 3000
    assert len(cache) == 3
    assert cache.get(("p", 0)) is not None  # now the most recently used
    cache.put(("p", 3), arrays[3], cache.generation)
    assert cache.nbytes <= 3000
    assert ("p", 1) not in cache  # the least recently used went first
    assert ("p", 0) in cache
    assert ("p", 3) in cache
    cache.put(("p", 4), np.zeros(4000, np.uint8), cache.generation)  # larger than the bound
    assert ("p", 4) not in cache
    assert cache.nbytes <= 3000
    cache.maxbytes = 1000
    assert cache.nbytes <= 1000
    assert len(cache) == 1


def test_cache_drops_a_chunk_decoded_across_a_write() -> None:
    cache = ChunkCache(maxbytes=10_000)
    before = cache.generation
    cache.invalidate(("file", 8))
    cache.put((("file", 8), 0), np.zeros(10, np.uint8), before)
    assert len(cache) == 0
    cache.put((("file", 8), 0), np.zeros(10, np.uint8), cache.generation)
    cache.put((("file", 99), 0), np.zeros(10, np.uint8), cache.generation)
    cache.invalidate(("file", 8))
    assert (("file", 8), 0) not in cache
    assert (("file", 99), 0) in cache


def test_cached_arrays_are_read_only() -> None:
    cache = ChunkCache()
    array = np.zeros(10, np.uint8)
    cache.put(("p", 0), array, cache.generation)
    got = cache.get(("p", 0))
    assert got is not None
    with pytest.raises(ValueError, match="read-only"):
        got[0] = 1


def test_negative_sizes_refused(tiled: tuple[Path, np.ndarray]) -> None:
    with pytest.raises(ValueError, match=">= 0"):
        ChunkCache(-1)
    with pytest.raises(ValueError, match="cachesize"):
        ZarrTiffStore(TiffFile(tiled[0]).series[0], cachesize=-5)


# -- the cache in the store -------------------------------------------------------------
def test_hits_return_identical_pixels(tiled: tuple[Path, np.ndarray]) -> None:
    path, data = tiled
    array, store = _array(path)
    first = array[5:60, 17:190]
    misses = store.cache.misses
    assert len(store.cache) > 0
    second = array[5:60, 17:190]
    np.testing.assert_array_equal(first, data[5:60, 17:190])
    np.testing.assert_array_equal(second, first)
    assert store.cache.misses == misses  # nothing decoded again
    assert store.cache.hits > 0
    store.close()


def test_one_read_of_a_chunk_counts_once(tiled: tuple[Path, np.ndarray]) -> None:
    """The store looks in the cache before queueing a chunk and the decoding read looks
    again: a chunk read cold is still one miss, and read again one hit."""
    path, _ = tiled
    array, store = _array(path)
    region = (slice(5, 60), slice(17, 190))
    chunks = {
        (row, col)
        for row in range(5 // array.chunks[0], (60 - 1) // array.chunks[0] + 1)
        for col in range(17 // array.chunks[1], (190 - 1) // array.chunks[1] + 1)
    }
    array[region]
    assert (store.cache.misses, store.cache.hits) == (len(chunks), 0)
    array[region]
    assert (store.cache.misses, store.cache.hits) == (len(chunks), len(chunks))
    store.close()


def test_store_bound_honoured(tiled: tuple[Path, np.ndarray]) -> None:
    path, data = tiled
    tile_bytes = 16 * 32 * 3
    array, store = _array(path, cachesize=3 * tile_bytes)
    np.testing.assert_array_equal(array[:], data)
    assert store.cache.maxbytes == 3 * tile_bytes
    assert 0 < store.cache.nbytes <= 3 * tile_bytes
    assert len(store.cache) == 3
    np.testing.assert_array_equal(array[:], data)  # evicting and re-reading
    store.close()


def test_cache_off_still_reads(tiled: tuple[Path, np.ndarray]) -> None:
    path, data = tiled
    array, store = _array(path, cachesize=0)
    np.testing.assert_array_equal(array[:], data)
    assert len(store.cache) == 0
    store.close()


def test_stores_of_one_file_share_the_cache(tiled: tuple[Path, np.ndarray]) -> None:
    path, _ = tiled
    tif = TiffFile(path)
    one = ZarrTiffStore(tif.series[0])
    two = ZarrTiffStore(tif.series[0], fillvalue=7)
    other = ZarrTiffStore(TiffFile(path).series[0])
    assert one.cache is two.cache
    assert other.cache is not one.cache
    zarr.open_array(one, mode="r")[:16, :32]
    hits = one.cache.hits
    np.testing.assert_array_equal(
        zarr.open_array(one.with_read_only(), mode="r")[:16, :32], tiled[1][:16, :32]
    )
    assert one.cache.hits > hits
    one.close()
    other.close()


def test_close_empties(tiled: tuple[Path, np.ndarray]) -> None:
    path, _ = tiled
    array, store = _array(path)
    array[:]
    cache = store.cache
    assert len(cache) > 0
    store.close()
    assert len(cache) == 0
    assert cache.nbytes == 0


def test_a_write_invalidates(tmp_path: Path) -> None:
    data = _image((64, 96))
    path = _write(tmp_path / "raw.tif", data, tile=(16, 32))
    tif = TiffFile(path, mode="r+")
    writer = ZarrTiffStore(tif.series[0])
    reader = ZarrTiffStore(tif.series[0])  # shares the cache: must not see old pixels
    assert writer.cache is reader.cache
    written = zarr.open_array(writer, mode="r+")
    read = zarr.open_array(reader, mode="r")
    np.testing.assert_array_equal(read[:], data)
    assert len(reader.cache) == 12
    new = _image((20, 40), seed=3)
    written[10:30, 20:60] = new
    expected = data.copy()
    expected[10:30, 20:60] = new
    np.testing.assert_array_equal(read[:], expected)
    np.testing.assert_array_equal(written[:], expected)
    writer.close()
    np.testing.assert_array_equal(tifffile.imread(path), expected)


def test_frames_sharing_one_ifd_are_cached_apart(tmp_path: Path) -> None:
    """An ImageJ hyperstack's frames share their first IFD: the cache tells them apart."""
    data = np.arange(2 * 3 * 40 * 50, dtype=np.uint16).reshape(2, 3, 40, 50)
    path = _write(tmp_path / "stack.tif", data, imagej=True)
    array, store = _array(path)
    assert len({page.offset for page in store.series.pages}) == 1
    np.testing.assert_array_equal(array[:], data)
    np.testing.assert_array_equal(array[:], data)  # now from the cache
    assert len(store.cache) == 6
    store.close()


def test_concurrent_reads_with_a_small_cache(tiled: tuple[Path, np.ndarray]) -> None:
    path, data = tiled
    array, store = _array(path, cachesize=5 * 16 * 32 * 3, maxworkers=3)
    rng = np.random.default_rng(1)
    boxes = [(int(rng.integers(0, 50)), int(rng.integers(0, 180))) for _ in range(40)]
    errors: list[BaseException] = []

    def read(part: list[tuple[int, int]]) -> None:
        try:
            for y, x in part:
                np.testing.assert_array_equal(
                    array[y : y + 20, x : x + 30], data[y : y + 20, x : x + 30]
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=read, args=(boxes[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert store.cache.nbytes <= store.cache.maxbytes
    store.close()


# -- chunks of several tiles --------------------------------------------------------------
@pytest.mark.parametrize("chunkshape", [64, (32, 96), (1, 1), 10_000])
def test_chunkshape_reads_equal_tifffile(
    tiled: tuple[Path, np.ndarray], chunkshape: int | tuple[int, int]
) -> None:
    path, data = tiled
    array, store = _array(path, chunkshape=chunkshape)
    want = (chunkshape, chunkshape) if isinstance(chunkshape, int) else chunkshape
    # whole tiles, at least the size asked for, never more tiles than the page has
    rows = min(5, max(1, -(-want[0] // 16)))
    columns = min(7, max(1, -(-want[1] // 32)))
    assert array.chunks == (16 * rows, 32 * columns, 3)
    np.testing.assert_array_equal(array[:], data)
    np.testing.assert_array_equal(array[17:69, 33:201], data[17:69, 33:201])
    store.close()


def test_chunkshape_over_strips_and_a_stack(tmp_path: Path) -> None:
    data = _image((3, 45, 50))
    path = _write(tmp_path / "strips.tif", data, rowsperstrip=7)
    array, store = _array(path, chunkshape=20)
    assert array.chunks == (1, 21, 50)  # three strips of 7 rows, the whole width
    np.testing.assert_array_equal(array[:], data)
    np.testing.assert_array_equal(array[1, 5:44, 3:47], data[1, 5:44, 3:47])
    store.close()


def test_chunkshape_over_a_pyramid_and_sparse_tiles(tmp_path: Path) -> None:
    data = _image((128, 128, 3))
    path = tmp_path / "pyramid.tif"
    with tifffile.TiffWriter(path) as tif:
        tif.write(data, tile=(16, 16), photometric="rgb", subifds=1, compression="zlib")
        tif.write(data[::2, ::2], tile=(16, 16), photometric="rgb", subfiletype=1)
    group = zarr.open_group(ZarrTiffStore(TiffFile(path).series[0], chunkshape=48), mode="r")
    assert group["0"].chunks == (48, 48, 3)
    np.testing.assert_array_equal(group["0"][:], data)
    np.testing.assert_array_equal(group["1"][:], data[::2, ::2])


def test_chunkshape_over_sparse_tiles_reads_fill(tmp_path: Path) -> None:
    data = np.random.default_rng(2).integers(0, 60000, (64, 64), dtype=np.uint16)
    path = _write(tmp_path / "sparse.tif", data, tile=(16, 16))
    # the top-left 32 x 32 chunk has no tile at all, the next one tile of four
    make_sparse(path, [0, 1, 4, 5, 2])
    expected = data.copy()
    for tile in (0, 1, 4, 5, 2):
        y, x = divmod(tile, 4)
        expected[y * 16 : y * 16 + 16, x * 16 : x * 16 + 16] = 9
    array, store = _array(path, chunkshape=32, fillvalue=9)
    np.testing.assert_array_equal(array[:], expected)
    with tifffile.TiffFile(path) as tif:
        theirs = zarr.open_array(tif.aszarr(fillvalue=9), mode="r")[:]
    np.testing.assert_array_equal(array[:], theirs)
    store.close()


def test_chunkshape_refusals(tiled: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    path, _ = tiled
    series = TiffFile(path).series[0]
    with pytest.raises(ValueError, match="chunkmode 0"):
        ZarrTiffStore(series, chunkshape=64, chunkmode=2)
    for bad in (0, (1, 2, 3), -4, (16, "x")):
        with pytest.raises(ValueError, match="chunkshape"):
            ZarrTiffStore(series, chunkshape=bad)  # type: ignore[arg-type]
    store = ZarrTiffStore(series, chunkshape=64)
    with pytest.raises(ValueError, match="several strips or tiles"):
        store.write_fsspec(tmp_path / "refs.json", url="file://" + str(tmp_path))
    raw = _write(tmp_path / "raw.tif", _image((64, 64)), tile=(16, 16))
    writable = zarr.open_array(ZarrTiffStore(TiffFile(raw, mode="r+").series[0], chunkshape=32))
    with pytest.raises(ValueError, match="chunkshape"):
        writable[:32, :32] = 1
    np.testing.assert_array_equal(tifffile.imread(raw), _image((64, 64)))


def test_a_corrupt_tile_fills_only_itself_in_a_spanned_chunk(tmp_path: Path) -> None:
    data = np.full((64, 64), 200, np.uint8)
    path = _write(tmp_path / "corrupt.tif", data, tile=(16, 16), compression="zlib")
    with tifffile.TiffFile(path) as tif:
        offset = int(tif.pages[0].dataoffsets[5])
    raw = bytearray(path.read_bytes())
    raw[offset : offset + 8] = b"\xff" * 8  # tile 5 (row 1, column 1) no longer inflates
    path.write_bytes(bytes(raw))
    raising, store = _array(path, chunkshape=64)
    with pytest.raises(TiffFileError, match="segment 5"):
        raising[:]
    store.close()
    filling, store = _array(path, chunkshape=64, on_error="fill", fillvalue=3)
    with pytest.warns(TiffChunkWarning, match="segment 5"):
        got = filling[:]
    expected = data.copy()
    expected[16:32, 16:32] = 3
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(filling[:], expected)  # cached: no second warning needed
    assert store.errors == 1
    store.close()
