"""Series of the real files in ../shared/corpus compared with tifffile's.

For every file tifffile reads, series shapes, axes, dtypes and level shapes must equal
tifffile's, and every series and level must be pixel-identical.  A series tifffile lists
but cannot decode (its pages have no sample type, as 83-bit samples) is not one it
reads: ours lists none there.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

from napari_tiffzarr import TiffFile, TiffFileError

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"


def _files() -> list[str]:
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.is_file():
        return []
    return [line.split("\t", 1)[0] for line in manifest.read_text().splitlines()[1:] if line]


def _facts(series: Any) -> tuple[Any, ...]:
    return (
        tuple(series.shape),
        series.axes,
        np.dtype(series.dtype).str,
        tuple(tuple(level.shape) for level in series.levels),
    )


def _decodable(series: Any) -> bool:
    """Whether tifffile can decode the series: its pages have a sample type."""
    return series.keyframe.dtype is not None


def _theirs(path: Path) -> list[tuple[Any, ...]] | None:
    try:
        with warnings.catch_warnings(), tifffile.TiffFile(path) as tif:
            warnings.simplefilter("ignore")
            return [_facts(s) for s in tif.series if _decodable(s)]
    except Exception:  # tifffile's many failure types: it does not read this file
        return None


@pytest.fixture(autouse=True)
def _quiet() -> Any:
    logging.disable(logging.WARNING)
    logging.getLogger("tifffile").disabled = True
    yield
    logging.disable(logging.NOTSET)


@pytest.mark.corpus
def test_series_agree_with_tifffile(corpus: Path) -> None:
    agree, differ = [], {}
    for name in _files():
        theirs = _theirs(corpus / name)
        if theirs is None:
            continue
        with TiffFile(corpus / name) as tif:
            ours = [_facts(s) for s in tif.series]
        if ours == theirs:
            agree.append(name)
        else:
            differ[name] = (theirs, ours)
    assert differ == {}
    assert len(agree) > 400


@pytest.mark.corpus
@pytest.mark.parametrize("name", _files())
def test_series_pixels_identical(corpus: Path, name: str) -> None:
    """Every series and level tifffile reads is identical in ours; where tifffile fails,
    ours reads the file or raises TiffFileError, nothing else."""
    path = corpus / name
    try:
        with warnings.catch_warnings(), tifffile.TiffFile(path) as tif:
            warnings.simplefilter("ignore")
            readable = [s for s in tif.series if _decodable(s)]
            facts = [_facts(s) for s in readable]
            expected = [[level.asarray() for level in s.levels] for s in readable]
    except Exception:  # tifffile does not read it: ours may, or raise TiffFileError
        try:
            with TiffFile(path) as ours:
                for series in ours.series:
                    for index in range(len(series.levels)):
                        series.asarray(level=index)
        except TiffFileError:
            pass
        return
    with TiffFile(path) as tif:
        ours = [_facts(s) for s in tif.series]
        assert ours == facts
        for series, levels in zip(tif.series, expected, strict=True):
            for index, reference in enumerate(levels[: len(series.levels)]):
                mine = series.asarray(level=index)
                np.testing.assert_array_equal(mine, reference)
