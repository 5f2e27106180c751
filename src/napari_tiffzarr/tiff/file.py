"""TiffFile: open a source, walk its IFD chain lazily, hand out pages and series."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from ..errors import TiffFileError
from ..sources import FsspecSource, open_source
from .files import DEFAULT_OPENFILES, FilePool
from .ifd import read_header, read_ifd
from .kinds import page_class
from .page import TiffPage
from .pages import TiffPages
from .series import TiffPageSeries, find_series

if TYPE_CHECKING:
    import numpy as np

__all__ = ["TiffFile"]


class TiffFile:
    """A TIFF file: byte order, pages and series, as tifffile's TiffFile presents them."""

    def __init__(
        self,
        arg: str | os.PathLike[str] | Any,
        *,
        mode: Literal["r", "rb", "r+", "r+b"] = "r",
        name: str | None = None,
        storage_options: Mapping[str, Any] | None = None,
        _openfiles: int = DEFAULT_OPENFILES,
    ) -> None:
        """Open a path, a URL (http, s3, ... through fsspec, with storage_options), an
        fsspec or other binary file object, bytes, or a ByteSource.

        _openfiles bounds how many other files of a multi-file dataset stay open at once.
        """
        if mode not in ("r", "rb", "r+", "r+b"):
            raise ValueError(f"mode must be 'r' or 'r+' (update chunks in place), not {mode!r}")
        self._files: FilePool | None = None
        self.source, self._owns_source = open_source(
            arg, writable="+" in mode, storage_options=storage_options
        )
        try:
            self.header = read_header(self.source)
            self.pages = TiffPages(self.source, self.header)
        except BaseException:
            self.close()
            raise
        self._subifd_pages: dict[int, TiffPage] = {}
        self.filename = name or self.source.name
        self._openfiles = _openfiles

    @property
    def files(self) -> FilePool:
        """The other files of a multi-file dataset, opened on demand."""
        if self._files is None:
            remote = self.source if isinstance(self.source, FsspecSource) else None
            self._files = FilePool(TiffFile, self._openfiles, remote=remote)
        return self._files

    def sibling(self, name: str) -> str | None:
        """Where the file name, relative to this file's folder, is for files(); None where
        this file has no folder (bytes, a file object) or, locally, no such file exists.

        A remote file is looked for when first read: a request per file of a dataset at
        opening would cost more than the first view.
        """
        if isinstance(self.source, FsspecSource):
            return self.source.relative(name)
        if self.path is None:
            return None
        path = os.path.join(os.path.dirname(self.path), name)
        return path if os.path.isfile(path) else None

    @property
    def byteorder(self) -> str:
        return self.header.byteorder

    @property
    def is_bigtiff(self) -> bool:
        return self.header.bigtiff

    @property
    def path(self) -> str | None:
        return self.source.path

    @property
    def filesize(self) -> int:
        return self.source.size

    def prefetch_ifds(self, offsets: Sequence[int]) -> None:
        """Let a remote source fetch the blocks of several IFDs in one round, before they
        are parsed one by one (each would otherwise cost a round trip of its own)."""
        warm = getattr(self.source, "warm", None)
        if warm is not None:
            warm([offset for offset in offsets if 8 <= offset < self.filesize])

    def subifd_page(self, offset: int, index: tuple[int, ...]) -> TiffPage:
        """The page of a SubIFD at offset, parsed once."""
        page = self._subifd_pages.get(offset)
        if page is None:
            ifd = read_ifd(self.source, self.header, offset)
            page = page_class(ifd)(self.source, self.header, ifd, index)
            self._subifd_pages[offset] = page
        return page

    @cached_property
    def series(self) -> list[TiffPageSeries]:
        return find_series(self)

    def asarray(self, key: int | None = None, *, series: int = 0, level: int = 0) -> np.ndarray:
        if key is not None:
            return self.pages[key].asarray()
        if not self.series:
            raise TiffFileError(f"{self.filename}: the file holds no image")
        return self.series[series].levels[level].asarray()

    def close(self) -> None:
        if self._files is not None:
            self._files.close()
        if self._owns_source:
            self.source.close()

    @property
    def closed(self) -> bool:
        return self.source.closed

    def __enter__(self) -> TiffFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        kind = "BigTIFF" if self.is_bigtiff else "TIFF"
        order = "little" if self.byteorder == "<" else "big"
        return f"<TiffFile {self.filename!r} {kind} {order}-endian>"
