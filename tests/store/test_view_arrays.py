"""The arrays a viewer gets (open_arrays(views=True)): every selection reads what numpy's
indexing of tifffile's pixels gives, whichever way the chunks come back, and a selection
is one view for the motion however many chunks it holds."""

from __future__ import annotations

import pickle
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
import zarr
from store_cases import BYTEORDERS, CASES, Target, both_stores
from test_scheduler import _cached_pages, _stack, _until
from zarr.core.array import AsyncArray

from napari_tiffzarr import TiffFile
from napari_tiffzarr.errors import TiffFileError
from napari_tiffzarr.store import ZarrTiffStore, open_arrays
from napari_tiffzarr.store.arrays import _ViewArray
from napari_tiffzarr.store.outputs import MIN_KEPT_BYTES
from napari_tiffzarr.store.scheduler import ChunkReader, TiffChunkWarning
from ngff_files import write_rgb_pyramid, write_tzcyx

MakeCase = Callable[..., tuple[Path, Target]]


def selections(shape: tuple[int, ...], chunks: tuple[int, ...]) -> Iterator[Any]:
    """Selections napari, dask and a user make: whole, planes, boxes across chunk edges,
    strides, negative and single indices, empty ones, and an Ellipsis."""
    yield ...
    yield ()
    yield tuple(slice(None) for _ in shape)
    lead = shape[:-2]
    middle = tuple(n // 2 for n in shape)
    if lead:
        yield middle[0]
        yield (-1,)
        yield (*middle[: len(lead)], ...)
    # a box from just before the first chunk edge to the middle, in every dimension
    yield tuple(
        slice(max(0, c - 1), max(1, n // 2 + 1)) for n, c in zip(shape, chunks, strict=True)
    )
    yield tuple(slice(None, None, 3 if n > 3 else 1) for n in shape)  # napari's contrast
    yield tuple(slice(1, None, 2) for _ in shape)
    yield tuple(n - 1 for n in shape)  # one pixel, a scalar
    yield tuple(-n for n in shape)
    yield (slice(2, 2),)  # empty
    yield (..., slice(0, 1))
    if len(shape) >= 2:
        yield (..., middle[-2], slice(None))  # one row through every chunk


def expected_arrays(theirs: Any) -> dict[str, np.ndarray]:
    node = zarr.open(theirs, mode="r")
    if isinstance(node, zarr.Array):
        return {"": node[...]}
    return {name: node[name][...] for name in sorted(node.array_keys(), key=int)}


def assert_same(got: Any, expected: Any, what: str, *, same_type: bool = True) -> None:
    """Same pixels, shape and dtype; and the same type where zarr answers both (zarr
    answers one pixel as a 0-d array where numpy gives a scalar)."""
    if same_type:
        assert type(got) is type(expected), what
    got, expected = np.asarray(got), np.asarray(expected)
    assert (got.shape, got.dtype) == (expected.shape, expected.dtype), what
    np.testing.assert_array_equal(got, expected, err_msg=what)


@pytest.mark.parametrize("chunkshape", [None, 16], ids=["tiles", "16"])
@pytest.mark.parametrize("byteorder", BYTEORDERS)
@pytest.mark.parametrize("name", list(CASES))
def test_every_selection_reads_tifffiles_pixels(
    case_file: MakeCase, name: str, byteorder: str, chunkshape: int | None
) -> None:
    path, target = case_file(name, byteorder, "zlib")
    with both_stores(path, target) as (_, theirs):
        expected = expected_arrays(theirs)
    kind, index = target
    with TiffFile(path) as tif:
        part = tif.pages[index] if kind == "page" else tif.series[index]
        store = part.aszarr(chunkshape=chunkshape, readahead=True)
        viewed = open_arrays(store, views=True)
        plain = open_arrays(store)
        assert len(viewed) == len(expected)
        for level, (array, want) in enumerate(zip(viewed, expected.values(), strict=True)):
            assert isinstance(array, zarr.Array)
            assert isinstance(array.async_array, _ViewArray)
            assert (array.shape, array.dtype) == (want.shape, want.dtype)
            for selection in selections(array.shape, array.chunks):
                what = f"{name} {byteorder} level {level} [{selection}]"
                assert_same(array[selection], plain[level][selection], what)
                assert_same(array[selection], want[selection], what, same_type=False)
        store.close()


@pytest.mark.parametrize(
    ("write", "moved"),
    [
        (write_rgb_pyramid, lambda a: np.moveaxis(a, -1, 0)),  # YXS served as CYX
        (write_tzcyx, lambda a: a.transpose(0, 2, 1, 3, 4)),  # ImageJ's TZCYX as TCZYX
    ],
    ids=["rgb-pyramid", "tzcyx"],
)
def test_the_ngff_layout_reads_the_served_order(
    tmp_path: Path, write: Callable[[Path], Any], moved: Callable[[np.ndarray], np.ndarray]
) -> None:
    """Served in NGFF's order, a chunk's stored bytes are turned around: by zarr's
    transpose codec on zarr's path, by the view on ours."""
    written = write(tmp_path / "ngff.tif")
    levels = written if isinstance(written, list) else [written]
    with TiffFile(tmp_path / "ngff.tif") as tif:
        store = ZarrTiffStore(tif.series[0], layout="ngff", chunkshape=16)
        assert all(level.grid.order for level in store.index.levels)
        viewed, plain = open_arrays(store, views=True), open_arrays(store)
        for array, other, level in zip(viewed, plain, levels, strict=True):
            want = moved(level)
            for selection in selections(array.shape, array.chunks):
                assert_same(array[selection], other[selection], f"[{selection}]")
                assert_same(array[selection], want[selection], f"[{selection}]", same_type=False)
        store.close()


@pytest.mark.parametrize("fillvalue", [None, 7])
def test_missing_tiles_show_the_fill_value(case_file: MakeCase, fillvalue: int | None) -> None:
    path, target = case_file("sparse_tiles", "<", "none")
    with both_stores(path, target, fillvalue=fillvalue) as (ours, theirs):
        want = expected_arrays(theirs)[""]
        (array,) = open_arrays(ours, views=True)
        for selection in selections(array.shape, array.chunks):
            assert_same(array[selection], want[selection], f"[{selection}]", same_type=False)


def _grid_file(path: Path, length: int = 96, seed: int = 8) -> np.ndarray:
    """length x 96 pixels in tiles of 16: a grid of length / 16 x 6 chunks."""
    data = np.random.default_rng(seed).integers(0, 60000, (length, 96), np.uint16)
    tifffile.imwrite(path, data, tile=(16, 16), compression="zlib", metadata=None)
    return data


def test_a_selection_within_one_chunk_is_that_chunk_read_only(tmp_path: Path) -> None:
    data = _grid_file(tmp_path / "grid.tif")
    with TiffFile(tmp_path / "grid.tif") as tif:
        store = tif.series[0].aszarr()
        (array,) = open_arrays(store, views=True)
        first, again = array[17:30, 20:31], array[16:32, 16:32]
        np.testing.assert_array_equal(first, data[17:30, 20:31])
        assert not first.flags.writeable
        assert np.shares_memory(first, again)  # the cached chunk, not a copy of it
        with pytest.raises(ValueError, match="read-only"):
            first[0, 0] = 1
        np.testing.assert_array_equal(array[17:30, 20:31], data[17:30, 20:31])
        across = array[10:40, 10:40]  # nine chunks: a new array, the caller's own
        assert across.flags.writeable
        assert not np.shares_memory(across, first)
        np.testing.assert_array_equal(across, data[10:40, 10:40])
        store.close()


def _cached_segments(store: ZarrTiffStore) -> set[int]:
    return {key[1] for key in list(store.cache._entries)}


def test_a_selection_is_one_view_however_many_chunks_it_holds(tmp_path: Path) -> None:
    """Two rows of six chunks are more than zarr keeps in flight.  Read as one view, the
    next two rows below are a step of the motion, not more of the last selection, and
    the two rows after them are read ahead."""
    data = _grid_file(tmp_path / "grid.tif")
    with TiffFile(tmp_path / "grid.tif") as tif:
        store = tif.series[0].aszarr(readahead=True)
        (array,) = open_arrays(store, views=True)
        np.testing.assert_array_equal(array[0:32], data[0:32])
        np.testing.assert_array_equal(array[32:64], data[32:64])
        ahead = set(range(4 * 6, 6 * 6))  # the segments of rows 4 and 5
        _until(lambda: ahead <= _cached_segments(store), "rows 4 and 5 are read ahead")
        misses = store.cache.misses
        np.testing.assert_array_equal(array[64:96], data[64:96])
        assert store.cache.misses == misses
        store.close()


def test_a_pickled_view_array_reads_the_same(tmp_path: Path) -> None:
    data = _stack(tmp_path / "stack.tif")
    with TiffFile(tmp_path / "stack.tif") as tif:
        store = tif.series[0].aszarr(chunkshape=(64, 96), readahead=True)
        (array,) = open_arrays(store, views=True)
        copy = pickle.loads(pickle.dumps(array))
        assert isinstance(copy.async_array, _ViewArray)
        np.testing.assert_array_equal(copy[3], data[3])
        np.testing.assert_array_equal(array[3], data[3])
        assert {3} <= _cached_pages(store)
        copy.store.close()
        store.close()


def test_selections_held_by_the_caller_are_never_written(tmp_path: Path) -> None:
    """Large selections are copied into buffers used again (see outputs): one the caller
    still holds, or a view of it, keeps its pixels while later selections are read."""
    data = np.random.default_rng(3).integers(0, 255, (1400, 1400, 3), np.uint8)
    tifffile.imwrite(tmp_path / "rgb.tif", data, tile=(256, 256), photometric="rgb")
    with TiffFile(tmp_path / "rgb.tif") as tif:
        store = tif.series[0].aszarr()
        (array,) = open_arrays(store, views=True)
        boxes = [(0, 0), (100, 50), (0, 0), (200, 150), (100, 50), (0, 0)]
        held = []
        for i, (y, x) in enumerate(boxes):
            got = array[y : y + 1200, x : x + 1200]
            assert got.nbytes >= MIN_KEPT_BYTES
            assert got.flags.writeable
            held.append((y, x, got if i % 2 else got[10:20]))  # whole, or a view of it
            if len(held) > 2:
                held.pop(0)  # dropped: its buffer may serve the next selection
            for hy, hx, kept in held:
                whole = data[hy : hy + 1200, hx : hx + 1200]
                expected = whole if kept.shape[0] == 1200 else whole[10:20]
                np.testing.assert_array_equal(kept, expected)
        store.close()


def test_a_zarr_that_changed_what_views_replace_reads_through_zarr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The views replace a private method of zarr's AsyncArray.  A zarr that changed it
    (here: its fields keyword renamed) gets zarr's own arrays, which read the same
    pixels, not views whose every read fails."""
    expected = _stack(tmp_path / "stack.tif")
    original = AsyncArray._get_selection

    async def changed(
        self: AsyncArray[Any], indexer: Any, *, prototype: Any, out: Any = None, **options: Any
    ) -> Any:
        return await original(
            self, indexer, prototype=prototype, out=out, fields=options.get("fields")
        )

    monkeypatch.setattr(AsyncArray, "_get_selection", changed)
    store = ZarrTiffStore(TiffFile(tmp_path / "stack.tif").series[0], readahead=True)
    (array,) = open_arrays(store, views=True)
    assert not isinstance(array.async_array, _ViewArray)
    for selection in selections(array.shape, array.chunks):
        assert_same(array[selection], expected[selection], f"[{selection}]", same_type=False)
    store.close()


class _ReadsThroughTheLoop:
    """Counts the selections that went through zarr's event loop (read_view)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = ZarrTiffStore.read_view

        async def counted(store: ZarrTiffStore, *args: Any) -> Any:
            self.count += 1
            return await original(store, *args)

        monkeypatch.setattr(ZarrTiffStore, "read_view", counted)


class _DecodingThreads:
    """The threads ChunkReader.read ran on."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.threads: set[int] = set()
        original = ChunkReader.read

        def recorded(reader: ChunkReader, *args: Any, **options: Any) -> Any:
            self.threads.add(threading.get_ident())
            return original(reader, *args, **options)

        monkeypatch.setattr(ChunkReader, "read", recorded)


def test_a_selection_of_a_local_file_is_read_without_zarrs_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chunks in the cache taken at once, each hit counted once; the others decoded
    on the calling thread, the decoding threads helping; never through zarr's loop."""
    data = _grid_file(tmp_path / "grid.tif")
    loop = _ReadsThroughTheLoop(monkeypatch)
    decoding = _DecodingThreads(monkeypatch)
    with TiffFile(tmp_path / "grid.tif") as tif:
        store = tif.series[0].aszarr()
        (array,) = open_arrays(store, views=True)
        np.testing.assert_array_equal(array[10:40, 10:40], data[10:40, 10:40])
        assert store.cache.misses == 9  # nine chunks decoded
        assert threading.get_ident() in decoding.threads
        hits = store.cache.hits
        np.testing.assert_array_equal(array[12:44, 5:40], data[12:44, 5:40])
        assert (store.cache.hits, store.cache.misses) == (hits + 9, 9)  # the same nine
        np.testing.assert_array_equal(array[12:50, 5:40], data[12:50, 5:40])
        assert store.cache.misses == 12  # a row of chunks more
        np.testing.assert_array_equal(array[95, 95], data[95, 95])  # one pixel
        np.testing.assert_array_equal(array[95, 95], data[95, 95])
        assert store.cache.misses == 13
        assert loop.count == 0
        store.close()


def test_a_selection_decoded_on_the_calling_thread_meets_broken_chunks_as_zarr_does(
    tmp_path: Path,
) -> None:
    """A tile whose bytes do not decode raises for the default on_error, and shows the
    fill value with on_error='fill', as zarr's reads of the store do."""
    data = _grid_file(tmp_path / "grid.tif")
    raw = bytearray((tmp_path / "grid.tif").read_bytes())
    with tifffile.TiffFile(tmp_path / "grid.tif") as ref:
        offset, count = ref.pages[0].dataoffsets[7], ref.pages[0].databytecounts[7]
    raw[offset : offset + count] = b"\xff" * count  # tile (1, 1): not zlib any more
    (tmp_path / "broken.tif").write_bytes(raw)
    with TiffFile(tmp_path / "broken.tif") as tif:
        (array,) = open_arrays(tif.series[0].aszarr(), views=True)
        (plain,) = open_arrays(tif.series[0].aszarr())
        with pytest.raises(TiffFileError):
            array[0:40, 0:40]
        with pytest.raises(TiffFileError):
            plain[0:40, 0:40]
    with TiffFile(tmp_path / "broken.tif") as tif:
        (array,) = open_arrays(tif.series[0].aszarr(on_error="fill", fillvalue=7), views=True)
        with pytest.warns(TiffChunkWarning):
            got = array[0:40, 0:40]
        expected = data[0:40, 0:40].copy()
        expected[16:32, 16:32] = 7
        np.testing.assert_array_equal(got, expected)


def test_a_view_taken_from_the_cache_moves_the_read_ahead_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows 4 and 5 of chunks are read ahead of a downward motion; the view of them,
    taken from the cache without zarr's event loop, is a step of the motion like any
    other, and rows 6 and 7 are read ahead of it."""
    data = _grid_file(tmp_path / "grid.tif", length=160, seed=9)  # ten rows of six chunks
    loop = _ReadsThroughTheLoop(monkeypatch)
    with TiffFile(tmp_path / "grid.tif") as tif:
        store = tif.series[0].aszarr(readahead=True)
        (array,) = open_arrays(store, views=True)
        np.testing.assert_array_equal(array[0:32], data[0:32])
        np.testing.assert_array_equal(array[32:64], data[32:64])
        _until(lambda: set(range(24, 36)) <= _cached_segments(store), "rows 4 and 5 ahead")
        before = loop.count
        np.testing.assert_array_equal(array[64:96], data[64:96])
        assert loop.count == before
        _until(lambda: set(range(36, 48)) <= _cached_segments(store), "rows 6 and 7 ahead")
        store.close()


def test_selections_read_off_the_main_thread_read_the_same(tmp_path: Path) -> None:
    """napari's asynchronous slicing reads on a thread of its own, where the parts of a
    selection are copied keeping the GIL (see copying): every selection, read twice (the
    second from the cache), gives numpy's pixels."""
    data = np.random.default_rng(4).integers(0, 255, (700, 900, 3), np.uint8)
    tifffile.imwrite(tmp_path / "rgb.tif", data, tile=(256, 256), photometric="rgb")
    with TiffFile(tmp_path / "rgb.tif") as tif:
        store = tif.series[0].aszarr(chunkshape=128)
        (array,) = open_arrays(store, views=True)
        boxes = [*selections(array.shape, array.chunks), np.s_[100:650, 30:870]]

        def read_all() -> list[Any]:
            return [array[box] for box in boxes for _ in range(2)]

        with ThreadPoolExecutor(1) as pool:
            got = pool.submit(read_all).result()
        for i, box in enumerate(boxes):
            for again in got[2 * i : 2 * i + 2]:
                assert_same(again, data[box], f"[{box}]", same_type=False)
        store.close()


def test_an_empty_selection_reads_no_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty selection is zarr's to answer: walking its indexer would visit every chunk
    along the other dimensions (a damaged file may declare hundreds of millions)."""
    data = _grid_file(tmp_path / "grid.tif")
    walked: list[Any] = []
    monkeypatch.setattr(ZarrTiffStore, "read_view_here", lambda store, *args: walked.append(args))
    with TiffFile(tmp_path / "grid.tif") as tif:
        store = tif.series[0].aszarr()
        (array,) = open_arrays(store, views=True)
        for box in (np.s_[5:5, :], np.s_[:, 7:7], np.s_[90:10, 3:50]):
            assert_same(array[box], data[box], f"[{box}]", same_type=False)
        assert walked == []
        store.close()
