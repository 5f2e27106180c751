"""Pure builders of zarr v2/v3 metadata and OME-NGFF multiscales attributes."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .ngff import NgffAxis

__all__ = [
    "array_metadata",
    "chunk_dtype",
    "group_metadata",
    "json_bytes",
    "multiscales_attributes",
]


def json_bytes(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, indent=2, allow_nan=False).encode()


def _fill_value_json(value: Any, dtype: np.dtype) -> Any:
    """A fill value as zarr's JSON has it: NaN and infinities as strings."""
    if dtype.kind == "c":
        value = complex(value)
        return [
            _fill_value_json(value.real, np.dtype("f8")),
            _fill_value_json(value.imag, np.dtype("f8")),
        ]
    if dtype.kind == "f":
        value = float(value)
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if dtype.kind == "b":
        return bool(value)
    return int(value)


def _v3_data_type(dtype: np.dtype) -> str:
    return "bool" if dtype.kind == "b" else dtype.name


def chunk_dtype(dtype: np.dtype[Any]) -> np.dtype[Any]:
    """The data type of a chunk's bytes as the metadata declares them: little-endian."""
    return dtype.newbyteorder("<") if dtype.itemsize > 1 else dtype


def array_metadata(
    *,
    shape: Sequence[int],
    chunks: Sequence[int],
    dtype: np.dtype,
    fill_value: Any,
    dimensions: Sequence[str],
    attributes: Mapping[str, Any] | None,
    zarr_format: int,
    transpose: Sequence[int] | None = None,
) -> dict[str, bytes]:
    """The metadata documents of one array, by key relative to the array; transpose is the
    order of format 3's transpose codec, where the chunks' bytes are stored in another."""
    native = chunk_dtype(dtype)
    if zarr_format == 3:
        document: dict[str, Any] = {
            "zarr_format": 3,
            "node_type": "array",
            "shape": list(shape),
            "data_type": _v3_data_type(dtype),
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(chunks)}},
            "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
            "fill_value": _fill_value_json(fill_value, dtype),
            "codecs": [
                *([] if transpose is None else [_transpose_codec(transpose)]),
                {"name": "bytes", "configuration": {"endian": "little"}}
                if dtype.itemsize > 1
                else {"name": "bytes"},
            ],
            "attributes": dict(attributes or {}),
            "dimension_names": list(dimensions),
        }
        return {"zarr.json": json_bytes(document)}
    zarray = {
        "zarr_format": 2,
        "shape": list(shape),
        "chunks": list(chunks),
        "dtype": native.str,
        "compressor": None,
        "fill_value": _fill_value_json(fill_value, dtype),
        "order": "C",
        "filters": None,
        "dimension_separator": ".",
    }
    zattrs = {"_ARRAY_DIMENSIONS": list(dimensions), **dict(attributes or {})}
    return {".zarray": json_bytes(zarray), ".zattrs": json_bytes(zattrs)}


def _transpose_codec(order: Sequence[int]) -> dict[str, Any]:
    return {"name": "transpose", "configuration": {"order": list(order)}}


def group_metadata(attributes: Mapping[str, Any], zarr_format: int) -> dict[str, bytes]:
    if zarr_format == 3:
        return {
            "zarr.json": json_bytes(
                {"zarr_format": 3, "node_type": "group", "attributes": dict(attributes)}
            )
        }
    return {".zgroup": json_bytes({"zarr_format": 2}), ".zattrs": json_bytes(dict(attributes))}


def multiscales_attributes(
    *,
    name: str,
    axes: Sequence[NgffAxis],
    shapes: Sequence[Sequence[int]],
    scale: Sequence[float] | None,
    units: Mapping[str, str] | None,
    zarr_format: int,
    omero: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """OME-NGFF multiscales (0.5 for zarr 3, 0.4 for zarr 2) for levels of one series, and
    omero's channel metadata where given.

    Each level's scale is the base scale times the level's downsampling along each axis;
    units are by axis letter.
    """
    base_scale = list(scale) if scale is not None else [1.0] * len(axes)
    ngff_axes: list[dict[str, Any]] = []
    for axis in axes:
        entry: dict[str, Any] = {"name": axis.name}
        if axis.type is not None:
            entry["type"] = axis.type
        if units and axis.letter in units:
            entry["unit"] = units[axis.letter]
        ngff_axes.append(entry)
    datasets = []
    base = shapes[0]
    for index, shape in enumerate(shapes):
        level_scale = [
            s * (b / n if n else 1.0) for s, b, n in zip(base_scale, base, shape, strict=True)
        ]
        datasets.append(
            {
                "path": str(index),
                "coordinateTransformations": [{"type": "scale", "scale": level_scale}],
            }
        )
    multiscale: dict[str, Any] = {"name": name, "axes": ngff_axes, "datasets": datasets}
    extra = {} if omero is None else {"omero": dict(omero)}
    if zarr_format == 3:
        return {"ome": {"version": "0.5", "multiscales": [multiscale], **extra}}
    return {"multiscales": [{"version": "0.4", **multiscale}], **extra}
