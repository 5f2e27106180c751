"""Byte sources: read (offset, length) ranges from a path, a file-like object or bytes.

Every source answers the same two questions, a single range and a batch of ranges, so the
TIFF layer never knows where its bytes come from.  Local files use ``os.pread`` on one
descriptor: it has no seek state, so any number of threads read at once without a lock.
Remote files (http, s3, gcs, ... through fsspec, imported only when a URL is opened) read
small metadata in cached blocks and batches of ranges through the filesystem's concurrent
``cat_ranges``, retrying transient failures a bounded number of times.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import IO, Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from .errors import TiffClosedError, TiffTruncatedError

__all__ = [
    "ByteSource",
    "BytesSource",
    "FileLikeSource",
    "FsspecSource",
    "PathSource",
    "RemoteLocation",
    "RemoteReadError",
    "coalesce_ranges",
    "is_url",
    "open_source",
    "sniff_url",
    "source_location",
]

# Ranges closer than this are read as one, wasting at most this many bytes per gap:
# far cheaper than another system call or, remotely, another request.
COALESCE_GAP = 4096


@runtime_checkable
class ByteSource(Protocol):
    """Where a TIFF's bytes come from."""

    @property
    def size(self) -> int: ...

    @property
    def name(self) -> str: ...

    @property
    def path(self) -> str | None: ...

    @property
    def closed(self) -> bool: ...

    def read(self, offset: int, length: int) -> bytes: ...

    def read_ranges(self, ranges: Sequence[tuple[int, int]]) -> list[bytes]: ...

    def close(self) -> None: ...


def coalesce_ranges(
    ranges: Iterable[tuple[int, int]], gap: int = COALESCE_GAP
) -> list[tuple[int, int, list[int]]]:
    """Group ranges that lie close together into (offset, length, member indices) runs."""
    ordered = sorted(
        (offset, length, index) for index, (offset, length) in enumerate(ranges) if length > 0
    )
    runs: list[tuple[int, int, list[int]]] = []
    for offset, length, index in ordered:
        if runs:
            start, run_length, members = runs[-1]
            end = start + run_length
            if offset <= end + gap:
                runs[-1] = (start, max(end, offset + length) - start, [*members, index])
                continue
        runs.append((offset, length, [index]))
    return runs


def _split_runs(
    ranges: Sequence[tuple[int, int]],
    runs: list[tuple[int, int, list[int]]],
    blobs: Sequence[bytes],
) -> list[bytes]:
    out = [b""] * len(ranges)
    for (start, _, members), blob in zip(runs, blobs, strict=True):
        view = memoryview(blob)
        for index in members:
            offset, length = ranges[index]
            out[index] = bytes(view[offset - start : offset - start + length])
    return out


class _SourceBase:
    """Bounds checks and batching shared by all sources."""

    _size: int
    _name: str

    @property
    def size(self) -> int:
        return self._size

    @property
    def name(self) -> str:
        return self._name

    @property
    def path(self) -> str | None:
        return None

    def _check(self, offset: int, length: int) -> None:
        if offset < 0 or length < 0 or offset + length > self._size:
            raise TiffTruncatedError(
                f"{self._name}: cannot read {length} bytes at offset {offset}: "
                f"the file has {self._size} bytes"
            )

    def _read_raw(self, offset: int, length: int) -> bytes:
        raise NotImplementedError

    def read(self, offset: int, length: int) -> bytes:
        self._check(offset, length)
        if length == 0:
            return b""
        data = self._read_raw(offset, length)
        if len(data) != length:
            raise TiffTruncatedError(
                f"{self._name}: read {len(data)} of {length} bytes at offset {offset}"
            )
        return data

    def read_ranges(self, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        for offset, length in ranges:
            self._check(offset, length)
        runs = coalesce_ranges(ranges)
        blobs = [self.read(start, length) for start, length, _ in runs]
        return _split_runs(ranges, runs, blobs)


class PathSource(_SourceBase):
    """A local file read with os.pread on one shared descriptor.

    Opened writable, it also writes in place with os.pwrite, never past its end: a TIFF
    opened for update has its chunks overwritten, never its structure extended.
    """

    def __init__(self, path: str | os.PathLike[str], *, writable: bool = False) -> None:
        self._path = os.fspath(path)
        self._name = os.path.basename(self._path)
        flags = (os.O_RDWR if writable else os.O_RDONLY) | getattr(os, "O_BINARY", 0)
        self._fd: int | None = os.open(self._path, flags)
        self._size = os.fstat(self._fd).st_size
        self.writable = writable
        # Reads in flight, so that close() waits for them: a descriptor closed under a
        # pread may be reused by another open file, and the read would return its bytes.
        self._in_flight = 0
        self._idle = threading.Condition()

    def _acquire(self) -> int:
        with self._idle:
            if self._fd is None:
                raise TiffClosedError(f"{self._name}: the file is closed")
            self._in_flight += 1
            return self._fd

    def _release(self) -> None:
        with self._idle:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.notify_all()

    def write(self, offset: int, data: bytes | memoryview) -> None:
        """Overwrite len(data) bytes at offset, which must lie inside the file."""
        if not self.writable:
            raise PermissionError(f"{self._name}: the file is open for reading only")
        self._check(offset, len(data))
        fd = self._acquire()
        try:
            view = memoryview(data).cast("B")
            while view:
                written = os.pwrite(fd, view, offset)
                view = view[written:]
                offset += written
        finally:
            self._release()

    @property
    def path(self) -> str | None:
        return self._path

    @property
    def closed(self) -> bool:
        return self._fd is None

    def _read_raw(self, offset: int, length: int) -> bytes:
        fd = self._acquire()
        try:
            data = os.pread(fd, length, offset)
            # pread may return less than asked at the end of a growing or network file
            while len(data) < length:
                more = os.pread(fd, length - len(data), offset + len(data))
                if not more:
                    break
                data += more
        finally:
            self._release()
        return data

    def close(self) -> None:
        with self._idle:
            fd, self._fd = self._fd, None
            while self._in_flight:
                self._idle.wait()
        if fd is not None:
            os.close(fd)

    def __repr__(self) -> str:
        return f"PathSource({self._path!r})"


class FileLikeSource(_SourceBase):
    """An open binary file object: seek and read serialised by a lock."""

    def __init__(self, fh: IO[bytes], name: str | None = None) -> None:
        self._fh: IO[bytes] | None = fh
        self._lock = threading.Lock()
        self._base = fh.tell()
        fh.seek(0, os.SEEK_END)
        self._size = fh.tell() - self._base
        self._name = name or str(getattr(fh, "name", type(fh).__name__))

    @property
    def path(self) -> str | None:
        name = getattr(self._fh, "name", None)
        return name if isinstance(name, str) and os.path.isfile(name) else None

    @property
    def closed(self) -> bool:
        return self._fh is None

    def _read_raw(self, offset: int, length: int) -> bytes:
        with self._lock:
            fh = self._fh
            if fh is None:
                raise TiffClosedError(f"{self._name}: the file is closed")
            fh.seek(self._base + offset)
            return fh.read(length)

    def close(self) -> None:
        # The caller owns the file object: forget it, do not close it.
        with self._lock:
            self._fh = None

    def __repr__(self) -> str:
        return f"FileLikeSource({self._name!r})"


class BytesSource(_SourceBase):
    """An in-memory TIFF."""

    def __init__(self, data: bytes | bytearray | memoryview, name: str = "<bytes>") -> None:
        self._data: memoryview | None = memoryview(data).cast("B")
        self._size = len(self._data)
        self._name = name

    @property
    def closed(self) -> bool:
        return self._data is None

    def _read_raw(self, offset: int, length: int) -> bytes:
        data = self._data
        if data is None:
            raise TiffClosedError(f"{self._name}: the file is closed")
        return bytes(data[offset : offset + length])

    def close(self) -> None:
        self._data = None

    def __repr__(self) -> str:
        return f"BytesSource({self._name!r}, size={self._size})"


def open_source(
    arg: object, *, writable: bool = False, storage_options: Mapping[str, Any] | None = None
) -> tuple[ByteSource, bool]:
    """Return a source for a path, URL, file object, bytes or source, and whether we own it."""
    if isinstance(arg, ByteSource):
        return arg, False
    remote: RemoteLocation | None = None
    if isinstance(arg, RemoteLocation):
        remote = arg
    elif isinstance(arg, str) and is_url(arg):
        remote = RemoteLocation(arg, dict(storage_options or {}))
    if remote is not None:
        if writable:
            raise TypeError(f"{remote.url}: a remote file cannot be opened for update")
        return FsspecSource(remote.url, storage_options=remote.storage_options), True
    if isinstance(arg, str) and arg.startswith("file://"):
        arg = arg[len("file://") :]
    if isinstance(arg, str | os.PathLike):
        return PathSource(arg, writable=writable), True
    if writable:
        raise TypeError("only a file given by its path can be opened for update")
    if _is_fsspec_file(arg):
        return FsspecSource(arg), True
    if isinstance(arg, bytes | bytearray | memoryview):
        return BytesSource(arg), True
    if hasattr(arg, "read") and hasattr(arg, "seek"):
        return FileLikeSource(arg), True  # type: ignore[arg-type]
    raise TypeError(f"cannot read a TIFF from {type(arg).__name__}")


# -- remote files through fsspec ---------------------------------------------------------

# Small reads (IFDs, tag values) are served from aligned blocks of this size: a writer puts
# an IFD's values next to it, so opening a file costs a few requests, not one per tag.
REMOTE_BLOCK_SIZE = 256 * 1024
# Blocks kept, least recently used dropped first: the metadata of a large pyramid fits.
REMOTE_CACHE_BLOCKS = 64
# Ranges closer than this are fetched in one request: a request's round trip costs more
# than transferring a few tens of KiB that nobody asked for.
REMOTE_COALESCE_GAP = 64 * 1024
# Transient failures (dropped connections, 5xx, timeouts) are retried this many times,
# waiting REMOTE_BACKOFF seconds, doubled each time, before giving up.
REMOTE_RETRIES = 4
REMOTE_BACKOFF = 0.05
# Prefetched chunk bytes waiting for the thread that decodes them; a bound, so that
# chunks fetched but never decoded (a cancelled read) cannot pile up.
STASH_LIMIT = 4096

# Seconds a server may take to connect or to send its next bytes before the request counts
# as failed, and is retried: without a bound, a server that accepts a connection and never
# answers holds the read for aiohttp's default of five minutes.
REMOTE_TIMEOUT = 30.0
# napari asks every reader about a path on its UI thread: a URL that does not answer this
# quickly is not one to claim.
SNIFF_TIMEOUT = 5.0

# HTTP statuses that say "try again", as opposed to 403 or 404, which will not change.
_TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


def with_timeout(url: str, options: Mapping[str, Any], seconds: float) -> dict[str, Any]:
    """HTTP storage options with connect and read timeouts, unless the caller chose one.

    Kept out of a source's own storage options: a pickled store reopens with what the user
    gave, and the timeout object is recreated there.
    """
    result = dict(options)
    if not url.startswith(("http://", "https://")):
        return result
    client = dict(result.get("client_kwargs") or {})
    if "timeout" not in client:
        import aiohttp

        client["timeout"] = aiohttp.ClientTimeout(sock_connect=seconds, sock_read=seconds)
        result["client_kwargs"] = client
    return result


class RemoteReadError(OSError):
    """A remote read failed for good: not found, refused, or still failing after retries."""


def is_url(text: str) -> bool:
    """Whether text names a file through a protocol (http, s3, ...), not a local path."""
    if "://" not in text or text.startswith("file://"):
        return False
    return not os.path.exists(text)


@dataclass(frozen=True)
class RemoteLocation:
    """A URL and its filesystem's options: what a pickled store needs to reopen the file.

    Equal when the URLs are: credentials in the options do not make it another file.
    """

    url: str
    storage_options: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def name(self) -> str:
        return _url_name(self.url)


def _url_name(url: str) -> str:
    path = urlsplit(url).path.rstrip("/")
    return path.rsplit("/", 1)[-1] or url


def source_location(source: ByteSource) -> str | RemoteLocation | None:
    """Where a source can be opened again from: a local path, a URL, or nowhere."""
    if isinstance(source, FsspecSource):
        return RemoteLocation(source.url, source.storage_options)
    return source.path


def _is_fsspec_file(arg: object) -> bool:
    # An fsspec file can only exist once fsspec is imported: no import needed to tell.
    fsspec = sys.modules.get("fsspec")
    if fsspec is None:
        return False
    from fsspec.core import OpenFile
    from fsspec.spec import AbstractBufferedFile

    return isinstance(arg, AbstractBufferedFile | OpenFile)


def _status(exc: BaseException) -> int | None:
    # aiohttp's ClientResponseError has .status; requests' HTTPError has .response
    status = getattr(exc, "status", None)
    if not isinstance(status, int):
        status = getattr(getattr(exc, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


def _is_transient(exc: BaseException) -> bool:
    """Whether a failed request may succeed when repeated."""
    if isinstance(exc, FileNotFoundError) and exc.__cause__ is not None:
        # fsspec's HTTP size lookup reports every failure as FileNotFoundError: its cause
        # says whether the file is missing (404) or the server failed (500, reset)
        return _is_transient(exc.__cause__)
    if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError):
        return False
    status = _status(exc)
    if status is not None:
        return status in _TRANSIENT_STATUS
    if isinstance(exc, ConnectionError | TimeoutError | _ShortRead):
        return True
    try:
        import aiohttp
    except ImportError:
        return False
    return isinstance(exc, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError)


class _ShortRead(Exception):
    """A response with fewer bytes than asked for, as when a connection drops mid-body."""


class FsspecSource(_SourceBase):
    """A file on any fsspec filesystem, read in ranges.

    ``path`` is None (it means a local path); ``url`` and ``storage_options`` say how to
    open the file again, which is how a pickled store reopens it in another process.
    """

    def __init__(
        self,
        target: Any,
        *,
        storage_options: Mapping[str, Any] | None = None,
        block_size: int = REMOTE_BLOCK_SIZE,
        cache_blocks: int = REMOTE_CACHE_BLOCKS,
        coalesce_gap: int = REMOTE_COALESCE_GAP,
        retries: int = REMOTE_RETRIES,
        backoff: float = REMOTE_BACKOFF,
    ) -> None:
        if block_size < 1 or cache_blocks < 1 or retries < 0 or backoff < 0:
            raise ValueError("block_size and cache_blocks must be positive, retries >= 0")
        self._block_size = block_size
        self._cache_blocks = cache_blocks
        self._gap = coalesce_gap
        self._retries = retries
        self._backoff = backoff
        self._lock = threading.Lock()
        self._blocks: OrderedDict[int, bytes] = OrderedDict()
        self._in_flight: dict[int, Future[bytes]] = {}
        self._stash: OrderedDict[tuple[int, int], bytes | BaseException] = OrderedDict()
        if isinstance(target, str):
            try:
                from fsspec.core import url_to_fs
            except ImportError as exc:
                raise ImportError(
                    f"{target}: reading remote files needs fsspec: "
                    "pip install 'napari-tiffzarr[remote]'"
                ) from exc
            self._storage_options = dict(storage_options or {})
            self.url = target
            options = with_timeout(target, self._storage_options, REMOTE_TIMEOUT)
            fs, self._fspath = url_to_fs(target, **options)
            self._name = _url_name(target)
            self._fs: Any = fs
            size = self._retrying("size", lambda: fs.size(self._fspath))
        else:
            # an fsspec file (AbstractBufferedFile) or OpenFile: read through its
            # filesystem in ranges, not through its own sequential buffer
            fs, self._fspath = target.fs, target.path
            self._fs = fs
            self._storage_options = dict(getattr(fs, "storage_options", {}) or {})
            self.url = fs.unstrip_protocol(self._fspath)
            self._name = _url_name(self.url)
            size = getattr(target, "size", None)
            if not isinstance(size, int):  # an OpenFile does not know it yet
                size = self._retrying("size", fs.size, self._fspath)
        if not isinstance(size, int) or size < 0:
            raise RemoteReadError(f"{self.url}: the server does not say how large the file is")
        self._size = size

    @property
    def storage_options(self) -> dict[str, Any]:
        return dict(self._storage_options)

    @property
    def closed(self) -> bool:
        return self._fs is None

    def _filesystem(self) -> Any:
        fs = self._fs
        if fs is None:
            raise TiffClosedError(f"{self._name}: the file is closed")
        return fs

    # -- requests, retried -----------------------------------------------------------
    def _give_up(self, what: str, exc: BaseException, attempts: int) -> BaseException:
        if isinstance(exc, OSError) and not _is_transient(exc):
            return exc  # FileNotFoundError, PermissionError: the filesystem's own words
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        return RemoteReadError(f"{self.url}: {what} failed{tries}: {exc!r}")

    def _retrying(self, what: str, call: Callable[..., Any], *args: Any) -> Any:
        delay = self._backoff
        for attempt in range(1, self._retries + 2):
            try:
                return call(*args)
            except Exception as exc:  # re-raised below, wrapped when it is not an OSError
                if not _is_transient(exc) or attempt > self._retries:
                    raise self._give_up(what, exc, attempt) from exc
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    def _fetch(self, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        """One concurrent batch of exact range requests; failed ranges are asked again."""
        fs = self._filesystem()
        out: list[bytes | None] = [None] * len(ranges)
        pending = [i for i, (_, length) in enumerate(ranges) if length > 0]
        for i, (_, length) in enumerate(ranges):
            if length <= 0:
                out[i] = b""
        delay = self._backoff
        attempt = 0
        while pending:
            attempt += 1
            starts = [ranges[i][0] for i in pending]
            ends = [ranges[i][0] + ranges[i][1] for i in pending]
            try:
                results: list[Any] = fs.cat_ranges(
                    [self._fspath] * len(pending), starts, ends, on_error="return"
                )
            except Exception as exc:  # the whole batch failed: judged like one range
                results = [exc] * len(pending)
            failed: list[int] = []
            error: BaseException | None = None
            for i, result in zip(pending, results, strict=True):
                offset, length = ranges[i]
                if isinstance(result, bytes) and len(result) > length:
                    raise RemoteReadError(
                        f"{self.url}: asked for {length} bytes at offset {offset}, got "
                        f"{len(result)}: the server ignores range requests"
                    )
                if isinstance(result, bytes) and len(result) == length:
                    out[i] = result
                    continue
                problem = (
                    _ShortRead(f"{len(result)} of {length} bytes at offset {offset}")
                    if isinstance(result, bytes)
                    else result
                )
                if not isinstance(problem, BaseException):
                    raise TypeError(f"{self.url}: cat_ranges returned {type(problem).__name__}")
                if not _is_transient(problem) or attempt > self._retries:
                    what = f"reading {length} bytes at offset {offset}"
                    raise self._give_up(what, problem, attempt) from problem
                failed.append(i)
                error = problem
            pending = failed
            if pending and error is not None:
                time.sleep(delay)
                delay *= 2
        return [blob if blob is not None else b"" for blob in out]

    # -- reads -------------------------------------------------------------------------
    def _read_raw(self, offset: int, length: int) -> bytes:
        stashed = self._take(offset, length)
        if stashed is not None:
            if isinstance(stashed, BaseException):
                raise stashed
            return stashed
        if length > self._block_size:
            return self._fetch([(offset, length)])[0]
        return self._read_blocks(offset, length)

    def _read_blocks(self, offset: int, length: int) -> bytes:
        """A small read from cached aligned blocks, fetching the missing ones at once.

        A block another thread is fetching is waited for, not fetched again.
        """
        size = self._block_size
        wanted = range(offset // size, (offset + length - 1) // size + 1)
        have: dict[int, bytes] = {}
        waits: dict[int, Future[bytes]] = {}
        mine: list[int] = []
        with self._lock:
            for block in wanted:
                cached = self._blocks.get(block)
                if cached is not None:
                    self._blocks.move_to_end(block)
                    have[block] = cached
                elif block in self._in_flight:
                    waits[block] = self._in_flight[block]
                else:
                    waits[block] = self._in_flight[block] = Future()
                    mine.append(block)
        if mine:
            self._fill_blocks(mine)
        parts = [have[b] if b in have else waits[b].result() for b in wanted]
        start = offset - wanted[0] * size
        return b"".join(parts)[start : start + length]

    def _fill_blocks(self, blocks: list[int]) -> None:
        size = self._block_size
        runs: list[list[int]] = []
        for block in blocks:
            if runs and runs[-1][-1] + 1 == block:
                runs[-1].append(block)
            else:
                runs.append([block])
        ranges = [
            (run[0] * size, min((run[-1] + 1) * size, self._size) - run[0] * size) for run in runs
        ]
        try:
            blobs = self._fetch(ranges)
        except BaseException as exc:
            with self._lock:
                for block in blocks:
                    self._in_flight.pop(block).set_exception(exc)
            raise
        with self._lock:
            for run, blob in zip(runs, blobs, strict=True):
                for i, block in enumerate(run):
                    data = blob[i * size : (i + 1) * size]
                    self._blocks[block] = data
                    self._in_flight.pop(block).set_result(data)
            while len(self._blocks) > self._cache_blocks:
                self._blocks.popitem(last=False)

    def read_ranges(self, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        for offset, length in ranges:
            self._check(offset, length)
        runs = coalesce_ranges(ranges, self._gap)
        blobs = self._fetch([(start, length) for start, length, _ in runs])
        return _split_runs(ranges, runs, blobs)

    # -- bytes fetched ahead for the thread that decodes them ------------------------------
    def stash(self, offset: int, length: int, data: bytes | BaseException) -> None:
        """Keep a range fetched in a batch (or why it failed) for the next read of it."""
        with self._lock:
            self._stash[(offset, length)] = data
            while len(self._stash) > STASH_LIMIT:
                self._stash.popitem(last=False)

    def _take(self, offset: int, length: int) -> bytes | BaseException | None:
        if not self._stash:
            return None
        with self._lock:
            return self._stash.pop((offset, length), None)

    def close(self) -> None:
        with self._lock:
            self._fs = None
            self._blocks.clear()
            self._stash.clear()

    def __repr__(self) -> str:
        return f"FsspecSource({self.url!r})"


def sniff_url(url: str, length: int = 4, **storage_options: Any) -> bytes | None:
    """The first bytes of a remote file, or None where they cannot be read.

    For a reader deciding whether to claim a URL: one request, no retries, never raises.
    """
    try:
        from fsspec.core import url_to_fs

        fs, path = url_to_fs(url, **with_timeout(url, storage_options, SNIFF_TIMEOUT))
        data = fs.cat_file(path, start=0, end=length)
    except Exception:  # any failure means "not ours to open", as napari requires
        return None
    return data[:length] if isinstance(data, bytes) else None
