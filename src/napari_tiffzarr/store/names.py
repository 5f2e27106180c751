"""The names of the served axes: the one source of both the multiscales axes and every
array's dimension names (zarr 3 ``dimension_names``, zarr 2 ``_ARRAY_DIMENSIONS``), in
either layout, so that the two cannot drift apart.

In NGFF's layout an axis is named as NGFF names it (``t``, ``c``, ``z``, ``y``, ``x``); in
tifffile's layout by its letter, as tifffile's store names the dimensions (``Y``, ``X``,
``S``).  The NGFF type comes from the letter in both.  Pure: axes are tifffile's letters.
"""

from __future__ import annotations

from collections.abc import Sequence

from .config import Layout
from .ngff import NGFF_AXES, NgffAxis, ngff_axes, unique_names

__all__ = ["dimension_names", "lead_axes", "level_names", "served_axes", "unique_names"]


def dimension_names(axes: str) -> list[str]:
    """tifffile's layout's names of the axes: their letters, made unique."""
    return unique_names(list(axes))


def served_axes(axes: str, layout: Layout) -> list[NgffAxis]:
    """Name and NGFF type of each served axis: the multiscales axes, and the dimension
    names of the full-resolution level."""
    described = ngff_axes(axes)
    if layout == "ngff":
        return described
    return [
        axis._replace(name=name)
        for axis, name in zip(described, dimension_names(axes), strict=True)
    ]


def level_names(
    axes: Sequence[NgffAxis],
    layout: Layout,
    level: int,
    shape: Sequence[int],
    base_shape: Sequence[int],
) -> list[str]:
    """The dimension names of a level's array: the axes' names.  In tifffile's layout a
    smaller level's shrunk dimensions get the level's index (``Y_1``), as tifffile's store
    names them apart, so that xarray opens all levels of a group as one dataset; NGFF 0.5
    wants the axes' names on every level, which NGFF's layout gives."""
    names = [axis.name for axis in axes]
    if layout == "ngff" or level == 0:
        return names
    return [
        name if size == base else f"{name}_{level}"
        for name, size, base in zip(names, shape, base_shape, strict=True)
    ]


def lead_axes(letters: Sequence[str], taken: Sequence[str], layout: Layout) -> list[NgffAxis]:
    """Name and NGFF type of the leading axes a sequence of files gains, names unique beside
    taken (the served axes'): as the layout names the served axes."""
    described = [NGFF_AXES.get(letter, (letter.lower(), None)) for letter in letters]
    wanted = [name for name, _ in described] if layout == "ngff" else list(letters)
    return [
        NgffAxis(letter, name, kind)
        for letter, name, (_, kind) in zip(
            letters, unique_names(wanted, taken), described, strict=True
        )
    ]
