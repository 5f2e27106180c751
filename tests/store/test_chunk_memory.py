"""The memory of large decoded chunks is used again only where nothing made of it lives:
a chunk the cache dropped but a caller still holds (itself, a view, zarr's buffer of it)
keeps its pixels while later chunks are decoded; one nobody holds is used again."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
import zarr
from zarr.core.buffer import default_buffer_prototype

from napari_tiffzarr import TiffFile
from napari_tiffzarr.store import ZarrTiffStore
from napari_tiffzarr.store.arrays import open_arrays
from napari_tiffzarr.store.scheduler import ReadScheduler
from napari_tiffzarr.store.scheduler.cache import ChunkCache
from napari_tiffzarr.store.scheduler.memory import MIN_KEPT_BYTES, ChunkMemory

FRAME = (1024, 2048)  # uint16: 4 MiB, the least size whose memory is kept
DTYPE = np.dtype(np.uint16)


def _cached(memory: ChunkMemory, maxbytes: int) -> ChunkCache:
    cache = ChunkCache(maxbytes)
    cache.on_drop = memory.reclaim
    return cache


def _filled(memory: ChunkMemory, value: int) -> np.ndarray:
    array = memory.empty(FRAME, DTYPE)
    array[...] = value
    return array


def test_the_memory_of_a_dropped_chunk_nobody_holds_makes_the_next() -> None:
    memory = ChunkMemory()
    cache = _cached(memory, 2 * MIN_KEPT_BYTES)
    first = _filled(memory, 1)
    base = weakref.ref(first.base)  # not a reference: one would keep the memory in use
    cache.put(("page", 0), first, cache.generation)
    del first
    for i in (1, 2):  # the second pushes the first out
        cache.put(("page", i), _filled(memory, i + 1), cache.generation)
    made = [memory.empty(FRAME, DTYPE) for _ in range(3)]
    assert any(array.base is base() for array in made)
    assert memory.reused >= 1


def _itself(array: np.ndarray) -> Any:
    return array


def _view(array: np.ndarray) -> Any:
    return array[::2, 1:]


def _memoryview(array: np.ndarray) -> Any:
    return memoryview(array)


def _zarr_buffer(array: np.ndarray) -> Any:
    """What the store hands zarr for a chunk: a buffer over its bytes."""
    flat = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
    return default_buffer_prototype().buffer.from_array_like(flat)


def _pixels(held: Any) -> np.ndarray:
    if isinstance(held, np.ndarray):
        return held.copy()
    if isinstance(held, memoryview):
        return np.array(held)
    return held.as_numpy_array().copy()


@pytest.mark.parametrize("hold", [_itself, _view, _memoryview, _zarr_buffer])
def test_a_dropped_chunk_still_held_keeps_its_pixels(
    hold: Callable[[np.ndarray], Any],
) -> None:
    memory = ChunkMemory()
    cache = _cached(memory, MIN_KEPT_BYTES)
    first = _filled(memory, 7)
    base = weakref.ref(first.base)
    cache.put(("page", 0), first, cache.generation)
    held = hold(first)
    before = _pixels(held)
    del first
    cache.put(("page", 1), _filled(memory, 8), cache.generation)  # drops the first
    cache.clear()
    later = [_filled(memory, 9) for _ in range(4)]
    assert base() is not None  # alive: the holder's
    assert all(array.base is not base() for array in later)
    np.testing.assert_array_equal(_pixels(held), before)


def test_small_chunks_are_plain_arrays() -> None:
    memory = ChunkMemory()
    small = memory.empty((256, 256), DTYPE)
    assert small.base is None
    assert memory.reused == 0


def test_frames_read_through_memory_used_again_are_tifffiles(tmp_path: Path) -> None:
    """A time-lapse read as the viewer reads it (whole planes), with a cache of two
    frames: frames pushed out are made again on memory used before, while the first
    frame read, still held, keeps its pixels."""
    path = tmp_path / "timelapse.tif"
    data = np.random.default_rng(5).integers(0, 60000, (8, *FRAME), np.uint16)
    tifffile.imwrite(path, data, tile=(256, 256), compression="zlib", metadata=None)
    with TiffFile(path) as tif:
        store = ZarrTiffStore(tif.series[0], chunkshape=FRAME, cachesize=2 * data[0].nbytes)
        arrays = [open_arrays(store, views=True)[0], zarr.open_array(store, mode="r")]
        first = store.index.levels[0].grid.chunk_ref((0, 0, 0))
        assert first is not None
        held = store.read_chunk(first)  # the cache's own array: held, not copied
        assert held is not None
        for array in arrays:
            for frame in [*range(8), *range(7, -1, -1)]:
                np.testing.assert_array_equal(array[frame], data[frame])
        np.testing.assert_array_equal(held.reshape(FRAME), data[0])
        assert ReadScheduler.of(tif.series[0].keyframe.source).memory.reused > 0
        store.close()
