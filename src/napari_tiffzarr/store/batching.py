"""Batched chunk reads for remote files: one round of range requests per event-loop turn.

zarr asks for every chunk of a selection at once, one ``store.get`` each.  Locally each
chunk is one pread in the thread pool; remotely a request per chunk would pay the round
trip every time.  So the byte ranges of the chunks asked for in the same turn of the event
loop are collected and fetched in one ``read_ranges`` (concurrent requests, neighbours
merged); each reader gets its own bytes back and hands them to the decoder with its chunk.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from ..errors import TiffFileError
from ..sources.remote import FsspecSource
from .index import ChunkIndex
from .keys import ChunkRef

__all__ = ["ChunkData", "Fetched", "fetch_chunk"]

Fetched = bytes | BaseException  # a segment's bytes, or why they could not be fetched
# what a reader gets: one segment's, or for a chunk of several segments each one's by range
ChunkData = Fetched | Mapping[tuple[int, int], Fetched | None]


class _Batch:
    """The ranges of one source asked for in one turn of one event loop."""

    __slots__ = ("done", "ranges")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.ranges: list[tuple[int, int]] = []
        self.done: asyncio.Future[dict[tuple[int, int], Fetched | None]] = loop.create_future()


_pending: dict[tuple[int, asyncio.AbstractEventLoop], _Batch] = {}
_pending_lock = threading.Lock()  # zarr's loop and a caller's own loop may both read


async def fetch_chunk(index: ChunkIndex, ref: ChunkRef) -> ChunkData | None:
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
    key = (id(source), loop)
    with _pending_lock:
        batch = _pending.get(key)
        if batch is None:
            batch = _pending[key] = _Batch(loop)
            loop.call_soon(_flush, key, source)
        batch.ranges.extend(ranges)
        done = batch.done
    results = await done
    if ref.span == (1, 1):
        return results[ranges[0]]
    return {found: results[found] for found in ranges}


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
    loop = asyncio.get_running_loop()
    results: dict[tuple[int, int], Fetched | None]
    try:
        blobs = await loop.run_in_executor(_io_pool, source.read_ranges, ranges)
    except Exception as exc:
        # every reader gets the error, raised where its chunk is decoded: a network or
        # content error takes the store's on_error path, a closed file says so
        results = dict.fromkeys(ranges, exc)
    except BaseException:  # cancelled: the readers read for themselves, none waits on
        if not batch.done.done():
            batch.done.set_result(dict.fromkeys(ranges))
        raise
    else:
        results = dict(zip(ranges, blobs, strict=True))
    if not batch.done.done():
        batch.done.set_result(results)
