"""SGI LogLuv pages (Compression 34676), decoded as libtiff gives them by default.

Files are written here with an encoder of the test's own (byte planes, runs and literals)
and, where libtiff's tools are installed, by ``tiffcp -c sgilog``; every decoding is
compared with values computed here from the codes and with libtiff's ``tiffcp -c none``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from corpus_oracles import CORPUS, libtiff_samples
from napari_tiffzarr import TiffFile, TiffFileError
from rowcodec_files import LOGL, LOGLUV, write_logluv
from tiffbuild import LONG, SHORT, TiffBuilder

CORPUS_FILES = (
    "image-tiff/images__logluv-3c-16b.tiff",
    "image-tiff/libtiffpic__off_l16.tif",
    "image-tiff/libtiffpic__off_luv32.tif",
)


def _expected(codes: np.ndarray, photometric: int) -> np.ndarray:
    """What libtiff's 16-bit format gives, computed from the codes: L16 as stored, and
    u' = (code + 1/2) / 410 in steps of 2**-15, rounded down."""
    if photometric == LOGL:
        return codes.astype(np.uint16).view(np.int16)
    low = codes.astype(np.uint32)
    luminance = (low >> 16).astype(np.uint16).view(np.int16)
    u = np.floor((((low >> 8) & 255).astype(np.float64) + 0.5) / 410 * 2**15)
    v = np.floor(((low & 255).astype(np.float64) + 0.5) / 410 * 2**15)
    return np.stack([luminance, u.astype(np.int16), v.astype(np.int16)], axis=-1)


def _read(path: Path) -> np.ndarray:
    with TiffFile(path) as tif:
        page = tif.pages[0]
        array = page.asarray()
        assert array.shape == page.shape
        return array


def _luv_codes(length: int, width: int, seed: int) -> np.ndarray:
    """LogLuv32 codes with every u' and v' code, runs and noise, signs and zeros."""
    rng = np.random.default_rng(seed)
    luminance = rng.integers(0, 1 << 16, (length, width), dtype=np.uint32)
    luminance[:, : width // 3] = 0x4000  # runs in the high planes
    u = (np.arange(length * width) % 256).reshape(length, width).astype(np.uint32)
    v = ((np.arange(length * width) * 7) % 256).reshape(length, width).astype(np.uint32)
    v[length // 2 :, :] = 200  # runs in the lowest plane
    return (luminance << 16) | (u << 8) | v


@pytest.mark.parametrize("byteorder", ["<", ">"])
@pytest.mark.parametrize("rows", [1, 5, 16])
def test_logluv32_decodes_the_stored_codes(tmp_path: Path, byteorder: str, rows: int) -> None:
    codes = _luv_codes(16, 300, seed=rows)
    path = tmp_path / "luv.tif"
    write_logluv(path, codes, LOGLUV, rows, byteorder)
    result = _read(path)
    assert result.dtype == np.int16
    assert result.shape == (16, 300, 3)
    np.testing.assert_array_equal(result, _expected(codes, LOGLUV))
    theirs = libtiff_samples(path, tmp_path / "none.tif")
    if theirs is None:
        pytest.skip("libtiff's tiffcp is not installed (.ci/run installs libtiff-tools)")
    np.testing.assert_array_equal(result, theirs)


def test_logl16_decodes_the_stored_codes(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 1 << 16, (20, 257), dtype=np.uint32)
    codes[5:9] = 0x8123  # negative luminance, in runs
    path = tmp_path / "l16.tif"
    write_logluv(path, codes, LOGL, 8)
    result = _read(path)
    assert result.dtype == np.int16
    assert result.shape == (20, 257)
    np.testing.assert_array_equal(result, _expected(codes, LOGL))
    theirs = libtiff_samples(path, tmp_path / "none.tif")
    if theirs is None:
        pytest.skip("libtiff's tiffcp is not installed (.ci/run installs libtiff-tools)")
    np.testing.assert_array_equal(result, theirs)


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_corpus_logluv_equals_libtiff(tmp_path: Path, name: str) -> None:
    path = CORPUS / name
    if not path.is_file():
        pytest.skip(f"the shared corpus has no {name}")
    theirs = libtiff_samples(path, tmp_path / "none.tif")
    if theirs is None:
        pytest.skip("libtiff's tiffcp is not installed (.ci/run installs libtiff-tools)")
    result = _read(path)
    assert result.dtype == theirs.dtype
    np.testing.assert_array_equal(result, theirs)


@pytest.mark.parametrize("name", CORPUS_FILES[1:])
def test_libtiff_encoded_logluv_decodes_as_libtiff(tmp_path: Path, name: str) -> None:
    """libtiff's own encoder (``tiffcp -c sgilog``), in strips and in tiles."""
    import subprocess

    source = CORPUS / name
    if not source.is_file():
        pytest.skip(f"the shared corpus has no {name}")
    plain = tmp_path / "plain.tif"
    if libtiff_samples(source, plain) is None:
        pytest.skip("libtiff's tiffcp is not installed (.ci/run installs libtiff-tools)")
    for layout in (["-r", "3"], ["-t", "-w", "64", "-l", "32"]):
        coded = tmp_path / "coded.tif"
        subprocess.run(["tiffcp", *layout, "-c", "sgilog", str(plain), str(coded)], check=True)
        with TiffFile(coded) as tif:
            assert int(tif.pages[0].compression) == 34676
        theirs = libtiff_samples(coded, tmp_path / "again.tif")
        assert theirs is not None
        np.testing.assert_array_equal(_read(coded), theirs)


def _corrupted(tmp_path: Path, strip: bytes, rows: int = 4, width: int = 10) -> Path:
    """A LogL file of one strip holding strip's bytes."""
    builder = TiffBuilder("<")
    offset = builder.blob(strip)
    builder.first(
        builder.ifd(
            {
                256: (LONG, [width]),
                257: (LONG, [rows]),
                258: (SHORT, [16]),
                259: (SHORT, [34676]),
                262: (SHORT, [LOGL]),
                273: (LONG, [offset]),
                277: (SHORT, [1]),
                278: (LONG, [rows]),
                279: (LONG, [len(strip)]),
                339: (SHORT, [2]),
            }
        )
    )
    path = tmp_path / "bad.tif"
    path.write_bytes(builder.bytes())
    return path


@pytest.mark.parametrize(
    ("strip", "message"),
    [
        (bytes([0]), "not enough data"),  # a literal of nothing, then no more
        (bytes([5, 1, 2, 3, 4, 5]), "not enough data"),  # one plane of one row only
        (bytes([200, 7]), "passes the end of row 0"),  # a run of 74 in a row of 10
        (bytes([20]) + bytes(20), "passes the end of row 0"),  # a literal of 20
        (bytes([3, 1]), "inside a literal"),
        (bytes([130]), "inside a run"),
    ],
    ids=["nothing", "short", "long-run", "long-literal", "cut-literal", "cut-run"],
)
def test_corrupt_strip_raises_naming_page_and_segment(
    tmp_path: Path, strip: bytes, message: str
) -> None:
    path = _corrupted(tmp_path, strip)
    with TiffFile(path) as tif, pytest.raises(TiffFileError, match=message) as caught:
        tif.pages[0].asarray()
    assert "page 0: segment 0" in str(caught.value)


def test_random_bytes_raise_tifffileerror_or_decode(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    for trial in range(40):
        strip = rng.integers(0, 256, int(rng.integers(1, 200)), dtype=np.uint8).tobytes()
        path = _corrupted(tmp_path, strip, rows=3, width=int(rng.integers(1, 40)))
        with TiffFile(path) as tif:
            try:
                array = tif.pages[0].asarray()
            except TiffFileError as exc:
                message = str(exc)
            else:
                assert array.dtype == np.int16, trial
                continue
        assert "segment 0" in message, trial


@pytest.mark.parametrize(
    ("photometric", "samples", "bits", "sampleformat"),
    [(LOGLUV, 1, 16, 2), (LOGL, 3, 16, 2), (LOGL, 1, 32, 3), (2, 3, 16, 2)],
    ids=["luv-one-sample", "l-three-samples", "float", "rgb"],
)
def test_codings_we_do_not_decode_are_refused(
    tmp_path: Path, photometric: int, samples: int, bits: int, sampleformat: int
) -> None:
    """libtiff would convert float pages to XYZ and others to tone-mapped RGB: we say so
    rather than return something else."""
    builder = TiffBuilder("<")
    offset = builder.blob(bytes(64))
    builder.first(
        builder.ifd(
            {
                256: (LONG, [4]),
                257: (LONG, [4]),
                258: (SHORT, [bits] * samples),
                259: (SHORT, [34676]),
                262: (SHORT, [photometric]),
                273: (LONG, [offset]),
                277: (SHORT, [samples]),
                278: (LONG, [4]),
                279: (LONG, [64]),
                339: (SHORT, [sampleformat] * samples),
            }
        )
    )
    path = tmp_path / "odd.tif"
    path.write_bytes(builder.bytes())
    with (
        TiffFile(path) as tif,
        pytest.raises(TiffFileError, match=r"SGILOG data .* not supported"),
    ):
        tif.pages[0].asarray()


def test_logluv24_is_refused_by_name(tmp_path: Path) -> None:
    path = CORPUS / "image-tiff/libtiffpic__off_luv24.tif"
    if not path.is_file():
        pytest.skip("the shared corpus has no LogLuv24 file")
    with TiffFile(path) as tif, pytest.raises(TiffFileError, match=r"SGILOG24 \(34677\)"):
        tif.pages[0].asarray()


def test_a_huge_declared_strip_is_refused_before_allocating(tmp_path: Path) -> None:
    """4 x 10**9 codes cannot come from 6 bytes: refused before any buffer is made, even
    by the segment decoder alone (the store decodes segments without the page's check)."""
    strip = bytes([255, 1, 255, 2, 255, 3])
    with TiffFile(_corrupted(tmp_path, strip, rows=4, width=10**9)) as tif:
        page = tif.pages[0]
        with pytest.raises(TiffFileError, match="6 bytes cannot hold 4 rows"):
            page.decoder.decode(strip, 0)
        with pytest.raises(TiffFileError):
            page.asarray()
