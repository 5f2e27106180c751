"""The decoding queue: chunks asked for on an event loop, decoded by a few threads.

A thread that finishes a chunk takes the next one without going back to the pool: a full
level costs one submission per thread instead of a future, a wake-up and a hand-over per
chunk, which on a busy event loop thread cost more than decoding.  imagecodecs releases
the GIL, so the threads decode on every core while the loop only waits.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from typing import Generic, TypeVar

import numpy as np

__all__ = ["DecodeQueue"]

Request = TypeVar("Request")
# a decoded chunk or the error that stopped it, for the future its reader awaits
_Result = tuple["asyncio.Future[np.ndarray | None]", "np.ndarray | None", "BaseException | None"]

_CPUS = os.cpu_count() or 1


class DecodeQueue(Generic[Request]):
    """Requests decoded by decode(request) on at most `workers` threads (default: cores).

    ``submit`` awaits one result; ``close`` stops the threads and fails what is still
    queued with closed_error(), which submit raises from then on.
    """

    def __init__(
        self,
        decode: Callable[[Request], np.ndarray | None],
        closed_error: Callable[[], BaseException],
        workers: int | None = None,
    ) -> None:
        self._decode = decode
        self._closed_error = closed_error
        self._workers = workers or _CPUS
        self._queue: deque[tuple[Request, asyncio.Future[np.ndarray | None]]] = deque()
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._draining = 0
        self._closed = False
        # results decoded but not yet handed to their loops, by loop: see _deliver
        self._decoded: dict[asyncio.AbstractEventLoop, list[_Result]] = {}

    @property
    def busy(self) -> bool:
        """Whether a request waits or is being decoded: read-ahead keeps out of the way."""
        return bool(self._queue) or self._draining > 0

    async def submit(self, request: Request) -> np.ndarray | None:
        """Decode request on a thread; its result, or its exception raised here."""
        future: asyncio.Future[np.ndarray | None] = asyncio.get_running_loop().create_future()
        self._queue.append((request, future))
        self._start_drain()
        return await future

    def _start_drain(self) -> None:
        """Have one more thread drain the queue, unless every thread already does."""
        with self._lock:
            # checked under the lock: a close() between the caller's check and here would
            # otherwise leave a new pool behind that nothing shuts down
            if self._closed:
                self._fail_queued()
                return
            if self._draining >= self._workers:
                return
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self._workers, thread_name_prefix="tiffzarr")
            self._draining += 1
            self._executor.submit(self._drain)

    def _drain(self) -> None:
        queue = self._queue
        while True:
            try:
                request, future = queue.popleft()
            except IndexError:
                with self._lock:
                    # checked again under the lock that _start_drain counts under: a chunk
                    # queued after the pop above either is seen here or starts a thread
                    if queue:
                        continue
                    self._draining -= 1
                    return
            if future.cancelled():
                continue  # zarr gave up on the selection: do not decode for nobody
            try:
                chunk = self._decode(request)
            except BaseException as exc:  # handed to the reader, as an executor would
                self._deliver((future, None, exc))
            else:
                self._deliver((future, chunk, None))

    def _deliver(self, result: _Result) -> None:
        """Hand a decoded chunk, or its error, from a decoding thread to its reader's loop.

        Waking a loop costs a write to its self-pipe, and the thread then waits for the
        GIL while the woken loop runs zarr's work for the chunk: once per chunk, that took
        a tenth of the decoding threads' time on viewports of JPEG tiles.  So a result
        joins those already waiting for a wake-up of the same loop, and only the first of
        them wakes it.
        """
        loop = result[0].get_loop()
        with self._lock:
            waiting = self._decoded.get(loop)
            # a loop closed before its wake-up ran leaves its results here: replaced
            if waiting is not None and not loop.is_closed():
                waiting.append(result)
                return
            self._decoded[loop] = [result]
        try:
            loop.call_soon_threadsafe(self._resolve_decoded, loop)
        except RuntimeError:  # a closed loop: nobody waits for these chunks any more
            with self._lock:
                self._decoded.pop(loop, None)

    def _resolve_decoded(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            results = self._decoded.pop(loop, [])
        for future, chunk, error in results:
            _resolve(future, chunk, error)

    def close(self) -> None:
        """Stop the threads; reads queued and not yet decoded fail with closed_error()."""
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        # chunks still queued would wait forever once no thread drains them
        self._fail_queued()

    def _fail_queued(self) -> None:
        while True:
            try:
                _, future = self._queue.popleft()
            except IndexError:
                return
            # not through _deliver: close() may hold the lock; a closed loop refuses it,
            # and then nobody waits for the chunk any more
            with suppress(RuntimeError):
                future.get_loop().call_soon_threadsafe(
                    _resolve, future, None, self._closed_error()
                )


def _resolve(
    future: asyncio.Future[np.ndarray | None],
    chunk: np.ndarray | None,
    error: BaseException | None,
) -> None:
    if future.done():
        return  # cancelled while it was decoded
    if error is None:
        future.set_result(chunk)
    else:
        future.set_exception(error)
