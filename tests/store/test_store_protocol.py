"""The zarr Store API of ZarrTiffStore used directly (asyncio), and through zarr, dask and
xarray; pickling, threads and close().

zarr's own ``zarr.testing.store.StoreTests`` is not used: it sets and deletes arbitrary keys
in a writable store, and ours is read-only with a fixed set of keys.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import pickle
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import pytest
import tifffile
import xarray as xr
import zarr
from store_cases import Target, pixels
from zarr.abc.store import OffsetByteRequest, RangeByteRequest, SuffixByteRequest
from zarr.core.buffer import default_buffer_prototype

from napari_tiffzarr import TiffFile, TiffFileError
from napari_tiffzarr.errors import TiffClosedError
from napari_tiffzarr.store import ZarrTiffStore

MakeCase = Callable[..., tuple[Path, Target]]
PROTOTYPE = default_buffer_prototype()


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


async def _collect(iterator: Any) -> list[str]:
    return [key async for key in iterator]


# -- a tiled page: 100 x 70 uint16 in 32 x 32 tiles, a 4 x 3 grid, some tiles sparse --------
@pytest.fixture
def tiled(tmp_path: Path) -> tuple[Path, np.ndarray]:
    path = tmp_path / "tiled.tif"
    data = pixels((100, 70), "u2", seed=10)
    tifffile.imwrite(path, data, tile=(32, 32), compression="zlib", metadata=None)
    return path, data


@pytest.fixture
def store(tiled: tuple[Path, np.ndarray]) -> Iterator[ZarrTiffStore]:
    with TiffFile(tiled[0]) as tif:
        yield ZarrTiffStore(tif.pages[0])


def _tile_bytes(data: np.ndarray, y: int, x: int) -> bytes:
    """Tile (y, x) of data, padded to 32 x 32 with zeros, little-endian as zarr.json says."""
    tile = np.zeros((32, 32), "<u2")
    part = data[y * 32 : y * 32 + 32, x * 32 : x * 32 + 32]
    tile[: part.shape[0], : part.shape[1]] = part
    return tile.tobytes()


@pytest.mark.parametrize("key", ["zarr.json", "c/0/0", "c/3/2", "c/1/2"])
@pytest.mark.parametrize(
    "byte_range",
    [
        None,
        RangeByteRequest(0, 10),
        RangeByteRequest(5, 1000),
        RangeByteRequest(2000, 2048),
        OffsetByteRequest(17),
        OffsetByteRequest(0),
        SuffixByteRequest(9),
        SuffixByteRequest(1),
    ],
)
def test_get_byte_ranges(
    store: ZarrTiffStore,
    tiled: tuple[Path, np.ndarray],
    key: str,
    byte_range: Any,
) -> None:
    full = run(store.get(key, PROTOTYPE))
    assert full is not None
    if key == "zarr.json":
        whole = full.to_bytes()
        assert b'"node_type": "array"' in whole
    else:
        y, x = (int(v) for v in key.split("/")[1:])
        whole = _tile_bytes(tiled[1], y, x)
        assert full.to_bytes() == whole
    part = run(store.get(key, PROTOTYPE, byte_range))
    if byte_range is None:
        expected = whole
    elif isinstance(byte_range, RangeByteRequest):
        expected = whole[byte_range.start : byte_range.end]
    elif isinstance(byte_range, OffsetByteRequest):
        expected = whole[byte_range.offset :]
    else:
        expected = whole[-byte_range.suffix :]
    assert part.to_bytes() == expected
    # zarr's synchronous read path (SupportsGetSync) answers the same, bytes for bytes
    synchronous = store.get_sync(key, prototype=PROTOTYPE, byte_range=byte_range)
    assert synchronous is not None
    assert synchronous.to_bytes() == expected


def test_get_missing_keys_return_none(store: ZarrTiffStore) -> None:
    for key in ["c/4/0", "c/0/3", "nope", ".zarray", "0/zarr.json", "c/0", "c/a/b"]:
        assert run(store.get(key, PROTOTYPE)) is None, key
        assert store.get_sync(key) is None, key


def test_get_partial_values(store: ZarrTiffStore, tiled: tuple[Path, np.ndarray]) -> None:
    requests = [
        ("c/0/1", RangeByteRequest(4, 12)),
        ("zarr.json", SuffixByteRequest(3)),
        ("c/2/2", None),
        ("c/9/9", None),
        ("c/1/0", OffsetByteRequest(2040)),
    ]
    results = run(store.get_partial_values(PROTOTYPE, requests))
    document = run(store.get("zarr.json", PROTOTYPE)).to_bytes()
    data = tiled[1]
    assert results[0].to_bytes() == _tile_bytes(data, 0, 1)[4:12]
    assert results[1].to_bytes() == document[-3:]
    assert results[2].to_bytes() == _tile_bytes(data, 2, 2)
    assert results[3] is None
    assert results[4].to_bytes() == _tile_bytes(data, 1, 0)[2040:]


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("zarr.json", True),
        ("c/0/0", True),
        ("c/3/2", True),
        ("c/4/0", False),  # out of range
        ("c/0/3", False),
        ("c/99999999999999999999/0", False),
        ("c/0", False),  # too few indices
        ("c/0/0/0", False),  # too many
        ("c/-1/0", False),
        ("c/x/0", False),
        ("c//0", False),
        ("c/0/", False),
        ("c.0.0", False),
        ("c0/0", False),
        ("0.0", False),
        ("0/c/0/0", False),  # a level prefix on a plain array
        ("", False),
        ("/", False),
        (".zarray", False),
        ("zarr.json/", False),
        ("c/ 1/0", False),
        ("c/\u0661/0", False),  # an Arabic-Indic 1: str.isdigit() and int() accept it
        ("c/00/0", False),  # zarr never writes leading zeros: not a key of ours
        ("c/01/0", False),
        ("c/+1/0", False),
        ("c/1_0/0", False),
    ],
)
def test_exists(store: ZarrTiffStore, key: str, expected: bool) -> None:
    assert run(store.exists(key)) is expected


def test_exists_and_list_skip_sparse_chunks(tmp_path: Path) -> None:
    from store_cases import write_case

    path, _ = write_case(tmp_path, "sparse_tiles")  # tiles 0, 5, 11 of a 5 x 4 grid sparse
    with TiffFile(path) as tif:
        store = ZarrTiffStore(tif.pages[0])
        assert not run(store.exists("c/0/0"))
        assert not run(store.exists("c/1/1"))
        assert run(store.exists("c/1/0"))
        keys = set(run(_collect(store.list())))
        expected = {f"c/{i // 4}/{i % 4}" for i in range(20) if i not in (0, 5, 11)}
        assert keys == {"zarr.json"} | expected
        assert run(store.get("c/2/3", PROTOTYPE)) is None
        with pytest.raises(FileNotFoundError):
            run(store.getsize("c/0/0"))


def test_list_prefix_and_dir_of_a_group(tmp_path: Path) -> None:
    from store_cases import write_case

    path, _ = write_case(tmp_path, "subifd_pyramid")  # (2, 96, 80), 32 x 32 and 16 x 16 tiles
    with TiffFile(path) as tif:
        store = ZarrTiffStore(tif.series[0])
        keys = run(_collect(store.list()))
        assert len(keys) == len(set(keys))
        level0 = {f"0/c/{p}/{y}/{x}" for p in range(2) for y in range(3) for x in range(3)}
        level1 = {f"1/c/{p}/{y}/{x}" for p in range(2) for y in range(2) for x in range(2)}
        level2 = {f"2/c/{p}/{y}/{x}" for p in range(2) for y in range(2) for x in range(2)}
        documents = {"zarr.json", "0/zarr.json", "1/zarr.json", "2/zarr.json"}
        assert set(keys) == documents | level0 | level1 | level2
        assert set(run(_collect(store.list_prefix("1/")))) == {"1/zarr.json"} | level1
        assert set(run(_collect(store.list_prefix("")))) == set(keys)
        assert set(run(_collect(store.list_prefix("3/")))) == set()
        assert set(run(_collect(store.list_dir("")))) == {"zarr.json", "0", "1", "2"}
        assert set(run(_collect(store.list_dir("0")))) == {"zarr.json", "c"}
        assert set(run(_collect(store.list_dir("0/")))) == {"zarr.json", "c"}
        assert set(run(_collect(store.list_dir("2/c")))) == {"0", "1"}
        assert set(run(_collect(store.list_dir("2/c/1/0")))) == {"0", "1"}
        # chunk keys of every level exist, their neighbours out of range do not
        assert all(run(store.exists(key)) for key in keys)
        assert not run(store.exists("2/c/0/2/0"))
        assert not run(store.exists("3/zarr.json"))
        assert not run(store.exists("3/c/0/0/0"))


# -- a series of pages: 3 x 100 x 120 uint16 in 32 x 48 tiles, chunk keys with a page index --
@pytest.fixture
def stack(tmp_path: Path) -> tuple[Path, np.ndarray]:
    path = tmp_path / "stack.tif"
    data = np.random.default_rng(5).integers(0, 60000, (3, 100, 120), np.uint16)
    tifffile.imwrite(
        path, data, tile=(32, 48), compression="zlib", metadata=None, photometric="minisblack"
    )
    return path, data


def test_series_store_documents_and_chunks(stack: tuple[Path, np.ndarray]) -> None:
    path, data = stack
    with TiffFile(path) as tif:
        store = ZarrTiffStore(tif.series[0])
        document = run(store.get("zarr.json", PROTOTYPE)).to_bytes()
        assert json.loads(document)["shape"] == [3, 100, 120]
        chunk = run(store.get("c/1/2/1", PROTOTYPE)).to_bytes()
        assert chunk == data[1, 64:96, 48:96].astype("<u2").tobytes()
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
        assert partial[0].to_bytes() == data[0, 0, :2].astype("<u2").tobytes()
        assert partial[1].to_bytes() == document
        assert partial[2] is None


def test_series_store_exists_list_and_getsize(stack: tuple[Path, np.ndarray]) -> None:
    path, _ = stack
    with TiffFile(path) as tif:
        store = ZarrTiffStore(tif.series[0])
        assert run(store.exists("zarr.json"))
        assert run(store.exists("c/2/3/2"))  # the last chunk: page 2, the edge tiles
        for key in (
            "c/3/0/0",  # no page 3
            "c/0/4/0",
            "c/0/0/3",
            "c/0/0",
            "c/a/0/0",
            "nonsense",
            "c/-1/0/0",
            "0/zarr.json",
        ):
            assert not run(store.exists(key)), key
            assert run(store.get(key, PROTOTYPE)) is None, key
        keys = run(_collect(store.list()))
        assert len(keys) == len(set(keys)) == 1 + 3 * 4 * 3
        assert set(run(_collect(store.list_prefix("c/1/")))) == {
            k for k in keys if k.startswith("c/1/")
        }
        assert set(run(_collect(store.list_dir("")))) == {"zarr.json", "c"}
        assert set(run(_collect(store.list_dir("c")))) == {"0", "1", "2"}
        assert run(store.getsize("c/0/0/0")) == 32 * 48 * 2
        assert run(store.getsize("zarr.json")) == len(
            run(store.get("zarr.json", PROTOTYPE)).to_bytes()
        )
        with pytest.raises(FileNotFoundError):
            run(store.getsize("c/9/0/0"))


def test_getsize(store: ZarrTiffStore) -> None:
    document = run(store.get("zarr.json", PROTOTYPE)).to_bytes()
    assert run(store.getsize("zarr.json")) == len(document)
    assert run(store.getsize("c/0/0")) == 32 * 32 * 2
    assert run(store.getsize("c/3/2")) == 32 * 32 * 2  # edge chunks come padded
    assert run(store.getsize("c/3/2")) == len(run(store.get("c/3/2", PROTOTYPE)).to_bytes())
    for key in ("c/4/0", "nope"):
        with pytest.raises(FileNotFoundError):
            run(store.getsize(key))


def test_read_only_semantics(tiled: tuple[Path, np.ndarray]) -> None:
    path, _ = tiled
    before = path.read_bytes()
    with TiffFile(path) as tif:
        store = ZarrTiffStore(tif.pages[0])
        assert store.read_only
        assert store.supports_listing
        tile = run(store.get("c/0/0", PROTOTYPE))
        with pytest.raises(ValueError, match="read-only"):
            run(store.set("c/0/0", tile))
        array = zarr.open_array(store, mode="r")
        with pytest.raises(ValueError, match="read-only"):
            array[0:4, 0:4] = 1
        # deleting is writing: refused as set() is, not as an unsupported operation
        with pytest.raises(ValueError, match="read-only"):
            run(store.delete("c/0/0"))
    assert path.read_bytes() == before
    with TiffFile(path, mode="r+") as tif:
        assert not ZarrTiffStore(tif.pages[0]).read_only
        with pytest.raises(NotImplementedError, match="metadata"):
            run(ZarrTiffStore(tif.pages[0]).delete("zarr.json"))
        assert ZarrTiffStore(tif.pages[0], read_only=True).read_only
        writable = ZarrTiffStore(tif.pages[0])
        assert writable.with_read_only(True).read_only
        assert not writable.with_read_only(False).read_only
        assert writable.with_read_only(True) == writable


def test_equality_and_repr(tmp_path: Path) -> None:
    from store_cases import write_case

    path, _ = write_case(tmp_path, "subifd_pyramid")
    other, _ = write_case(tmp_path, "reduced_pyramid")
    with TiffFile(path) as a, TiffFile(path) as b, TiffFile(other) as c:
        store = ZarrTiffStore(a.series[0])
        assert store == ZarrTiffStore(b.series[0])  # same file through another handle
        assert store == store.with_read_only(True)
        assert hash(store) == hash(ZarrTiffStore(b.series[0]))
        assert store != ZarrTiffStore(a.series[0], level=1)
        assert store != ZarrTiffStore(a.series[0], zarr_format=2)
        assert store != ZarrTiffStore(a.series[0], chunkmode=2)
        assert store != ZarrTiffStore(a.pages[0])
        assert store != ZarrTiffStore(c.series[0])
        assert store != "not a store"
        assert ZarrTiffStore(a.series[0], level=1) == ZarrTiffStore(b.series[0], level=1)
        text = repr(ZarrTiffStore(a.series[0], level=1, zarr_format=2))
        assert path.name in text
        assert "level=1" in text
        assert "zarr_format=2" in text
        assert "level=all" in repr(store)
        assert "chunkmode=NONE" in repr(store)
        assert "chunkmode=PAGE" in repr(ZarrTiffStore(a.pages[0], chunkmode="page"))


# -- zarr, dask and xarray ------------------------------------------------------------------
@pytest.fixture
def pyramid(tmp_path: Path) -> tuple[Path, list[np.ndarray]]:
    """A 2-channel SubIFD pyramid with a pixel size, so that scales are physical."""
    path = tmp_path / "pyramid.tif"
    data = pixels((2, 128, 96), "u2", seed=11)
    levels = [data, data[:, ::2, ::2], data[:, ::4, ::4]]
    with tifffile.TiffWriter(path) as tif:
        tif.write(
            levels[0],
            tile=(32, 32),
            subifds=2,
            compression="zlib",
            photometric="minisblack",
            resolution=(2.0, 2.0),
            resolutionunit="CENTIMETER",
        )
        for level in levels[1:]:
            tif.write(level, tile=(16, 16), subfiletype=1, compression="zlib")
    return path, levels


def test_zarr_open_and_open_group(pyramid: tuple[Path, list[np.ndarray]]) -> None:
    path, levels = pyramid
    with TiffFile(path) as tif, tifffile.TiffFile(path) as their:
        group = zarr.open_group(ZarrTiffStore(tif.series[0]), mode="r")
        assert isinstance(zarr.open(ZarrTiffStore(tif.series[0]), mode="r"), zarr.Group)
        their_group = zarr.open_group(their.series[0].aszarr(), mode="r")
        assert sorted(group.array_keys()) == ["0", "1", "2"]
        for index, expected in enumerate(levels):
            np.testing.assert_array_equal(group[str(index)][...], expected)
            np.testing.assert_array_equal(group[str(index)][...], their_group[str(index)][...])
        ome = group.attrs["ome"]
        scales = [
            d["coordinateTransformations"][0]["scale"] for d in ome["multiscales"][0]["datasets"]
        ]
        # 2 pixels per centimetre: 0.5 cm per pixel, doubled on each level
        assert scales[0][-2:] == pytest.approx([0.5, 0.5])
        assert scales[2][-2:] == pytest.approx([2.0, 2.0])
        array = zarr.open(ZarrTiffStore(tif.series[0], level=2), mode="r")
        assert isinstance(array, zarr.Array)
        np.testing.assert_array_equal(array[...], levels[2])


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_multiscales_attributes(pyramid: tuple[Path, list[np.ndarray]], zarr_format: int) -> None:
    """OME-NGFF multiscales: under "ome" in zarr 3 (NGFF 0.5), at the top in zarr 2 (0.4)."""
    path, levels = pyramid
    with TiffFile(path) as tif:
        store = ZarrTiffStore(tif.series[0], zarr_format=zarr_format)
        group = zarr.open_group(store, mode="r")
        for index, expected in enumerate(levels):
            np.testing.assert_array_equal(group[str(index)][...], expected)
        attrs = dict(group.attrs)
        multiscales = attrs["ome"]["multiscales"] if zarr_format == 3 else attrs["multiscales"]
        datasets = multiscales[0]["datasets"]
        assert [d["path"] for d in datasets] == ["0", "1", "2"]
        # 2 pixels per centimetre: half a centimetre per pixel, doubling per level
        scales = [d["coordinateTransformations"][0]["scale"][-2:] for d in datasets]
        assert scales == [[0.5, 0.5], [1.0, 1.0], [2.0, 2.0]]
        units = [axis.get("unit") for axis in multiscales[0]["axes"]]
        assert units[-2:] == ["centimeter"] * 2


def test_dask_from_zarr(pyramid: tuple[Path, list[np.ndarray]]) -> None:
    path, levels = pyramid
    with TiffFile(path) as tif, tifffile.TiffFile(path) as their:
        for level in range(3):
            ours = da.from_zarr(zarr.open_array(ZarrTiffStore(tif.series[0], level=level)))
            theirs = da.from_zarr(zarr.open_array(their.series[0].aszarr(level=level)))
            assert ours.chunks == theirs.chunks
            np.testing.assert_array_equal(ours.compute(scheduler="threads"), theirs.compute())
            np.testing.assert_array_equal(ours.compute(), levels[level])
        group = ZarrTiffStore(tif.series[0], zarr_format=2)
        np.testing.assert_array_equal(da.from_zarr(group, component="1").compute(), levels[1])


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_xarray_open_zarr(pyramid: tuple[Path, list[np.ndarray]], zarr_format: int) -> None:
    path, levels = pyramid
    with TiffFile(path) as tif:
        store = ZarrTiffStore(tif.series[0], zarr_format=zarr_format)
        dataset = xr.open_zarr(store, consolidated=False, mask_and_scale=False)
        assert sorted(dataset.data_vars) == ["0", "1", "2"]
        for index, expected in enumerate(levels):
            variable = dataset[str(index)]
            assert variable.dtype == expected.dtype
            np.testing.assert_array_equal(variable.values, expected)
        assert dataset["0"].dims[-2:] == ("Y", "X")
        # a smaller level has dimensions of its own, suffixed with its index
        assert dataset["1"].dims[-2:] == ("Y_1", "X_1")
        # xarray reads groups only: a store of one level is an array and is refused
        with pytest.raises(zarr.errors.BaseZarrError):
            xr.open_zarr(
                ZarrTiffStore(tif.series[0], level=1, zarr_format=zarr_format),
                consolidated=False,
                mask_and_scale=False,
            )


# -- pickling -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"level": 1}, {"multiscales": True, "zarr_format": 2}, {"chunkmode": 2, "fillvalue": 3}],
)
def test_pickle_round_trip(pyramid: tuple[Path, list[np.ndarray]], kwargs: dict[str, Any]) -> None:
    path, _ = pyramid
    with TiffFile(path) as tif, tifffile.TiffFile(path) as their:
        store = ZarrTiffStore(tif.series[0], **kwargs)
        their_kwargs = {k: v for k, v in kwargs.items() if k != "zarr_format"}
        expected = zarr.open(their.series[0].aszarr(**their_kwargs), mode="r")
        copy = pickle.loads(pickle.dumps(store))
        assert copy._series is None  # nothing opened yet
        assert copy == store
        assert repr(copy) == repr(store)
        assert pickle.loads(pickle.dumps(copy)) == copy  # a copy not yet reopened pickles
        node = zarr.open(copy, mode="r")
        assert copy._series is not None
        for name, array in (
            {"": expected} if isinstance(expected, zarr.Array) else dict(expected.arrays())
        ).items():
            ours = node if name == "" else node[name]
            np.testing.assert_array_equal(ours[...], array[...])
            if "fillvalue" in kwargs:
                assert ours.fill_value == kwargs["fillvalue"]
        copy.close()


def test_pickle_page_store_and_read_only(tiled: tuple[Path, np.ndarray]) -> None:
    path, data = tiled
    with TiffFile(path, mode="r+") as tif:
        store = ZarrTiffStore(tif.pages[0], read_only=True)
        copy = pickle.loads(pickle.dumps(store))
        assert copy.read_only
        assert copy._series is None
        np.testing.assert_array_equal(zarr.open_array(copy, mode="r")[...], data)
        copy.close()


def test_pickle_of_a_closed_store_does_not_reopen(tiled: tuple[Path, np.ndarray]) -> None:
    path, _ = tiled
    with TiffFile(path) as tif:
        copy = pickle.loads(pickle.dumps(ZarrTiffStore(tif.pages[0])))
    copy.close()
    with pytest.raises(TiffClosedError):
        run(copy.get("c/0/0", PROTOTYPE))
    assert copy._series is None


@pytest.mark.parametrize("kind", ["bytes", "bytesio"])
def test_memory_stores_refuse_pickling(tiled: tuple[Path, np.ndarray], kind: str) -> None:
    path, data = tiled
    raw = path.read_bytes()
    with TiffFile(raw if kind == "bytes" else io.BytesIO(raw)) as tif:
        store = ZarrTiffStore(tif.pages[0])
        np.testing.assert_array_equal(zarr.open_array(store, mode="r")[...], data)
        with pytest.raises(TypeError, match="memory or a file object and cannot be pickled"):
            pickle.dumps(store)


# -- threads --------------------------------------------------------------------------------
def test_eight_threads_read_what_one_thread_reads(tmp_path: Path) -> None:
    path = tmp_path / "stack.tif"
    data = pixels((6, 200, 170), "u2", seed=12)
    tifffile.imwrite(path, data, tile=(32, 48), compression="zlib", predictor=True)
    with TiffFile(path) as tif:
        array = zarr.open_array(ZarrTiffStore(tif.series[0]), mode="r")
        whole = array[...]
        np.testing.assert_array_equal(whole, data)
        rng = np.random.default_rng(13)
        boxes = [
            (
                int(rng.integers(0, 6)),
                slice(int(y), int(y + rng.integers(1, 80))),
                slice(int(x), int(x + rng.integers(1, 90))),
            )
            for y, x in zip(rng.integers(0, 200, 240), rng.integers(0, 170, 240), strict=True)
        ]
        single = [array[box] for box in boxes]
        with ThreadPoolExecutor(8) as pool:
            threaded = list(pool.map(lambda box: array[box], boxes))
        for box, one, many in zip(boxes, single, threaded, strict=True):
            np.testing.assert_array_equal(many, one)
            np.testing.assert_array_equal(many, whole[box])


# -- close ----------------------------------------------------------------------------------
def test_close_releases_the_file(tiled: tuple[Path, np.ndarray]) -> None:
    path, data = tiled
    tif = TiffFile(path)
    fd = tif.source._fd  # type: ignore[attr-defined]
    store = ZarrTiffStore(tif.pages[0])
    array = zarr.open_array(store, mode="r")
    np.testing.assert_array_equal(array[0:10, 0:10], data[0:10, 0:10])
    store.close()
    assert tif.closed
    with pytest.raises(OSError, match="Bad file descriptor"):
        os.fstat(fd)  # the descriptor is gone, not just marked
    for call in (
        lambda: store.get("c/0/0", PROTOTYPE),
        lambda: store.get("zarr.json", PROTOTYPE),
        lambda: store.exists("c/0/0"),
        lambda: store.getsize("c/0/0"),
    ):
        with pytest.raises(TiffClosedError) as info:
            run(call())
        # closing is no content error: handlers of corrupt data must not swallow it
        assert not isinstance(info.value, TiffFileError)
    with pytest.raises(TiffClosedError, match="closed"):
        array[0:10, 0:10]
    with pytest.raises(TiffClosedError):
        run(_collect(store.list()))
    store.close()  # twice is harmless


def test_context_manager_closes(tiled: tuple[Path, np.ndarray]) -> None:
    path, data = tiled
    tif = TiffFile(path)
    with ZarrTiffStore(tif.series[0]) as store:
        np.testing.assert_array_equal(zarr.open_array(store, mode="r")[...], data)
    assert tif.closed
    with pytest.raises(TiffClosedError):
        run(store.get("c/0/0", PROTOTYPE))


# -- lock -----------------------------------------------------------------------------------
class CountingLock:
    """A reentrant lock that counts its holders, to see that reads go through it."""

    def __init__(self) -> None:
        import threading

        self._lock = threading.RLock()
        self.entered = 0
        self.holders = 0
        self.most = 0

    def __enter__(self) -> None:
        self._lock.acquire()
        self.entered += 1
        self.holders += 1
        self.most = max(self.most, self.holders)

    def __exit__(self, *args: object) -> None:
        self.holders -= 1
        self._lock.release()


def test_lock_serialises_reads(
    tiled: tuple[Path, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every read of the file happens under the store's lock, one at a time (a run of a
    page's tiles may be one read)."""
    path, data = tiled
    lock = CountingLock()
    with TiffFile(path) as tif:
        source = tif.pages[0].source
        tif.pages[0].segment_range(0)  # the page's offsets: the file's structure, read once
        held: list[bool] = []
        for name in ("read", "read_ranges"):
            method = getattr(source, name)

            def under_lock(*args: Any, method: Any = method) -> Any:
                held.append(lock.holders > 0)
                return method(*args)

            monkeypatch.setattr(source, name, under_lock)
        array = zarr.open_array(ZarrTiffStore(tif.pages[0], lock=lock), mode="r")
        with ThreadPoolExecutor(8) as pool:
            parts = list(pool.map(lambda y: array[y : y + 10], range(0, 100, 10)))
    np.testing.assert_array_equal(np.concatenate(parts), data)
    assert held  # the tiles were read through the source
    assert all(held)  # and every read under the lock
    assert lock.most == 1


def test_remembered_keys_leave_nothing_for_the_garbage_collector(tmp_path: Path) -> None:
    """Every chunk key zarr asks for is parsed once and remembered; what is remembered must
    not stay tracked by the collector, whose full collections (tens of ms in a viewer's
    process) come sooner the more tracked objects pile up."""
    import gc

    path = tmp_path / "tiles.tif"
    image = np.random.default_rng(3).integers(0, 255, (1024, 1024), np.uint8)
    tifffile.imwrite(path, image, tile=(16, 16))  # 4,096 chunks, each key remembered
    expected = tifffile.imread(path)
    with TiffFile(path) as tif:
        array = zarr.open_array(ZarrTiffStore(tif.series[0], cachesize=0), mode="r")
        np.testing.assert_array_equal(array[:16, :16], expected[:16, :16])  # imports, pages
        gc.collect()
        gc.collect()
        before = len(gc.get_objects())
        np.testing.assert_array_equal(array[:], expected)
        for _ in range(3):  # a collection stops tracking one depth of nested tuples
            gc.collect()
        grown = len(gc.get_objects()) - before
    assert grown < 4096 // 8, f"{grown} objects left tracked after reading 4,096 chunks"
