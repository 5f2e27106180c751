"""Page lists that parse a page only when it is asked for."""

from __future__ import annotations

from collections.abc import Callable

from ..page import TiffPage
from ..pages import PageSequence

__all__ = ["LazyPages"]


class LazyPages(PageSequence):
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
