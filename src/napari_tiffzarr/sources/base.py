"""What every byte source shares: the ByteSource protocol, bounds checks, and the
coalescing of nearby ranges into fewer reads."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

from ..errors import TiffTruncatedError
from .requestcost import RequestCost

__all__ = ["COALESCE_GAP", "ByteSource", "SourceBase", "coalesce_ranges", "split_runs"]

# Ranges closer than this are read as one, wasting at most this many bytes per gap:
# far cheaper than another system call or, remotely, another request.
COALESCE_GAP = 4096

T = TypeVar("T")


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

    @property
    def cost(self) -> RequestCost | None:
        """What a request costs, where it costs more than a system call (a remote file):
        readers batch the requests of one turn then.  None for local files and memory."""
        ...

    def attachment(self, kind: type[T], make: Callable[[], T]) -> T:
        """The one object of kind kept with this open file for the layers above (the
        store's read scheduler), made by make() on first use."""
        ...

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


def split_runs(
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


# guards the first attachment of a kind to a source; constant, shared by all sources
_ATTACHING = threading.Lock()


class SourceBase:
    """Bounds checks and batching shared by all sources."""

    _size: int
    _name: str
    _attachments: dict[type[Any], Any]

    @property
    def cost(self) -> RequestCost | None:
        return None

    def attachment(self, kind: type[T], make: Callable[[], T]) -> T:
        # set lazily: subclasses need not call a base __init__
        with _ATTACHING:
            attachments = self.__dict__.setdefault("_attachments", {})
            found = attachments.get(kind)
            if found is None:
                found = attachments[kind] = make()
            return found  # type: ignore[no-any-return]

    def _end_attachments(self) -> None:
        """End what the layers above keep with this file (a scheduler's threads and
        cache): a closed file reads nothing more.  Every source's close() calls this."""
        with _ATTACHING:
            attachments = self.__dict__.pop("_attachments", {})
        for kept in attachments.values():
            close = getattr(kept, "close", None)
            if callable(close):
                close()

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
        return split_runs(ranges, runs, blobs)
