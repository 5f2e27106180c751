"""The OME-NGFF layout: each axis's NGFF name and type, the order the spec accepts, and why
a series' axes cannot be valid NGFF where they cannot.

NGFF (0.4 and 0.5 alike) wants 2 to 5 axes: at most one of type time, first; at most one
channel and one of no (or a custom) type; then 2 or 3 space axes, last.  A TIFF often stores
its axes otherwise: RGB samples interleaved after x (YXS), ImageJ's TZCYX.  zarr 3's
``transpose`` codec lets an array present the NGFF order while its chunks keep the TIFF's
bytes; zarr 2 has no such codec, so there the TIFF's own order has to be valid already.
Pure: axes are tifffile's letters, as the series gives them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "NGFF_AXES",
    "NgffAxis",
    "ngff_axes",
    "ngff_order",
    "ngff_problems",
    "omero_attributes",
    "unique_names",
]

# tifffile's axis letters -> (NGFF name, NGFF type); other letters keep their own name,
# lower-case, with no type (NGFF's custom axis)
NGFF_AXES: dict[str, tuple[str, str | None]] = {
    "T": ("t", "time"),
    "C": ("c", "channel"),
    "S": ("c", "channel"),
    "Z": ("z", "space"),
    "Y": ("y", "space"),
    "X": ("x", "space"),
}

# where an axis goes in NGFF order: time, then channel and custom axes as the file has
# them, then space as z, y, x
_RANK = {"T": 0, "Z": 2, "Y": 3, "X": 4}
_OTHERS = 1


class NgffAxis(NamedTuple):
    letter: str  # tifffile's
    name: str
    type: str | None  # None: a custom axis


def ngff_order(axes: str) -> tuple[int, ...]:
    """The axes' positions in NGFF order: NGFF axis i is the series' axis order[i]."""
    return tuple(sorted(range(len(axes)), key=lambda i: _RANK.get(axes[i], _OTHERS)))


def ngff_axes(axes: str) -> list[NgffAxis]:
    """NGFF name and type of each axis, names unique.  Interleaved samples beside a
    channel axis are a custom axis 's': NGFF allows one channel axis."""
    described = []
    for letter in axes:
        name, kind = NGFF_AXES.get(letter, (letter.lower(), None))
        if letter == "S" and "C" in axes:
            name, kind = "s", None
        described.append((name, kind))
    names = unique_names([name for name, _ in described])
    return [
        NgffAxis(letter, name, kind)
        for letter, name, (_, kind) in zip(axes, names, described, strict=True)
    ]


def unique_names(names: Sequence[str], taken: Sequence[str] = ()) -> list[str]:
    """names made unique beside each other and beside taken: a repeated name gets a
    number (``Y``, ``Y1``)."""
    result: list[str] = []
    used = set(taken)
    for name in names:
        candidate, count = name, 1
        while candidate in used:
            candidate, count = f"{name}{count}", count + 1
        used.add(candidate)
        result.append(candidate)
    return result


def ngff_problems(axes: str) -> list[str]:
    """Why axes served in this order are not valid NGFF; empty where they are."""
    described = ngff_axes(axes)
    kinds = [axis.type for axis in described]
    problems: list[str] = []
    if not 2 <= len(axes) <= 5:
        problems.append(f"{len(axes)} axes {axes} (NGFF allows 2 to 5)")
    for kind, label in (("time", "time"), ("channel", "channel")):
        if kinds.count(kind) > 1:
            problems.append(f"{kinds.count(kind)} {label} axes (NGFF allows one)")
    custom = [axis.letter for axis in described if axis.type is None]
    if len(custom) > 1:
        problems.append(f"{len(custom)} axes of no NGFF type ({''.join(custom)}): NGFF allows one")
    space = kinds.count("space")
    if space not in (2, 3):
        problems.append(f"{space} space axes (NGFF needs 2 or 3)")
    if list(ngff_order(axes)) != list(range(len(axes))):
        wanted = "".join(axes[i] for i in ngff_order(axes))
        problems.append(f"axis order {axes}, not NGFF's {wanted} (time first, space last)")
    return problems


def _hex(color: tuple[float, float, float] | None) -> str:
    if color is None:
        return "FFFFFF"  # no colour given: white, a grey ramp
    return "".join(f"{round(min(max(c, 0.0), 1.0) * 255):02X}" for c in color)


def _window(dtype: np.dtype) -> dict[str, float] | None:
    """The display window NGFF's omero wants, from the type's range; None for floats,
    whose range the metadata does not say."""
    if dtype.kind == "b":
        return {"min": 0.0, "max": 1.0, "start": 0.0, "end": 1.0}
    if dtype.kind not in "iu":
        return None
    info = np.iinfo(dtype)
    low, high = float(info.min), float(info.max)
    return {"min": low, "max": high, "start": low, "end": high}


def omero_attributes(
    axes: Sequence[NgffAxis],
    shape: Sequence[int],
    dtype: np.dtype,
    names: Sequence[str],
    colors: Sequence[tuple[float, float, float] | None],
) -> Mapping[str, Any] | None:
    """NGFF's omero metadata (channel labels and colours, as napari-ome-zarr reads them)
    where the series names or colours the channels of its channel axis, else None."""
    channel = next((i for i, axis in enumerate(axes) if axis.type == "channel"), None)
    if channel is None or not (any(names) or any(c is not None for c in colors)):
        return None
    count = shape[channel]
    if len(names) not in (0, count) or len(colors) not in (0, count):
        return None  # the file describes other channels than the axis has
    window = _window(dtype)
    if window is None:
        return None
    channels = []
    for i in range(count):
        entry: dict[str, Any] = {
            "color": _hex(colors[i] if colors else None),
            "window": dict(window),
            "active": True,
        }
        if names and names[i]:
            entry["label"] = names[i]
        channels.append(entry)
    return {"channels": channels, "rdefs": {"model": "color"}}
