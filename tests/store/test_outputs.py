"""Output buffers of a viewer's selections: memory used again only once no array refers
to it, so that nothing a caller holds is ever written."""

from __future__ import annotations

import pickle
import time

import numpy as np

from napari_tiffzarr.store.outputs import MIN_KEPT_BYTES, OutputBuffers

SHAPE = (1536, 1536, 3)  # a napari view of RGB chunks: above MIN_KEPT_BYTES
UINT8 = np.dtype(np.uint8)
WAIT = 30.0  # a bound for what must happen, never a speed check


def _address(array: np.ndarray) -> int:
    address: int = array.__array_interface__["data"][0]
    return address


def _with_spare(buffers: OutputBuffers, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """buffers' first array of shape, once the spare it brings is kept."""
    array = buffers.empty(shape, dtype)
    nbytes = array.nbytes
    deadline = time.monotonic() + WAIT
    while sum(b.nbytes == nbytes for b in buffers._buffers) < 2:
        assert time.monotonic() < deadline, "the spare is never kept"
        time.sleep(0.005)
    return array


def test_a_buffer_is_used_again_only_once_nothing_refers_to_it() -> None:
    buffers = OutputBuffers()
    first = _with_spare(buffers, SHAPE, UINT8)
    first[...] = 7
    second = buffers.empty(SHAPE, UINT8)  # the spare: the first is still held
    assert not np.shares_memory(first, second)
    kept_view = first[100:200]
    address = _address(first)
    del first
    third = buffers.empty(SHAPE, UINT8)
    assert _address(third) != address  # a view of the first still refers to it
    assert not np.shares_memory(third, second)
    assert (kept_view == 7).all()
    del kept_view, third
    fourth = buffers.empty(SHAPE, UINT8)
    assert _address(fourth) == address  # nobody refers to the first any more
    assert fourth.shape == SHAPE
    assert fourth.dtype == UINT8
    assert fourth.flags.writeable
    assert fourth.flags.c_contiguous


def test_a_buffer_serves_another_dtype_of_the_same_size() -> None:
    buffers = OutputBuffers()
    shape = (1024, 1024, 3)
    first = _with_spare(buffers, shape, np.dtype(np.uint16))
    address = _address(first)
    del first
    again = [buffers.empty(shape, np.dtype(np.uint16)) for _ in range(2)]
    assert address in {_address(a) for a in again}
    assert all(a.dtype == np.uint16 and a.shape == shape for a in again)


def test_small_selections_are_new_arrays_and_few_buffers_are_kept() -> None:
    buffers = OutputBuffers(kept=3)
    small = buffers.empty((10, 10), UINT8)
    assert small.nbytes < MIN_KEPT_BYTES
    assert not buffers._buffers
    held = [_with_spare(buffers, (2048 + i, 2048), UINT8) for i in range(4)]
    assert len(buffers._buffers) <= 3  # the oldest dropped, though still held by callers
    assert len({_address(a) for a in held}) == 4


def test_a_pickled_keeper_keeps_no_buffers() -> None:
    buffers = OutputBuffers()
    kept = _with_spare(buffers, SHAPE, UINT8)
    copy = pickle.loads(pickle.dumps(buffers))
    assert not copy._buffers
    assert not np.shares_memory(copy.empty(SHAPE, UINT8), kept)


def test_a_new_size_gives_back_the_free_buffers_of_other_sizes() -> None:
    """A zoom asks for a new size each step: buffers of the last size that nobody holds
    go back to the allocator (which hands their memory out again) instead of being kept
    beside new ones."""
    buffers = OutputBuffers()
    held = _with_spare(buffers, SHAPE, UINT8)
    dropped = _with_spare(buffers, (1600, 1600, 3), UINT8)
    del dropped
    buffers.empty((1700, 1700, 3), UINT8)
    sizes = [b.nbytes for b in buffers._buffers]
    assert held.nbytes in sizes  # still held: kept, never written
    assert 1600 * 1600 * 3 not in sizes
