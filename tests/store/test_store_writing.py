"""Writing through the store into a TIFF opened for update, re-read with tifffile.

What may change is known exactly: the bytes of the strips or tiles that the assigned
region touches.  Every other byte of the file must stay as it was, and every refused write
must leave the file byte for byte unchanged.
"""

from __future__ import annotations

import asyncio
import hashlib
import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
import zarr
from store_cases import pixels
from zarr.core.buffer import default_buffer_prototype

from napari_tiffzarr import TiffFile
from napari_tiffzarr.store import ZarrTiffStore
from sparse_segments import make_sparse

PROTOTYPE = default_buffer_prototype()

LAYOUTS: dict[str, dict[str, Any]] = {
    "tiled": {"tile": (16, 32)},
    "strips": {"rowsperstrip": 7},  # 45 rows: the last strip holds 3
}


def _write(path: Path, data: np.ndarray, byteorder: str, **kwargs: Any) -> None:
    tifffile.imwrite(path, data, byteorder=byteorder, metadata=None, **kwargs)


def _segments(path: Path, page: int = 0) -> list[tuple[int, int]]:
    with tifffile.TiffFile(path) as tif:
        p = tif.pages[page]
        return list(zip(p.dataoffsets, p.databytecounts, strict=True))


def _outside(raw: bytes, segments: list[tuple[int, int]]) -> bytes:
    """The file's bytes with the data segments cut out."""
    keep = bytearray()
    position = 0
    for offset, count in sorted(segments):
        keep += raw[position:offset]
        position = offset + count
    return bytes(keep + raw[position:])


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("byteorder", ["<", ">"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("dtype", ["u2", "f4", "u1", "i8"])
def test_write_round_trip(tmp_path: Path, byteorder: str, layout: str, dtype: str) -> None:
    path = tmp_path / "update.tif"
    data = pixels((45, 70), dtype, seed=20)
    _write(path, data, byteorder, **LAYOUTS[layout])
    before = path.read_bytes()
    segments = _segments(path)
    expected = data.copy()
    region = (slice(5, 40), slice(20, 67))  # crosses chunks, touches the edges
    values = pixels((35, 47), dtype, seed=21) + np.array(3, dtype)
    expected[region] = values
    with TiffFile(path, mode="r+") as tif:
        store = ZarrTiffStore(tif.pages[0])
        assert not store.read_only
        array = zarr.open_array(store, mode="r+")
        array[region] = values
        np.testing.assert_array_equal(array[...], expected)  # the store sees its own write
    with tifffile.TiffFile(path) as tif:
        assert tif.byteorder == byteorder
        np.testing.assert_array_equal(tif.asarray(), expected)
    after = path.read_bytes()
    assert len(after) == len(before)
    assert _outside(after, segments) == _outside(before, segments)


@pytest.mark.parametrize("byteorder", ["<", ">"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_write_a_series_of_pages(tmp_path: Path, byteorder: str, layout: str) -> None:
    """Writing pages 1 and 2 of a series changes only their segments' bytes: page 0's
    segments and everything outside the segments stay as they were."""
    path = tmp_path / "stack.tif"
    data = pixels((3, 40, 50), "u2", seed=22)
    # with tifffile's shaped metadata: the series is one of shape, not of grouped pages
    tifffile.imwrite(path, data, byteorder=byteorder, photometric="minisblack", **LAYOUTS[layout])
    before = path.read_bytes()
    expected = data.copy()
    expected[1, 10:30, 5:45] = 4242
    expected[2, :, :] = 17
    with TiffFile(path, mode="r+") as tif:
        array = zarr.open_array(ZarrTiffStore(tif.series[0]), mode="r+")
        array[1, 10:30, 5:45] = 4242
        array[2] = 17
    with tifffile.TiffFile(path) as tif:
        np.testing.assert_array_equal(tif.series[0].asarray(), expected)
        written = [
            (int(o), int(c))
            for page in tif.pages[1:]
            for o, c in zip(page.dataoffsets, page.databytecounts, strict=True)
        ]
    after = path.read_bytes()
    assert len(after) == len(before)
    assert _outside(after, written) == _outside(before, written)


def test_write_fill_value_chunks(tmp_path: Path) -> None:
    """zarr deletes a chunk that is all fill value instead of writing it; in a TIFF the
    chunk's bytes are overwritten, so it reads as the fill value afterwards."""
    path = tmp_path / "fill.tif"
    data = pixels((32, 64), "u2", seed=23)
    _write(path, data, ">", tile=(16, 32))
    with TiffFile(path, mode="r+") as tif:
        array = zarr.open_array(ZarrTiffStore(tif.pages[0]), mode="r+")
        array[0:16, 0:32] = 0  # one whole chunk of the fill value
        array[16:32, 32:64] = 5
    expected = data.copy()
    expected[0:16, 0:32] = 0
    expected[16:32, 32:64] = 5
    with tifffile.TiffFile(path) as tif:
        np.testing.assert_array_equal(tif.asarray(), expected)


def test_write_through_an_unpickled_store(tmp_path: Path) -> None:
    path = tmp_path / "pickled.tif"
    data = pixels((32, 32), "u2", seed=24)
    _write(path, data, "<", tile=(16, 16))
    with TiffFile(path, mode="r+") as tif:
        copy = pickle.loads(pickle.dumps(ZarrTiffStore(tif.pages[0])))
    assert not copy.read_only
    zarr.open_array(copy, mode="r+")[0:16, 0:16] = 9
    copy.close()
    data[0:16, 0:16] = 9
    np.testing.assert_array_equal(tifffile.imread(path), data)


# -- refusals: a clear error and not one byte changed ---------------------------------------
REFUSALS: dict[str, tuple[dict[str, Any], dict[str, Any], type[Exception], str]] = {
    # name: (tifffile.imwrite kwargs, store kwargs, error, message)
    "zlib": ({"tile": (16, 16), "compression": "zlib"}, {}, ValueError, "compressed"),
    "lzw strips": ({"rowsperstrip": 8, "compression": "lzw"}, {}, ValueError, "compressed"),
    "zlib predictor": (
        {"tile": (16, 16), "compression": "zlib", "predictor": True},
        {},
        ValueError,
        "compressed",
    ),
    # uncompressed with a Predictor tag (patched in below), so that the predictor is what
    # is refused
    "predictor": (
        {"tile": (16, 16), "extratags": [(316, "H", 1, 2, True)]},
        {},
        ValueError,
        "predictor",
    ),
    "chunkmode 2": ({"tile": (16, 16)}, {"chunkmode": 2}, ValueError, "chunkmode 2"),
    "packed": ({"rowsperstrip": 8, "bitspersample": 12}, {}, ValueError, "12-bit packed"),
    "read-only store": ({"tile": (16, 16)}, {"read_only": True}, ValueError, "read-only"),
}


def _retag(path: Path, code: int, new_code: int) -> None:
    """Change a tag's code in place: tifffile refuses to write a Predictor tag without
    compression, but will write a SHORT under a neighbouring code (the order stays sorted)."""
    with tifffile.TiffFile(path) as tif:
        offset = tif.pages[0].tags[code].offset
        byteorder = tif.byteorder
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(struct.pack(byteorder + "H", new_code))
    with tifffile.TiffFile(path) as tif:
        assert tif.pages[0].predictor == 2


@pytest.mark.parametrize("name", list(REFUSALS))
@pytest.mark.parametrize("byteorder", ["<", ">"])
def test_write_refusals_leave_the_file_unchanged(
    tmp_path: Path, name: str, byteorder: str
) -> None:
    write_kwargs, store_kwargs, error, message = REFUSALS[name]
    path = tmp_path / "refuse.tif"
    data = pixels((32, 48), "u2", seed=25)
    _write(path, data, byteorder, **write_kwargs)
    if name == "predictor":
        _retag(path, 316, 317)
    digest = _digest(path)
    with TiffFile(path, mode="r+") as tif:
        store = ZarrTiffStore(tif.pages[0], **store_kwargs)
        # zarr refuses mode 'r+' on a read-only store before any write is tried
        array = zarr.open_array(store, mode="r" if store.read_only else "r+")
        with pytest.raises(error, match=message):
            array[0:20, 0:20] = 1
    assert _digest(path) == digest


def test_write_refuses_a_file_opened_read_only(tmp_path: Path) -> None:
    path = tmp_path / "ro.tif"
    _write(path, pixels((32, 32), "u2"), "<", tile=(16, 16))
    digest = _digest(path)
    with TiffFile(path) as tif:
        store = ZarrTiffStore(tif.pages[0])
        assert store.read_only
        writable = store.with_read_only(False)
        chunk = asyncio.run(writable.get("c/0/0", PROTOTYPE))
        with pytest.raises(PermissionError, match="not open for update"):
            asyncio.run(writable.set("c/0/0", chunk))
    assert _digest(path) == digest


def test_write_refuses_sparse_chunks(tmp_path: Path) -> None:
    path = tmp_path / "sparse.tif"
    data = pixels((32, 64), "u2", seed=26)
    _write(path, data, ">", tile=(16, 32))
    make_sparse(path, [1])
    digest = _digest(path)
    before = path.read_bytes()
    with TiffFile(path, mode="r+") as tif:
        array = zarr.open_array(ZarrTiffStore(tif.pages[0]), mode="r+")
        with pytest.raises(ValueError, match="sparse"):
            array[0:16, 32:64] = 3
        array[0:16, 32:64] = 0  # the fill value: zarr deletes, a sparse chunk already is
        assert _digest(path) == digest
        # zarr writes chunk by chunk, concurrently: the sparse tile is refused and stays
        # sparse; the stored tile of the region may or may not be written before zarr
        # gives up, but never in part
        with pytest.raises(ValueError, match="sparse"):
            array[0:16, 16:48] = 3
    result = tifffile.imread(path)
    assert (result[0:16, 32:64] == 0).all()
    written = result[0:16, 16:32]
    assert (written == 3).all() or np.array_equal(written, data[0:16, 16:32])
    data[0:16, 16:32] = written
    data[0:16, 32:64] = 0
    np.testing.assert_array_equal(result, data)
    segments = _segments(path)
    assert segments[1] == (0, 0)
    after = path.read_bytes()
    assert _outside(after, segments) == _outside(before, segments)


def test_write_refuses_a_chunk_whose_offset_alone_is_zero(tmp_path: Path) -> None:
    """Offset 0 with its byte count kept is sparse too: refused, the file unchanged."""
    path = tmp_path / "sparse_offset.tif"
    _write(path, np.ones((32, 32), np.uint16), "<", tile=(16, 16))
    make_sparse(path, [0], counts=False)
    digest = _digest(path)
    with TiffFile(path, mode="r+") as tif:
        array = zarr.open_array(ZarrTiffStore(tif.pages[0]), mode="r+")
        with pytest.raises(ValueError, match="sparse"):
            array[0:16, 0:16] = 7
    assert _digest(path) == digest


def test_write_refuses_metadata_changes(tmp_path: Path) -> None:
    path = tmp_path / "meta.tif"
    _write(path, pixels((32, 32), "u2"), "<", tile=(16, 16))
    digest = _digest(path)
    with TiffFile(path, mode="r+") as tif:
        store = ZarrTiffStore(tif.pages[0])
        document = asyncio.run(store.get("zarr.json", PROTOTYPE))
        asyncio.run(store.set("zarr.json", document))  # the same document is accepted
        with pytest.raises(ValueError, match="metadata"):
            asyncio.run(store.set("zarr.json", PROTOTYPE.buffer.from_bytes(b"{}")))
        with pytest.raises(KeyError):
            asyncio.run(store.set("c/9/9", document))
        with pytest.raises(ValueError, match="does not fill"):
            asyncio.run(store.set("c/0/0", PROTOTYPE.buffer.from_bytes(b"\0" * 10)))
    assert _digest(path) == digest
