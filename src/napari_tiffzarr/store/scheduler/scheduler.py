"""The read scheduler of one open file: every store over the file reads through it.

It owns what reading costs across stores and requests: the decoded-chunk cache, the
decoding threads (foreground first, prefetch in the gaps), the batches of requests of
files where a request costs a round trip, and the prefetch along the motion predicted
from the views zarr asks for.  One turn of an event loop is one selection: the chunks
asked for in it are one view (see motion) and one batch (see fetching).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, suppress
from functools import partial
from typing import Any, TypeVar

import numpy as np

from ...errors import TiffFileError
from ...sources import ByteSource
from ..index import ChunkIndex
from ..keys import ChunkRef
from .cache import DEFAULT_CACHE_BYTES, ChunkCache
from .chunks import ChunkData, ChunkReader, Stored
from .fetching import RemoteFetcher
from .memory import ChunkMemory
from .motion import STILL_SECONDS, Motion, covers_plane, predict, sliders_of, view_of
from .pool import DecodePool, PrefetchDropped, Waiting
from .turn import Asked, Turn, in_flight

__all__ = ["ReadScheduler"]

# The share of the cache that chunks decoded ahead may take: the rest holds what was seen.
PREFETCH_SHARE = 4
# Chunks planned ahead at most, whatever their size.
MAX_PLANNED = 512
# Chunks of a file whose requests cost a round trip, fetched ahead in one request.
REMOTE_GROUP = 16
# The parts a chunk read ahead along a known motion is cut into: one, a frame decoded in
# one call into the codec on one thread, the GIL taken back once, the two threads on two
# frames.  Cut into four parts shared by both threads, each of napari's steps on the T
# slider waited up to 27 ms for its frame (the GIL taken back after each part while napari
# drew); whole, 8 ms (benchmarks/RESULTS.md, Notes).  A guess keeps the reader's parts: it
# is often dropped, or overtaken by a jump, and gives way after each.
MOTION_PARTS = 1
# Stores whose motion is remembered: a viewer's layers, and a few more.
MOTIONS = 16

_Foreground = tuple[ChunkReader, ChunkRef, "ChunkData | None", Stored]
Made = TypeVar("Made")  # what a caller makes of a view's chunks
# the chunks a prefetch job decodes, and the parts each is cut into (None: the reader's)
_Prefetch = tuple[ChunkReader, list[ChunkRef], int | None]


class ReadScheduler:
    """Reads, decodes, caches and prefetches the chunks of one open file."""

    def __init__(self, closed_error: Callable[[], BaseException] | None = None) -> None:
        self._closed_error = closed_error or _closed
        self.cache = ChunkCache(DEFAULT_CACHE_BYTES)
        self.pool: DecodePool[_Foreground, _Prefetch] = DecodePool(
            self._run_foreground,
            self._run_here,
            self._run_prefetch,
            self._closed_error,
            chunks_of=_chunks_of,
        )
        self.cache.on_wanted = self.pool.wake  # a prefetch thread giving way goes on
        self.memory = ChunkMemory()  # the buffers of large chunks, used again
        self.cache.on_drop = self.memory.reclaim
        self._fetcher = RemoteFetcher(self._closed_error)
        self._lock = threading.Lock()  # zarr's loop and a caller's own loop may both read
        self._turns: dict[asyncio.AbstractEventLoop, Turn] = {}
        self._motions: OrderedDict[int, tuple[ChunkReader, Motion]] = OrderedDict()
        # plans come from every loop's turns and from views served on callers' threads:
        # one at a time, each motion seeing its views in the order they came
        self._planning = threading.Lock()
        self.prefetched = 0  # chunks decoded ahead: for benchmarks and tests

    @classmethod
    def of(cls, source: ByteSource) -> ReadScheduler:
        """The scheduler of the file that source reads, shared by all its stores."""
        return source.attachment(ReadScheduler, ReadScheduler)

    def reader(
        self,
        index: ChunkIndex,
        lock: AbstractContextManager[Any] | None,
        *,
        readahead: bool = False,
    ) -> ChunkReader:
        """A reader of one store's chunks through this scheduler; the store's options
        size the cache and the decoding threads of the file; readahead: whether its
        views feed the prefetch."""
        config = index.config
        if config.cachesize is not None:
            self.cache.maxbytes = config.cachesize
        if config.maxworkers is not None:
            self.pool.workers = config.maxworkers
        return ChunkReader(
            index,
            self.cache,
            lock,
            self.pool.share,
            self.pool.share_ahead,
            memory=self.memory,
            readahead=readahead,
            # two parts a thread: a read that comes to wait for the chunk helps with
            # what is left of it, and a part is short enough to give way after
            parts_ahead=2 * self.pool.workers,
        )

    # -- foreground ------------------------------------------------------------------
    async def read(self, reader: ChunkReader, ref: ChunkRef, key: str) -> np.ndarray | None:
        """A chunk zarr asked for under key: from the cache, or decoded on a thread."""
        index = reader.index
        if _gathers_turns(reader):
            located = index.locate(key)
            if located is not None:
                self._turn().ask(reader, located[0], ref.page, located[1])
        found = self._cached(reader, ref)
        if isinstance(found, Stored):
            # zarr's loop has its own work for each chunk it gets: one segment's decode
            # is left to the threads while they keep up (see pool)
            return await self._decoded(reader, ref, found, leave=ref.one_segment)
        return found

    async def read_view(
        self,
        reader: ChunkReader,
        level: int,
        coords: Sequence[tuple[int, ...]],
        assemble: Callable[[list[np.ndarray | None]], Made],
    ) -> Made:
        """What assemble makes of the chunks of one whole selection of a level, for a
        caller that asks for them together (see arrays): one view of the motion,
        whatever its size; the chunks in the cache taken at once, without a task each,
        the others read as zarr's are."""
        grid = reader.index.levels[level].grid
        refs = [grid.chunk_ref(c) for c in coords]
        if _gathers_turns(reader):
            _ask_whole(self._turn(), reader, level, coords, refs)
        chunks, missing = self._in_cache(reader, refs)
        if missing:
            jobs = (self._decoded(reader, ref, stored) for _, ref, stored in missing)
            decoded = await asyncio.gather(*jobs)
            for (i, _, _), chunk in zip(missing, decoded, strict=True):
                chunks[i] = chunk
        return assemble(chunks)

    def read_view_here(
        self,
        reader: ChunkReader,
        level: int,
        coords: Sequence[tuple[int, ...]],
        assemble: Callable[[list[np.ndarray | None]], Made],
    ) -> Made:
        """As read_view, on the calling thread: the chunks in the cache taken at once, the
        others decoded here, the idle decoding threads helping, their bytes fetched first
        in one round of requests where a request costs a round trip.  Through an event
        loop, each chunk would be handed to the loop's thread and back, each hand-over of
        the GIL waiting while another thread runs Python (a viewer drawing) for up to the
        interpreter's switch interval.  The view feeds the motion like any other, once
        assembled: a viewer panning over ground read ahead still reads ahead, and the
        threads reading further ahead start after the copy, not during it."""
        grid = reader.index.levels[level].grid
        refs = [grid.chunk_ref(c) for c in coords]
        chunks, missing = self._in_cache(reader, refs)
        if missing:
            generation = self.cache.generation  # before any bytes are read: see ChunkCache
            fetched = self._fetch_together(reader, [(ref, stored) for _, ref, stored in missing])
            reads = [
                partial(reader.read, ref, data, generation=generation, stored=stored)
                for (_, ref, stored), data in zip(missing, fetched, strict=True)
            ]
            for (i, _, _), chunk in zip(missing, self.pool.run_now(reads), strict=True):
                chunks[i] = chunk
        made = assemble(chunks)
        if reader.readahead:
            turn = Turn()
            _ask_whole(turn, reader, level, coords, refs)
            self._plan(turn)
        return made

    def _in_cache(
        self, reader: ChunkReader, refs: Sequence[ChunkRef | None]
    ) -> tuple[list[np.ndarray | None], list[tuple[int, ChunkRef, Stored]]]:
        """The chunks of refs in the cache, None for the others and where zarr shows the
        fill value; and those to decode: their place among refs, and where they are
        stored."""
        chunks: list[np.ndarray | None] = []
        missing: list[tuple[int, ChunkRef, Stored]] = []
        for ref in refs:
            found = None if ref is None else self._cached(reader, ref)
            if isinstance(found, Stored):
                assert ref is not None  # only a chunk's ref finds where it is stored
                missing.append((len(chunks), ref, found))
                found = None
            chunks.append(found)
        return chunks, missing

    def _cached(self, reader: ChunkReader, ref: ChunkRef) -> np.ndarray | Stored | None:
        """ref's chunk from the cache, or where to decode it from, or None where zarr
        shows the fill value (no page, or known unreadable)."""
        try:
            stored = reader.stored(ref)
        except TiffFileError:
            return reader.read(ref)  # meets the page's error again and answers as on_error says
        if stored is None:
            return None
        hit = self.cache.get(stored.key, count_miss=False)  # the read counts a miss
        # no thread, no fetch for a hit: most of a viewer's chunks at every step
        return stored if hit is None else hit

    async def _decoded(
        self, reader: ChunkReader, ref: ChunkRef, stored: Stored, *, leave: bool = False
    ) -> np.ndarray | None:
        data = None
        if stored.page.source.cost is not None:  # a round trip a request: batch them
            data = await self._fetcher.fetch(self._turn, reader.index, ref)
        job = (reader, ref, data, stored)
        result: np.ndarray | None = await self.pool.submit(job, leave=leave)
        return result

    @staticmethod
    def _run_here(job: _Foreground) -> np.ndarray | None:
        """Decode a chunk on the thread of the reader awaiting it."""
        reader, ref, data, stored = job
        return reader.read(ref, data, stored=stored)

    def _run_foreground(self, run: list[Waiting[_Foreground]]) -> None:
        """Decode a run of chunks on one thread; the single strips or tiles of one page
        that are read here are read together first."""
        generation = self.cache.generation  # before any bytes are read: see ChunkCache
        readers: dict[int, ChunkReader] = {}
        groups: dict[tuple[int, int], list[ChunkRef]] = {}
        for waiting in run:
            reader, ref, data, _ = waiting.job
            readers[id(reader)] = reader
            if data is None and ref.one_segment:
                groups.setdefault((id(reader), ref.page), []).append(ref)
        read = {
            group: readers[group[0]].read_run(refs)
            for group, refs in groups.items()
            if len(refs) > 1
        }
        for waiting in run:
            reader, ref, data, stored = waiting.job
            if data is None:
                data = read.get((id(reader), ref.page)) or None
            try:
                waiting.set(reader.read(ref, data, generation=generation, stored=stored))
            except BaseException as exc:  # raised in the reader's task, as an executor does
                waiting.fail(exc)

    # -- turns -----------------------------------------------------------------------
    def _turn(self) -> Turn:
        """This turn of the running loop's selection, ended by a callback after it."""
        loop = asyncio.get_running_loop()
        with self._lock:
            turn = self._turns.get(loop)
            if turn is None:
                turn = self._turns[loop] = Turn()
                loop.call_soon(self._end_turn, loop)
        return turn

    def _end_turn(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            turn = self._turns.pop(loop)
        self._fetcher.start(turn)
        self._plan(turn)

    # -- prefetch --------------------------------------------------------------------
    def _plan(self, turn: Turn) -> None:
        """Replace what is read ahead by the chunks of the views predicted from this
        turn's: a view that moved elsewhere drops the plan made for the last one."""
        with self._planning:
            self._plan_now(turn)

    def _plan_now(self, turn: Turn) -> None:
        views: dict[int, list[Asked]] = {}
        for asked in turn.asks.values():
            if asked.reader.readahead:
                views.setdefault(id(asked.reader), []).append(asked)
        if not views:
            return
        now = time.monotonic()
        jobs: list[_Prefetch] = []
        moved = False
        guessing = True  # of every view that moved
        for askeds in views.values():
            # the level read most is the view; a thumbnail of the coarsest comes beside it
            main = max(askeds, key=lambda a: (len(a.coords), -a.level))
            reader = main.reader
            motion = self._motion(reader)
            view = view_of(main.level, main.coords, now)
            grid = reader.index.levels[main.level].grid
            sliders = sliders_of(grid)
            if not main.whole and motion.continues(view, sliders):
                motion.extend(view)  # the rest of a selection zarr reads over turns
            else:
                thumbnail = main.level == len(reader.index.levels) - 1 and covers_plane(
                    view.box, grid
                )
                more = not main.whole and 0 < in_flight() <= len(main.coords)
                if not motion.observe(view, thumbnail=thumbnail, more=more, sliders=sliders):
                    continue
            moved = True
            guessing = guessing and motion.guessing
            jobs += self._prefetch_jobs(reader, motion)
        if moved:
            # a guess waits for the view to stand still; a motion's next views are
            # decoded at once, while the viewer draws this one
            self.pool.prefetch(jobs, after=STILL_SECONDS if guessing else 0.0)

    def _motion(self, reader: ChunkReader) -> Motion:
        with self._lock:
            found = self._motions.get(id(reader))
            if found is None or found[0] is not reader:
                found = self._motions[id(reader)] = (reader, Motion())
                while len(self._motions) > MOTIONS:
                    self._motions.popitem(last=False)
            self._motions.move_to_end(id(reader))
            return found[1]

    def _prefetch_jobs(self, reader: ChunkReader, motion: Motion) -> list[_Prefetch]:
        index = reader.index
        parts = None if motion.guessing else MOTION_PARTS
        grids = [level.grid for level in index.levels]
        budget = self.cache.maxbytes // PREFETCH_SHARE
        remote = index.series.keyframe.source.cost is not None
        jobs: list[_Prefetch] = []
        spent = planned = 0
        for level, coords in predict(motion, grids):
            ref = grids[level].chunk_ref(coords)
            if ref is None:
                continue
            spent += index.chunk_nbytes(level)
            planned += 1
            if spent > budget or planned > MAX_PLANNED:
                break
            if remote and jobs and len(jobs[-1][1]) < REMOTE_GROUP:
                jobs[-1][1].append(ref)  # one request for a group of chunks
            else:
                jobs.append((reader, [ref], parts))
        return jobs

    def _run_prefetch(self, job: _Prefetch) -> None:
        """Decode chunks ahead into the cache on a prefetch thread; their errors are
        left to the foreground read that meets them again."""
        reader, refs, parts = job
        cache = self.cache
        wanted: list[tuple[ChunkRef, Stored]] = []
        for ref in refs:
            try:
                stored = reader.stored(ref)
            except TiffFileError:
                continue
            if stored is not None and stored.key not in cache:
                wanted.append((ref, stored))
        if not wanted:
            return
        generation = cache.generation
        fetched = self._fetch_together(reader, wanted)
        for (ref, stored), data in zip(wanted, fetched, strict=True):
            with cache.decoding(stored.key) as mine:
                if not mine:
                    continue  # decoded by another thread this moment
                try:
                    reader.read(
                        ref,
                        data,
                        generation=generation,
                        ahead=True,
                        parts=parts,
                        stored=stored,
                    )
                except (TiffFileError, OSError):
                    continue
                except PrefetchDropped:
                    return  # the view went elsewhere: the rest of the job is useless too
            self.prefetched += 1

    @staticmethod
    def _fetch_together(
        reader: ChunkReader, wanted: Sequence[tuple[ChunkRef, Stored]]
    ) -> list[ChunkData | None]:
        """The stored bytes of each chunk of wanted whose file's requests cost a round
        trip, fetched with the others of that file in one round of requests; None where
        the decode reads its own (a local file, or a fetch that failed: the decode meets
        the error and answers as on_error says).  By file: the files of a series may hold
        their segments at the same offsets."""
        ranges: list[list[tuple[int, int]]] = []
        asked: dict[ByteSource, list[tuple[int, int]]] = {}
        for ref, stored in wanted:
            source = stored.page.source
            found: list[tuple[int, int]] = []
            if source.cost is not None:
                with suppress(TiffFileError):  # the decode meets the page's error
                    found = reader.index.byte_ranges(ref)
            ranges.append(found)
            if found:
                asked.setdefault(source, []).extend(found)
        fetched: dict[ByteSource, dict[tuple[int, int], bytes]] = {}
        for source, spans in asked.items():
            unique = list(dict.fromkeys(spans))
            try:
                fetched[source] = dict(zip(unique, source.read_ranges(unique), strict=True))
            except (TiffFileError, OSError):
                continue
        data: list[ChunkData | None] = []
        for (_, stored), found in zip(wanted, ranges, strict=True):
            blobs = fetched.get(stored.page.source)
            data.append(None if not found or blobs is None else {r: blobs[r] for r in found})
        return data

    def close(self) -> None:
        """End the threads, fail what waits, and empty the cache."""
        self.pool.close()
        self._fetcher.close()
        self.cache.clear()
        self.memory.close()


def _chunks_of(job: _Prefetch) -> list[tuple[int, ChunkRef]]:
    """The chunks a prefetch job decodes, as the pool compares plans by them."""
    reader, refs, _ = job
    return [(id(reader), ref) for ref in refs]


def _ask_whole(
    turn: Turn,
    reader: ChunkReader,
    level: int,
    coords: Sequence[tuple[int, ...]],
    refs: Sequence[ChunkRef | None],
) -> None:
    """Ask turn for the chunks of one whole selection (refs: theirs, None where none)."""
    for c, ref in zip(coords, refs, strict=True):
        if ref is not None:
            turn.ask(reader, level, ref.page, c, whole=True)


def _gathers_turns(reader: ChunkReader) -> bool:
    """Whether what reader asks for is gathered by turn of the loop: its views feed the
    read-ahead, or its file's requests cost a round trip and are batched."""
    return reader.readahead or reader.index.series.keyframe.source.cost is not None


def _closed() -> BaseException:
    from ...errors import TiffClosedError

    return TiffClosedError("the file is closed")
