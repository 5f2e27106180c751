"""Copies into a selection's output that keep the GIL give what numpy's assignment gives."""

from __future__ import annotations

import numpy as np
import pytest

from napari_tiffzarr.store.copying import _runs, copy_holding_gil


@pytest.mark.parametrize("dtype", ["u1", "<u2", ">u2", "f4", "c8"])
@pytest.mark.parametrize("shape", [(64, 64, 3), (1, 64, 64), (5, 7, 64, 3), (300,), (3, 1, 200)])
def test_every_part_lands_where_numpy_puts_it(dtype: str, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(sum(shape))
    chunk = rng.integers(0, 100, shape).astype(dtype)
    for _ in range(25):
        # a part of the chunk (steps too), somewhere in a larger output
        start = [int(rng.integers(0, length)) for length in shape]
        step = [int(rng.choice([1, 1, 2])) for _ in shape]
        part = chunk[tuple(slice(b, None, s) for b, s in zip(start, step, strict=True))]
        out = np.zeros([n + int(rng.integers(0, 5)) for n in part.shape], dtype)
        at = [int(rng.integers(0, o - n + 1)) for o, n in zip(out.shape, part.shape, strict=True)]
        selection = tuple(slice(a, a + n) for a, n in zip(at, part.shape, strict=True))
        expected = out.copy()
        expected[selection] = part
        copy_holding_gil(out, selection, part)
        np.testing.assert_array_equal(out, expected)


def test_read_only_transposed_and_broadcast_parts() -> None:
    rng = np.random.default_rng(1)
    chunk = rng.integers(0, 255, (64, 128, 3), dtype=np.uint8)
    chunk.flags.writeable = False  # the cache's chunks
    out = np.zeros((128, 64, 3), np.uint8)
    copy_holding_gil(out, (slice(None),) * 3, chunk.transpose(1, 0, 2))
    np.testing.assert_array_equal(out, chunk.transpose(1, 0, 2))
    out = np.zeros((64, 128, 3), np.uint8)
    copy_holding_gil(out, (slice(None),) * 3, chunk)
    np.testing.assert_array_equal(out, chunk)
    copy_holding_gil(out, (slice(0, 2), slice(None)), chunk[5, :, :])  # broadcast by numpy
    np.testing.assert_array_equal(out[1], chunk[5])


def test_a_single_element_and_an_advanced_index_go_through_numpy() -> None:
    out = np.zeros((4, 4), np.uint16)
    copy_holding_gil(out, (1, 2), np.uint16(7))  # out[1, 2] is a scalar, not a view
    assert out[1, 2] == 7
    copy_holding_gil(out, ([0, 3], slice(None)), np.full((2, 4), 9, np.uint16))  # a copy
    np.testing.assert_array_equal(out[[0, 3]], 9)


def test_runs_are_the_contiguous_rows_of_a_part_in_its_output() -> None:
    out = np.zeros((1536, 1536, 3), np.uint8)
    chunk = np.zeros((512, 512, 3), np.uint8)
    # a chunk's part in a viewer's output: rows of 200 RGB pixels, contiguous in both
    assert _runs(out[:512, 100:300], chunk[:, :200]) == 2
    # a whole chunk into a whole output: one run
    assert _runs(np.zeros_like(chunk), chunk) == 3
    # runs of 300 bytes, too short to be worth a Python loop: numpy copies them
    assert _runs(out[:512, :100], chunk[:, :100]) is None
    # nothing contiguous in the source: every second pixel
    assert _runs(out[:512, :256, 0], chunk[:, ::2, 0]) is None
