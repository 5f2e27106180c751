"""Sample data for napari's menu: the generated sample slide, opened as the reader does."""

from __future__ import annotations

from typing import Any

from ..tiff.sample import sample_path
from ._reader import open_layers

__all__ = ["sample_pyramid"]


def sample_pyramid() -> list[tuple[Any, dict[str, Any], str]]:
    return open_layers(sample_path())
