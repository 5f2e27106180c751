"""Remote files through fsspec: http, s3, gcs and every other filesystem it knows.

fsspec is imported only when a URL or an fsspec file is opened.  Small reads (the header,
IFDs, tag values) come from cached aligned blocks, so a file opens in a few requests;
batches of ranges go through the filesystem's concurrent ``cat_ranges``, neighbours
merged and a long merged span cut in two; transient failures are retried a bounded
number of times, and a server that says nothing times out.
"""

from __future__ import annotations

import os
import posixpath
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from ..errors import TiffClosedError, TiffFileError
from .base import ByteSource, SourceBase, coalesce_ranges, split_runs
from .failures import describe_failure, status_of
from .requestcost import RequestCost

__all__ = [
    "FsspecSource",
    "RemoteLocation",
    "RemoteReadError",
    "is_fsspec_file",
    "is_url",
    "sniff_url",
    "source_location",
    "with_timeout",
]

# Small reads (IFDs, tag values) are served from aligned blocks of this size: a writer puts
# an IFD's values next to it, so opening a file costs a few requests, not one per tag.
REMOTE_BLOCK_SIZE = 256 * 1024
# Blocks kept, least recently used dropped first: the metadata of a large pyramid fits.
REMOTE_CACHE_BLOCKS = 64
# Ranges closer than this are always fetched in one request: a request's round trip costs
# more than transferring a few tens of KiB that nobody asked for.  Further apart, the gap
# worth merging is learnt from the server's round trip and the link's rate (RequestCost).
REMOTE_COALESCE_GAP = 64 * 1024
# A merged request is split (between the ranges it holds) beyond this size: the pieces go
# out concurrently, so one large selection does not wait on a single response.
REMOTE_MAX_REQUEST = 8 * 1024 * 1024
# A batch merged into fewer requests than this is split (between its ranges) into this
# many, where a merged request is at least REMOTE_SPLIT_BYTES: the pieces arrive together,
# sooner than one response carrying them all, and the widest gaps are not fetched.  Over
# local HTTP a 5 MB span took 9 ms after the round trip in one request, 4 ms in two
# concurrent halves and 3.5 ms in four (benchmarks/RESULTS.md, Notes): two, a request
# more at most.
REMOTE_PIECES = 2
REMOTE_SPLIT_BYTES = 1024 * 1024
# Transient failures (dropped connections, 5xx, timeouts) are retried this many times,
# waiting REMOTE_BACKOFF seconds, doubled each time, before giving up.
REMOTE_RETRIES = 4
REMOTE_BACKOFF = 0.05

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


def is_fsspec_file(arg: object) -> bool:
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


class FsspecSource(SourceBase):
    """A file on any fsspec filesystem, read in ranges.

    ``path`` is None (it means a local path); ``url`` and ``storage_options`` say how to
    open the file again, which is how a pickled store reopens it in another process.
    """

    def __init__(
        self,
        target: Any,
        *,
        storage_options: Mapping[str, Any] | None = None,
        filesystem: Any = None,
        block_size: int = REMOTE_BLOCK_SIZE,
        cache_blocks: int = REMOTE_CACHE_BLOCKS,
        coalesce_gap: int | None = None,
        retries: int = REMOTE_RETRIES,
        backoff: float = REMOTE_BACKOFF,
    ) -> None:
        if block_size < 1 or cache_blocks < 1 or retries < 0 or backoff < 0:
            raise ValueError("block_size and cache_blocks must be positive, retries >= 0")
        self._block_size = block_size
        self._cache_blocks = cache_blocks
        self._gap = coalesce_gap  # None: learnt from the requests, at least the default
        self._cost = RequestCost(REMOTE_COALESCE_GAP, REMOTE_MAX_REQUEST // 2)
        self._retries = retries
        self._backoff = backoff
        self._lock = threading.Lock()
        self._blocks: OrderedDict[int, bytes] = OrderedDict()
        self._in_flight: dict[int, Future[bytes]] = {}
        self._fs: Any
        if filesystem is not None:
            # a path on a filesystem already open (another file of a dataset): its
            # connections and options are shared, not made again
            self._fs = filesystem
            self._fspath = str(target)
            self._storage_options = dict(storage_options or {})
            self.url = filesystem.unstrip_protocol(self._fspath)
            self._name = _url_name(self.url)
            size = self._retrying("size", filesystem.size, self._fspath)
        elif isinstance(target, str):
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
            self._fs = fs
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

    @property
    def cost(self) -> RequestCost:
        """The server's round trip and rate, learnt from the requests made so far."""
        return self._cost

    def relative(self, name: str) -> str:
        """The filesystem path of name, a path relative to this file's folder (the other
        files of a multi-file dataset are named so)."""
        return relative_path(self._fspath, name)

    @property
    def filesystem(self) -> Any:
        """The fsspec filesystem the file is read through."""
        return self._filesystem()

    def drop_blocks(self) -> None:
        """Forget the cached blocks: what a pool of files frees when it closes one."""
        with self._lock:
            self._blocks.clear()

    def _filesystem(self) -> Any:
        fs = self._fs
        if fs is None:
            raise TiffClosedError(f"{self._name}: the file is closed")
        return fs

    # -- requests, retried -----------------------------------------------------------
    def _give_up(self, what: str, exc: BaseException, attempts: int) -> BaseException:
        """The error to raise for good, naming the URL and why ("not found (HTTP 404)"),
        of the kind callers catch: missing, refused, or failing."""
        reason = describe_failure(exc, self.url)
        if not _is_transient(exc):
            status = status_of(exc)
            if status in (404, 410) or (status is None and isinstance(exc, FileNotFoundError)):
                return FileNotFoundError(f"{self.url}: {reason}")
            if status in (401, 403) or (status is None and isinstance(exc, PermissionError)):
                return PermissionError(f"{self.url}: {reason}")
            if isinstance(exc, OSError) and status is None:
                return exc  # IsADirectoryError and the like: the filesystem's own words
            return RemoteReadError(f"{self.url}: {what} failed: {reason}")
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        return RemoteReadError(f"{self.url}: {what} failed{tries}: {reason}")

    def _retrying(self, what: str, call: Callable[..., Any], *args: Any) -> Any:
        delay = self._backoff
        for attempt in range(1, self._retries + 2):
            try:
                return call(*args)
            except Exception as exc:  # re-raised below, wrapped when it is not an OSError
                if not _is_transient(exc) or attempt > self._retries:
                    failure = self._give_up(what, exc, attempt)
                    if failure is exc:
                        raise  # its own cause would make a cycle
                    raise failure from exc
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
            began = time.perf_counter()
            try:
                results: list[Any] = fs.cat_ranges(
                    [self._fspath] * len(pending), starts, ends, on_error="return"
                )
            except Exception as exc:  # the whole batch failed: judged like one range
                results = [exc] * len(pending)
            else:
                received = sum(len(r) for r in results if isinstance(r, bytes))
                self._cost.record(time.perf_counter() - began, received)
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
                    failure = self._give_up(what, problem, attempt)
                    if failure is problem:
                        raise failure
                    raise failure from problem
                failed.append(i)
                error = problem
            pending = failed
            if pending and error is not None:
                time.sleep(delay)
                delay *= 2
        return [blob if blob is not None else b"" for blob in out]

    # -- reads -------------------------------------------------------------------------
    def _read_raw(self, offset: int, length: int) -> bytes:
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

    def warm(self, offsets: Sequence[int]) -> None:
        """Fetch the blocks holding these offsets in one concurrent round, for reads of
        them soon after (the IFDs of a pyramid's levels); errors wait for those reads."""
        size = self._block_size
        mine: list[int] = []
        with self._lock:
            for block in sorted({offset // size for offset in offsets}):
                if block not in self._blocks and block not in self._in_flight:
                    self._in_flight[block] = Future()
                    mine.append(block)
        if mine:
            with suppress(OSError, TiffFileError):
                self._fill_blocks(mine)

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
        gap = self._cost.gap() if self._gap is None else self._gap
        runs = cap_runs(coalesce_ranges(ranges, gap), ranges, REMOTE_MAX_REQUEST)
        runs = split_runs_apart(runs, ranges, REMOTE_PIECES, REMOTE_SPLIT_BYTES)
        blobs = self._fetch([(start, length) for start, length, _ in runs])
        return split_runs(ranges, runs, blobs)

    def close(self) -> None:
        self._end_attachments()
        with self._lock:
            self._fs = None
            self._blocks.clear()

    def __repr__(self) -> str:
        return f"FsspecSource({self.url!r})"


def relative_path(base: str, name: str) -> str:
    """name relative to the folder of base, a filesystem path or a URL (http's paths are)."""
    name = name.replace("\\", "/")  # written on Windows
    if "://" in base:
        return urljoin(base, quote(name))
    folder = posixpath.dirname(base)
    return posixpath.normpath(posixpath.join(folder, name)) if folder else name


def cap_runs(
    runs: list[tuple[int, int, list[int]]], ranges: Sequence[tuple[int, int]], cap: int
) -> list[tuple[int, int, list[int]]]:
    """Split runs longer than cap between their members, keeping each member whole."""
    out: list[tuple[int, int, list[int]]] = []
    for start, length, members in runs:
        if length <= cap:
            out.append((start, length, members))
            continue
        piece: list[int] = []
        begin = end = start
        for index in sorted(members, key=lambda i: ranges[i][0]):
            offset, size = ranges[index]
            if piece and max(end, offset + size) - begin > cap:
                out.append((begin, end - begin, piece))
                piece = []
            if not piece:
                begin = offset
                end = offset
            piece.append(index)
            end = max(end, offset + size)
        out.append((begin, end - begin, piece))
    return out


def split_runs_apart(
    runs: list[tuple[int, int, list[int]]],
    ranges: Sequence[tuple[int, int]],
    pieces: int,
    least: int,
) -> list[tuple[int, int, list[int]]]:
    """Split the longest run in two while there are fewer than pieces runs and it is at
    least least bytes long, between the two of its ranges where the longer half is
    shortest: concurrent requests take as long as their longest, and the gap between the
    halves is not fetched at all."""
    out = list(runs)
    while len(out) < pieces:
        longest = max(range(len(out)), key=lambda i: out[i][1], default=None)
        if longest is None or out[longest][1] < least or len(out[longest][2]) < 2:
            break
        out[longest : longest + 1] = _halves(out[longest][2], ranges)
    return out


def _halves(
    members: list[int], ranges: Sequence[tuple[int, int]]
) -> list[tuple[int, int, list[int]]]:
    """members' run cut in two where the longer of the two runs is shortest."""
    order = sorted(members, key=lambda i: ranges[i][0])
    ends: list[int] = []  # the end of the first part, after each member
    end = 0
    for i in order:
        end = max(end, ranges[i][0] + ranges[i][1])
        ends.append(end)
    starts: list[int] = []  # the start of the second part, from each member on
    start = None
    for i in reversed(order):
        start = ranges[i][0] if start is None else min(start, ranges[i][0])
        starts.append(start)
    starts.reverse()
    first = ranges[order[0]][0]
    last = ends[-1]
    cut = min(
        range(1, len(order)),
        key=lambda k: max(ends[k - 1] - first, last - starts[k]),
    )
    return [
        (first, ends[cut - 1] - first, order[:cut]),
        (starts[cut], last - starts[cut], order[cut:]),
    ]


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
