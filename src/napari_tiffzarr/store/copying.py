"""Copies of a selection's parts into its output, off the main thread keeping the GIL.

numpy lets go of the GIL for a copy of more than a few hundred elements and takes it back
after.  Where another thread runs Python meanwhile, taking it back waits for that thread
to let go, for up to the interpreter's switch interval (5 ms): napari draws on its main
thread while its asynchronous slicing copies a selection on another, and a selection of
nine chunks copied part by part took 15 to 30 ms there for 1.4 ms of copying
(benchmarks/RESULTS.md, Notes).  A memoryview's slice assignment copies with the GIL held,
so off the main thread the runs of bytes that are contiguous in both arrays (a chunk
part's rows, usually) are copied that way, one assignment a run.  On the main thread (a
script, napari's synchronous slicing) nobody's Python there is kept waiting, and numpy's
copy was the quicker by a millisecond a selection: numpy copies, as it does everything
else here.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np

__all__ = ["copy_holding_gil", "copy_part"]

# Runs shorter than this cost more in the Python loop than numpy's copy of them all costs
# in waiting for the GIL: numpy copies them.
MIN_RUN_BYTES = 512


def copy_part(out: np.ndarray, selection: Any, part: np.ndarray) -> None:
    """out[selection] = part: numpy's copy on the main thread, elsewhere holding the GIL."""
    if threading.current_thread() is threading.main_thread():
        out[selection] = part
    else:
        copy_holding_gil(out, selection, part)


def copy_holding_gil(out: np.ndarray, selection: Any, part: np.ndarray) -> None:
    """out[selection] = part, without letting go of the GIL where out[selection] is a
    view of part's shape and dtype whose last axes are contiguous in both; numpy's copy
    otherwise."""
    dst = out[selection]
    # a view of out (never a copy, nor a scalar, where selection indexes more than slices)
    is_view = isinstance(dst, np.ndarray) and np.may_share_memory(dst, out)
    tail = _runs(dst, part) if is_view else None
    if tail is None:
        out[selection] = part
        return
    run = math.prod(dst.shape[dst.ndim - tail :]) * dst.itemsize
    into, out_of = _bytes(dst), _bytes(part)
    for to, of in zip(_starts(dst, tail), _starts(part, tail), strict=True):
        into[to : to + run] = out_of[of : of + run]


def _runs(dst: np.ndarray, src: np.ndarray) -> int | None:
    """The number of last axes whose elements lie contiguous in both arrays, where runs
    of them are worth copying one by one; None where numpy should copy."""
    if dst.shape != src.shape or dst.dtype != src.dtype or dst.dtype.hasobject or not dst.size:
        return None
    if not dst.flags.writeable or min(dst.strides + src.strides, default=0) < 0:
        return None
    tail = min(_contiguous_tail(dst), _contiguous_tail(src))
    if not tail or math.prod(dst.shape[dst.ndim - tail :]) * dst.itemsize < MIN_RUN_BYTES:
        return None
    return tail


def _contiguous_tail(array: np.ndarray) -> int:
    """How many of array's last axes lie contiguous in memory, as in a C-ordered array."""
    expected = array.itemsize
    count = 0
    for length, stride in zip(reversed(array.shape), reversed(array.strides), strict=True):
        if length != 1 and stride != expected:
            break
        expected *= length
        count += 1
    return count


def _bytes(array: np.ndarray) -> memoryview:
    """The bytes from array's first element to its last, as a flat memoryview (strides
    are not negative here)."""
    extent = array.itemsize + sum(
        (length - 1) * stride for length, stride in zip(array.shape, array.strides, strict=True)
    )
    return np.asarray(_Span(array, extent)).data


class _Span:
    """extent bytes from an array's first element, through numpy's array interface; the
    array stays alive as long as they do."""

    def __init__(self, array: np.ndarray, extent: int) -> None:
        self.array = array
        self.__array_interface__ = {
            "data": array.__array_interface__["data"],  # (address, read-only)
            "shape": (extent,),
            "typestr": "|u1",
            "version": 3,
        }


def _starts(array: np.ndarray, tail: int) -> list[int]:
    """The byte offset of each run of array's last tail axes, in C order."""
    offsets = np.zeros((), np.intp)
    for length, stride in zip(array.shape[: array.ndim - tail], array.strides, strict=False):
        offsets = offsets[..., None] + np.arange(length, dtype=np.intp) * stride
    starts: list[int] = offsets.reshape(-1).tolist()
    return starts
