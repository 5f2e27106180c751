"""What a store serves and how, as one frozen value.

Every field a store is made with is listed here once: the constructor resolves its arguments
into a StoreConfig, and ``with_read_only``, pickling and reopening after unpickling copy the
value whole, so a field cannot be forgotten by one of them.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Literal, get_args

__all__ = [
    "CHUNKMODE",
    "Layout",
    "OnError",
    "StoreConfig",
    "ZarrFormat",
    "parse_chunkmode",
    "parse_chunkshape",
]

ZarrFormat = Literal[2, 3]
OnError = Literal["raise", "fill"]  # a chunk that cannot be read: raise, or show the fill value
# the axes served: tifffile's shape and axis letters, as its ZarrTiffStore serves them; or
# OME-NGFF's order and names, always as a multiscales group (zarr 3 reorders with its
# transpose codec, over the same chunk bytes)
Layout = Literal["tifffile", "ngff"]


class CHUNKMODE(enum.IntEnum):
    """What one zarr chunk is: a strip or tile, a plane, a page or the whole file."""

    NONE = 0
    PLANE = 1
    PAGE = 2
    FILE = 3


_CHUNKMODE_ALIASES = {"STRILE": 0, "TILE": 0, "STRIP": 0, "SEGMENT": 0, "CHUNK": 0, "PAGES": 2}


def parse_chunkmode(value: CHUNKMODE | int | str | None) -> CHUNKMODE:
    """Accept what tifffile accepts: the enum, its int, or its name in any case."""
    if value is None:
        return CHUNKMODE.NONE
    if isinstance(value, str):
        name = value.strip().upper()
        if name in CHUNKMODE.__members__:
            mode = CHUNKMODE[name]
        elif name in _CHUNKMODE_ALIASES:
            mode = CHUNKMODE(_CHUNKMODE_ALIASES[name])
        else:
            raise ValueError(f"unknown chunkmode {value!r}")
    else:
        try:
            mode = CHUNKMODE(int(value))
        except ValueError:
            raise ValueError(f"unknown chunkmode {value!r}") from None
    if mode not in (CHUNKMODE.NONE, CHUNKMODE.PAGE):
        raise ValueError(f"chunkmode {mode.name} is not supported: use NONE (0) or PAGE (2)")
    return mode


def parse_chunkshape(
    value: int | Sequence[int] | None, chunkmode: CHUNKMODE
) -> tuple[int, int] | None:
    """(length, width): the least chunk size in pixels; one number means a square."""
    if value is None:
        return None
    if chunkmode != CHUNKMODE.NONE:
        raise ValueError("chunkshape needs chunkmode 0 (strips or tiles)")
    sizes = (value, value) if isinstance(value, int) else tuple(value)
    if len(sizes) != 2 or not all(isinstance(v, int) and v > 0 for v in sizes):
        raise ValueError(f"chunkshape must be a positive int or (length, width), not {value!r}")
    return (int(sizes[0]), int(sizes[1]))


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """The parameters of a store, resolved: plain values that pickle and compare."""

    level: int  # the level served alone; 0 where all levels are served
    multiscales: bool  # all levels as an OME-NGFF group
    chunkmode: CHUNKMODE = CHUNKMODE.NONE
    fillvalue: int | float | None = None  # None: the page's nodata value
    zattrs: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    squeeze: bool | None = None
    maxworkers: int | None = None
    buffersize: int | None = None
    zarr_format: ZarrFormat = 3
    on_error: OnError = "raise"
    # ours, for browsing: chunks of several segments, the decoded-chunk cache's size in
    # bytes (None: its default), and read-ahead around each view
    chunkshape: tuple[int, int] | None = None
    cachesize: int | None = None
    readahead: bool = False
    layout: Layout = "tifffile"

    @classmethod
    def resolve(
        cls,
        levels: int,
        *,
        level: int | None,
        multiscales: bool | None,
        chunkmode: CHUNKMODE | int | str | None,
        zattrs: Mapping[str, Any] | None,
        zarr_format: ZarrFormat,
        on_error: OnError,
        chunkshape: int | Sequence[int] | None = None,
        cachesize: int | None = None,
        readahead: bool = False,
        layout: Layout = "tifffile",
        **rest: Any,
    ) -> StoreConfig:
        """Check the constructor's arguments against a series of `levels` levels (the
        Literals are checked too: callers without a type checker pass anything)."""
        if zarr_format not in get_args(ZarrFormat):
            raise ValueError(f"zarr_format must be 2 or 3, not {zarr_format}")
        if on_error not in get_args(OnError):
            raise ValueError(f"on_error must be 'raise' or 'fill', not {on_error!r}")
        if layout not in get_args(Layout):
            raise ValueError(f"layout must be 'tifffile' or 'ngff', not {layout!r}")
        if level is not None and not -levels <= level < levels:
            raise IndexError(f"level {level} out of range: the series has {levels} levels")
        if multiscales is None:
            # NGFF's metadata lives on a group: its layout is one even for one level
            multiscales = level is None and (levels > 1 or layout == "ngff")
        if cachesize is not None and cachesize < 0:
            raise ValueError(f"cachesize must be >= 0 bytes, not {cachesize}")
        mode = parse_chunkmode(chunkmode)
        return cls(
            level=0 if level is None else level % levels,
            multiscales=bool(multiscales),
            chunkmode=mode,
            chunkshape=parse_chunkshape(chunkshape, mode),
            cachesize=cachesize,
            readahead=bool(readahead),
            layout=layout,
            zattrs=MappingProxyType(dict(zattrs or {})),
            zarr_format=zarr_format,
            on_error=on_error,
            **rest,
        )

    def replace(self, **changes: Any) -> StoreConfig:
        return replace(self, **changes)

    def __getstate__(self) -> dict[str, Any]:
        # a mapping proxy does not pickle: the attributes go as the plain dict they wrap
        state = {name: getattr(self, name) for name in self.__dataclass_fields__}
        return state | {"zattrs": dict(self.zattrs)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = state | {"zattrs": MappingProxyType(dict(state["zattrs"]))}
        for name, value in state.items():
            object.__setattr__(self, name, value)
