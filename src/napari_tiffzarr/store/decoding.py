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
                _deliver(future, None, exc)
            else:
                _deliver(future, chunk, None)

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
            _deliver(future, None, self._closed_error())


def _deliver(
    future: asyncio.Future[np.ndarray | None],
    chunk: np.ndarray | None,
    error: BaseException | None,
) -> None:
    """Hand a decoded chunk, or its error, from a decoding thread to the reader's loop."""
    # a closed event loop refuses it: then nobody waits for the chunk any more
    with suppress(RuntimeError):
        future.get_loop().call_soon_threadsafe(_resolve, future, chunk, error)


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
