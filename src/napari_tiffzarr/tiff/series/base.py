"""TiffPageSeries: pages that together make one n-dimensional image, and its levels."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ...errors import TiffFileError
from ..codecs import DEFAULT_MAX_EXPANSION
from ..page import TiffPage, allocate

if TYPE_CHECKING:
    from ...store.store import ZarrTiffStore
    from ..file import TiffFile
    from ..sequence import TiffSequence

__all__ = [
    "SeriesKind",
    "TiffPageSeries",
    "coding_key",
    "pyramidize",
    "squeeze_axes",
    "subifd_index",
    "subresolution",
]

# What found a series: a detector's name, or "page" for a page served on its own
SeriesKind = Literal[
    "page",
    "uniform",
    "generic",
    "shaped",
    "imagej",
    "ome",
    "svs",
    "ndpi",
    "qpi",
    "philips",
    "scanimage",
    "sequence",  # a folder or list of files read as one series (tiff/sequence.py)
]

# The largest ratio of a decoded series to its file's size we believe: past it, the size
# tags are corrupt (the best codecs on constant data stay below it).
MAX_SERIES_EXPANSION = DEFAULT_MAX_EXPANSION


def squeeze_axes(shape: Sequence[int], axes: str, skip: str = "XY") -> tuple[tuple[int, ...], str]:
    """Shape and axes without length-1 dimensions, keeping those named in skip."""
    kept = [(size, ax) for size, ax in zip(shape, axes, strict=True) if size > 1 or ax in skip]
    if not kept:
        return (1,), axes[-1:] or "Q"
    return tuple(size for size, _ in kept), "".join(ax for _, ax in kept)


def subifd_index(page: TiffPage, number: int) -> tuple[int, ...]:
    """The index of a page's SubIFD: the page's index path, then the SubIFD's number."""
    parent = page.index if isinstance(page.index, tuple) else (page.index,)
    return (*parent, number)


def coding_key(page: TiffPage) -> tuple[Any, ...]:
    """What pages must share to be decoded alike and stacked: shape, layout and coding."""
    return (
        page.shaped,
        page.layout.segment,
        page.layout.tiled,
        page.dtype.str,
        page.bitspersample,
        page.sampleformat,
        int(page.compression),
        int(page.predictor),
        int(page.photometric),
        page.fillorder,
        page.extrasamples,
    )


class TiffPageSeries:
    """An image made of pages with one coding key, its shape a reshape of the pages'.

    ``shape`` is always ``(pages..., page dims...)`` reshaped without transposition, so
    that chunks of the zarr store map onto strips and tiles of single pages.
    """

    def __init__(
        self,
        parent: TiffFile | TiffSequence | None,
        pages: Sequence[TiffPage | None],
        shape: Sequence[int],
        axes: str,
        *,
        kind: SeriesKind,
        name: str = "",
        squeeze: bool = True,
        keyframe: TiffPage | None = None,
    ) -> None:
        first = next((p for p in pages if p is not None), None)
        filename = parent.filename if parent is not None else first.source.name if first else "?"
        if len(shape) != len(axes):
            raise TiffFileError(
                f"{filename}: series shape {tuple(shape)} and axes {axes!r} differ in length"
            )
        self.parent = parent
        self.pages = pages
        self.kind: SeriesKind = kind
        self.name = name
        self.index = 0
        self._shape = tuple(int(s) for s in shape)
        self._axes = axes
        self._squeeze = squeeze
        if keyframe is None:
            keyframe = first
            if keyframe is None:
                raise TiffFileError(f"{filename}: series {kind} has no pages")
        self.keyframe = keyframe
        self.levels: list[TiffPageSeries] = [self]
        # per axis letter: (size of a pixel, unit); names of channels where known
        self.physical_sizes: dict[str, tuple[float, str]] = {}
        self.channel_names: list[str] = []
        # per channel: its colour as RGB in [0, 1], None where the file gives none
        self.channel_colors: list[tuple[float, float, float] | None] = []
        # files of a multi-file dataset whose planes this series does not read
        self.missing_files: list[str] = []
        expected = len(pages) * keyframe.size
        if math.prod(self._shape) != expected:
            raise TiffFileError(
                f"{filename}: series shape {self._shape} does not hold "
                f"{len(pages)} pages of shape {keyframe.shape}"
            )

    @property
    def dtype(self) -> np.dtype:
        return self.keyframe.dtype

    def rename_axis(self, index: int, letter: str) -> None:
        """Give dimension index (of the unsqueezed axes) a more telling letter."""
        self._axes = self._axes[:index] + letter + self._axes[index + 1 :]

    def get_shape(self, squeeze: bool | None = None) -> tuple[int, ...]:
        if squeeze is None:
            squeeze = self._squeeze
        return squeeze_axes(self._shape, self._axes)[0] if squeeze else self._shape

    def get_axes(self, squeeze: bool | None = None) -> str:
        if squeeze is None:
            squeeze = self._squeeze
        return squeeze_axes(self._shape, self._axes)[1] if squeeze else self._axes

    @property
    def shape(self) -> tuple[int, ...]:
        return self.get_shape()

    @property
    def axes(self) -> str:
        return self.get_axes()

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self._shape)

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    @property
    def is_pyramidal(self) -> bool:
        return len(self.levels) > 1

    def __len__(self) -> int:
        return len(self.pages)

    def asarray(self, *, level: int = 0, maxworkers: int | None = None) -> np.ndarray:
        """Decode all pages of a level into one array of the series' shape."""
        series = self.levels[level]
        keyframe = series.keyframe
        series.check_allocation()
        result = allocate((len(series.pages), *keyframe.shape), keyframe.dtype, 0, keyframe.name)
        for index, page in enumerate(series.pages):
            if page is None:
                result[index] = keyframe.nodata
                continue
            if page is not keyframe and (page.shape, page.dtype) != (
                keyframe.shape,
                keyframe.dtype,
            ):
                raise TiffFileError(
                    f"{page.name}: {page.shape} {page.dtype} differs from the series' first "
                    f"page, {keyframe.shape} {keyframe.dtype}"
                )
            page.asarray(out=result[index], maxworkers=maxworkers)
        return result.reshape(series.shape)

    def check_allocation(self) -> None:
        """Refuse to decode a series larger than its file could hold, before allocating."""
        keyframe = self.keyframe
        keyframe.check_allocation(keyframe.segment_ranges())
        needed = len(self.pages) * keyframe.nbytes
        filesize = keyframe.source.size
        if needed > filesize * MAX_SERIES_EXPANSION + 2**20:
            raise TiffFileError(
                f"{keyframe.source.name}: series of {len(self.pages)} pages of "
                f"{keyframe.shape} {keyframe.dtype} needs {needed} bytes, more than a file of "
                f"{filesize} bytes can hold: its size tags are corrupt"
            )

    def aszarr(self, **kwargs: Any) -> ZarrTiffStore:
        from ...store.store import ZarrTiffStore

        return ZarrTiffStore(self, **kwargs)

    def __repr__(self) -> str:
        levels = f" levels={len(self.levels)}" if self.is_pyramidal else ""
        return (
            f"<TiffPageSeries {self.index} {self.kind} {self.shape} {self.dtype} "
            f"{self.axes}{levels}>"
        )


def subresolution(
    a: TiffPageSeries, b: TiffPageSeries, factor: int, limit: int = 16
) -> int | None:
    """The pyramid step of b below a for a downsampling factor, or None if b is not one."""
    if a.axes != b.axes or a.dtype != b.dtype:
        return None
    level: int | None = None
    for ax, i, j in zip(a.axes.lower(), a.shape, b.shape, strict=True):
        if ax in "xyz":
            if level is None:
                for step in range(limit):
                    d = factor**step
                    if d > i:
                        return None
                    if j in (i // d, -(-i // d)):
                        level = step
                        break
                else:
                    return None
            else:
                d = factor**level
                if j not in (i // d, -(-i // d)):
                    return None
        elif i != j:
            return None
    return level


def pyramidize(
    series: list[TiffPageSeries],
    *,
    reduced_only: bool = False,
    factors: Sequence[int] = (2, 3, 4),
    is_subifd: Any = None,
) -> None:
    """Move series that are one step smaller than another into its levels, in place."""
    i = 0
    while i < len(series):
        top = series[i]
        if is_subifd is not None and is_subifd(top):
            i += 1
            continue
        factor: int | None = None
        j = i + 1
        while j < len(series):
            candidate = series[j]
            if reduced_only and not candidate.keyframe.is_reduced:
                j += 1
                continue
            if factor is None:
                factor = next(
                    (f for f in factors if subresolution(top.levels[-1], candidate, f) == 1), None
                )
                if factor is None:
                    j += 1
                    continue
            elif subresolution(top.levels[-1], candidate, factor) != 1:
                j += 1
                continue
            top.levels.append(candidate)
            del series[j]
        i += 1
