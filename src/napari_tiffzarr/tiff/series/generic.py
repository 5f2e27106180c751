"""Series of files without format metadata: pages grouped by coding key, SubIFD pyramids."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ...errors import TiffFileError
from ..ifd import ReadWindow
from ..page import TiffPage
from ..pages import LazyPages
from .base import TiffPageSeries, coding_key, pyramidize, subifd_index
from .signature import Signatures

if TYPE_CHECKING:
    from ..file import TiffFile

__all__ = ["detect_generic", "detect_uniform"]

log = logging.getLogger("napari_tiffzarr")


def _usable(page: TiffPage) -> bool:
    """Whether the page has a shape and a type; an empty image has them, as in tifffile."""
    try:
        return page.shape is not None and page.dtype is not None
    except TiffFileError as exc:
        log.warning("%s: skipped: %s", page.name, exc)
        return False


def detect_uniform(tif: TiffFile) -> list[TiffPageSeries] | None:
    """One page, or many pages sampled to be alike, without SubIFDs: one series."""
    pages = tif.pages
    first = pages.first()
    if first.subifds:
        return None
    try:
        pages[1]
    except TiffFileError:
        return None  # the generic grouping reports it
    except IndexError:
        if not _usable(first):
            return None
        return [TiffPageSeries(tif, [first], first.shape, first.axes, kind="uniform")]
    key = coding_key(first)

    def alike(index: int) -> bool:
        page = pages[index]
        return not (page.subifds or page.is_reduced or coding_key(page) != key)

    # pages 1 and 7 first: a stack of unlike pages is told apart before its chain is walked
    try:
        if not (alike(1) and alike(7)):
            return None
    except IndexError:
        return None  # fewer than 8 pages: too few to sample
    count = len(pages)
    if not alike(count - 1):
        return None
    # Like tifffile, trust the sample: the other pages are parsed when their chunks are
    # read, and a page that differs from the first then raises instead of misreading.
    return [TiffPageSeries(tif, pages, (count, *first.shape), "I" + first.axes, kind="uniform")]


_UNSEEN: list[TiffPage | int] = []  # a signature not met before (identity, never filled)


def _group_pages(tif: TiffFile, members: list[TiffPage | int]) -> LazyPages:
    """A group's pages: those of the main chain by index, parsed when first read."""
    chain = tif.pages

    def make(index: int) -> TiffPage:
        member = members[index]
        return chain[member] if isinstance(member, int) else member

    return LazyPages(len(members), make)


def detect_generic(tif: TiffFile) -> list[TiffPageSeries] | None:
    """Group all pages and SubIFDs by coding key; smaller groups become pyramid levels.

    Linear in the pages: a page whose raw IFD entries match an earlier page's but for
    where its data lie joins that page's group unparsed, by one dictionary lookup.
    """
    groups: dict[tuple[object, ...], list[TiffPage | int]] = {}
    subifd_groups: set[tuple[object, ...]] = set()
    placed: set[int] = set()  # SubIFD offsets grouped; the chain's own never repeat

    def add(page: TiffPage, *, subifd: bool) -> list[TiffPage | int] | None:
        if not _usable(page):
            return None
        key = coding_key(page)
        group = groups.setdefault(key, [])
        if not group and subifd:
            subifd_groups.add(key)
        group.append(page)
        return group

    pages = tif.pages
    signatures = Signatures(tif.header, ReadWindow(tif.source))
    # signature -> the group its pages join (None: pages not usable): one lookup a page
    known: dict[tuple[object, ...], list[TiffPage | int] | None] = {}
    chain: set[int] | None = None
    for index, entries in pages.scan():
        signature = signatures.of(entries)
        if signature is not None:
            group = known.get(signature, _UNSEEN)
            if group is not _UNSEEN:
                if group is not None:
                    group.append(index)
                continue
        page = pages[index]
        group = add(page, subifd=False)
        if signature is not None:
            known[signature] = group
        tif.prefetch_ifds(page.subifds)
        for i, sub_offset in enumerate(page.subifds):
            if sub_offset < 8 or sub_offset >= tif.filesize:
                continue
            if chain is None:
                chain = set(pages.offsets)
            if sub_offset in chain or sub_offset in placed:
                continue  # an IFD already grouped, as a page of the chain or a SubIFD
            try:
                sub = tif.subifd_page(sub_offset, subifd_index(page, i))
            except TiffFileError as exc:
                log.warning("%s: SubIFD %d skipped: %s", page.name, i, exc)
                continue
            placed.add(sub_offset)
            add(sub, subifd=True)

    series: list[TiffPageSeries] = []
    subifd_series: set[int] = set()
    for key, group in groups.items():
        group_pages = _group_pages(tif, group)
        first = group_pages[0]
        shape = (len(group), *first.shape)
        axes = "I" + first.axes
        if "S" not in axes:
            shape += (1,)
            axes += "S"
        item = TiffPageSeries(tif, group_pages, shape, axes, kind="generic")
        if key in subifd_groups:
            subifd_series.add(id(item))
        series.append(item)
    pyramidize(series, is_subifd=lambda s: id(s) in subifd_series)
    return series or None
