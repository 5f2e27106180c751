"""The decoding threads of one open file: foreground reads first, prefetch in the gaps.

Foreground jobs (chunks zarr waits for) are decoded by up to ``workers`` threads, the
readers' own among them: a reader queues its job, lets the other readers of its event
loop's turn queue theirs, and decodes its job itself unless a thread has taken it, or,
for zarr's one-segment chunks, where more jobs wait than the threads take next (see
LEFT_PER_THREAD).  On two cores that is what keeps both busy: a result decoded on
another thread waits for the GIL while zarr's loop runs Python (up to the interpreter's
switch interval), while the loop decoding a chunk of its own releases the GIL for the
threads and hands nothing over; but the loop has zarr's work for every chunk to do as
well, so it leaves the threads the jobs they are about to take.

A caller that waits without an event loop (a viewer's selection, see run_now) decodes
its chunks on its own thread, the idle threads helping: no hand-over at all.

The other threads take a *run* of the jobs waiting, their share of them (a page's
neighbouring tiles among them are read at once), and hand each result to the waiting
event loop as it is done, joining the results that wait for the loop's next wake-up.

Prefetch jobs run on threads of their own (as many as ``workers``), one job at a time
each, and start only while no foreground job waits or runs: a foreground job never
queues behind a prefetch job, and while the viewer draws, or the user rests, every core
decodes ahead.  Queued prefetch jobs are replaced, not added to, by the next plan, so a
change of direction drops what it made useless; a plan that is a guess starts only after
a delay, so that the next view, if it comes sooner, drops it unread.  A job already
running in parts stays, for the free threads to help with, where the next plan names it
too (the frame napari asks for next); where it does not (the frame behind a slider that
turned), its parts not yet started are dropped.

Threads start when work arrives and end after a while without any, so a pool left
behind by a store that was never closed does not keep threads for ever.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Generic, TypeVar

__all__ = ["DecodePool", "PrefetchDropped", "Waiting"]

Job = TypeVar("Job")
Prefetch = TypeVar("Prefetch")
Result = TypeVar("Result")

_CPUS = os.cpu_count() or 1
# The most jobs one thread takes at once: enough to share a turn's chunks among the
# threads, few enough that the first results are not held back long.
MAX_RUN = 16
# Seconds a thread waits for work before it ends.
IDLE_SECONDS = 10.0
# Jobs a decoding thread is left, at most, by readers that could decode them on their
# event loop's thread.  The loop also runs zarr's work for every chunk (as long as a
# decode here): a loop decoding half the chunks of a cold read is the slower of two
# cores, while the thread waits for its jobs.  Left these, a thread decodes about two
# thirds (benchmarks/RESULTS.md, first reads).
LEFT_PER_THREAD = 2


class PrefetchDropped(Exception):
    """Raised where a job read ahead in parts stops because the next plan no longer
    names it: what it decoded is incomplete and must not be kept."""


@dataclass(eq=False)
class Waiting(Generic[Job]):
    """A foreground job and the future its reader awaits on its event loop."""

    job: Job
    future: asyncio.Future[Any]
    handoff: _Handoff
    taken: bool = False  # by a thread, or by its reader
    result: Any = None
    error: BaseException | None = None
    finished: bool = False

    def set(self, result: Any) -> None:
        """The job's result, handed to its reader at once: zarr asks for the next chunk
        as soon as one arrives, so a run's first results do not wait for its last."""
        self.result, self.finished = result, True
        self.handoff.deliver((self,))

    def fail(self, error: BaseException) -> None:
        self.error, self.finished = error, True
        self.handoff.deliver((self,))


@dataclass(eq=False)
class _Shared:
    """Parts of one job that idle threads may help with: each part runs once, on
    whichever thread claims it first, and the owner waits only for claimed parts."""

    parts: Sequence[Callable[[], None]]
    owner: Any = None  # the prefetch job the parts are of, where a prefetch thread runs it
    dropped: bool = False  # by a plan that does not name owner (see DecodePool.prefetch)
    claimed: int = 0
    finished: int = 0
    errors: list[BaseException] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def open(self) -> bool:
        """Whether some part is still unclaimed (read without the lock: a hint)."""
        return self.claimed < len(self.parts)

    def work(self) -> None:
        while True:
            with self.lock:
                if self.claimed >= len(self.parts):
                    return
                part = self.parts[self.claimed]
                self.claimed += 1
            try:
                part()
            except BaseException as exc:  # the owner raises it
                self.errors.append(exc)
            with self.lock:
                self.finished += 1
                if self.finished == len(self.parts):
                    self.done.set()


class DecodePool(Generic[Job, Prefetch]):
    """Runs foreground jobs with run_here(job) on the thread that submits them, or with
    run_foreground(run) on up to `workers` - 1 threads, and prefetch jobs with
    run_prefetch(job) on up to `workers` threads of their own."""

    def __init__(
        self,
        run_foreground: Callable[[list[Waiting[Job]]], None],
        run_here: Callable[[Job], Any],
        run_prefetch: Callable[[Prefetch], None],
        closed_error: Callable[[], BaseException],
        workers: int | None = None,
        *,
        chunks_of: Callable[[Prefetch], Iterable[Hashable]] = lambda job: (job,),
    ) -> None:
        self._run_foreground = run_foreground
        self._run_here = run_here
        self._run_prefetch = run_prefetch
        self._closed_error = closed_error
        self._chunks_of = chunks_of
        self.workers = workers or _CPUS
        # the state's lock, taken directly (a Condition's with-statement runs Python code,
        # twice a chunk), and the condition over it that threads wait on
        self._mutex = threading.Lock()
        self._changed = threading.Condition(self._mutex)
        self._foreground: deque[Waiting[Job] | _Shared] = deque()
        self._prefetch: deque[Prefetch | _Shared] = deque()
        self._threads = 0  # foreground threads alive
        self._idle = 0  # of which waiting for work
        self._running = 0  # foreground runs being decoded
        self._prefetchers = 0  # prefetch threads alive
        self._prefetching = 0  # prefetch jobs running
        self._closed = False
        self._handoff = _Handoff()
        self._sharing: list[_Shared] = []  # prefetch jobs running in parts
        self._job = threading.local()  # the prefetch job a prefetch thread runs
        self._start_at = 0.0  # time.monotonic() from which the queued plan may run

    # -- foreground ------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """Whether a foreground job waits or runs."""
        return bool(self._foreground) or self._running > 0

    async def submit(self, job: Job, *, leave: bool = False) -> Any:
        """Run job, on this thread unless a decoding thread has taken it by the end of
        the loop's turn; its result, or its exception raised here.  leave: the loop has
        work of its own for each such job (zarr's), and the job is short (one segment):
        it is left to the threads unless more wait than they take next.  A long job
        (parts shared among the threads, the loop's among them) is decoded here."""
        if self.workers <= 1:  # nobody to share with: no queue, no turn given away
            with self._mutex:
                if self._closed:
                    raise self._closed_error()
                self._running += 1
            return self._finish_here(job)
        waiting = Waiting(job, asyncio.get_running_loop().create_future(), self._handoff)
        with self._mutex:
            if self._closed:
                raise self._closed_error()
            self._foreground.append(waiting)
            self._wake_foreground()
        # one turn: zarr's other reads of this selection queue their chunks, and the
        # threads take their share of them
        await asyncio.sleep(0)
        with self._mutex:
            # decoded here only while more wait than the threads take next
            mine = (
                not waiting.taken
                and not self._closed
                and (not leave or len(self._foreground) > LEFT_PER_THREAD * self._threads)
            )
            if mine:
                waiting.taken = True
                self._foreground.remove(waiting)
                self._running += 1
        if not mine:
            return await waiting.future
        return self._finish_here(job)

    def _finish_here(self, job: Job) -> Any:
        """Run job on this thread, already counted as running."""
        try:
            return self._run_here(job)
        finally:
            self._ran_one()

    def _ran_one(self) -> None:
        """A foreground run (or a job run by its reader) has ended."""
        with self._mutex:
            self._running -= 1
            if self._prefetchers and not self.busy:
                self._changed.notify_all()  # the prefetch threads may go on

    def share(self, parts: Sequence[Callable[[], None]]) -> None:
        """Run parts of one foreground job, the calling thread among those that run
        them, idle foreground threads helping; the first error is raised here."""
        shared = _Shared(parts)
        if len(parts) > 1:
            with self._mutex:
                for _ in range(min(self.workers, len(parts)) - 1):
                    self._foreground.appendleft(shared)  # before whole jobs: one is waiting
                    self._wake_foreground()
        self._join(shared)

    def run_now(self, calls: Sequence[Callable[[], Result]]) -> list[Result]:
        """Run calls on the calling thread, idle decoding threads helping, as a foreground
        read that waits without an event loop (see ReadScheduler.read_view_here): prefetch
        gives way to it as to any.  Their results in order; the first error is raised."""
        results: list[Any] = [None] * len(calls)

        def into(i: int, call: Callable[[], Result]) -> None:
            results[i] = call()

        with self._mutex:
            if self._closed:
                raise self._closed_error()
            self._running += 1
        try:
            self.share([partial(into, i, call) for i, call in enumerate(calls)])
        finally:
            self._ran_one()
        return results

    def _wake_foreground(self) -> None:
        """With the lock held: have a thread take the queue's new work."""
        if self._idle:
            self._changed.notify_all()
        elif self._threads < self.workers - 1:  # the caller's thread is one of them
            self._threads += 1
            threading.Thread(target=self._serve, name="tiffzarr-decode", daemon=True).start()

    def _take(self) -> list[Waiting[Job]] | _Shared | None:
        """With the lock held: the next shared job or this thread's share of the jobs."""
        queue = self._foreground
        first = queue[0]
        if isinstance(first, _Shared):
            queue.popleft()
            return first
        # the callers decode their own chunks as one of the workers: this thread's share
        share = min(MAX_RUN, -(-len(queue) // max(1, self.workers)))
        run: list[Waiting[Job]] = []
        while queue and len(run) < share:
            waiting = queue[0]
            if isinstance(waiting, _Shared):
                break  # a chunk's parts wait for help: they go first
            queue.popleft()
            waiting.taken = True
            if not waiting.future.cancelled():  # zarr gave up on the selection
                run.append(waiting)
        return run or None

    def _serve(self) -> None:
        while True:
            with self._mutex:
                while not self._foreground and not self._closed:
                    self._idle += 1
                    woken = self._changed.wait(IDLE_SECONDS)
                    self._idle -= 1
                    if not woken and not self._foreground:
                        self._threads -= 1
                        return
                if self._closed:
                    self._threads -= 1
                    return
                taken = self._take()
                if taken is None:
                    continue
                self._running += 1
            try:
                if isinstance(taken, _Shared):
                    taken.work()
                else:
                    self._run(taken)
            finally:
                self._ran_one()

    def _run(self, run: list[Waiting[Job]]) -> None:
        try:
            self._run_foreground(run)
        except BaseException as exc:  # every job of the run hears how it ended
            for waiting in run:
                if not waiting.finished:
                    waiting.fail(exc)

    # -- prefetch --------------------------------------------------------------------
    def prefetch(self, jobs: Iterable[Prefetch], *, after: float = 0.0) -> None:
        """Replace the queued prefetch jobs with jobs, nearest first.  The parts of a job
        running now stay in front where jobs name one of its chunks: its thread runs them
        all anyway, and the other threads helping it finish sooner, instead of starting
        the next frame while the one the viewer asks for next is decoded on one core.
        A running job that jobs do not name is dropped (see share_ahead).  after: seconds
        before the jobs start, for a plan that is a guess (see scheduler): the next plan,
        if it comes sooner, replaces them unread."""
        jobs = list(jobs)
        planned = {chunk for job in jobs for chunk in self._chunks_of(job)}
        with self._mutex:
            if self._closed:
                return
            running: list[Prefetch | _Shared] = []
            for shared in self._sharing:
                if shared.owner is not None and planned.isdisjoint(self._chunks_of(shared.owner)):
                    shared.dropped = True
                elif shared.open:
                    running.append(shared)
            self._prefetch = deque([*running, *jobs])
            self._start_at = time.monotonic() + after
            self._start_prefetchers()

    def _start_prefetchers(self) -> None:
        """With the lock held: threads for the queued prefetch work, and a wake-up."""
        while self._prefetchers < min(self.workers, len(self._prefetch)):
            self._prefetchers += 1
            threading.Thread(
                target=self._serve_prefetch, name="tiffzarr-prefetch", daemon=True
            ).start()
        self._changed.notify_all()

    def share_ahead(
        self,
        parts: Sequence[Callable[[], None]],
        wanted: Callable[[], bool],
        helped_by: Callable[[Callable[[], None]], None],
    ) -> None:
        """On a prefetch thread: run the parts of one prefetch job, the prefetch threads
        that are free helping before they start jobs of their own (the nearest chunk
        first, on every core), each part after giving way (see give_way).  helped_by
        gets what runs the parts left, for a foreground job that comes to wait for them.
        Raises PrefetchDropped where a new plan dropped the job before its last part
        started, unless a foreground job wants it."""
        shared = _Shared((), owner=getattr(self._job, "current", None))

        def politely(part: Callable[[], None]) -> Callable[[], None]:
            def run() -> None:
                self.give_way(wanted)
                if shared.dropped and not wanted():
                    raise PrefetchDropped("the next plan no longer names this chunk")
                part()

            return run

        shared.parts = [politely(part) for part in parts]
        helped_by(shared.work)
        with self._mutex:
            self._sharing.append(shared)
            if len(parts) > 1 and not self._closed:
                self._prefetch.appendleft(shared)  # a new plan keeps it (see prefetch)
                self._start_prefetchers()
        try:
            self._join(shared)
        finally:
            with self._mutex:
                self._sharing.remove(shared)

    @staticmethod
    def _join(shared: _Shared) -> None:
        """Run the parts of shared left on this thread, wait for those others run, and
        raise the first error of any."""
        shared.work()
        # the parts claimed by others are running now: none waits on anything (and
        # of no parts, none ends to set done)
        if shared.parts:
            shared.done.wait()
        if shared.errors:
            raise shared.errors[0]

    def give_way(self, wanted: Callable[[], bool]) -> None:
        """On a prefetch thread, between the parts of its job: wait while a foreground
        job waits or runs, so that a long prefetch job delays one by a part at most;
        unless the job is wanted() by a foreground job, which waits for it."""
        with self._mutex:
            while self.busy and not self._closed and not wanted():
                self._changed.wait()

    def wake(self) -> None:
        """Have the threads look again at what they wait for (see give_way)."""
        with self._mutex:
            self._changed.notify_all()

    @property
    def prefetch_queued(self) -> int:
        return len(self._prefetch)

    @property
    def idle(self) -> bool:
        """Whether nothing is queued or running, foreground or prefetch."""
        with self._mutex:
            return not self.busy and not self._prefetch and not self._prefetching

    def _serve_prefetch(self) -> None:
        # At the system's usual priority: a viewer draws between its steps on both
        # cores, and a prefetch thread of lower priority gets too little of them to have
        # the next frame decoded when it is asked for (benchmarks/RESULTS.md, T slider).
        # Foreground reads still come first: see give_way.
        while True:
            with self._mutex:
                # the foreground first: not even a queued foreground job waits for this
                while (not self._prefetch or self.busy) and not self._closed:
                    if not self._changed.wait(IDLE_SECONDS) and not self._prefetch:
                        self._prefetchers -= 1
                        return
                if self._closed:
                    self._prefetchers -= 1
                    return
                early = self._start_at - time.monotonic()
                if early > 0:
                    self._changed.wait(early)  # the plan's start (see prefetch)
                    continue
                job = self._prefetch.popleft()
                self._prefetching += 1
            try:
                if isinstance(job, _Shared):
                    job.work()  # parts of a prefetch job another thread runs
                else:
                    self._job.current = job
                    self._run_prefetch(job)
            finally:
                self._job.current = None
                with self._mutex:
                    self._prefetching -= 1

    # -- closing ---------------------------------------------------------------------
    def close(self) -> None:
        """End the threads; foreground jobs not yet taken fail with closed_error()."""
        with self._mutex:
            self._closed = True
            self._prefetch.clear()
            queued = [w for w in self._foreground if isinstance(w, Waiting)]
            self._foreground.clear()
            self._changed.notify_all()
        for waiting in queued:
            waiting.fail(self._closed_error())


class _Handoff:
    """Results handed from decoding threads to the event loops that wait for them.

    Waking a loop costs a write to its self-pipe, and the thread then waits for the GIL
    while the woken loop runs zarr's work: results join those already waiting for a
    wake-up of the same loop, and only the first of them wakes it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[asyncio.AbstractEventLoop, list[Waiting[Any]]] = {}

    def deliver(self, done: Iterable[Waiting[Any]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[Waiting[Any]]] = {}
        for waiting in done:
            by_loop.setdefault(waiting.future.get_loop(), []).append(waiting)
        for loop, results in by_loop.items():
            with self._lock:
                queued = self._waiting.get(loop)
                # a loop closed before its wake-up ran leaves its results here: replaced
                if queued is not None and not loop.is_closed():
                    queued.extend(results)
                    continue
                self._waiting[loop] = results
            try:
                loop.call_soon_threadsafe(self._resolve, loop)
            except RuntimeError:  # a closed loop: nobody waits for these any more
                with self._lock:
                    self._waiting.pop(loop, None)

    def _resolve(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            results = self._waiting.pop(loop, [])
        for waiting in results:
            future = waiting.future
            if future.done():
                continue  # cancelled while it was decoded
            if waiting.error is None:
                future.set_result(waiting.result)
            else:
                future.set_exception(waiting.error)
