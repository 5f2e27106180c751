"""Fixtures of the series tests: the corpus beside the checkout, and a series comparer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"


def _series_facts(series: Any) -> tuple[Any, ...]:
    return (
        tuple(series.shape),
        series.axes,
        np.dtype(series.dtype).str,
        tuple(tuple(level.shape) for level in series.levels),
    )


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not (CORPUS / "MANIFEST.tsv").is_file():
        pytest.skip(f"the shared corpus is not at {CORPUS}")
    return CORPUS


@pytest.fixture(scope="session")
def series_facts() -> Any:
    """What must be equal between tifffile's series and ours: shape, axes, dtype, levels."""
    return _series_facts
