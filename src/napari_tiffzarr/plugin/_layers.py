"""How a series appears in napari: one place mapping image metadata to layer options.

Pure: takes the series' description and its zarr arrays, returns napari LayerData.  It
reads pixels only of the coarsest level's middle plane, for contrast limits.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

__all__ = ["METADATA_KEY", "LayerSource", "contrast_limits", "file_stem", "layer_data"]

_T = TypeVar("_T")

# Channel counts above this stay a slider dimension rather than one layer per channel.
MAX_CHANNEL_LAYERS = 16
# Coarsest levels larger than this are sampled, not read whole, for contrast limits.
MAX_CONTRAST_SAMPLES = 4096 * 4096
# Where a layer's metadata keeps its LayerSource.
METADATA_KEY = "tiffzarr"


@dataclass(frozen=True)
class LayerSource:
    """Where a layer's data come from; kept in the layer's metadata to reopen or export it.

    napari keeps metadata as a plain dict (it may be copied, saved or edited), so the layer
    holds as_metadata() and every reader of it parses it back once, with from_metadata.
    """

    path: str
    series: int = 0
    level: int | None = None  # None: all levels as a pyramid
    chunkmode: int = 0
    fillvalue: float | int | None = None
    cachesize: int | None = None  # bytes of decoded chunks kept; None: the store's default

    def as_metadata(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "series": self.series,
            "level": self.level,
            "chunkmode": self.chunkmode,
            "fillvalue": self.fillvalue,
            "cachesize": self.cachesize,
        }

    @classmethod
    def from_metadata(cls, metadata: Any) -> LayerSource | None:
        """The source a layer's metadata records under "tiffzarr"; None for a layer that was
        not opened by this plugin, or whose record is not one it wrote."""
        entry = metadata.get(METADATA_KEY) if isinstance(metadata, Mapping) else None
        if not isinstance(entry, Mapping) or not isinstance(entry.get("path"), str):
            return None
        try:
            return cls(
                path=entry["path"],
                series=_integer(entry.get("series", 0)),
                level=_optional(_integer, entry.get("level")),
                chunkmode=_integer(entry.get("chunkmode", 0)),
                fillvalue=_optional(_number, entry.get("fillvalue")),
                cachesize=_optional(_integer, entry.get("cachesize")),
            )
        except TypeError:
            return None


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"not an integer: {value!r}")
    return int(value)


def _number(value: Any) -> float | int:
    """An int stays an int (a fill value of 7 reads "7", not "7.0"); True is no number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"not a number: {value!r}")
    return int(value) if isinstance(value, numbers.Integral) else float(value)


def _optional(parse: Callable[[Any], _T], value: Any) -> _T | None:
    return None if value is None else parse(value)


def _is_rgb(axes: str, shape: Sequence[int]) -> bool:
    return axes.endswith("S") and shape[-1] in (3, 4)


def _channel_axis(axes: str, shape: Sequence[int], rgb: bool) -> int | None:
    for letter in "CS":
        if letter in axes:
            index = axes.index(letter)
            if letter == "S" and rgb and index == len(axes) - 1:
                continue
            if 1 < shape[index] <= MAX_CHANNEL_LAYERS:
                return index
    return None


def contrast_limits(array: Any, channel_axis: int | None, leading: Sequence[int] = ()) -> Any:
    """(min, max) of the coarsest level, per channel where there are channels.

    Along the leading axes (time, z, a stack of files...) only the middle plane is read,
    the one napari shows first: a stack of 2,000 files opens reading one of them.
    """
    plane = math.prod(size for i, size in enumerate(array.shape) if i not in leading)
    selection: list[Any] = []
    for i, size in enumerate(array.shape):
        if i in leading:
            selection.append((size - 1) // 2)
        elif plane > MAX_CONTRAST_SAMPLES and i >= array.ndim - 2:
            selection.append(slice(None, None, max(1, int(np.ceil(size / 1024)))))
        else:
            selection.append(slice(None))
    data = np.asarray(array[tuple(selection)])
    if channel_axis is not None:
        channel_axis -= sum(1 for i in leading if i < channel_axis)
    if data.dtype.kind == "b":
        return [0, 1] if channel_axis is None else [[0, 1]] * data.shape[channel_axis]
    if channel_axis is None:
        return _limits(data)
    return [_limits(np.take(data, i, axis=channel_axis)) for i in range(data.shape[channel_axis])]


def _limits(data: np.ndarray) -> list[float]:
    if data.dtype.kind == "c":
        data = np.abs(data)
    finite = data[np.isfinite(data)] if data.dtype.kind == "f" else data
    if finite.size == 0:
        return [0.0, 1.0]
    low, high = float(finite.min()), float(finite.max())
    if low == high:
        high = low + 1
    return [low, high]


def layer_data(
    arrays: Sequence[Any],
    *,
    axes: str,
    source: LayerSource,
    name: str = "",
    channel_names: Sequence[str] = (),
    physical_sizes: dict[str, tuple[float, str]] | None = None,
    channel_colors: Sequence[tuple[float, float, float] | None] = (),
) -> list[tuple[Any, dict[str, Any], str]]:
    """napari LayerData for the levels of one series: one image layer, or one per channel.

    As napari's builtin reader and napari-ome-zarr do: the layer is named after the file
    without its extension, channels after their names, a channel with a colour gets a
    colormap from black to that colour, physical pixel sizes become scale and units.
    """
    shape = arrays[0].shape
    rgb = _is_rgb(axes, shape)
    channel_axis = _channel_axis(axes, shape, rgb)
    # the dimensions napari shows: all but the colour samples and the channel axis
    shown = [
        (i, ax)
        for i, ax in enumerate(axes)
        if i != channel_axis and not (rgb and i == len(axes) - 1)
    ]
    sizes = physical_sizes or {}
    scale = [sizes[ax][0] if ax in sizes else 1.0 for _, ax in shown]
    units = [sizes[ax][1] if ax in sizes else "pixel" for _, ax in shown]
    labels = [ax.lower() for _, ax in shown]
    base = name or file_stem(source.path)
    kwargs: dict[str, Any] = {
        "rgb": rgb,
        "multiscale": len(arrays) > 1,
        "scale": scale,
        "units": units,
        "axis_labels": labels,
        "metadata": {METADATA_KEY: source.as_metadata()},
    }
    if not rgb:
        leading = [i for i, _ in shown[:-2]]  # what the sliders step through
        kwargs["contrast_limits"] = contrast_limits(arrays[-1], channel_axis, leading)
    data: Any = list(arrays) if len(arrays) > 1 else arrays[0]
    if channel_axis is not None:
        count = shape[channel_axis]
        names = [n for n in channel_names if n][:count]
        if len(names) != count:
            names = [f"{base} [{axes[channel_axis]}{i}]" for i in range(count)]
        kwargs["channel_axis"] = channel_axis
        kwargs["name"] = names
        colors = list(channel_colors)
        if len(colors) == count and any(colors):
            kwargs["colormap"] = [
                _colormap(name, color) for name, color in zip(names, colors, strict=True)
            ]
    else:
        kwargs["name"] = base
        if not rgb and len(channel_colors) == 1 and channel_colors[0] is not None:
            kwargs["colormap"] = _colormap(base, channel_colors[0])
    return [(data, kwargs, "image")]


def file_stem(path: str) -> str:
    """The file's name without its last extension, as napari names what it opens; a URL's
    query is no part of it."""
    name = path.split("?", 1)[0].rstrip("/").replace("\\", "/").rsplit("/", 1)[-1]
    return os.path.splitext(name)[0] or name


def _colormap(name: str, color: tuple[float, float, float] | None) -> Any:
    """From black to the channel's colour, as napari-ome-zarr makes it; grey without one."""
    if color is None:
        return "gray"
    return {"name": f"{name} colour", "colors": [[0.0, 0.0, 0.0, 1.0], [*color, 1.0]]}
