"""The files of a sequence joined into one array: each file's place, and the leading axes
that the joined array gains in its metadata."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..store.ngff import NGFF_AXES

__all__ = ["Placement", "array_signature", "is_array", "lead_axes", "lead_multiscales", "unique"]


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


def unique(names: Sequence[str], taken: Sequence[str]) -> list[str]:
    result: list[str] = []
    for name in names:
        candidate, count = name, 1
        while candidate in taken or candidate in result:
            candidate, count = f"{name}{count}", count + 1
        result.append(candidate)
    return result


def lead_axes(seq: Placement, taken: Sequence[str]) -> list[tuple[str, str | None]]:
    """NGFF name and type of the sequence's leading axes, names unique beside taken."""
    kinds = [NGFF_AXES.get(ax, (ax.lower(), None)) for ax in seq.axes]
    named = unique([n for n, _ in kinds], taken)
    return [(name, kind) for name, (_, kind) in zip(named, kinds, strict=True)]


def lead_multiscales(attributes: dict[str, Any], seq: Placement) -> None:
    """Give OME-NGFF multiscales the sequence's leading axes, at scale 1."""
    ome = attributes.get("ome")
    multiscales = (ome if isinstance(ome, dict) else attributes).get("multiscales") or []
    for multiscale in multiscales:
        axes = multiscale["axes"]
        lead = [
            {"name": n, "type": kind} if kind else {"name": n}
            for n, kind in lead_axes(seq, [a["name"] for a in axes])
        ]
        multiscale["axes"] = lead + axes
        for dataset in multiscale["datasets"]:
            for transform in dataset["coordinateTransformations"]:
                if transform.get("type") == "scale":
                    transform["scale"] = [1.0] * len(seq.shape) + transform["scale"]


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
