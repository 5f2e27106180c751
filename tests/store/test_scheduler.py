"""The read scheduler: priorities, prefetch along the predicted motion, and its bounds.

The pool is driven with decoders the test holds and releases, so what runs before what
is observed, never timed.  Prefetch is checked by what it leaves in the cache, and by
reads that must return tifffile's pixels whatever it did.
"""

from __future__ import annotations

import asyncio
import gc
import pickle
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
import zarr

from napari_tiffzarr import TiffFile
from napari_tiffzarr.store import ZarrTiffStore
from napari_tiffzarr.store.arrays import open_arrays
from napari_tiffzarr.store.keys import ChunkGrid
from napari_tiffzarr.store.scheduler import ChunkCache
from napari_tiffzarr.store.scheduler import pool as pool_module
from napari_tiffzarr.store.scheduler import scheduler as scheduler_module
from napari_tiffzarr.store.scheduler.motion import Motion, View, predict, view_of
from napari_tiffzarr.store.scheduler.pool import (
    LEFT_PER_THREAD,
    DecodePool,
    PrefetchDropped,
    Waiting,
)

WAIT = 30.0  # a bound for what must happen, never a speed check


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.005)


# -- the pool ---------------------------------------------------------------------------
class _HeldPrefetch:
    """Prefetch jobs that block until released, recording the order things ran in and
    the threads the foreground jobs ran on."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started: list[int] = []
        self.ran: list[str] = []
        self.threads: dict[int, int] = {}

    def prefetch(self, job: int) -> None:
        self.started.append(job)
        self.release.wait(WAIT)
        self.ran.append(f"prefetch {job}")

    def here(self, job: int) -> int:
        self.ran.append(f"foreground {job}")
        self.threads[job] = threading.get_ident()
        return job * 10

    def foreground(self, run: list[Waiting[int]]) -> None:
        for waiting in run:
            waiting.set(self.here(waiting.job))

    def pool(self, workers: int) -> DecodePool[int, int]:
        return DecodePool(
            self.foreground, self.here, self.prefetch, lambda: RuntimeError("closed"), workers
        )


@pytest.mark.parametrize("workers", [1, 2])
def test_a_foreground_read_never_waits_behind_prefetch(workers: int) -> None:
    held = _HeldPrefetch()
    pool = held.pool(workers)
    pool.prefetch(range(100, 110))
    # as many prefetch threads as workers: each has started a job, and holds it
    _until(lambda: len(held.started) == workers, "the first prefetch jobs start")

    async def read() -> list[int]:
        return list(await asyncio.gather(*(pool.submit(i) for i in range(8))))

    # every prefetch job is held: the reads finish only if none queues behind them
    assert asyncio.run(read()) == [i * 10 for i in range(8)]
    assert sorted(held.ran) == [f"foreground {i}" for i in range(8)]
    held.release.set()
    _until(lambda: len(held.ran) == 18, "the prefetch jobs run once the reads are done")
    assert sorted(held.ran[8:]) == [f"prefetch {i}" for i in range(100, 110)]
    pool.close()


def test_one_worker_decodes_where_the_read_is_awaited() -> None:
    """maxworkers=1: every chunk is decoded on the reader's own thread, as in tifffile's
    store; no thread is started for it."""
    held = _HeldPrefetch()
    pool = held.pool(1)
    # the threads alive before: threads of earlier tests' pools may end meanwhile
    before = set(threading.enumerate())

    async def read() -> list[int]:
        return list(await asyncio.gather(*(pool.submit(i) for i in range(6))))

    assert asyncio.run(read()) == [i * 10 for i in range(6)]
    assert set(held.threads.values()) == {threading.get_ident()}
    assert set(threading.enumerate()) <= before  # none started
    pool.close()


def test_readers_decode_beside_the_threads() -> None:
    """Two workers: the reader's thread is one of them.  Whichever thread decodes a
    chunk, each read gets its own chunk; the reader's thread decodes the chunks that no
    thread has taken by the end of its turn."""
    gate = threading.Event()
    held = _HeldPrefetch()

    def foreground(run: list[Waiting[int]]) -> None:
        gate.wait(WAIT)  # the pool's one thread holds what it took
        held.foreground(run)

    pool: DecodePool[int, int] = DecodePool(
        foreground, held.here, held.prefetch, lambda: RuntimeError("closed"), 2
    )

    async def read() -> list[int]:
        reads = [asyncio.ensure_future(pool.submit(i)) for i in range(6)]
        # the thread holds its share: the reader decodes the rest meanwhile
        done = await asyncio.wait_for(_first_done(reads), WAIT)
        assert threading.get_ident() == held.threads[done]
        gate.set()
        return list(await asyncio.gather(*reads))

    assert asyncio.run(read()) == [i * 10 for i in range(6)]
    assert len(held.threads) == 6
    pool.close()


def test_readers_leave_the_threads_the_jobs_they_take_next() -> None:
    """zarr's loop has zarr's work for every chunk besides: its readers decode a chunk
    themselves only while more wait than the threads take next.  A lone job goes to the
    pool's one thread, which is held on it; of the ten read next, the reader decodes the
    backlog down to LEFT_PER_THREAD jobs, and those wait for the thread."""
    gate = threading.Event()
    held = _HeldPrefetch()
    taken = threading.Event()

    def foreground(run: list[Waiting[int]]) -> None:
        if not taken.is_set():
            taken.set()
            gate.wait(WAIT)
        held.foreground(run)

    pool: DecodePool[int, int] = DecodePool(
        foreground, held.here, held.prefetch, lambda: RuntimeError("closed"), 2
    )
    jobs = 10

    async def read() -> list[int]:
        lone = asyncio.ensure_future(pool.submit(0, leave=True))
        deadline = time.monotonic() + WAIT
        while not taken.is_set():
            assert time.monotonic() < deadline, "the lone job never reached the thread"
            await asyncio.sleep(0.001)
        reads = [asyncio.ensure_future(pool.submit(i, leave=True)) for i in range(1, jobs + 1)]
        for _ in range(20):  # the reader's turns: it decodes what it keeps at once
            await asyncio.sleep(0)
        gate.set()
        return list(await asyncio.gather(lone, *reads))

    assert asyncio.run(read()) == [i * 10 for i in range(jobs + 1)]
    loop_thread = threading.get_ident()
    here = sorted(job for job, thread in held.threads.items() if thread == loop_thread)
    assert here == list(range(1, jobs + 1 - LEFT_PER_THREAD))
    assert len(held.threads) == jobs + 1  # the lone job and the ones left: on the thread
    pool.close()


async def _first_done(reads: list[asyncio.Future[int]]) -> int:
    done, _ = await asyncio.wait(reads, return_when=asyncio.FIRST_COMPLETED)
    return int(next(iter(done)).result()) // 10


def _read_in_a_thread(
    pool: DecodePool[int, int], jobs: range
) -> tuple[threading.Thread, list[Any]]:
    """Reads of jobs on an event loop of a thread of their own, which a reader's decode
    may block; their outcomes, in order, once the thread ends."""
    outcome: list[Any] = []

    async def read() -> None:
        reads = (pool.submit(i) for i in jobs)
        outcome.extend(await asyncio.gather(*reads, return_exceptions=True))

    thread = threading.Thread(target=lambda: asyncio.run(read()))
    thread.start()
    return thread, outcome


def test_prefetch_waits_while_foreground_jobs_wait_or_run() -> None:
    gate = threading.Event()
    order: list[str] = []

    def here(job: int) -> None:
        gate.wait(WAIT)
        order.append("foreground")

    def foreground(run: list[Waiting[int]]) -> None:
        for waiting in run:
            waiting.set(here(waiting.job))

    def prefetch(job: int) -> None:
        order.append("prefetch")

    pool: DecodePool[int, int] = DecodePool(
        foreground, here, prefetch, lambda: RuntimeError("closed"), 2
    )
    thread, _ = _read_in_a_thread(pool, range(4))
    _until(lambda: pool.busy, "the reads are taken")
    pool.prefetch([1, 2, 3])
    time.sleep(0.05)  # room for a wrong prefetch thread to run
    assert "prefetch" not in order
    gate.set()
    thread.join(WAIT)
    _until(lambda: order.count("prefetch") == 3, "prefetch runs after the reads")
    assert order == ["foreground"] * 4 + ["prefetch"] * 3
    pool.close()


def test_a_read_without_an_event_loop_runs_before_prefetch_on_its_own_thread() -> None:
    """run_now: every prefetch thread holds a job, and the calls still run, the calling
    thread among those that run them; prefetch queued while they run waits for them;
    the first error is raised, and a closed pool refuses."""
    held = _HeldPrefetch()
    pool = held.pool(2)
    pool.prefetch(range(100, 102))
    _until(lambda: len(held.started) == 2, "the prefetch jobs start")
    threads: list[int] = []

    def call(i: int) -> int:
        threads.append(threading.get_ident())
        return i * 10

    assert pool.run_now([lambda i=i: call(i) for i in range(6)]) == [i * 10 for i in range(6)]
    assert threading.get_ident() in threads
    held.release.set()
    _until(lambda: len(held.ran) == 2, "the held prefetch jobs end")

    gate = threading.Event()
    order: list[str] = []

    def waits() -> None:
        gate.wait(WAIT)
        order.append("now")

    pool2: DecodePool[int, int] = DecodePool(
        held.foreground, held.here, lambda job: order.append("prefetch"), _closed, 2
    )
    reading = threading.Thread(target=lambda: pool2.run_now([waits, waits]))
    reading.start()
    _until(lambda: pool2.busy, "the read runs")
    pool2.prefetch([1, 2])
    time.sleep(0.05)  # room for a wrong prefetch thread to run
    assert "prefetch" not in order
    gate.set()
    reading.join(WAIT)
    _until(lambda: order.count("prefetch") == 2, "prefetch runs after the read")
    assert order == ["now", "now", "prefetch", "prefetch"]

    def broken() -> None:
        raise ValueError("broken")

    with pytest.raises(ValueError, match="broken"):
        pool2.run_now([lambda: None, broken, lambda: None])
    pool.close()
    pool2.close()
    with pytest.raises(RuntimeError, match="closed"):
        pool2.run_now([lambda: None])


def _closed() -> BaseException:
    return RuntimeError("closed")


def test_a_new_plan_drops_what_the_last_one_queued() -> None:
    held = _HeldPrefetch()
    pool = held.pool(1)
    pool.prefetch([1, 2, 3, 4])
    _until(lambda: held.started == [1], "the first job starts")
    pool.prefetch([7, 8])  # the view turned round: 2, 3 and 4 are of no use any more
    held.release.set()
    _until(lambda: len(held.ran) == 3, "the new plan runs")
    assert held.ran == ["prefetch 1", "prefetch 7", "prefetch 8"]
    pool.close()


def test_a_plan_that_waits_to_start_is_replaced_unread_by_the_next() -> None:
    """A guess (a view after a jump) starts only once the view has stood still; a view
    that moves on sooner replaces it, and its own plan starts at once."""
    held = _HeldPrefetch()
    pool = held.pool(2)
    pool.prefetch([1, 2], after=10 * WAIT)  # never waited out here
    time.sleep(0.05)  # room for a wrong prefetch thread to start it
    assert held.started == []
    pool.prefetch([3])
    _until(lambda: held.started == [3], "the next plan starts at once")
    held.release.set()
    _until(lambda: held.ran == ["prefetch 3"], "the next plan runs")
    pool.prefetch([4], after=0.01)
    _until(lambda: held.ran == ["prefetch 3", "prefetch 4"], "a plan left standing starts")
    pool.close()


def test_shared_parts_run_once_each_and_raise_the_first_error() -> None:
    pool: DecodePool[int, int] = DecodePool(
        lambda run: None, lambda job: None, lambda job: None, lambda: RuntimeError("closed"), 2
    )
    done: list[int] = []
    lock = threading.Lock()

    def part(i: int) -> Callable[[], None]:
        def run() -> None:
            with lock:
                done.append(i)

        return run

    pool.share([part(i) for i in range(20)])
    assert sorted(done) == list(range(20))

    def broken() -> None:
        raise ValueError("part broke")

    with pytest.raises(ValueError, match="part broke"):
        pool.share([part(100), broken, part(101)])

    # no parts at all (a chunk with nothing to decode): nothing to wait for
    for share in (
        lambda: pool.share([]),
        lambda: pool.share_ahead([], lambda: False, lambda work: None),
    ):
        thread = threading.Thread(target=share, daemon=True)
        thread.start()
        thread.join(WAIT)
        assert not thread.is_alive()
    pool.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_close_fails_the_reads_not_yet_decoding(workers: int) -> None:
    """Reads whose decode has begun (on a thread or on their own) end with their chunk;
    the others, and reads after the close, fail with the pool's closed error."""
    gate = threading.Event()
    started: set[int] = set()

    def here(job: int) -> int:
        started.add(job)
        gate.wait(WAIT)
        return job

    def foreground(run: list[Waiting[int]]) -> None:
        started.update(waiting.job for waiting in run)  # taken: decoded whatever follows
        gate.wait(WAIT)
        for waiting in run:
            waiting.set(waiting.job)

    pool: DecodePool[int, int] = DecodePool(
        foreground, here, lambda job: None, lambda: RuntimeError("pool closed"), workers
    )
    thread, outcome = _read_in_a_thread(pool, range(4))
    _until(lambda: bool(started), "a read is decoding")
    pool.close()
    gate.set()
    thread.join(WAIT)
    assert len(outcome) == 4
    for job, result in enumerate(outcome):
        if job in started:
            assert result == job
        else:
            assert isinstance(result, RuntimeError)
            assert "closed" in str(result)
    assert len(started) < 4  # the reader's own decode held the loop: others were queued
    with pytest.raises(RuntimeError, match="closed"):
        asyncio.run(pool.submit(9))


# -- the predictor ----------------------------------------------------------------------
def _grid(
    level: int, shape: tuple[int, ...], chunks: tuple[int, ...], roles: tuple[int, ...]
) -> Any:
    class Grid:  # what predict reads of a ChunkGrid
        pass

    grid = Grid()
    grid.level, grid.shape, grid.chunks, grid.served_roles = level, shape, chunks, roles  # type: ignore[attr-defined]
    grid.grid = tuple(-(-s // c) for s, c in zip(shape, chunks, strict=True))  # type: ignore[attr-defined]
    return grid


PYRAMID = [  # (y, x, samples) levels of 8192, 4096, 2048 pixels in 512-pixel chunks
    _grid(i, (8192 >> i, 8192 >> i, 3), (512, 512, 3), (2, 3, 4)) for i in range(3)
]


def _views(motion: Motion, views: list[tuple[int, tuple[tuple[int, int], ...]]]) -> None:
    for t, (level, box) in enumerate(views):
        motion.observe(View(level, box, t * 0.1))


def test_a_pan_predicts_the_chunks_ahead_in_its_direction() -> None:
    motion = Motion()
    _views(motion, [(0, ((2, 3), (2, 4), (0, 0))), (0, ((2, 3), (3, 5), (0, 0)))])
    assert motion.step == (0, 1, 0)
    predicted = list(predict(motion, PYRAMID))
    columns = [coords[1] for _, coords in predicted]
    assert predicted
    assert all(level == 0 for level, _ in predicted)
    assert min(columns) == 6  # nothing behind or inside the view
    assert columns == sorted(columns)  # the next view's chunks first
    assert {coords[0] for _, coords in predicted} == {2, 3}
    assert max(columns) == 5 + motion.steps_ahead


def test_a_reversed_pan_predicts_the_other_side() -> None:
    motion = Motion()
    _views(
        motion,
        [
            (0, ((2, 3), (2, 4), (0, 0))),
            (0, ((2, 3), (3, 5), (0, 0))),
            (0, ((2, 3), (2, 4), (0, 0))),
        ],
    )
    assert motion.step == (0, -1, 0)
    assert {coords[1] for _, coords in predict(motion, PYRAMID)} == {0, 1}


def test_a_slider_predicts_the_next_frames_and_paces_them() -> None:
    stack = [_grid(0, (120, 2048, 2048), (1, 1024, 1024), (-1, 2, 3))]
    motion = Motion()
    for frame in range(4):
        motion.observe(View(0, ((frame, frame), (0, 1), (0, 1)), frame * 0.02))
    assert motion.step == (1, 0, 0)
    predicted = list(predict(motion, stack))
    frames = [coords[0] for _, coords in predicted]
    assert frames == sorted(frames)
    assert set(frames) == set(range(4, 4 + motion.steps_ahead))
    assert motion.steps_ahead > 2  # 20 ms a frame: further ahead than a slow slider
    slow = Motion()
    for frame in range(4):
        slow.observe(View(0, ((frame, frame), (0, 1), (0, 1)), frame * 2.0))
    assert slow.steps_ahead < motion.steps_ahead


def test_a_zoom_predicts_the_next_level_around_the_focus() -> None:
    motion = Motion()
    _views(motion, [(2, ((0, 3), (0, 3), (0, 0))), (1, ((2, 5), (2, 5), (0, 0)))])
    assert motion.zoom == -1  # finer
    predicted = list(predict(motion, PYRAMID))
    assert {level for level, _ in predicted} == {0}
    rows = {coords[0] for _, coords in predicted}
    # level 1's rows 2-5 are its pixels 1024-3071, centred on 2048; the same focus on
    # level 0 is 4096, and a view of the same 2048 pixels around it is rows 6-9 of 512
    assert rows == set(range(6, 10))
    out = Motion()
    _views(out, [(0, ((10, 13), (10, 13), (0, 0))), (1, ((5, 6), (5, 6), (0, 0)))])
    assert out.zoom == 1
    assert {level for level, _ in predict(out, PYRAMID)} == {2}


def test_a_view_of_the_whole_slide_predicts_the_finer_level_whole() -> None:
    """From the whole slide a zoom in may go anywhere, and napari's steps of 1.5 x show
    more of the finer level than the same pixels' worth: all of it comes next, the
    middle first; as a first view and as the view after the thumbnail alike."""
    first = Motion()
    first.observe(View(1, ((0, 7), (0, 7), (0, 0)), 0.0))
    predicted = [coords for level, coords in predict(first, PYRAMID) if level == 0]
    assert set(predicted) == {(y, x, 0) for y in range(16) for x in range(16)}
    after = Motion()
    _views(after, [(2, ((0, 3), (0, 3), (0, 0))), (1, ((0, 7), (0, 7), (0, 0)))])
    assert after.zoom == -1
    predicted = [coords for _, coords in predict(after, PYRAMID)]
    assert len(predicted) == 16 * 16
    assert set(predicted[:4]) == {(y, x, 0) for y in (7, 8) for x in (7, 8)}


def test_a_zoom_onto_the_finest_level_predicts_around_the_view() -> None:
    """Zoomed in as far as the levels go, the next move is a pan (or back out): the
    chunks around the view, not nothing."""
    motion = Motion()
    _views(motion, [(1, ((2, 5), (2, 5), (0, 0))), (0, ((6, 9), (6, 9), (0, 0)))])
    assert motion.zoom == -1
    predicted = list(predict(motion, PYRAMID))
    assert predicted
    assert {level for level, _ in predicted} == {0}
    cells = {coords[:2] for _, coords in predicted}
    ring = {(y, x) for y in range(5, 11) for x in range(5, 11)} - {
        (y, x) for y in range(6, 10) for x in range(6, 10)
    }
    assert cells == ring


def test_a_change_of_several_levels_is_a_jump() -> None:
    """A viewer opened on the whole slide and sent to zoom 1 somewhere: no zoom goes on
    from there, the chunks around the new view come first."""
    motion = Motion()
    _views(motion, [(2, ((0, 3), (0, 3), (0, 0))), (0, ((6, 9), (6, 9), (0, 0)))])
    assert motion.zoom == 0
    assert motion.step is None
    predicted = list(predict(motion, PYRAMID))
    assert {level for level, _ in predicted} == {0}
    assert len(predicted) == 6 * 6 - 4 * 4


def test_with_nothing_known_the_ring_and_the_finer_level_come_first() -> None:
    motion = Motion()
    motion.observe(View(1, ((2, 3), (2, 3), (0, 0)), 0.0))
    predicted = list(predict(motion, PYRAMID))
    ring = [coords for level, coords in predicted if level == 1]
    assert len(ring) == 16 - 4  # the 4 x 4 around the 2 x 2 view, not the view
    assert {level for level, _ in predicted} == {0, 1}
    levels = [level for level, _ in predicted]
    assert levels == sorted(levels, reverse=True)  # the finer level after the ring
    # the view's pixels 1024-2047 of level 1, centred on 1536: 3072 on level 0, and
    # a view of the same 1024 pixels around it, rows and columns 5-6 of 512
    assert {coords for level, coords in predicted if level == 0} == {
        (y, x, 0) for y in (5, 6) for x in (5, 6)
    }


def test_the_same_view_again_changes_nothing() -> None:
    motion = Motion()
    assert motion.observe(View(0, ((0, 1), (0, 1)), 0.0))
    assert not motion.observe(View(0, ((0, 1), (0, 1)), 0.5))
    assert motion.interval is None


# -- the scheduler over real files ------------------------------------------------------
def _pyramid(path: Path) -> list[np.ndarray]:
    data = np.random.default_rng(4).integers(0, 255, (256, 384, 3), np.uint8)
    with tifffile.TiffWriter(path) as tif:
        tif.write(data, tile=(16, 16), photometric="rgb", subifds=1, compression="jpeg")
        tif.write(
            data[::2, ::2], tile=(16, 16), photometric="rgb", subfiletype=1, compression="jpeg"
        )
    with tifffile.TiffFile(path) as tif:
        return [tif.series[0].levels[i].asarray() for i in range(2)]


def _stack(path: Path, frames: int = 12, frame: tuple[int, int] = (64, 96)) -> np.ndarray:
    data = np.random.default_rng(5).integers(0, 4000, (frames, *frame), np.uint16)
    tifffile.imwrite(path, data, tile=(32, 32), compression="zlib", metadata=None)
    return tifffile.imread(path)


def _cached_pages(store: ZarrTiffStore) -> set[int]:
    return {key[0][2] for key in list(store.cache._entries)}


def test_prefetch_never_changes_what_a_read_returns(tmp_path: Path) -> None:
    expected = _pyramid(tmp_path / "pyramid.tif")
    store = ZarrTiffStore(
        TiffFile(tmp_path / "pyramid.tif").series[0], chunkshape=32, readahead=True
    )
    group = zarr.open_group(store, mode="r")
    plain = zarr.open_group(
        ZarrTiffStore(TiffFile(tmp_path / "pyramid.tif").series[0], chunkshape=32, cachesize=0),
        mode="r",
    )
    for step in list(range(6)) + list(range(6, -1, -1)):  # right, then back
        x = 20 * step
        got = group["1"][10:70, x : x + 60]
        np.testing.assert_array_equal(got, expected[1][10:70, x : x + 60])
        np.testing.assert_array_equal(got, plain["1"][10:70, x : x + 60])
    _until(lambda: store.scheduler.prefetched > 0, "chunks are decoded ahead")
    _until(lambda: not store.scheduler.pool.prefetch_queued, "the plan is done")
    np.testing.assert_array_equal(group["0"][:], expected[0])
    np.testing.assert_array_equal(group["1"][:], expected[1])
    store.close()
    assert len(store.cache) == 0


def test_a_viewer_opened_on_the_whole_slide_finds_the_zoom_in_decoded(tmp_path: Path) -> None:
    """napari's first view of a pyramid: the coarsest level whole (its thumbnail), then
    the next level whole (the view), each in one turn through the viewer's arrays; the
    level under the view, around its focus, is decoded before the first zoom in asks
    for it."""
    data = np.random.default_rng(6).integers(0, 255, (256, 384, 3), np.uint8)
    path = tmp_path / "pyramid.tif"
    with tifffile.TiffWriter(path) as tif:
        tif.write(data, tile=(16, 16), photometric="rgb", subifds=2, compression="jpeg")
        for factor in (2, 4):
            tif.write(
                data[::factor, ::factor],
                tile=(16, 16),
                photometric="rgb",
                subfiletype=1,
                compression="jpeg",
            )
    with tifffile.TiffFile(path) as tif:
        level0 = tif.series[0].levels[0].asarray()
    store = ZarrTiffStore(TiffFile(path).series[0], chunkshape=32, readahead=True)
    arrays = open_arrays(store, views=True)
    arrays[2][:]  # the thumbnail
    arrays[1][:]  # the view of the whole slide
    _until(lambda: store.scheduler.prefetched > 0, "chunks are decoded ahead")
    _until(lambda: not store.scheduler.pool.prefetch_queued, "the plan is done")
    misses = store.cache.misses
    # zoomed in twice around the middle: level 0's middle half
    np.testing.assert_array_equal(arrays[0][64:192, 96:288], level0[64:192, 96:288])
    assert store.cache.misses == misses
    store.close()


@pytest.mark.parametrize("frame", [(64, 96), (160, 128)], ids=["6-tiles", "20-tiles"])
def test_a_slider_moved_frame_by_frame_finds_the_next_frames_decoded(
    tmp_path: Path, frame: tuple[int, int]
) -> None:
    """Frames of 6 tiles are asked for in one turn of zarr's loop; frames of 20, more than
    the 10 zarr keeps in flight, over three: the prediction follows the frames either way."""
    expected = _stack(tmp_path / "stack.tif", frame=frame)
    store = ZarrTiffStore(TiffFile(tmp_path / "stack.tif").series[0], readahead=True)
    array = zarr.open_array(store, mode="r")
    for t in range(3):
        np.testing.assert_array_equal(array[t], expected[t])
    # frames 3 and 4 follow the slider's motion: decoded ahead, every tile of them
    tiles = (frame[0] // 32) * (frame[1] // 32)

    def decoded(page: int) -> int:
        return sum(key[0][2] == page for key in list(store.cache._entries))

    # every tile: a count over all frames would pass with parts of both still decoding
    _until(
        lambda: decoded(3) == tiles and decoded(4) == tiles,
        "the next frames are decoded ahead",
    )
    misses = store.cache.misses
    np.testing.assert_array_equal(array[3], expected[3])
    assert store.cache.misses == misses  # nothing of frame 3 was decoded for the read
    store.close()


def test_prefetch_stays_within_the_cache_bound(tmp_path: Path) -> None:
    expected = _stack(tmp_path / "stack.tif", frames=40)
    tile = 32 * 32 * 2
    store = ZarrTiffStore(
        TiffFile(tmp_path / "stack.tif").series[0], readahead=True, cachesize=40 * tile
    )
    array = zarr.open_array(store, mode="r")
    peak = 0
    for frame in range(0, 30):
        np.testing.assert_array_equal(array[frame], expected[frame])
        peak = max(peak, store.cache.nbytes)
    _until(lambda: not store.scheduler.pool.prefetch_queued, "the last plan is done")
    assert max(peak, store.cache.nbytes) <= store.cache.maxbytes
    assert store.scheduler.prefetched > 0
    store.close()


def test_a_pickled_store_keeps_readahead(tmp_path: Path) -> None:
    _stack(tmp_path / "stack.tif")
    store = ZarrTiffStore(TiffFile(tmp_path / "stack.tif").series[0])
    store.readahead = True  # as the viewer turns it on once a layer is open
    copy = pickle.loads(pickle.dumps(store))
    assert copy.readahead is True
    assert copy.config.readahead is True
    assert copy == store
    store.close()
    copy.close()


def test_readahead_turned_on_before_the_first_read_reads_ahead(tmp_path: Path) -> None:
    """As a viewer opens a layer: the array opened without read-ahead, which is turned on
    before a chunk is read, and the frames after the first ones decoded ahead."""
    expected = _stack(tmp_path / "stack.tif")
    store = ZarrTiffStore(TiffFile(tmp_path / "stack.tif").series[0])
    array = zarr.open_array(store, mode="r")
    store.readahead = True
    for t in range(3):
        np.testing.assert_array_equal(array[t], expected[t])
    _until(lambda: store.scheduler.prefetched > 0, "the next frames are decoded ahead")
    store.close()


def test_decoding_threads_end_with_an_unclosed_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store dropped without close() is collected, and its file's threads end after a
    while without work, instead of living as long as the process."""
    monkeypatch.setattr(pool_module, "IDLE_SECONDS", 0.05)
    expected = _stack(tmp_path / "stack.tif")
    store = ZarrTiffStore(TiffFile(tmp_path / "stack.tif").series[0], readahead=True)
    array = zarr.open_array(store, mode="r")
    for frame in range(3):
        np.testing.assert_array_equal(array[frame], expected[frame])
    threads = [t for t in threading.enumerate() if t.name.startswith("tiffzarr-")]
    assert threads
    owner = weakref.ref(store)
    del array, store
    for thread in threads:
        thread.join(WAIT)
        assert not thread.is_alive()
    gc.collect()
    assert owner() is None


def test_grids_of_real_levels_predict_within_them(tmp_path: Path) -> None:
    _pyramid(tmp_path / "pyramid.tif")
    store = ZarrTiffStore(TiffFile(tmp_path / "pyramid.tif").series[0], chunkshape=32)
    grids: list[ChunkGrid] = [level.grid for level in store.index.levels]
    motion = Motion()
    motion.observe(View(1, ((0, 1), (0, 1), (0, 0)), 0.0))
    for level, coords in predict(motion, grids):
        assert grids[level].chunk_ref(coords) is not None
    store.close()


def test_a_thumbnail_read_between_views_does_not_break_the_motion() -> None:
    """napari reads the coarsest level whole for its thumbnail after each view: neither
    its first read nor the same read again is taken for a zoom."""
    motion = Motion()
    thumbnail = (2, ((0, 3), (0, 3), (0, 0)))
    views = [(0, ((2, 3), (2, 4), (0, 0))), thumbnail, (0, ((2, 3), (3, 5), (0, 0))), thumbnail]
    for t, (level, box) in enumerate(views):
        motion.observe(View(level, box, t * 0.1), thumbnail=level == 2)
    assert motion.step == (0, 1, 0)
    assert motion.zoom == 0
    assert {level for level, _ in predict(motion, PYRAMID)} == {0}


def test_a_whole_slide_view_after_the_thumbnail_is_a_view() -> None:
    """napari opens a pyramid on the whole slide: its thumbnail reads the coarsest level
    whole, its view the next level whole.  That view is where a zoom in starts from: the
    finer level around it comes next."""
    motion = Motion()
    motion.observe(View(2, ((0, 3), (0, 3), (0, 0)), 0.0), thumbnail=True)
    assert motion.observe(View(1, ((0, 7), (0, 7), (0, 0)), 0.1))
    assert motion.last is not None
    assert motion.last.level == 1
    assert motion.zoom == -1
    assert {level for level, _ in predict(motion, PYRAMID)} == {0}


def test_a_jump_predicts_only_the_frames_beside_it() -> None:
    """A click far along a slider sets no direction: the three frames on each side come
    next, nearest first, so that the first three steps either way are ready; only a step of
    a few frames, repeated, is a motion.  A store's first view reads nothing beside it:
    the viewer draws its first frame then, and frames decoded on every core would delay
    it."""
    stack = [_grid(0, (2000, 6, 7), (1, 6, 7), (-1, 2, 3))]
    motion = Motion()
    motion.observe(View(0, ((1000, 1000), (0, 0), (0, 0)), 0.0), sliders=[0])
    assert list(predict(motion, stack)) == []
    motion.observe(View(0, ((1010, 1010), (0, 0), (0, 0)), 0.1), sliders=[0])
    assert motion.step is None  # ten frames at once: a jump along a slider
    assert [coords for _, coords in predict(motion, stack)] == [
        (1011, 0, 0),
        (1009, 0, 0),
        (1012, 0, 0),
        (1008, 0, 0),
        (1013, 0, 0),
        (1007, 0, 0),
    ]
    motion.observe(View(0, ((1011, 1011), (0, 0), (0, 0)), 0.2), sliders=[0])
    assert motion.step == (1, 0, 0)
    assert [coords[0] for _, coords in predict(motion, stack)][:2] == [1012, 1013]
    # at the last frame nothing lies beyond: nothing is invented
    motion.observe(View(0, ((1999, 1999), (0, 0), (0, 0)), 0.3), sliders=[0])
    assert motion.step is None
    assert list(predict(motion, stack)) == [
        (0, (1998, 0, 0)),
        (0, (1997, 0, 0)),
        (0, (1996, 0, 0)),
    ]


def test_the_frames_beside_a_jump_wait_for_the_view_to_stand_still(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Jumps that follow each other (a slider dragged far, clicks along it) read nothing
    beside them: the guess would compete with the viewer's drawing and never be shown.
    The first step of a motion reads ahead at once."""
    monkeypatch.setattr(scheduler_module, "STILL_SECONDS", 10 * WAIT)
    expected = _stack(tmp_path / "stack.tif", frames=20)
    store = ZarrTiffStore(TiffFile(tmp_path / "stack.tif").series[0], readahead=True)
    array = zarr.open_array(store, mode="r")
    for t in (0, 10, 4):  # a first view, then two jumps
        np.testing.assert_array_equal(array[t], expected[t])
    time.sleep(0.05)  # room for a wrong prefetch thread to start the guess
    assert store.scheduler.prefetched == 0
    assert store.scheduler.pool.prefetch_queued > 0  # frames 2, 3, 5 and 6, waiting
    np.testing.assert_array_equal(array[5], expected[5])  # a step: the slider moves on
    _until(lambda: {6, 7} <= _cached_pages(store), "the frames ahead are decoded")
    assert 3 not in _cached_pages(store)  # behind the motion: dropped unread
    store.close()


def test_a_motion_reads_each_frame_ahead_whole_and_a_guess_in_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Along a known motion a frame read ahead is one part (MOTION_PARTS), decoded on one
    thread in one go; beside a still view, a guess, it is cut into the reader's parts
    (two tile rows here: two parts), each giving way to the foreground."""
    monkeypatch.setattr(scheduler_module, "STILL_SECONDS", 0.0)
    parts_of: dict[int, set[int]] = {}  # page: the numbers of parts it was read ahead in
    share_ahead = DecodePool.share_ahead

    def recorded(pool: DecodePool[Any, Any], parts: Any, *args: Any) -> None:
        job = getattr(pool._job, "current", None)
        assert job is not None  # on a prefetch thread, running its job
        parts_of.setdefault(job[1][0].page, set()).add(len(parts))
        share_ahead(pool, parts, *args)

    monkeypatch.setattr(DecodePool, "share_ahead", recorded)
    expected = _stack(tmp_path / "stack.tif", frames=30)  # 64 x 96 frames, 32-pixel tiles
    store = ZarrTiffStore(
        TiffFile(tmp_path / "stack.tif").series[0], chunkshape=(64, 96), readahead=True
    )
    array = zarr.open_array(store, mode="r")
    for t in (20, 21, 22):
        np.testing.assert_array_equal(array[t], expected[t])
    _until(lambda: {23, 24} <= set(parts_of), "frames 23 and 24 read ahead")
    assert parts_of[23] == parts_of[24] == {scheduler_module.MOTION_PARTS}
    # a jump back, behind the motion's reach: a guess beside it
    np.testing.assert_array_equal(array[5], expected[5])
    _until(lambda: {4, 6} <= set(parts_of), "frames 4 and 6 read beside the jump")
    assert parts_of[4] == {2}
    assert parts_of[6] == {2}
    store.close()


def test_a_selection_read_over_several_turns_is_one_view() -> None:
    """zarr keeps ten chunk reads in flight: a 4 x 4 chunk frame is asked for in turns of
    10, then the rest in C order.  Those turns grow the view; the motion is the step
    between frames, and the prediction holds whole frames."""
    stack = [_grid(0, (50, 2048, 2048), (1, 512, 512), (-1, 2, 3))]
    motion = Motion()
    cells = [(y, x) for y in range(4) for x in range(4)]

    def read_frame(t: int, time_: float) -> None:
        turns = [cells[:10], cells[10:15], cells[15:]]
        for n, turn in enumerate(turns):
            view = view_of(0, [(t, y, x) for y, x in turn], time_ + n * 0.001)
            if motion.continues(view, fixed=[0]):
                motion.extend(view)
            else:
                assert n == 0, "a later turn of the frame was taken for a new view"
                assert motion.observe(view, more=len(turn) == 10, sliders=[0]) or t == 0

    read_frame(0, 0.0)
    assert motion.last is not None
    assert motion.last.box == ((0, 0), (0, 3), (0, 3))
    read_frame(1, 0.1)
    assert motion.step == (1, 0, 0)
    predicted = list(predict(motion, stack))
    frames = sorted({coords[0] for _, coords in predicted})
    assert frames[:2] == [2, 3]
    for frame in frames:  # whole frames, each chunk once
        assert sorted(c[1:] for _, c in predicted if c[0] == frame) == cells
    # the same frame read again is no new view; a pan is not taken for more of it
    assert not motion.observe(view_of(0, [(1, y, x) for y, x in cells[:10]], 0.2))
    pan = view_of(0, [(1, y, x + 1) for y, x in cells[:10] if x < 3], 0.3)
    assert not motion.continues(pan, fixed=[0])


def test_one_decoding_thread_decodes_on_zarrs_thread(tmp_path: Path) -> None:
    """maxworkers=1: chunks are decoded where zarr asks for them, as tifffile's store
    does, and no decoding thread starts."""
    expected = _stack(tmp_path / "stack.tif")
    before = {t for t in threading.enumerate() if t.name == "tiffzarr-decode"}
    store = ZarrTiffStore(TiffFile(tmp_path / "stack.tif").series[0], maxworkers=1)
    np.testing.assert_array_equal(zarr.open_array(store, mode="r")[:], expected)
    started = {t for t in threading.enumerate() if t.name == "tiffzarr-decode"} - before
    assert started == set()
    assert store.cache.misses == 12 * 2 * 3  # every tile decoded once, none twice
    store.close()


@pytest.mark.parametrize("maxworkers", [1, 2])
def test_a_page_that_cannot_be_parsed_answers_as_on_error_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, maxworkers: int
) -> None:
    """Pages of a stack are parsed on first use, when zarr first asks for one of their
    chunks: a page broken then is a chunk error like any other, filled or raised."""
    from napari_tiffzarr import TiffFileError
    from napari_tiffzarr.store import TiffChunkWarning
    from napari_tiffzarr.store.index import ChunkIndex

    path = tmp_path / "stack.tif"
    data = np.arange(5 * 32 * 32, dtype=np.uint16).reshape(5, 32, 32)
    tifffile.imwrite(path, data, compression="zlib", metadata={"axes": "TYX"})
    page = ChunkIndex.page

    def broken_third(index: ChunkIndex, ref: Any) -> Any:
        if ref.page == 3:
            raise TiffFileError("stack.tif: page 3: its IFD cannot be parsed")
        return page(index, ref)

    monkeypatch.setattr(ChunkIndex, "page", broken_third)
    with TiffFile(path) as tif:
        raising = zarr.open_array(ZarrTiffStore(tif.series[0], maxworkers=maxworkers), mode="r")
        np.testing.assert_array_equal(raising[:3], data[:3])
        with pytest.raises(TiffFileError, match="page 3: its IFD"):
            raising[3]
        store = ZarrTiffStore(tif.series[0], maxworkers=maxworkers, on_error="fill", fillvalue=9)
        filling = zarr.open_array(store, mode="r")
        with pytest.warns(TiffChunkWarning, match="page 3: its IFD"):
            got = filling[:]
        expected = data.copy()
        expected[3] = 9
        np.testing.assert_array_equal(got, expected)
        assert store.errors == 1


# -- prefetch in parts ------------------------------------------------------------------
class _Parts:
    """The parts of one chunk read ahead: each records the thread it ran on; part 0 says
    it started, then holds until released."""

    def __init__(self, count: int) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.threads: dict[int, str] = {}
        self.order: list[str] = []
        self.parts = [self._part(i) for i in range(count)]

    def _part(self, i: int) -> Callable[[], None]:
        def run() -> None:
            if i == 0:
                self.started.set()
                self.release.wait(WAIT)
            self.threads[i] = threading.current_thread().name
            self.order.append(f"part {i}")

        return run


@pytest.mark.parametrize("wanted", [False, True])
def test_a_chunk_read_ahead_gives_way_between_its_parts(wanted: bool) -> None:
    """A frame read ahead in rows of tiles waits between rows while zarr waits for a
    chunk, so it delays that read by a row at most; a read that waits for this very chunk
    lets it go on."""
    parts = _Parts(4)
    gate = threading.Event()

    def here(job: int) -> None:
        gate.wait(WAIT)
        parts.order.append("foreground")

    def foreground(run: list[Waiting[int]]) -> None:
        for waiting in run:
            waiting.set(here(waiting.job))

    pool: DecodePool[int, int] = DecodePool(
        foreground,
        here,
        lambda job: pool.share_ahead(parts.parts, lambda: wanted, lambda work: None),
        lambda: RuntimeError("closed"),
        1,
    )
    pool.prefetch([0])
    assert parts.started.wait(WAIT)
    thread, _ = _read_in_a_thread(pool, range(1))
    _until(lambda: pool.busy, "the read is taken")
    parts.release.set()  # part 0 ends while the read runs
    if wanted:
        _until(lambda: len(parts.order) == 4, "the wanted chunk's parts go on")
        assert parts.order == ["part 0", "part 1", "part 2", "part 3"]
    else:
        _until(lambda: parts.order == ["part 0"], "part 0 ends")
        time.sleep(0.05)  # room for a part that should wait to run
        assert parts.order == ["part 0"]
    gate.set()
    thread.join(WAIT)
    _until(lambda: len(parts.order) == 5, "the rest of the chunk once the read is done")
    if not wanted:
        assert parts.order == ["part 0", "foreground", "part 1", "part 2", "part 3"]
    pool.close()


def test_free_prefetch_threads_help_with_the_nearest_chunk() -> None:
    """The parts of a chunk read ahead go to every free prefetch thread before any starts
    a job of its own: the nearest frame is done on every core first."""
    parts = _Parts(4)
    pool: DecodePool[int, int] = DecodePool(
        lambda run: None, lambda job: None, lambda job: None, lambda: RuntimeError("closed"), 1
    )
    owner = threading.Thread(
        target=lambda: pool.share_ahead(parts.parts, lambda: False, lambda work: None),
        name="owner",
    )
    owner.start()
    assert parts.started.wait(WAIT)
    # the owner holds part 0: only the pool's prefetch thread can run the others
    _until(lambda: len(parts.order) == 3, "a prefetch thread runs the other parts")
    assert {parts.threads[i] for i in (1, 2, 3)} == {"tiffzarr-prefetch"}
    parts.release.set()
    owner.join(WAIT)
    assert parts.threads[0] == "owner"
    pool.close()


@pytest.mark.parametrize(("named", "wanted"), [(False, False), (True, False), (False, True)])
def test_a_new_plan_drops_the_parts_of_a_chunk_it_no_longer_names(
    named: bool, wanted: bool
) -> None:
    """A slider that turns: the frame behind it, read ahead in parts, stops after the
    part running, and nothing of it is kept; a plan that still names it, or a read that
    waits for it, lets it finish."""
    parts = _Parts(4)
    outcome: list[str] = []

    def prefetch(job: int) -> None:
        if job == 1 and not outcome:
            try:
                pool.share_ahead(parts.parts, lambda: wanted, lambda work: None)
                outcome.append("finished")
            except PrefetchDropped:
                outcome.append("dropped")
        else:
            parts.order.append(f"prefetch {job}")

    pool: DecodePool[int, int] = DecodePool(
        lambda run: None, lambda job: None, prefetch, lambda: RuntimeError("closed"), 1
    )
    pool.prefetch([1])
    assert parts.started.wait(WAIT)  # the job's own thread runs part 0
    pool.prefetch([1, 2] if named else [2])  # the next view's plan
    parts.release.set()
    _until(lambda: "prefetch 2" in parts.order, "the new plan runs")
    if named or wanted:
        assert outcome == ["finished"]
        assert parts.order[:4] == ["part 0", "part 1", "part 2", "part 3"]
    else:
        assert outcome == ["dropped"]
        assert parts.order == ["part 0", "prefetch 2"]
    pool.close()


def test_a_new_plan_keeps_the_parts_of_the_chunk_being_read_ahead() -> None:
    """The next view's plan replaces what is queued, but not the parts of a chunk already
    being decoded: a free thread helps finish it (the frame napari asks for next) before
    it starts the new plan's next frame, instead of both being decoded on one core each."""
    parts = _Parts(4)
    order = parts.order
    held = threading.Event()
    first = threading.Event()

    def prefetch(job: int) -> None:
        if job == 1:
            first.set()
            held.wait(WAIT)  # the prefetch thread is busy while the chunk's parts queue
        order.append(f"prefetch {job}")

    pool: DecodePool[int, int] = DecodePool(
        lambda run: None, lambda job: None, prefetch, lambda: RuntimeError("closed"), 1
    )
    pool.prefetch([1])
    assert first.wait(WAIT)
    owner = threading.Thread(
        target=lambda: pool.share_ahead(parts.parts, lambda: False, lambda work: None),
        name="owner",
    )
    owner.start()
    assert parts.started.wait(WAIT)  # the owner runs part 0; parts 1 to 3 are queued
    pool.prefetch([2])  # the next view's plan
    held.set()
    _until(lambda: "prefetch 2" in order, "the new plan runs")
    assert order[:5] == ["prefetch 1", "part 1", "part 2", "part 3", "prefetch 2"]
    assert {parts.threads[i] for i in (1, 2, 3)} == {"tiffzarr-prefetch"}
    parts.release.set()
    owner.join(WAIT)
    pool.close()


def test_a_read_waiting_for_a_chunk_read_ahead_runs_what_is_left_of_it() -> None:
    """zarr asks for a chunk a prefetch thread is decoding: the reading thread runs what
    the decode offers (its parts not yet started) instead of only waiting, and the
    threads giving way are told that this chunk is wanted."""
    cache = ChunkCache(1 << 20)
    key = ("page", 0)
    told: list[bool] = []
    cache.on_wanted = lambda: told.append(cache.wanted(key))
    helped: list[str] = []
    offered = threading.Event()
    release = threading.Event()

    def read_ahead() -> None:
        with cache.decoding(key):
            cache.help_with(key, lambda: helped.append(threading.current_thread().name))
            offered.set()
            release.wait(WAIT)  # the part the prefetch thread runs itself
            cache.put(key, np.arange(4), cache.generation)

    ahead = threading.Thread(target=read_ahead)
    ahead.start()
    assert offered.wait(WAIT)
    found: list[Any] = []
    reader = threading.Thread(target=lambda: found.append(cache.wait_decoding(key)), name="zarr")
    reader.start()
    _until(lambda: helped == ["zarr"], "the reader runs what is left")
    assert told == [True]
    release.set()
    reader.join(WAIT)
    ahead.join(WAIT)
    np.testing.assert_array_equal(found[0], np.arange(4))
    assert not cache.wanted(key)
