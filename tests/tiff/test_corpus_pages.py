"""Every page of the real files in ../shared/corpus compared with tifffile's.

Where tifffile reads a page, ours must give the same shape, axes, dtype and pixels; where
tifffile fails, ours must raise TiffFileError and nothing else.
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

# Where tifffile is wrong and we say so, asserted: the test fails if we stop differing.
BETTER_THAN_TIFFFILE = {
    "image-tiff/fuzz_images__oor_panic__colormap-shl-overflow.tiff": (
        "83-bit samples: tifffile returns an empty float64 array of shape (0,); "
        "we raise TiffFileError, no reader can decode such samples"
    ),
}


def _files() -> list[str]:
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.is_file():
        return []
    return [line.split("\t", 1)[0] for line in manifest.read_text().splitlines()[1:] if line]


def _reference(path: Path) -> tuple[list[Any], Exception | None]:
    """tifffile's (shape, axes, array) of every page, and how opening failed, if it did."""
    pages: list[Any] = []
    try:
        with warnings.catch_warnings(), tifffile.TiffFile(path) as tif:
            warnings.simplefilter("ignore")
            for index in range(len(tif.pages)):
                try:
                    page = tif.pages[index]
                    page = page.aspage() if not isinstance(page, tifffile.TiffPage) else page
                    pages.append((page.shape, page.axes, page.asarray()))
                except Exception as exc:  # tifffile fails on this page in its own way
                    pages.append(exc)
    except Exception as exc:  # tifffile cannot open it
        return pages, exc
    return pages, None


def _read_all_pages(path: Path) -> None:
    with TiffFile(path) as tif:
        for page in tif.pages:
            page.asarray()


@pytest.fixture(autouse=True)
def _quiet() -> Any:
    logging.disable(logging.WARNING)
    yield
    logging.disable(logging.NOTSET)


def test_corpus_is_present() -> None:
    if not (CORPUS / "MANIFEST.tsv").is_file():
        pytest.skip(f"the shared corpus is not at {CORPUS}")
    assert len(_files()) >= 400


@pytest.mark.corpus
@pytest.mark.parametrize("name", _files())
def test_pages_identical_or_refused(name: str) -> None:
    path = CORPUS / name
    reference, _ = _reference(path)
    if not reference:  # tifffile cannot open it, or finds no page: we refuse it
        with pytest.raises(TiffFileError):
            _read_all_pages(path)
        return
    with TiffFile(path) as tif:
        count = len(tif.pages)
        # a corrupt chain may end earlier in ours; what tifffile finds after it holds no image
        assert count <= len(reference)
        for extra in reference[count:]:
            assert isinstance(extra, Exception) or extra[2].size == 0, extra
        for page, expected in zip(tif.pages, reference[:count], strict=True):
            if isinstance(expected, Exception) or name in BETTER_THAN_TIFFFILE:
                with pytest.raises(TiffFileError):
                    page.asarray()
                continue
            shape, axes, array = expected
            result = page.asarray()
            assert (page.shape, page.axes, result.dtype) == (shape, axes, array.dtype)
            np.testing.assert_array_equal(result, array)


@pytest.mark.corpus
def test_first_pages_agree_for_99_percent() -> None:
    """The issue's bar, measured: first pages identical for >= 99% of files tifffile reads."""
    if not (CORPUS / "MANIFEST.tsv").is_file():
        pytest.skip(f"the shared corpus is not at {CORPUS}")
    same = total = 0
    for name in _files():
        reference, failed = _reference(CORPUS / name)
        if failed is not None or not reference or isinstance(reference[0], Exception):
            continue
        total += 1
        shape, axes, array = reference[0]
        try:
            with TiffFile(CORPUS / name) as tif:
                page = tif.pages[0]
                result = page.asarray()
                same += (
                    (page.shape, page.axes) == (shape, axes)
                    and np.array_equal(result, array, equal_nan=True)
                    and result.dtype == array.dtype
                )
        except TiffFileError:
            continue
    assert total > 400
    assert same / total >= 0.99, f"{same} of {total}"
