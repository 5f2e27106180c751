"""The files of a sequence joined into one array: each file's place, and the leading axes
that the joined array gains in its metadata."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..store.ngff import NgffAxis

__all__ = ["Placement", "array_signature", "is_array", "lead_multiscales"]


@dataclass(frozen=True)
class Placement:
    """The multi-file API: this file's place in a sequence of files joined into one array."""

    shape: tuple[int, ...]
    axes: tuple[str, ...]
    index: tuple[int, ...]

    @classmethod
    def parse(
        cls,
        shape: Sequence[int] | None,
        axes: Sequence[str] | None,
        index: Sequence[int] | None,
    ) -> Placement:
        shape = tuple(int(s) for s in shape or ())
        axes = tuple(axes or ())
        if index is None and shape:
            raise ValueError("_index is required with _shape: where this file goes")
        index = tuple(int(i) for i in index or ())
        if len(axes) != len(shape) or len(index) != len(shape):
            raise ValueError(f"_shape {shape}, _axes {axes} and _index {index} differ in length")
        if any(not 0 <= i < n for i, n in zip(index, shape, strict=True)):
            raise ValueError(f"_index {index} is outside _shape {shape}")
        return cls(shape, axes, index)


def lead_multiscales(attributes: dict[str, Any], lead: Sequence[NgffAxis]) -> None:
    """Give OME-NGFF multiscales a sequence's leading axes (named as the arrays' leading
    dimensions are), at scale 1."""
    ome = attributes.get("ome")
    multiscales = (ome if isinstance(ome, dict) else attributes).get("multiscales") or []
    entries = [
        {"name": axis.name, "type": axis.type} if axis.type else {"name": axis.name}
        for axis in lead
    ]
    for multiscale in multiscales:
        multiscale["axes"] = entries + multiscale["axes"]
        for dataset in multiscale["datasets"]:
            for transform in dataset["coordinateTransformations"]:
                if transform.get("type") == "scale":
                    transform["scale"] = [1.0] * len(lead) + transform["scale"]


def is_array(key: str, document: Mapping[str, Any]) -> bool:
    return key.endswith(".zarray") or document.get("node_type") == "array"


def array_signature(document: Mapping[str, Any]) -> str:
    """What must agree for files to join: everything but attributes and names."""
    keep = {
        k: v
        for k, v in document.items()
        if k not in ("attributes", "dimension_names", "_ARRAY_DIMENSIONS")
    }
    return json.dumps(keep, sort_keys=True)
