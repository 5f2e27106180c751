"""Page sequences: pages parsed on first access and kept.  TiffPages walks the main IFD
chain only as far as asked for; LazyPages is a series' list of pages made on demand."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar, overload

from ..errors import TiffFileError, TiffNoPagesError
from ..sources import ByteSource
from .alike import PER_PAGE_TAGS, AlikePage, ModelEntries, ifd_signature
from .ifd import (
    EntryReader,
    IfdEntries,
    ReadWindow,
    TiffHeader,
    ifd_block,
    ifd_entries,
    parse_ifd,
    read_entries,
)
from .kinds import page_class
from .page import TiffPage

__all__ = ["LazyPages", "PageSequence", "TiffPages"]

log = logging.getLogger("napari_tiffzarr")


# Models whose raw entries a file's pages are compared with, before parsing them in full
MODEL_ENTRIES_KEPT = 8

# TiffPage, or TiffPage | None where a place may hold no page (read as the fill value)
P = TypeVar("P", bound="TiffPage | None")


class PageSequence(Sequence[P]):
    """Pages parsed on first access and kept; a subclass says how to make page index,
    raising IndexError where there is none, and how many there are."""

    def __init__(self) -> None:
        self._pages: dict[int, P] = {}

    def _make(self, index: int) -> P:
        raise NotImplementedError

    @overload
    def __getitem__(self, index: int) -> P: ...

    @overload
    def __getitem__(self, index: slice) -> list[P]: ...

    def __getitem__(self, index: int | slice) -> P | list[P]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if index not in self._pages:
            self._pages[index] = self._make(index)
        return self._pages[index]


class TiffPages(PageSequence[TiffPage]):
    """The pages of the main IFD chain, found and parsed only as far as asked for."""

    def __init__(self, source: ByteSource, header: TiffHeader) -> None:
        super().__init__()
        self._source = source
        self._header = header
        self._offsets: list[int] = []
        self._seen: set[int] = set()
        self._complete = False
        # decoding threads ask for pages of files still being walked (the other files of
        # a dataset): the chain grows under this lock, or two threads append one offset
        self._lock = threading.RLock()
        # the first page of each kind, by signature: later pages alike it borrow its work
        self._models: dict[tuple[object, ...], TiffPage] = {}
        # the models' raw entries, most recent first: most pages are found by these alone
        self._model_entries: list[ModelEntries] = []
        self._values: dict[tuple[int, int], bytes] = {}  # small tag values read for them
        self._empty_reason = ""
        self._append_offset(header.first_offset, first=True)

    def _append_offset(self, offset: int, *, first: bool = False) -> None:
        source = self._source
        if first and (offset == 0 or offset < 8 or offset >= source.size):
            # no page at all: the file opens with none, as in tifffile; asking for a page
            # says why (TiffNoPagesError)
            where = "0" if offset == 0 else f"{offset} is outside the file ({source.size} bytes)"
            self._empty_reason = f"{source.name}: the file has no image: first IFD offset {where}"
            log.warning("%s", self._empty_reason)
            self._complete = True
        elif offset == 0:
            self._complete = True
        elif offset in self._seen:
            log.warning("%s: the IFD chain loops back to offset %d; stopped", source.name, offset)
            self._complete = True
        elif offset < 8 or offset >= source.size:
            log.warning("%s: IFD offset %d is outside the file; stopped", source.name, offset)
            self._complete = True
        else:
            self._seen.add(offset)
            self._offsets.append(offset)

    def _extend(self, index: int, next_offset: int) -> None:
        """IFD index was just read: where it is the last known, its next offset extends the
        chain, and walking on needs no second read (unless another thread walked on)."""
        with self._lock:
            if index == len(self._offsets) - 1 and not self._complete:
                self._append_offset(next_offset)

    def _walk(self, index: int | None) -> None:
        """Follow the chain until page index (or the end) is known."""
        if self._complete or (index is not None and index < len(self._offsets)):
            return
        with self._lock:
            self._walk_locked(index)

    def _walk_locked(self, index: int | None) -> None:
        window = ReadWindow(self._source)  # IFDs of small pages share reads
        while (
            self._offsets and not self._complete and (index is None or index >= len(self._offsets))
        ):
            last = self._offsets[-1]
            try:
                next_offset = read_entries(window, self._header, last, entries=False).next_offset
            except TiffFileError as exc:
                if len(self._offsets) == 1:
                    raise
                log.warning("%s; the pages end before it", exc)
                self._offsets.pop()
                self._complete = True
                break
            self._append_offset(next_offset)

    def scan(self) -> Iterator[tuple[int, IfdEntries]]:
        """(index, raw IFD entries) of every page, walking the chain in the same pass:
        what grouping thousands of pages needs, without parsing them."""
        read = EntryReader(ReadWindow(self._source), self._header)
        index = 0
        while index < len(self._offsets) or not self._complete:
            if index >= len(self._offsets):
                self._walk(index)
                continue
            try:
                entries = read(self._offsets[index])
            except TiffFileError as exc:
                if index < len(self._offsets) - 1 or self._complete or index == 0:
                    raise
                with self._lock:
                    if index == len(self._offsets) - 1 and not self._complete:
                        log.warning("%s; the pages end before it", exc)  # as _walk would
                        self._offsets.pop()
                        self._complete = True
                return
            if index == len(self._offsets) - 1 and not self._complete:
                self._extend(index, entries.next_offset)
            yield index, entries
            index += 1

    def __len__(self) -> int:
        self._walk(None)
        return len(self._offsets)

    def __bool__(self) -> bool:
        """Whether the file has a page, without walking the chain: the first offset is
        known from the header (the length would read every IFD of 10,000 pages)."""
        return bool(self._offsets)

    @property
    def offsets(self) -> list[int]:
        self._walk(None)
        return list(self._offsets)

    def _make(self, index: int) -> TiffPage:
        self._walk(index)  # only as far as index: page 0 of 100,000 reads one IFD
        if not self._offsets:
            raise TiffNoPagesError(self._empty_reason)
        if not 0 <= index < len(self._offsets):
            raise IndexError(f"page index {index} out of range")
        source, header, offset = self._source, self._header, self._offsets[index]
        block = ifd_block(source, header, offset)
        entries = ifd_entries(header, block)
        for known in self._model_entries:
            if known.matches(entries):
                own = parse_ifd(source, header, offset, block, keep=PER_PAGE_TAGS)
                self._extend(index, own.next_offset)
                return AlikePage(known.model, source, header, known.ifd(own), index)
        ifd = parse_ifd(source, header, offset, block)
        self._extend(index, ifd.next_offset)
        kind = page_class(ifd)
        if kind is not TiffPage:
            return kind(source, header, ifd, index)
        signature = ifd_signature(ifd, self._values)
        if signature is None:
            return TiffPage(source, header, ifd, index)
        model = self._models.get(signature)
        if model is None:
            model = self._models.setdefault(signature, TiffPage(source, header, ifd, index))
            if model.ifd is ifd:
                return model
        with self._lock:
            if len(self._model_entries) < MODEL_ENTRIES_KEPT and not any(
                known.model is model for known in self._model_entries
            ):
                self._model_entries.insert(0, ModelEntries(model, ifd, entries))
        return AlikePage(model, source, header, ifd, index)

    def __iter__(self) -> Iterator[TiffPage]:
        index = 0
        while True:
            self._walk(index)
            if index >= len(self._offsets):
                return
            yield self[index]
            index += 1

    def first(self) -> TiffPage:
        return self[0]


class LazyPages(PageSequence[TiffPage]):
    """count pages made by make(i) on first access and kept: series of thousands of
    pages cost nothing until their chunks are read."""

    def __init__(self, count: int, make: Callable[[int], TiffPage]) -> None:
        super().__init__()
        self._count = count
        self._make_page = make

    def __len__(self) -> int:
        return self._count

    def _make(self, index: int) -> TiffPage:
        if not 0 <= index < self._count:
            raise IndexError(f"page {index} out of range")
        return self._make_page(index)
