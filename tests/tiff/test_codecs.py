"""The codec table and the raw-samples predicate, against tifffile and numcodecs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import imagecodecs.numcodecs
import numcodecs.registry
import numpy as np
import pytest
import tifffile

from napari_tiffzarr import TiffFile
from napari_tiffzarr.tiff.codecs import (
    CODECS,
    PREDICTORS,
    Role,
    byte_aligned,
    codec,
    is_raw,
    numcodec_kinds,
    why_not_raw,
)


def test_table_names_numcodecs_that_exist() -> None:
    imagecodecs.numcodecs.register_codecs(verbose=False)
    for codec_id in numcodec_kinds():
        assert numcodecs.registry.codec_registry[codec_id].codec_id == codec_id


def test_every_decoding_row_has_a_decoder() -> None:
    for compression, row in CODECS.items():
        assert (row.decode is None) == (row.role is Role.RAW), compression
    assert codec(99999) is None  # unknown codes have no row: the decoder refuses them


def test_numcodec_kinds_follow_the_roles() -> None:
    kinds = numcodec_kinds()
    assert kinds["imagecodecs_lzw"] == "bytes"
    assert kinds["zlib"] == "bytes"
    assert kinds["imagecodecs_deflate"] == "bytes"  # an alias of deflate's row
    assert kinds["imagecodecs_jpeg"] == "image"
    assert kinds["imagecodecs_jpeg2k"] == "image"
    assert kinds["imagecodecs_delta"] == "array"
    assert {p.numcodec for p in PREDICTORS.values()} == {
        "imagecodecs_delta",
        "imagecodecs_floatpred",
    }


def _tifffile_itemsize_bits(char: str) -> int | None:
    try:
        return np.dtype(char).itemsize * 8
    except TypeError:  # a code numpy has no type for
        return None


@pytest.mark.parametrize(
    ("sampleformat", "bits"),
    [k for k in tifffile.TIFF.SAMPLE_DTYPES if isinstance(k[1], int) and k[0] != 5],
)
def test_byte_aligned_agrees_with_tifffile_types(sampleformat: int, bits: int) -> None:
    """Byte-aligned: the type tifffile decodes to is exactly as wide as the stored sample."""
    width = _tifffile_itemsize_bits(tifffile.TIFF.SAMPLE_DTYPES[(sampleformat, bits)])
    assert byte_aligned(sampleformat, bits) == (width == bits)


@pytest.mark.parametrize("bits", [16, 32, 64])
def test_complex_integers_are_never_byte_aligned(bits: int) -> None:
    # stored as pairs of ints, decoded widened to complex floats of twice the width
    assert not byte_aligned(5, bits)


CASES: dict[str, tuple[np.ndarray, dict[str, Any], bool]] = {
    "u1": (np.arange(32 * 48, dtype="u1").reshape(32, 48), {}, True),
    "u2-be": (np.arange(32 * 48, dtype=">u2").reshape(32, 48), {}, True),
    "f2": (np.linspace(0, 1, 32 * 48, dtype="f2").reshape(32, 48), {}, True),
    "f8-tiles": (np.linspace(0, 1, 32 * 48).reshape(32, 48), {"tile": (16, 16)}, True),
    "c16": (np.arange(32 * 48).reshape(32, 48) * (1 + 2j), {}, True),
    "rgb": (np.arange(32 * 48 * 3, dtype="u1").reshape(32, 48, 3), {"photometric": "rgb"}, True),
    "bool": (np.arange(32 * 48).reshape(32, 48) % 3 == 0, {}, False),
    "12-bit": (np.arange(32 * 48, dtype="u2").reshape(32, 48), {"bitspersample": 12}, False),
    "lzw": (np.arange(32 * 48, dtype="u2").reshape(32, 48), {"compression": "lzw"}, False),
    "zlib-predictor": (
        np.arange(32 * 48, dtype="u2").reshape(32, 48),
        {"compression": "zlib", "predictor": True},
        False,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_raw_means_the_stored_bytes_are_the_samples(tmp_path: Path, name: str) -> None:
    """Where is_raw says so, segment 0's bytes read as the page's type in the file's byte
    order are tifffile's pixels of that segment; elsewhere they are not."""
    data, options, expected = CASES[name]
    path = tmp_path / f"{name}.tif"
    tifffile.imwrite(path, data, metadata=None, rowsperstrip=8, **options)
    with tifffile.TiffFile(path) as ref:
        pixels = ref.pages[0].asarray()
    with TiffFile(path) as tif:
        page = tif.pages[0]
        assert is_raw(page) is expected, why_not_raw(page)
        assert is_raw(page.coding()) is expected
        offset, length = page.segment_range(0)  # type: ignore[misc]
        stored = page.source.read(offset, length)
        _, rows, width, samples = page.layout.segment
        count = rows * width * samples
        dtype = np.dtype(page.header.byteorder + page.dtype.char)
        segment = pixels[:rows, :width]  # segment 0 is the top left one
        if expected:
            first = np.frombuffer(stored, dtype, count=count).reshape(segment.shape)
            assert np.array_equal(first, segment)
        else:
            same = len(stored) == count * dtype.itemsize and np.array_equal(
                np.frombuffer(stored, dtype).reshape(segment.shape), segment
            )
            assert not same
