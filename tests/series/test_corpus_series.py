"""Series of the real files in ../shared/corpus compared with tifffile's.

For every file tifffile reads, series shapes, axes, dtypes and level shapes must equal
tifffile's, except the files listed below with the reason; and every series and level
whose shape matches must be pixel-identical.
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

# Where we differ from tifffile on purpose, or have not got to yet, and why.
KNOWN_DIFFERENCES = {
    "image-tiff/fuzz_images__oor_panic__colormap-shl-overflow.tiff": (
        "83-bit samples: tifffile makes a float64 series and decodes it to an empty array; "
        "we list no series for a page no reader can decode"
    ),
    "pillow/child_ifd_jpeg.tiff": (
        "its SubIFD is an old-style JPEG with no ImageWidth/ImageLength; tifffile takes the "
        "size from the JPEG stream, we skip the page"
    ),
    "pillow/crash-2020-10-test.tif": (
        "tifffile adds a second series of shape (0, 0) for a page without size; we skip it"
    ),
}
# tifffile opens it and finds no page; we raise: the first IFD offset is past the end.
RAISES_INSTEAD_OF_EMPTY = {"pillow/seek_too_large.tif"}
MIN_AGREEMENT = 0.95


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


def _theirs(path: Path) -> list[tuple[Any, ...]] | None:
    try:
        with warnings.catch_warnings(), tifffile.TiffFile(path) as tif:
            warnings.simplefilter("ignore")
            return [_facts(s) for s in tif.series]
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
        if name in RAISES_INSTEAD_OF_EMPTY:
            assert theirs == []
            with pytest.raises(TiffFileError):
                TiffFile(corpus / name)
            continue
        with TiffFile(corpus / name) as tif:
            ours = [_facts(s) for s in tif.series]
        if ours == theirs:
            agree.append(name)
        else:
            differ[name] = (theirs, ours)
    assert set(differ) == set(KNOWN_DIFFERENCES), {
        n: differ.get(n) for n in set(differ) ^ set(KNOWN_DIFFERENCES)
    }
    assert len(agree) / (len(agree) + len(differ)) >= MIN_AGREEMENT
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
            facts = [_facts(s) for s in tif.series]
            expected = [[level.asarray() for level in s.levels] for s in tif.series]
    except Exception:  # tifffile does not read it: ours may, or raise TiffFileError
        try:
            with TiffFile(path) as ours:
                for series in ours.series:
                    for index in range(len(series.levels)):
                        series.asarray(level=index)
        except TiffFileError:
            pass
        return
    if name in RAISES_INSTEAD_OF_EMPTY:
        assert facts == []
        with pytest.raises(TiffFileError):
            TiffFile(path)
        return
    with TiffFile(path) as tif:
        ours = [_facts(s) for s in tif.series]
        if name in KNOWN_DIFFERENCES:
            assert ours != facts
        else:
            assert ours == facts
        for series, levels in zip(tif.series, expected, strict=False):
            for index, reference in enumerate(levels[: len(series.levels)]):
                mine = series.asarray(level=index)
                np.testing.assert_array_equal(mine, reference)
