"""Stores under concurrent use: many threads, dask's threaded scheduler, close() while
reads are in flight, and two stores over one file."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import pytest
import tifffile
import zarr

from napari_tiffzarr import TiffFile
from napari_tiffzarr.errors import TiffClosedError
from napari_tiffzarr.store import ZarrTiffStore


@pytest.fixture(scope="module")
def tiled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    path = tmp_path_factory.mktemp("concurrency") / "tiled.tif"
    data = np.random.default_rng(3).integers(0, 60000, (4, 512, 640), np.uint16)
    tifffile.imwrite(path, data, tile=(64, 64), compression="zlib", predictor=True, metadata=None)
    return path, data


def test_sixteen_threads_read_identical_data(tiled: tuple[Path, np.ndarray]) -> None:
    path, data = tiled
    with TiffFile(path) as tif:
        array = zarr.open_array(ZarrTiffStore(tif.series[0]), mode="r")
        rng = np.random.default_rng(0)
        boxes = [
            (int(p), int(y), int(x), int(h), int(w))
            for p, y, x, h, w in zip(
                rng.integers(0, 4, 200),
                rng.integers(0, 400, 200),
                rng.integers(0, 500, 200),
                rng.integers(1, 112, 200),
                rng.integers(1, 140, 200),
                strict=True,
            )
        ]

        def read(box: tuple[int, int, int, int, int]) -> bool:
            p, y, x, h, w = box
            return bool(
                np.array_equal(array[p, y : y + h, x : x + w], data[p, y : y + h, x : x + w])
            )

        with ThreadPoolExecutor(16) as pool:
            assert all(pool.map(read, boxes))


def test_dask_threaded_scheduler(tiled: tuple[Path, np.ndarray]) -> None:
    path, data = tiled
    with TiffFile(path) as tif:
        array = da.from_zarr(zarr.open_array(ZarrTiffStore(tif.series[0]), mode="r"))
        with dask.config.set(scheduler="threads", num_workers=8):
            result = (array.astype(np.float64) * 2).sum(axis=0).compute()
    np.testing.assert_array_equal(result, (data.astype(np.float64) * 2).sum(axis=0))


def test_two_stores_over_one_file_do_not_interfere(tiled: tuple[Path, np.ndarray]) -> None:
    path, data = tiled
    with TiffFile(path) as first, TiffFile(path) as second:
        a = zarr.open_array(ZarrTiffStore(first.series[0], chunkmode=0), mode="r")
        b = zarr.open_array(ZarrTiffStore(second.series[0], chunkmode=2, fillvalue=9), mode="r")
        results: dict[str, np.ndarray] = {}

        def read(name: str, array: zarr.Array) -> None:
            for _ in range(3):
                results[name] = array[...]

        threads = [threading.Thread(target=read, args=item) for item in (("a", a), ("b", b))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    np.testing.assert_array_equal(results["a"], data)
    np.testing.assert_array_equal(results["b"], data)


def test_close_during_reads_ends_them_with_a_clear_error(tiled: tuple[Path, np.ndarray]) -> None:
    path, data = tiled
    tif = TiffFile(path)
    store = ZarrTiffStore(tif.series[0])
    array = zarr.open_array(store, mode="r")
    outcomes: list[str] = []
    started = threading.Event()

    def reader() -> None:
        started.set()
        for _ in range(50):
            try:
                block = array[...]
            except TiffClosedError as exc:  # what a closed store says
                outcomes.append(f"closed: {exc}")
                return
            outcomes.append("ok" if np.array_equal(block, data) else "wrong data")

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    started.wait()
    store.close()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive()
    assert "wrong data" not in outcomes
    assert any(o.startswith("closed") for o in outcomes)
    assert all(o == "ok" or "closed" in o for o in outcomes)
    with pytest.raises(TiffClosedError, match="closed"):
        array[0, 0, 0]
