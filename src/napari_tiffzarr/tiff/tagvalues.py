"""Integer tag values of a page, read on first use: one descriptor instead of an accessor each.

A page's properties such as ``imagewidth`` or ``compression`` are one tag each, with a
default where the tag is missing; a few apply only when another property says so (tile
sizes of tiled pages) or hold one value per sample that must agree.  The value is stored
in the page's ``__dict__`` on first use, as ``functools.cached_property`` does, so a
subclass or a copy of a page may set it beforehand.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, Protocol, Self, overload

import numpy as np

from ..errors import TiffFileError
from .ifd import Ifd
from .tags import FieldType, enum_or_int

__all__ = ["IntTag", "read_floats", "read_int", "read_uniform"]


class TaggedPage(Protocol):
    ifd: Ifd

    @property
    def name(self) -> str: ...
    @property
    def samplesperpixel(self) -> int: ...


def read_int(page: TaggedPage, code: int, default: int) -> int:
    """Tag code's value, its first where it holds several, or default where it is missing."""
    value = page.ifd.value(code, default)
    if isinstance(value, tuple):
        value = value[0] if value else default
    if not isinstance(value, int):
        raise TiffFileError(f"{page.name}: tag {code} is not an integer: {value!r}")
    return value


def read_floats(page: TaggedPage, code: int, default: tuple[float, ...]) -> tuple[float, ...]:
    """A tag's numbers (rationals divided out) as floats, or default where the tag is
    missing or holds another count of them."""
    tag = page.ifd.get(code)
    if tag is None:
        return default
    values = tag.array().astype(np.float64)
    if tag.dtype in (FieldType.RATIONAL, FieldType.SRATIONAL):
        denominators = values[1::2]
        values = values[0::2] / np.where(denominators == 0, 1, denominators)
    return tuple(values.tolist()) if len(values) == len(default) else default


def read_uniform(page: TaggedPage, code: int, default: int) -> int:
    """A per-sample tag whose values must all agree (BitsPerSample, SampleFormat)."""
    value = page.ifd.value(code, default)
    if isinstance(value, tuple):
        value = value[: page.samplesperpixel]  # extra values beyond the samples are junk
        if not value:
            return default
        if any(v != value[0] for v in value):
            raise TiffFileError(f"{page.name}: per-sample values of tag {code} differ: {value}")
        value = value[0]
    if not isinstance(value, int):
        raise TiffFileError(f"{page.name}: tag {code} is not an integer: {value!r}")
    return value


class IntTag:
    """A page property holding one integer tag's value, computed once per page.

    default is the value of a missing tag, or a function of the page giving it; when, if
    given, says whether the tag applies to the page at all, the value being otherwise
    where it does not; kind turns known values into members of an enum.
    """

    def __init__(
        self,
        code: int,
        default: int | Callable[[Any], int],
        *,
        per_sample: bool = False,
        kind: type[enum.IntEnum] | None = None,
        when: Callable[[Any], bool] | None = None,
        otherwise: int = 0,
    ) -> None:
        self.code = code
        self.default = default
        self.read = read_uniform if per_sample else read_int
        self.kind = kind
        self.when = when
        self.otherwise = otherwise
        self.attribute = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.attribute = name

    @overload
    def __get__(self, page: None, owner: type | None = None) -> Self: ...
    @overload
    def __get__(self, page: TaggedPage, owner: type | None = None) -> int: ...
    def __get__(self, page: TaggedPage | None, owner: type | None = None) -> Self | int:
        if page is None:
            return self
        if self.when is not None and not self.when(page):
            value = self.otherwise
        else:
            default = self.default(page) if callable(self.default) else self.default
            value = self.read(page, self.code, default)
        if self.kind is not None:
            value = enum_or_int(self.kind, value)
        page.__dict__[self.attribute] = value
        return value
