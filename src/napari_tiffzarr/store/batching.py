"""Batched chunk reads for remote files: one round of range requests per event-loop turn.

zarr asks for the chunks of a selection together, one ``store.get`` each.  Locally each
chunk is one pread in the thread pool; remotely a request per chunk would pay the round
trip every time.  So the byte ranges of the chunks asked for in the same turn of the event
loop are collected and fetched in one ``read_ranges`` (concurrent requests, neighbours
merged); each reader gets its own bytes back and hands them to the decoder with its chunk.

zarr keeps at most ``async.concurrency`` chunk reads in flight, though: a turn that asks
for that many has more to come, one by one, each a round trip later.  Such a turn also
fetches the chunks that continue its walk (see continuation), and later turns find their
bytes waiting.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections import OrderedDict
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

import zarr

from ..errors import TiffFileError
from ..sources.remote import FsspecSource
from .continuation import continuation
from .index import ChunkIndex
from .keys import ChunkRef

__all__ = ["ChunkData", "Fetched", "fetch_chunk"]

Fetched = bytes | BaseException  # a segment's bytes, or why they could not be fetched
# what a reader gets: one segment's, or for a chunk of several segments each one's by range
ChunkData = Fetched | Mapping[tuple[int, int], Fetched | None]


# Bytes fetched ahead of zarr's asking, per source, kept until asked for (or pushed out
# by newer ones): a few viewports' rows of tiles.
AHEAD_BYTES = 32 * 1024 * 1024


# the chunks of one level asked for in a turn: its index, their pages, their coordinates
_Walk = tuple[ChunkIndex, set[int], list[tuple[int, ...]]]


class _Batch:
    """The ranges of one source asked for in one turn of one event loop, and the chunks
    they belong to, by index and level: what the walk over them asks for next."""

    __slots__ = ("done", "ranges", "walks")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.ranges: list[tuple[int, int]] = []
        self.walks: dict[tuple[int, int], _Walk] = {}
        self.done: asyncio.Future[dict[tuple[int, int], Fetched | None]] = loop.create_future()


class _Ahead:
    """Bytes of one source fetched before they were asked for, oldest dropped first."""

    __slots__ = ("__weakref__", "blobs", "nbytes")

    def __init__(self) -> None:
        self.blobs: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self.nbytes = 0

    def put(self, found: tuple[int, int], blob: bytes) -> None:
        if found in self.blobs:
            return
        self.blobs[found] = blob
        self.nbytes += len(blob)
        while self.nbytes > AHEAD_BYTES:
            _, dropped = self.blobs.popitem(last=False)
            self.nbytes -= len(dropped)

    def take(self, ranges: list[tuple[int, int]]) -> dict[tuple[int, int], Fetched | None] | None:
        """The bytes of all of ranges, handed over once; None unless all are here."""
        if not all(found in self.blobs for found in ranges):
            return None
        taken: dict[tuple[int, int], Fetched | None] = {}
        for found in ranges:
            blob = self.blobs.pop(found)
            self.nbytes -= len(blob)
            taken[found] = blob
        return taken


_pending: dict[tuple[int, asyncio.AbstractEventLoop], _Batch] = {}
_ahead: weakref.WeakKeyDictionary[FsspecSource, _Ahead] = weakref.WeakKeyDictionary()
_pending_lock = threading.Lock()  # zarr's loop and a caller's own loop may both read


async def fetch_chunk(
    index: ChunkIndex, ref: ChunkRef, key: str | None = None
) -> ChunkData | None:
    """The stored bytes of a remote strip or tile, fetched with the other chunks asked for
    in this turn; None where the decoder should read for itself (local files, whole pages,
    sparse or unlocatable chunks).

    Never raises for the file's content: a failed fetch is returned, and raised by the
    decoder, so errors take the store's usual path.  Locating a chunk may read its page's
    offsets (once per page) on the event loop: doing that in the pool would spread the
    chunks of one selection over many turns, and many requests.
    """
    # local files return here, before any work: their path stays one pread per chunk
    if ref.segment is None or not isinstance(index.series.keyframe.source, FsspecSource):
        return None
    try:
        page = index.page(ref)
        if page is None or not isinstance(page.source, FsspecSource):
            return None
        ranges = index.byte_ranges(ref)
    except TiffFileError:
        return None  # the decoder meets the same error and reports it as the store should
    if not ranges:
        return None
    source = page.source
    loop = asyncio.get_running_loop()
    pending = (id(source), loop)
    located = None if key is None else index.locate(key)
    with _pending_lock:
        ahead = _ahead.get(source)
        results = None if ahead is None else ahead.take(ranges)
        if results is None:
            batch = _pending.get(pending)
            if batch is None:
                batch = _pending[pending] = _Batch(loop)
                loop.call_soon(_flush, pending, source)
            batch.ranges.extend(ranges)
            if located is not None:
                level, coords = located
                _, pages, walked = batch.walks.setdefault((id(index), level), (index, set(), []))
                pages.add(ref.page)
                walked.append(coords)
            done = batch.done
    if results is None:
        results = await done
    if ref.span == (1, 1):
        return results[ranges[0]]
    return {found: results[found] for found in ranges}


def _walk_ahead(batch: _Batch, budget: int) -> list[tuple[int, int]]:
    """The byte ranges of the chunks that continue the walks of a turn that asked for as
    many chunks as zarr keeps in flight: zarr will ask for them next, one by one.

    At most budget bytes, whole chunks, nearest first: what a round trip is worth, so a
    wrong guess (the box ends sooner) costs less than the round trip a right one saves.
    """
    limit = int(zarr.config.get("async.concurrency") or 0)
    wanted: list[tuple[int, int]] = []
    total = 0
    for (_, level), (index, pages, coords) in batch.walks.items():
        if not limit or len(coords) < limit:
            continue  # the turn asked for the whole selection
        grid = index.levels[level].grid
        for following in continuation(coords, grid.grid, 2 * limit):
            ref = grid.chunk_ref(following)
            if ref is None or ref.page not in pages:
                continue  # another page's offsets would be read here, on the event loop
            try:
                ranges = index.byte_ranges(ref)
            except TiffFileError:
                continue  # its own read reports it
            size = sum(length for _, length in ranges)
            if total + size > budget:
                break
            total += size
            wanted += ranges
    return wanted


def _flush(key: tuple[int, asyncio.AbstractEventLoop], source: FsspecSource) -> None:
    with _pending_lock:
        batch = _pending.pop(key)
    task = key[1].create_task(_fetch(batch, source))
    # the batch's readers await batch.done, not the task; keep it referenced till it ends
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


_tasks: set[asyncio.Task[None]] = set()

# Fetches wait on the network, not the CPU: they get threads of their own, so that batches
# in flight neither wait for nor hold up the store's decoding threads (one per core).
_io_pool = ThreadPoolExecutor(32, thread_name_prefix="tiffzarr-io")


async def _fetch(batch: _Batch, source: FsspecSource) -> None:
    ranges = list(dict.fromkeys(batch.ranges))  # one chunk asked for twice is fetched once
    # cancelled: the readers read for themselves, none waits on
    results: dict[tuple[int, int], Fetched | None] = dict.fromkeys(ranges)
    try:
        results = await _fetch_ranges(batch, source, ranges)
    except Exception as exc:
        # every reader gets the error, raised where its chunk is decoded: a network or
        # content error takes the store's on_error path, a closed file says so
        results = dict.fromkeys(ranges, exc)
    finally:
        # whatever happened, the readers hear of it: nothing else would wake them
        if not batch.done.done():
            batch.done.set_result(results)


async def _fetch_ranges(
    batch: _Batch, source: FsspecSource, ranges: list[tuple[int, int]]
) -> dict[tuple[int, int], Fetched | None]:
    """The bytes of ranges, fetching those zarr will ask for next alongside."""
    asked = set(ranges)
    size = source.size
    ahead = [
        (offset, length)
        for offset, length in dict.fromkeys(_walk_ahead(batch, source.cost.gap()))
        # a neighbour's bad offset must not fail the chunks that were asked for
        if (offset, length) not in asked and offset >= 0 and offset + length <= size
    ]
    loop = asyncio.get_running_loop()
    blobs = await loop.run_in_executor(_io_pool, source.read_ranges, ranges + ahead)
    if ahead:
        with _pending_lock:
            kept = _ahead.setdefault(source, _Ahead())
            for found, blob in zip(ahead, blobs[len(ranges) :], strict=True):
                kept.put(found, blob)
    return dict(zip(ranges, blobs[: len(ranges)], strict=True))
