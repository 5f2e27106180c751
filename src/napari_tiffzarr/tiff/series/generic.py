"""Series of files without format metadata: pages grouped by coding key, SubIFD pyramids."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ...errors import TiffFileError
from ..page import TiffPage
from ..pages import LazyPages
from .base import TiffPageSeries, coding_key, pyramidize, subifd_index

if TYPE_CHECKING:
    from ..file import TiffFile

__all__ = ["detect_generic", "detect_uniform"]

log = logging.getLogger("napari_tiffzarr")


def _usable(page: TiffPage) -> bool:
    try:
        return page.size > 0 and page.dtype is not None
    except TiffFileError as exc:
        log.warning("%s: skipped: %s", page.name, exc)
        return False


def detect_uniform(tif: TiffFile) -> list[TiffPageSeries] | None:
    """One page, or many pages sampled to be alike, without SubIFDs: one series."""
    pages = tif.pages
    first = pages.first()
    if first.subifds:
        return None
    count = len(pages)
    if count == 1:
        if not _usable(first):
            return None
        return [TiffPageSeries(tif, [first], first.shape, first.axes, kind="uniform")]
    if count < 8:
        return None
    key = coding_key(first)
    for index in (1, 7, count - 1):
        page = pages[index]
        if page.subifds or page.is_reduced or coding_key(page) != key:
            return None
    # Like tifffile, trust the sample: the other pages are parsed when their chunks are
    # read, and a page that differs from the first then raises instead of misreading.
    lazy = LazyPages(count, pages.__getitem__)
    return [TiffPageSeries(tif, lazy, (count, *first.shape), "I" + first.axes, kind="uniform")]


def detect_generic(tif: TiffFile) -> list[TiffPageSeries] | None:
    """Group all pages and SubIFDs by coding key; smaller groups become pyramid levels."""
    groups: dict[tuple[object, ...], list[TiffPage]] = {}
    subifd_groups: set[tuple[object, ...]] = set()

    def add(page: TiffPage, *, subifd: bool) -> None:
        if not _usable(page):
            return
        key = coding_key(page)
        group = groups.setdefault(key, [])
        if not group and subifd:
            subifd_groups.add(key)
        if all(p.offset != page.offset for p in group):
            group.append(page)

    for page in tif.pages:
        add(page, subifd=False)
        for i, offset in enumerate(page.subifds):
            if offset < 8 or offset >= tif.filesize:
                continue
            try:
                sub = tif.subifd_page(offset, subifd_index(page, i))
            except TiffFileError as exc:
                log.warning("%s: SubIFD %d skipped: %s", page.name, i, exc)
                continue
            add(sub, subifd=True)

    series: list[TiffPageSeries] = []
    subifd_series: set[int] = set()
    for key, group in groups.items():
        first = group[0]
        shape = (len(group), *first.shape)
        axes = "I" + first.axes
        if "S" not in axes:
            shape += (1,)
            axes += "S"
        item = TiffPageSeries(tif, group, shape, axes, kind="generic")
        if key in subifd_groups:
            subifd_series.add(id(item))
        series.append(item)
    pyramidize(series, is_subifd=lambda s: id(s) in subifd_series)
    return series or None
