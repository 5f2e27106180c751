"""Byte sources: read (offset, length) ranges from a path, a file-like object, bytes or a URL.

Every source answers the same two questions, a single range and a batch of ranges, so the
TIFF layer never knows where its bytes come from.  One module per kind: ``local`` (os.pread
on a shared descriptor), ``filelike``, ``memory`` and ``remote`` (fsspec); ``base`` holds
the protocol and what they share.  ``open_source`` picks one for whatever the caller has.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from .base import ByteSource, SourceBase, coalesce_ranges, split_runs
from .filelike import FileLikeSource
from .local import PathSource
from .memory import BytesSource
from .remote import FsspecSource, RemoteLocation, is_fsspec_file, is_url

__all__ = [
    "ByteSource",
    "BytesSource",
    "FileLikeSource",
    "FsspecSource",
    "PathSource",
    "RemoteLocation",
    "SourceBase",
    "coalesce_ranges",
    "is_url",
    "open_source",
    "split_runs",
]


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
    if is_fsspec_file(arg):
        return FsspecSource(arg), True
    if isinstance(arg, bytes | bytearray | memoryview):
        return BytesSource(arg), True
    if hasattr(arg, "read") and hasattr(arg, "seek"):
        return FileLikeSource(arg), True  # type: ignore[arg-type]
    raise TypeError(f"cannot read a TIFF from {type(arg).__name__}")
