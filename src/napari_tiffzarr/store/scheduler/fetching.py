"""Batched chunk reads for files whose requests cost a round trip: one batch per turn.

zarr asks for the chunks of a selection together, one ``store.get`` each.  Locally each
chunk is one pread on a decoding thread; where a request costs a round trip (the
source says so through its cost model), a request per chunk would pay it every time.
So the byte ranges of the chunks asked for in one turn of the event loop are fetched in
one ``read_ranges`` (concurrent requests, neighbours merged); each reader gets its own
bytes back and hands them to the decoder with its chunk.

zarr keeps at most ``async.concurrency`` chunk reads in flight, though: a turn that asks
for that many has more to come, one by one, each a round trip later.  Such a turn also
fetches the chunks that continue its walk (see continuation), and later turns find their
bytes waiting.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from ...errors import TiffFileError
from ...sources import ByteSource
from ..index import ChunkIndex
from ..keys import ChunkRef
from .chunks import ChunkData, Fetched
from .continuation import continuation
from .turn import Batch, Turn, in_flight

__all__ = ["AHEAD_BYTES", "RemoteFetcher"]

# Bytes fetched ahead of zarr's asking, kept until asked for (or pushed out by newer
# ones): a few viewports' rows of tiles.
AHEAD_BYTES = 32 * 1024 * 1024
# Threads waiting on the network: batches in flight neither wait for nor hold up the
# decoding threads (one per core).
IO_THREADS = 8


class _Ahead:
    """Bytes fetched before they were asked for, oldest dropped first."""

    __slots__ = ("blobs", "nbytes")

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


class RemoteFetcher:
    """The batches of the files whose requests cost a round trip: a turn's ranges of each
    file in one round of requests, and the bytes fetched ahead of zarr's asking."""

    def __init__(self, closed_error: Callable[[], BaseException]) -> None:
        self._closed_error = closed_error
        self._lock = threading.Lock()  # zarr's loop and a caller's own loop may both read
        self._ahead: dict[ByteSource, _Ahead] = {}  # by source: the files of one series
        self._io: ThreadPoolExecutor | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    async def fetch(
        self, turn: Callable[[], Turn], index: ChunkIndex, ref: ChunkRef
    ) -> ChunkData | None:
        """The stored bytes of a strip or tile of a file whose requests cost a round trip,
        fetched with the other chunks of that file asked for in this turn (turn() gives
        it, called only for such files); None where the
        decoder should read for itself (local files, whole pages, sparse or unlocatable
        chunks).

        Never raises for the file's content: a failed fetch is returned, and raised by
        the decoder, so errors take the store's usual path.  Locating a chunk may read its
        page's offsets (once per page) on the event loop: doing that on a thread would
        spread the chunks of one selection over many turns, and many requests.
        """
        if ref.segment is None:
            return None
        try:
            page = index.page(ref)
            if page is None or page.source.cost is None:
                return None
            ranges = index.byte_ranges(ref)
        except TiffFileError:
            return None  # the decoder meets the same error and reports it as the store should
        if not ranges:
            return None
        source = page.source
        batches = turn().batches
        with self._lock:
            ahead = self._ahead.get(source)
            results = None if ahead is None else ahead.take(ranges)
            if results is None:
                batch = batches.get(id(source))
                if batch is None:
                    future = asyncio.get_running_loop().create_future()
                    batch = batches[id(source)] = Batch(source, future)
                batch.ranges.extend(ranges)
                fetched = batch.fetched
        if results is None:
            results = await fetched
        if ref.span == (1, 1):
            return results[ranges[0]]
        return {found: results[found] for found in ranges}

    def start(self, turn: Turn) -> None:
        """At the end of turn, on its loop: fetch what it asked for, a batch per file."""
        for batch in turn.batches.values():
            task = asyncio.get_running_loop().create_task(self._fetch(turn, batch))
            # the readers await batch.fetched, not the task; keep it till it ends
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _fetch(self, turn: Turn, batch: Batch) -> None:
        ranges = list(dict.fromkeys(batch.ranges))  # one chunk asked for twice: fetched once
        results: dict[tuple[int, int], Fetched | None] = dict.fromkeys(ranges)
        try:
            results = await self._fetch_ranges(turn, batch.source, ranges)
        except Exception as exc:
            # every reader gets the error, raised where its chunk is decoded: a network or
            # content error takes the store's on_error path, a closed file says so
            results = dict.fromkeys(ranges, exc)
        finally:
            # whatever happened, the readers hear of it: nothing else would wake them
            if not batch.fetched.done():
                batch.fetched.set_result(results)

    async def _fetch_ranges(
        self, turn: Turn, source: ByteSource, ranges: list[tuple[int, int]]
    ) -> dict[tuple[int, int], Fetched | None]:
        """The bytes of ranges, fetching those zarr will ask for next alongside."""
        asked = set(ranges)
        size = source.size
        cost = source.cost
        budget = 0 if cost is None else cost.gap()
        ahead = [
            (offset, length)
            for offset, length in dict.fromkeys(walk_ahead(turn, source, budget))
            # a neighbour's bad offset must not fail the chunks that were asked for
            if (offset, length) not in asked and offset >= 0 and offset + length <= size
        ]
        with self._lock:
            if self._closed:
                raise self._closed_error()
            if self._io is None:
                self._io = ThreadPoolExecutor(IO_THREADS, thread_name_prefix="tiffzarr-io")
            io = self._io
        loop = asyncio.get_running_loop()
        blobs = await loop.run_in_executor(io, source.read_ranges, ranges + ahead)
        if ahead:
            with self._lock:
                kept = self._ahead.setdefault(source, _Ahead())
                for found, blob in zip(ahead, blobs[len(ranges) :], strict=True):
                    kept.put(found, blob)
        return dict(zip(ranges, blobs[: len(ranges)], strict=True))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            io, self._io = self._io, None
            self._ahead.clear()
        if io is not None:
            io.shutdown(wait=False, cancel_futures=True)


def walk_ahead(turn: Turn, source: ByteSource, budget: int) -> list[tuple[int, int]]:
    """The byte ranges of the chunks that continue the walks of a turn that asked for as
    many chunks as zarr keeps in flight: zarr will ask for them next, one by one.

    At most budget bytes, whole chunks, nearest first: what a round trip is worth, so a
    wrong guess (the box ends sooner) costs less than the round trip a right one saves.
    """
    limit = in_flight()
    wanted: list[tuple[int, int]] = []
    total = 0
    for asked in turn.asks.values():
        if not limit or len(asked.coords) < limit:
            continue  # the turn asked for the whole selection
        index = asked.reader.index
        grid = index.levels[asked.level].grid
        for following in continuation(asked.coords, grid.grid, 2 * limit):
            ref = grid.chunk_ref(following)
            if ref is None or ref.page not in asked.pages:
                continue  # another page's offsets would be read here, on the event loop
            page = index.page(ref)
            if page is None or page.source is not source:
                continue
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
