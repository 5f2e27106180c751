"""The zarr Store API of ZarrTiffStore, used directly and through zarr, dask and xarray."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import pickle
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import pytest
import tifffile
import xarray as xr
import zarr
from zarr.abc.store import OffsetByteRequest, RangeByteRequest, SuffixByteRequest
from zarr.core.buffer import default_buffer_prototype

from napari_tiffzarr import TiffFile, TiffFileError
from napari_tiffzarr.errors import TiffClosedError
from napari_tiffzarr.store import ZarrTiffStore

PROTOTYPE = default_buffer_prototype()


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


@pytest.fixture
def tiled(tmp_path: Path) -> tuple[Path, np.ndarray]:
    path = tmp_path / "tiled.tif"
    data = np.random.default_rng(5).integers(0, 60000, (3, 100, 120), np.uint16)
    tifffile.imwrite(
        path, data, tile=(32, 48), compression="zlib", metadata=None, photometric="minisblack"
    )
    return path, data


@pytest.fixture
def pyramid(tmp_path: Path) -> tuple[Path, list[np.ndarray]]:
    path = tmp_path / "pyramid.tif"
    base = np.random.default_rng(6).integers(1, 250, (256, 320), np.uint8)
    levels = [base, base[::2, ::2].copy(), base[::4, ::4].copy()]
    with tifffile.TiffWriter(path) as tif:
        tif.write(
            levels[0],
            subifds=2,
            tile=(64, 64),
            metadata=None,
            resolution=(2.0, 2.0),
            resolutionunit="CENTIMETER",
        )
        for level in levels[1:]:
            tif.write(level, subfiletype=1, tile=(64, 64), metadata=None)
    return path, levels


def test_byte_ranges_on_metadata_and_chunks(tiled: tuple[Path, np.ndarray]) -> None:
    path, data = tiled
    with TiffFile(path) as tif:
        store = ZarrTiffStore(tif.series[0])
        document = run(store.get("zarr.json", PROTOTYPE)).to_bytes()
        assert json.loads(document)["shape"] == [3, 100, 120]
        chunk = run(store.get("c/1/2/1", PROTOTYPE)).to_bytes()
        expected = np.zeros((32, 48), np.uint16)
        expected[:] = data[1, 64:96, 48:96]
        assert chunk == expected.tobytes()
        for request, window in (
            (RangeByteRequest(10, 30), slice(10, 30)),
            (OffsetByteRequest(100), slice(100, None)),
            (SuffixByteRequest(16), slice(-16, None)),
        ):
            assert run(store.get("zarr.json", PROTOTYPE, request)).to_bytes() == document[window]
            assert run(store.get("c/1/2/1", PROTOTYPE, request)).to_bytes() == chunk[window]
        partial = run(
            store.get_partial_values(
                PROTOTYPE,
                [("c/0/0/0", RangeByteRequest(0, 4)), ("zarr.json", None), ("c/9/9/9", None)],
            )
        )
        assert partial[0].to_bytes() == data[0, 0, :2].tobytes()
        assert partial[1].to_bytes() == document
        assert partial[2] is None


def test_exists_list_and_getsize(tiled: tuple[Path, np.ndarray]) -> None:
    path, _ = tiled
    with TiffFile(path) as tif:
        store = ZarrTiffStore(tif.series[0])
        assert run(store.exists("zarr.json"))
        assert run(store.exists("c/2/3/2"))
        for key in (
            "c/3/0/0",
            "c/0/4/0",
            "c/0/0/3",
            "c/0/0",
            "c/a/0/0",
            "nonsense",
            "c/-1/0/0",
            "0/zarr.json",
        ):
            assert not run(store.exists(key)), key
            assert run(store.get(key, PROTOTYPE)) is None

        async def listing(method: str, *args: str) -> list[str]:
            return [key async for key in getattr(store, method)(*args)]

        keys = run(listing("list"))
        assert len(keys) == 1 + 3 * 4 * 3
        assert set(run(listing("list_prefix", "c/1/"))) == {
            k for k in keys if k.startswith("c/1/")
        }
        assert set(run(listing("list_dir", ""))) == {"zarr.json", "c"}
        assert set(run(listing("list_dir", "c"))) == {"0", "1", "2"}
        assert run(store.getsize("c/0/0/0")) == 32 * 48 * 2
        assert run(store.getsize("zarr.json")) == len(
            run(store.get("zarr.json", PROTOTYPE)).to_bytes()
        )
        with pytest.raises(FileNotFoundError):
            run(store.getsize("c/9/0/0"))


def test_read_only_equality_and_repr(tiled: tuple[Path, np.ndarray]) -> None:
    path, _ = tiled
    with TiffFile(path) as tif:
        store = ZarrTiffStore(tif.series[0])
        assert store.read_only
        with pytest.raises(ValueError, match="read-only"):
            run(store.set("c/0/0/0", PROTOTYPE.buffer.from_bytes(b"\x00" * 3072)))
        same = ZarrTiffStore(tif.series[0])
        other = ZarrTiffStore(tif.series[0], chunkmode=2)
        assert store == same
        assert store != other
        assert "tiled.tif" in repr(store)
        assert "chunkmode=NONE" in repr(store)
        assert "chunkmode=PAGE" in repr(other)


def test_multiscales_group_ngff(pyramid: tuple[Path, list[np.ndarray]]) -> None:
    path, levels = pyramid
    for zarr_format in (2, 3):
        with TiffFile(path) as tif:
            group = zarr.open_group(
                ZarrTiffStore(tif.series[0], zarr_format=zarr_format), mode="r"
            )
            for index, expected in enumerate(levels):
                np.testing.assert_array_equal(group[str(index)][...], expected)
            attrs = dict(group.attrs)
            multiscales = attrs["ome"]["multiscales"] if zarr_format == 3 else attrs["multiscales"]
            datasets = multiscales[0]["datasets"]
            assert [d["path"] for d in datasets] == ["0", "1", "2"]
            # 2 pixels per centimetre: half a centimetre per pixel, doubling per level
            scales = [d["coordinateTransformations"][0]["scale"] for d in datasets]
            assert scales == [[0.5, 0.5], [1.0, 1.0], [2.0, 2.0]]
            assert [a.get("unit") for a in multiscales[0]["axes"]] == ["centimeter"] * 2


def test_dask_and_xarray(pyramid: tuple[Path, list[np.ndarray]]) -> None:
    path, levels = pyramid
    with TiffFile(path) as tif:
        store = ZarrTiffStore(tif.series[0], multiscales=False, level=1)
        array = da.from_zarr(zarr.open_array(store, mode="r"))
        assert array.chunksize == (64, 64)
        np.testing.assert_array_equal(array.compute(), levels[1])
        dataset = xr.open_zarr(
            ZarrTiffStore(tif.series[0]), consolidated=False, zarr_format=3, mask_and_scale=False
        )
        np.testing.assert_array_equal(dataset["2"].values, levels[2])
        assert dataset["0"].dims == ("Y", "X")
        assert dataset["1"].dims == ("Y_1", "X_1")


def test_pickle_reopens_lazily(pyramid: tuple[Path, list[np.ndarray]]) -> None:
    path, levels = pyramid
    with TiffFile(path) as tif:
        store = ZarrTiffStore(tif.series[0], fillvalue=3, zarr_format=2)
        clone = pickle.loads(pickle.dumps(store))
    assert clone._series is None  # nothing opened yet
    assert clone == pickle.loads(pickle.dumps(clone))
    group = zarr.open_group(clone, mode="r")
    assert clone._series is not None
    np.testing.assert_array_equal(group["1"][...], levels[1])
    assert group["1"].fill_value == 3
    clone.close()


def test_pickling_memory_sources_is_refused() -> None:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, np.zeros((8, 8), np.uint8))
    with TiffFile(buffer.getvalue()) as tif, pytest.raises(TypeError, match="memory"):
        pickle.dumps(ZarrTiffStore(tif.pages[0]))


def test_eight_threads_random_chunks(tiled: tuple[Path, np.ndarray]) -> None:
    path, data = tiled
    with TiffFile(path) as tif:
        array = zarr.open_array(ZarrTiffStore(tif.series[0]), mode="r")
        rng = np.random.default_rng(1)
        boxes = [
            tuple(
                int(v)
                for v in (rng.integers(0, 3), *rng.integers(0, 90, 2), *rng.integers(1, 40, 2))
            )
            for _ in range(120)
        ]
        single = [array[p, y : y + h, x : x + w] for p, y, x, h, w in boxes]
        with ThreadPoolExecutor(8) as pool:
            threaded = list(
                pool.map(lambda b: array[b[0], b[1] : b[1] + b[3], b[2] : b[2] + b[4]], boxes)
            )
    for one, other, (p, y, x, h, w) in zip(single, threaded, boxes, strict=True):
        np.testing.assert_array_equal(one, other)
        np.testing.assert_array_equal(one, data[p, y : y + h, x : x + w])


def test_close_releases_the_file(tiled: tuple[Path, np.ndarray]) -> None:
    path, _ = tiled
    tif = TiffFile(path)
    store = ZarrTiffStore(tif.series[0])
    array = zarr.open_array(store, mode="r")
    array[0, 0, 0]
    store.close()
    assert tif.closed
    with pytest.raises(TiffClosedError):
        run(store.get("c/0/0/0", PROTOTYPE))
    with pytest.raises(TiffFileError, match="closed"):
        array[1, 1, 1]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("byteorder", "<>")
@pytest.mark.parametrize(
    "layout", [{"tile": (16, 32)}, {"rowsperstrip": 7}], ids=["tiles", "strips"]
)
def test_write_round_trip(tmp_path: Path, byteorder: str, layout: dict[str, Any]) -> None:
    path = tmp_path / "update.tif"
    data = np.random.default_rng(2).integers(0, 60000, (2, 45, 70), np.uint16)
    tifffile.imwrite(
        path, data, byteorder=byteorder, metadata=None, photometric="minisblack", **layout
    )
    before = path.read_bytes()
    with TiffFile(path, mode="r+") as tif:
        store = ZarrTiffStore(tif.series[0])
        assert not store.read_only
        array = zarr.open_array(store, mode="r+")
        array[1, 10:30, 5:60] = 12345
    data[1, 10:30, 5:60] = 12345
    np.testing.assert_array_equal(tifffile.imread(path), data)
    after = path.read_bytes()
    assert len(after) == len(before)
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[1]
        spans = [(o, o + c) for o, c in zip(page.dataoffsets, page.databytecounts, strict=True)]
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert changed
    assert all(any(start <= i < end for start, end in spans) for i in changed)


@pytest.mark.parametrize(
    ("options", "chunkmode", "message"),
    [
        ({"compression": "zlib"}, 0, "compressed"),
        ({"compression": "zlib", "predictor": True}, 0, "compressed"),
        ({}, 2, "chunkmode 2"),
    ],
    ids=["compressed", "predictor", "page-chunks"],
)
def test_write_refusals_leave_the_file_unchanged(
    tmp_path: Path, options: dict[str, Any], chunkmode: int, message: str
) -> None:
    path = tmp_path / "refuse.tif"
    tifffile.imwrite(path, np.ones((32, 32), np.uint16), tile=(16, 16), metadata=None, **options)
    digest = _digest(path)
    with TiffFile(path, mode="r+") as tif:
        array = zarr.open_array(ZarrTiffStore(tif.series[0], chunkmode=chunkmode), mode="r+")
        with pytest.raises(ValueError, match=message):
            array[0:16, 0:16] = 7
    assert _digest(path) == digest


def test_write_refuses_sparse_chunks(tmp_path: Path) -> None:
    path = tmp_path / "sparse.tif"
    tifffile.imwrite(path, np.ones((32, 32), np.uint16), tile=(16, 16), metadata=None)
    with tifffile.TiffFile(path) as tif:
        tag = tif.pages[0].tags[324]
        position, size = tag.valueoffset, 2 if tag.dtype == 3 else 4
    raw = bytearray(path.read_bytes())
    raw[position : position + size] = b"\x00" * size
    path.write_bytes(bytes(raw))
    digest = _digest(path)
    with TiffFile(path, mode="r+") as tif:
        array = zarr.open_array(ZarrTiffStore(tif.series[0]), mode="r+")
        with pytest.raises(ValueError, match="sparse"):
            array[0:16, 0:16] = 7
    assert _digest(path) == digest
