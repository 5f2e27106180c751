"""Decoded chunks, kept for the next read: bounded in bytes, least recently used out first.

napari reads the whole visible region again at every camera step, so most chunks of a
step were decoded one step earlier, and all of them on the way back.  The stores of one
open file share one cache (their read scheduler's), so a store reopened with other
options, or a second layer of the same file, finds what the first decoded.

A write to a page drops that page's chunks and moves the cache's generation on; a chunk
decoded from bytes read before the write is then not stored, so no read can ever see
pixels older than a write that finished before it started.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager

import numpy as np

__all__ = ["DEFAULT_CACHE_BYTES", "ChunkCache"]

# Enough for a few screens of a 4K display of RGB tiles and the read-ahead around them
# (a 1280 x 1024 RGB view is 4 MB; 1024 x 1024 chunks around it are 3 MB each), small
# beside what a slide viewer's machine has.
DEFAULT_CACHE_BYTES = 256 * 1024 * 1024


class ChunkCache:
    """Thread-safe LRU map from chunk keys to read-only decoded arrays, bounded in bytes.

    A key's first item names the page (its file and offset), so that a write can drop
    every chunk of the page it wrote to.
    """

    def __init__(self, maxbytes: int = DEFAULT_CACHE_BYTES) -> None:
        if maxbytes < 0:
            raise ValueError(f"cache size must be >= 0 bytes, not {maxbytes}")
        self._maxbytes = int(maxbytes)
        self._entries: OrderedDict[tuple[Hashable, ...], np.ndarray] = OrderedDict()
        self._nbytes = 0
        self._generation = 0
        self._lock = threading.Lock()
        self._decoding: dict[tuple[Hashable, ...], threading.Event] = {}
        # keys decoded ahead that a read now waits for, and who to tell when one is: a
        # thread reading ahead gives way to the reads zarr waits for, except to this one
        self._wanted: set[tuple[Hashable, ...]] = set()
        self.on_wanted: Callable[[], None] = _nobody
        # what a read that waits for a decode ahead may run itself: the parts left of it
        self._helpers: dict[tuple[Hashable, ...], Callable[[], None]] = {}
        # who takes back the memory of the arrays dropped, given a list of them that only
        # the cache refers to besides (see memory): called without the lock
        self.on_drop: Callable[[list[np.ndarray]], None] = _nothing
        self.hits = 0
        self.misses = 0

    @property
    def maxbytes(self) -> int:
        return self._maxbytes

    @maxbytes.setter
    def maxbytes(self, value: int) -> None:
        if value < 0:
            raise ValueError(f"cache size must be >= 0 bytes, not {value}")
        with self._lock:
            self._maxbytes = int(value)
            dropped = self._evict()
        self._drop(dropped)

    @property
    def nbytes(self) -> int:
        return self._nbytes

    @property
    def generation(self) -> int:
        """Moves on with every write: take it before reading a chunk's bytes, hand it to
        put(), and a chunk read across a write is not kept."""
        return self._generation

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: tuple[Hashable, ...]) -> bool:
        return key in self._entries

    def get(self, key: tuple[Hashable, ...], *, count_miss: bool = True) -> np.ndarray | None:
        """The array kept under key, or None.  count_miss=False for a first look that a
        counted get follows on a miss (the read that decodes looks again), so that one
        chunk read counts one miss."""
        with self._lock:
            array = self._entries.get(key)
            if array is None:
                self.misses += count_miss
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return array

    @contextmanager
    def decoding(self, key: tuple[Hashable, ...]) -> Iterator[bool]:
        """Mark key as being decoded ahead, so that a read of it waits for this decode
        instead of doing it again; yields False where another thread decodes it already."""
        with self._lock:
            done = None if key in self._decoding else threading.Event()
            if done is not None:
                self._decoding[key] = done
        if done is None:
            yield False
            return
        try:
            yield True
        finally:
            with self._lock:
                del self._decoding[key]
                self._wanted.discard(key)
                self._helpers.pop(key, None)
            done.set()

    def help_with(self, key: tuple[Hashable, ...], work: Callable[[], None]) -> None:
        """work runs the parts left of the decode of key marked with decoding(): a read
        that waits for it runs them too, instead of only waiting."""
        with self._lock:
            if key in self._decoding:
                self._helpers[key] = work

    def wanted(self, key: tuple[Hashable, ...]) -> bool:
        """Whether a read waits for the decode of key marked with decoding()."""
        return key in self._wanted

    def wait_decoding(self, key: tuple[Hashable, ...]) -> np.ndarray | None:
        """The array under key once a decode marked with decoding() ends, None where
        none runs (or it failed, or kept nothing)."""
        with self._lock:
            done = self._decoding.get(key)
            if done is not None:
                self._wanted.add(key)
            helper = self._helpers.get(key)
        if done is None:
            return None
        self.on_wanted()
        if helper is not None:
            helper()  # the decode's parts not yet started, on this thread
        done.wait()
        return self.get(key, count_miss=False)

    def put(self, key: tuple[Hashable, ...], array: np.ndarray, generation: int) -> None:
        """Keep array (made read-only: callers share it) unless a write came between."""
        size = array.nbytes
        if size > self._maxbytes:
            return  # would push out everything and still not fit
        array.flags.writeable = False
        with self._lock:
            if generation != self._generation:
                return  # decoded from bytes that a write has since replaced
            dropped = self._evict(self._entries.pop(key, None))
            self._entries[key] = array
            self._nbytes += size
            dropped += self._evict()
        self._drop(dropped)

    def _evict(self, replaced: np.ndarray | None = None) -> list[np.ndarray]:
        """With the lock held: the arrays pushed out (replaced among them), least
        recently used first, until the cache fits its bound."""
        dropped = []
        if replaced is not None:
            dropped.append(replaced)
            self._nbytes -= replaced.nbytes
        entries = self._entries
        while self._nbytes > self._maxbytes and entries:
            array = entries.popitem(last=False)[1]
            self._nbytes -= array.nbytes
            dropped.append(array)
        return dropped

    def _drop(self, dropped: list[np.ndarray]) -> None:
        """Hand the arrays the cache no longer holds to on_drop, outside the lock."""
        if dropped:
            self.on_drop(dropped)

    def invalidate(self, page: Hashable) -> None:
        """Drop every chunk of page (a key's first item), for a write to it."""
        with self._lock:
            self._generation += 1
            dropped = [self._entries.pop(k) for k in [k for k in self._entries if k[0] == page]]
            self._nbytes -= sum(array.nbytes for array in dropped)
        self._drop(dropped)

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            dropped = list(self._entries.values())
            self._entries.clear()
            self._nbytes = 0
        self._drop(dropped)

    def __repr__(self) -> str:
        return (
            f"ChunkCache({len(self)} chunks, {self._nbytes} of {self._maxbytes} bytes, "
            f"{self.hits} hits, {self.misses} misses)"
        )


def _nobody() -> None:
    """No thread to tell."""


def _nothing(dropped: list[np.ndarray]) -> None:
    """Nobody takes the memory back: it goes when the arrays do."""
