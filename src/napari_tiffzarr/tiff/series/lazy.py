"""Page lists that parse a page only when it is asked for."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import overload

from ..page import TiffPage

__all__ = ["LazyPages"]


class LazyPages(Sequence[TiffPage]):
    """count pages made by make(i) on first access and kept: series of thousands of
    pages cost nothing until their chunks are read."""

    def __init__(self, count: int, make: Callable[[int], TiffPage]) -> None:
        self._count = count
        self._make = make
        self._pages: dict[int, TiffPage] = {}

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> TiffPage: ...

    @overload
    def __getitem__(self, index: slice) -> list[TiffPage]: ...

    def __getitem__(self, index: int | slice) -> TiffPage | list[TiffPage]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._count))]
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError(f"page {index} out of range")
        page = self._pages.get(index)
        if page is None:
            page = self._make(index)
            self._pages[index] = page
        return page
