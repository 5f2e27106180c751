"""ThunderScan pages (Compression 32809), against an encoder of the test's own and libtiff.

libtiff 4.5 leaves a run that ends a row unwritten (its buffer keeps whatever it held), so
comparisons with its output skip exactly those pixels, found by counting the pixels each
code byte gives; there our pixels must repeat the one before the run, as a run means.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from corpus_oracles import CORPUS, libtiff_samples
from napari_tiffzarr import TiffFile, TiffFileError
from rowcodec_files import SKIP2, SKIP3, thunderscan_image, write_thunderscan
from tiffbuild import LONG, SHORT, TiffBuilder

TEXT = CORPUS / "image-tiff" / "libtiffpic__text.tif"


def _read(path: Path) -> np.ndarray:
    with TiffFile(path) as tif:
        return tif.pages[0].asarray()


@pytest.mark.parametrize("rows", [1, 7, 32])
def test_decodes_what_the_encoder_wrote(tmp_path: Path, rows: int) -> None:
    image = thunderscan_image(30, 101, seed=rows)
    path = tmp_path / "thunder.tif"
    write_thunderscan(path, image, rows)
    result = _read(path)
    assert result.dtype == np.uint8
    np.testing.assert_array_equal(result, image)


def test_tiles_decode(tmp_path: Path) -> None:
    image = thunderscan_image(32, 64, seed=5)
    path = tmp_path / "tiles.tif"
    write_thunderscan(path, image, 16, tiles=True)
    np.testing.assert_array_equal(_read(path), image)


def test_decodes_as_libtiff(tmp_path: Path) -> None:
    """Rows never end in a run here, so libtiff 4.5 writes every pixel."""
    image = thunderscan_image(40, 203, seed=9)
    path = tmp_path / "thunder.tif"
    write_thunderscan(path, image, 16, final_runs=False)
    theirs = libtiff_samples(path, tmp_path / "none.tif")
    if theirs is None:
        pytest.skip("libtiff's tiffcp is not installed (.ci/run installs libtiff-tools)")
    np.testing.assert_array_equal(theirs, image)  # the encoder is libtiff's reading too
    np.testing.assert_array_equal(_read(path), theirs)


def _row_final_runs(data: bytes, rows: int, width: int) -> np.ndarray:
    """Where runs that end a row put pixels: counted from the code bytes alone."""
    counts2 = {b: sum(((b >> s) & 3) != SKIP2 for s in (4, 2, 0)) for b in range(64, 128)}
    counts3 = {b: sum(((b >> s) & 7) != SKIP3 for s in (3, 0)) for b in range(128, 192)}
    mask = np.zeros((rows, width), bool)
    position = 0
    for row in range(rows):
        pixel = 0
        while pixel < width and position < len(data):
            byte = data[position]
            position += 1
            if byte < 64:
                if byte and pixel + byte >= width:
                    mask[row, pixel:] = True
                pixel += byte
            else:
                pixel += counts2.get(byte) or counts3.get(byte) or 1
    return mask


def test_corpus_text_equals_libtiff(tmp_path: Path) -> None:
    if not TEXT.is_file():
        pytest.skip("the shared corpus has no libtiffpic__text.tif")
    # libtiff stops at strip 5, whose data ends three rows short; -i writes the others
    theirs = libtiff_samples(TEXT, tmp_path / "none.tif", "-i")
    if theirs is None:
        pytest.skip("libtiff's tiffcp is not installed (.ci/run installs libtiff-tools)")
    with TiffFile(TEXT) as tif:
        page = tif.pages[0]
        assert (page.shape, page.dtype) == (theirs.shape, theirs.dtype)
        rows = page.layout.segment[1]
        last = page.layout.count - 1
        for index in range(last):
            offset, length = page.segment_range(index)  # type: ignore[misc]
            data = page.source.read(offset, length)
            ours = page.decoder.decode(data, index)[0, :, :, 0]
            expected = theirs[index * rows : (index + 1) * rows]
            runs = _row_final_runs(data, rows, page.imagewidth)
            assert runs.mean() < 0.02  # a few pixels at the ends of some rows
            np.testing.assert_array_equal(ours[~runs], expected[~runs])
            # a run repeats the pixel before it
            for row, column in np.argwhere(runs & ~np.roll(runs, 1, axis=1)):
                before = ours[row, column - 1] if column else 0
                assert (ours[row, column:] == before).all(), (index, row)
        offset, length = page.segment_range(last)  # type: ignore[misc]
        with pytest.raises(TiffFileError, match=rf"page 0: segment {last}: .*not enough data"):
            page.decoder.decode(page.source.read(offset, length), last)
        with pytest.raises(TiffFileError, match="not enough data"):
            page.asarray()


def _one_strip(tmp_path: Path, strip: bytes, width: int = 10, bits: int = 4) -> Path:
    builder = TiffBuilder("<")
    offset = builder.blob(strip)
    builder.first(
        builder.ifd(
            {
                256: (LONG, [width]),
                257: (LONG, [2]),
                258: (SHORT, [bits]),
                259: (SHORT, [32809]),
                262: (SHORT, [1]),
                273: (LONG, [offset]),
                277: (SHORT, [1]),
                278: (LONG, [2]),
                279: (LONG, [len(strip)]),
            }
        )
    )
    path = tmp_path / "bad.tif"
    path.write_bytes(builder.bytes())
    return path


@pytest.mark.parametrize(
    ("strip", "message"),
    [
        (bytes([0xC5] * 10), "row 1 of 2 has 0 of 10"),  # one row only
        (bytes([0xC5, 30]), "a run of 30 at pixel 1 passes the end of row 0"),
        (bytes([0x55] * 3), "row 0 of 2 has 9 of 10"),
    ],
    ids=["short", "long-run", "deltas"],
)
def test_corrupt_strip_raises_naming_page_and_segment(
    tmp_path: Path, strip: bytes, message: str
) -> None:
    path = _one_strip(tmp_path, strip)
    with TiffFile(path) as tif, pytest.raises(TiffFileError, match=message) as caught:
        tif.pages[0].asarray()
    assert "page 0: segment 0" in str(caught.value)


def test_deltas_past_the_row_end_are_dropped(tmp_path: Path) -> None:
    """A row ends on a fresh byte: three deltas for the last two pixels give two."""
    row = bytes([0xC3, 8, 0x55 & 0x7F])  # 3, then 8 more, then +1 +1 +1: 11 pixels for 10
    path = _one_strip(tmp_path, row + bytes([0xC7, 9]))
    expected = np.array([[3] * 9 + [4], [7] * 10], np.uint8)
    np.testing.assert_array_equal(_read(path), expected)


def test_random_bytes_raise_tifffileerror_or_decode(tmp_path: Path) -> None:
    rng = np.random.default_rng(17)
    for trial in range(40):
        strip = rng.integers(0, 256, int(rng.integers(1, 120)), dtype=np.uint8).tobytes()
        width = int(rng.integers(1, 30))
        with TiffFile(_one_strip(tmp_path, strip, width)) as tif:
            try:
                array = tif.pages[0].asarray()
            except TiffFileError as exc:
                message = str(exc)
            else:
                assert array.max(initial=0) < 16, trial
                continue
        assert "segment 0" in message, trial


def test_other_sample_sizes_are_refused(tmp_path: Path) -> None:
    path = _one_strip(tmp_path, bytes(8), bits=8)
    refusal = r"ThunderScan data of 8-bit samples"
    with TiffFile(path) as tif, pytest.raises(TiffFileError, match=refusal):
        tif.pages[0].asarray()


def test_a_huge_declared_strip_is_refused_before_allocating(tmp_path: Path) -> None:
    """2 x 10**9 pixels cannot come from 8 bytes: refused before any buffer is made, even
    by the segment decoder alone (the store decodes segments without the page's check)."""
    strip = bytes([0xC5]) * 8
    with TiffFile(_one_strip(tmp_path, strip, width=10**9)) as tif:
        page = tif.pages[0]
        with pytest.raises(TiffFileError, match="8 bytes cannot hold 2 rows"):
            page.decoder.decode(strip, 0)
        with pytest.raises(TiffFileError):
            page.asarray()
