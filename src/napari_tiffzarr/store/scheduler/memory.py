"""Memory for decoded chunks of several megabytes, used again once the cache drops a
chunk that nothing else is made of.

New memory of that size costs more than decoding into it: the kernel zero-fills every
page on its first write, and numpy asks for transparent huge pages for arrays of 4 MiB or
more, whose faults may wait for the kernel to compact memory.  Measured on this project's
machine, the 8 MB chunk of a 2048 x 2048 uint16 frame (a time-lapse's whole plane, as
the viewer reads it) took 17 to 20 ms to allocate and fill in one run, 1.5 to 13 ms on
average in others, against 0.5 ms in memory used before; the whole frame took 20 to
46 ms to read (benchmarks/RESULTS.md, Notes).

So the buffers behind chunks of these sizes come from here.  When the cache drops such a
chunk and no array made of its buffer is alive anywhere else (numpy's views keep their
base alive, and are counted), the buffer is kept for the next chunk of its size.  A chunk
given out, still shown, or kept by a caller is never written.  A first chunk of a size
takes new memory, as before; once the cache is full, every chunk it takes in is made on
the memory of one it pushed out.
"""

from __future__ import annotations

import math
import sys
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["MIN_KEPT_BYTES", "ChunkMemory", "only_listed"]

# Below this numpy asks for no huge pages and new memory is cheap: plain np.empty.
MIN_KEPT_BYTES = 4 * 1024 * 1024
# Buffers kept ready for each size: the next chunk's and one more, for a read that
# decodes two (a jump whose neighbour is read ahead at once); of large chunks (a whole
# plane of 64 MB) one, so that what is kept beside the cache stays small beside it.
KEPT_PER_SIZE = 2
KEPT_BYTES = 32 * 1024 * 1024
# Sizes kept: a viewer reads chunks of one or two sizes at a time (a level's, a plane's).
SIZES_KEPT = 2


class ChunkMemory:
    """Empty arrays for decoded chunks, on the memory of dropped chunks nobody holds;
    thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._free: OrderedDict[int, list[np.ndarray]] = OrderedDict()  # by nbytes
        # the buffers given out, by id, while they live: only these are taken back
        self._given: dict[int, weakref.ref[np.ndarray]] = {}
        self._closed = False
        self.reused = 0  # chunks made on memory used before: for benchmarks and tests

    def empty(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A writable C-contiguous array of shape and dtype, contents undefined."""
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes < MIN_KEPT_BYTES:
            return np.empty(shape, dtype)
        with self._lock:
            kept = self._free.get(nbytes)
            buffer = kept.pop() if kept else None
            if buffer is not None:
                self.reused += 1
        if buffer is None:
            buffer = np.empty(nbytes, np.uint8)
            with self._lock:
                self._given[id(buffer)] = weakref.ref(buffer, _forgetter(self._given, id(buffer)))
        return buffer.view(dtype).reshape(shape)

    def _keep(self, buffer: np.ndarray) -> None:
        """Keep buffer for the next chunk of its size, unless enough are kept already."""
        nbytes = buffer.nbytes
        with self._lock:
            if self._closed:
                return
            kept = self._free.setdefault(nbytes, [])
            self._free.move_to_end(nbytes)
            while len(self._free) > SIZES_KEPT:  # sizes no longer read give their memory back
                self._free.popitem(last=False)
            if len(kept) < max(1, min(KEPT_PER_SIZE, KEPT_BYTES // nbytes)):
                kept.append(buffer)

    def reclaim(self, dropped: Sequence[np.ndarray]) -> None:
        """Take back the buffers of chunks the cache has dropped (a list only the caller
        refers to besides: no other reference is made here while they are counted),
        those that no array anywhere else is made of."""
        for i in range(len(dropped)):
            if not only_listed(dropped, i) or not _only_base_of(dropped, i):
                continue  # a caller holds the chunk, or a view of its memory lives on
            base = dropped[i].base  # counted: the first reference made here
            assert isinstance(base, np.ndarray)  # only_base_of counted it
            with self._lock:
                given = self._given.get(id(base))
                ours = given is not None and given() is base
            if ours:
                self._keep(base)

    def close(self) -> None:
        """Drop what is kept; chunks given out stay valid."""
        with self._lock:
            self._closed = True
            self._free.clear()


def _forgetter(
    given: dict[int, weakref.ref[np.ndarray]], key: int
) -> Callable[[weakref.ref[np.ndarray]], None]:
    """A weakref callback forgetting key once its buffer is gone, whose id a new buffer
    may take.  Without the lock: a buffer may be freed where the lock is held (a size no
    longer kept), and the id is not reused before the callback has run."""

    def forget(ref: weakref.ref[np.ndarray]) -> None:
        if given.get(key) is ref:
            del given[key]

    return forget


# What sys.getrefcount reports for an array only a list refers to, and for a buffer only
# one array made of it refers to, counted as below: how many references the counting
# itself adds differs between interpreters, so it is measured here, not assumed.
def _listed_references(arrays: Sequence[np.ndarray], i: int) -> int:
    return sys.getrefcount(arrays[i])


def _base_references(arrays: Sequence[np.ndarray], i: int) -> int:
    return sys.getrefcount(arrays[i].base)


_LISTED = _listed_references([np.empty(1, np.uint8).view(np.int8)], 0)
_ONLY_BASE = _base_references([np.empty(1, np.uint8).view(np.int8)], 0)


def only_listed(arrays: Sequence[np.ndarray], i: int) -> bool:
    """Whether only the list refers to arrays[i]: no name, no other container, no array
    made of it (a view keeps its base alive)."""
    return _listed_references(arrays, i) == _LISTED


def _only_base_of(arrays: Sequence[np.ndarray], i: int) -> bool:
    """Whether only arrays[i] refers to its base: no other view of the memory is alive."""
    return _base_references(arrays, i) == _ONLY_BASE
