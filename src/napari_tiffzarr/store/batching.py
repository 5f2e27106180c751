"""Batched chunk reads for remote files: one round of range requests per event-loop turn.

zarr asks for every chunk of a selection at once, one ``store.get`` each.  Locally each
chunk is one pread in the thread pool; remotely a request per chunk would pay the round
trip every time.  So the byte ranges of the chunks asked for in the same turn of the event
loop are collected, coalesced and fetched in one ``cat_ranges`` (concurrent requests,
neighbours merged), and handed to the source, where the decoding thread finds them.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from ..errors import TiffFileError
from ..sources.remote import FsspecSource

if TYPE_CHECKING:
    from .keys import ChunkRef
    from .store import ZarrTiffStore

__all__ = ["prefetch"]


class _Batch:
    """The ranges of one source asked for in one turn of one event loop."""

    __slots__ = ("done", "ranges")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.ranges: list[tuple[int, int]] = []
        self.done: asyncio.Future[None] = loop.create_future()


_pending: dict[tuple[int, asyncio.AbstractEventLoop], _Batch] = {}
_pending_lock = threading.Lock()  # zarr's loop and a caller's own loop may both read


async def prefetch(store: ZarrTiffStore, ref: ChunkRef) -> None:
    """Fetch the bytes of a chunk with the other chunks asked for now, for read_chunk.

    Does nothing for local files, whole-page chunks or a chunk that cannot be located;
    never raises: a failed fetch is kept in the source and raised by the read of it, so
    errors take the store's usual path.  Locating a chunk may read its page's offsets
    (once per page, from the metadata cache) on the event loop: running that in the pool
    would spread the chunks of one selection over many turns, and many requests.
    """
    # local files return here, before any work: their path stays one pread per chunk
    if not isinstance(store.series.keyframe.source, FsspecSource) or ref.segment is None:
        return
    if ref in store._failed:
        return  # read_chunk will not read it
    try:
        page = store._page(ref)
        if page is None or not isinstance(page.source, FsspecSource):
            return
        segment = page.segment_range(ref.segment)
    except TiffFileError:
        return  # read_chunk meets the same error and reports it as the store should
    if segment is None:
        return
    source = page.source
    loop = asyncio.get_running_loop()
    key = (id(source), loop)
    with _pending_lock:
        batch = _pending.get(key)
        if batch is None:
            batch = _pending[key] = _Batch(loop)
            loop.call_soon(_flush, key, source)
        batch.ranges.append(segment)
        done = batch.done
    await done


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
    try:
        try:
            blobs = await loop.run_in_executor(_io_pool, source.read_ranges, ranges)
        except (OSError, TiffFileError) as exc:
            for offset, length in ranges:
                source.stash(offset, length, exc)
        else:
            for (offset, length), blob in zip(ranges, blobs, strict=True):
                source.stash(offset, length, blob)
    finally:
        if not batch.done.done():
            batch.done.set_result(None)
