"""A folder or glob of TIFF files read as one series, its axes parsed from the file names.

Acquisition software writes time-lapses and multi-channel stacks one file per plane:
``t001_c02_z0005.tif``.  The numbers that vary between names become leading axes (t -> T,
c -> C, z -> Z, s or p -> P, a plain number -> I); the first file's own series gives the
rest.  Opening parses the first file only: every other file is assumed alike and opened
when a chunk of it is read, through a pool of at most _openfiles open files.  A file that
turns out unlike the first raises TiffFileError naming it, never misreads.
"""

from __future__ import annotations

import glob
import math
import os
import re
from collections.abc import Sequence
from functools import cached_property
from types import TracebackType
from typing import Any

from ..errors import TiffFileError
from ..sources import ByteSource, is_url
from .file import TiffFile
from .files import DEFAULT_OPENFILES, FilePool
from .page import TiffPage
from .pages import PageSequence
from .series.base import TiffPageSeries, coding_key, subifd_index
from .series.frames import VirtualPage

__all__ = ["TIFF_SUFFIXES", "TiffSequence", "open_tiff", "parse_names", "tiff_files"]

TIFF_SUFFIXES = (".tif", ".tiff", ".btf", ".tf8")
# the label of the number after a text: its last letters, maybe followed by _ or -
_LABEL = re.compile(r"([a-z]*)[_\-]?$")
# what a label in a file name says about its axis
_LABELS = {
    **dict.fromkeys(("t", "tp", "time", "timepoint", "frame", "f"), "T"),
    **dict.fromkeys(("c", "ch", "channel", "w", "wavelength"), "C"),
    **dict.fromkeys(("z", "slice", "plane", "focus"), "Z"),
    **dict.fromkeys(("s", "p", "pos", "position", "series", "site", "field", "xy"), "P"),
    "": "I",
}
# letters for further axes, so that axes stay unique
_SPARE = "QRUVW"
# a grid of names with holes is read with its holes as fill, up to this much fill
_MAX_HOLES = 2


_DIGITS = re.compile(r"(\d+)")


def _natural(name: str) -> list[Any]:
    """Sort key: numbers by value, so frame_2 comes before frame_10."""
    parts: list[Any] = _DIGITS.split(name.lower())  # text, number, text...: odd ones numbers
    parts[1::2] = map(int, parts[1::2])
    return parts


_SUFFIX = re.compile(r"(\.ome)?\.(tiff?|btf|tf8)$", re.IGNORECASE)


def _stem(path: str) -> str:
    return _SUFFIX.sub("", os.path.basename(path), count=1)


def parse_names(files: Sequence[str]) -> tuple[tuple[int, ...], str, list[int]]:
    """(shape, axes, flat index of each file) from the numbers that vary in the names.

    Names that do not share one pattern of text between their numbers, or whose numbers
    leave more holes than files, are one axis I in the order given.
    """
    count = len(files)
    fallback = ((count,), "I", list(range(count)))
    if count < 2:
        return fallback
    # text, number, text, ...: the text must be the same in every name, the numbers vary
    split = [_DIGITS.split(_stem(path)) for path in files]
    texts = [part.lower() for part in split[0][0::2]]
    if any([part.lower() for part in parts[0::2]] != texts for parts in split):
        return fallback
    columns = list(zip(*(parts[1::2] for parts in split), strict=True))
    shape: list[int] = []
    places: list[dict[int, int]] = []
    varying: list[int] = []
    for column, numbers in enumerate(columns):
        unique = sorted(set(map(int, numbers)))
        if len(unique) > 1:
            varying.append(column)
            shape.append(len(unique))
            places.append({value: n for n, value in enumerate(unique)})
    if not varying or math.prod(shape) > count * _MAX_HOLES:
        return fallback
    indices = [0] * count
    for column, size, place in zip(varying, shape, places, strict=True):
        numbers = columns[column]
        for file in range(count):
            indices[file] = indices[file] * size + place[int(numbers[file])]
    if len(set(indices)) != count:
        return fallback  # two files at one place: the numbers do not say where
    axes = ""
    spare = iter(_SPARE)
    for column in varying:
        found = _LABEL.search(texts[column])
        letter = _LABELS.get(found.group(1) if found else "", "")
        if not letter or letter in axes:
            letter = next(spare)
        axes += letter
    return tuple(shape), axes, indices


def tiff_files(where: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[str]:
    if not isinstance(where, str | os.PathLike):
        return [os.fspath(path) for path in where]
    text = os.fspath(where)
    if os.path.isdir(text):
        with os.scandir(text) as entries:  # file types from the listing, no stat per file
            names = [
                entry.name
                for entry in entries
                if entry.name.lower().endswith(TIFF_SUFFIXES)
                and not entry.name.startswith(".")
                and entry.is_file()
            ]
        return [os.path.join(text, name) for name in sorted(names, key=_natural)]
    return sorted((path for path in glob.glob(text) if os.path.isfile(path)), key=_natural)


class _SequencePages(PageSequence[TiffPage | None]):
    """Page j of file k is the first file's page j found in file k, parsed when read."""

    def __init__(self, sequence: TiffSequence, first: TiffPageSeries, slots: list[int | None]):
        super().__init__()
        self._sequence = sequence
        self._first = first
        self._slots = slots  # per place in the grid: the file there, or None
        self._per_file = len(first.pages)
        self._key = coding_key(first.keyframe)

    def __len__(self) -> int:
        return len(self._slots) * self._per_file

    def _make(self, index: int) -> TiffPage | None:
        if not 0 <= index < len(self):
            raise IndexError(f"page {index} out of range")
        slot, j = divmod(index, self._per_file)
        file = self._slots[slot]
        if file is None:
            return None  # a hole in the grid of names reads as the fill value
        model = self._first.pages[j]
        if model is None or file == 0:  # a plane the first file lacks: the fill value
            return model
        path = self._sequence.files[file]
        try:
            tif = self._sequence.pool.file(path)
            page = _same_page(tif, model)
        except (OSError, IndexError) as exc:
            raise TiffFileError(f"{path}: cannot be read as the sequence's {j}: {exc}") from exc
        if coding_key(page) != self._key:
            first = os.path.basename(self._sequence.files[0])
            raise TiffFileError(
                f"{path}: {page.shape} {page.dtype} "
                f"(compression {int(page.compression)}) differs from {first}'s "
                f"{model.shape} {model.dtype} (compression {int(model.compression)}): "
                "the files of a sequence must be alike"
            )
        return page


def _same_page(tif: TiffFile, model: TiffPage) -> TiffPage:
    """In tif, the page at the place of model in the first file: a page of the chain by
    its index, a SubIFD (a pyramid level) by its parent's and its number, a frame by its
    keyframe's place and its number."""
    if isinstance(model, VirtualPage):
        return VirtualPage(_same_page(tif, model.keyframe), model.frame)
    if isinstance(model.index, int):
        return tif.pages[model.index]
    top, *numbers = model.index
    page = tif.pages[top]
    for number in numbers:
        if number >= len(page.subifds):
            raise TiffFileError(f"{page.name} has no SubIFD {number}, as {model.name} has")
        page = tif.subifd_page(page.subifds[number], subifd_index(page, number))
    return page


class TiffSequence:
    """TIFF files of a folder, a glob pattern or a list, read as one series (series[0])."""

    def __init__(
        self,
        files: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        *,
        _openfiles: int = DEFAULT_OPENFILES,
    ) -> None:
        where = files if isinstance(files, str | os.PathLike) else None
        self.files = tiff_files(files)
        label = os.fspath(where) if where is not None else None
        if not self.files:
            raise TiffFileError(f"{label or 'the list'}: no TIFF files")
        self.pool = FilePool(TiffFile, _openfiles)
        # what a pickled store reopens: the folder or pattern, else the list of files
        self.origin: str | tuple[str, ...] = label if label is not None else tuple(self.files)
        self.filename = os.path.basename(os.path.normpath(label)) if label else self.files[0]
        self.shape, self.axes, self._indices = parse_names(self.files)

    @property
    def source(self) -> ByteSource:
        """The first file's source: where the sequence's name and location come from."""
        return self.first.source

    @cached_property
    def first(self) -> TiffFile:
        return self.pool.file(self.files[0])

    @cached_property
    def series(self) -> list[TiffPageSeries]:
        found = self.first.series
        if not found:
            raise TiffFileError(f"{self.files[0]}: no image series")
        first = found[0]
        slots: list[int | None] = [None] * math.prod(self.shape)
        for file, flat in enumerate(self._indices):
            slots[flat] = file
        # every level of the first file's series (a pyramid in SubIFDs or reduced pages)
        # is a level of the sequence, its pages found at the same place in each file
        levels = [
            TiffPageSeries(
                self,
                _SequencePages(self, level, slots),
                (*self.shape, *level.get_shape(False)),
                self.axes + level.get_axes(False),
                kind="sequence",
                name=self.filename,
                keyframe=level.keyframe,
            )
            for level in first.levels
        ]
        item = levels[0]
        item.levels = levels
        item.physical_sizes = dict(first.physical_sizes)
        item.channel_names = list(first.channel_names)
        return [item]

    def unlike(self, files: Sequence[int]) -> dict[int, str]:
        """The files, of those at these indices, that differ from the first, each with
        what differs: their first and last pages of the series are read as a chunk read
        would (tags only, no pixel), so this is what reading them would raise."""
        item = self.series[0]
        pages = item.pages
        per_file = len(pages) // max(1, math.prod(self.shape))
        found: dict[int, str] = {}
        for file in files:
            slot = self._indices[file]
            for j in dict.fromkeys((0, per_file - 1)):
                try:
                    pages[slot * per_file + j]
                except TiffFileError as exc:
                    found[file] = str(exc)
                    break
        return found

    def close(self) -> None:
        self.pool.close()

    @property
    def closed(self) -> bool:
        return self.pool.closed

    def __enter__(self) -> TiffSequence:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<TiffSequence {self.filename!r} {len(self.files)} files {self.axes}>"


def open_tiff(path: str | os.PathLike[str], **kwargs: Any) -> TiffFile | TiffSequence:
    """A TIFF file, or the sequence of TIFF files in a folder or matching a glob pattern."""
    text = os.fspath(path)
    if is_url(text):  # a query's "?" is no glob
        return TiffFile(path, **kwargs)
    if os.path.isdir(text) or (glob.has_magic(text) and not os.path.exists(text)):
        return TiffSequence(text, **kwargs)
    return TiffFile(path, **kwargs)
