"""A remote viewport in tile chunks: zarr keeps ten chunk reads in flight, so 25 tiles
would go out in three rounds; the first round fetches the rows zarr asks for next."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr
from remote_server import TILE, RangeServer

from napari_tiffzarr import TiffFile
from napari_tiffzarr.sources.remote import REMOTE_PIECES, FsspecSource
from napari_tiffzarr.store import ZarrTiffStore
from napari_tiffzarr.store.scheduler import fetching


@pytest.fixture
def noise(http_root: Path) -> Path:
    """2048 x 2048 uint8 noise in 256-pixel deflate tiles of about 64 KiB each."""
    path = http_root / "noise.tif"
    data = np.random.default_rng(1).integers(0, 256, (2048, 2048), np.uint8)
    tifffile.imwrite(path, data, tile=(TILE, TILE), compression="zlib", metadata=None)
    return path


def _open(server: RangeServer) -> tuple[TiffFile, zarr.Array, ZarrTiffStore]:
    tif = TiffFile(server.url("noise.tif"))
    store = ZarrTiffStore(tif.series[0], cachesize=0)  # tile chunks: the default
    level0 = zarr.open_array(store, mode="r")
    level0[:10, :10]  # the page's offsets and byte counts: not what is counted
    return tif, level0, store


def test_a_viewport_of_25_tiles_is_one_round_trip(server: RangeServer, noise: Path) -> None:
    """50 ms a request: one round of requests, the merged span in two concurrent pieces
    (REMOTE_PIECES), where three rounds would be asked for if each round asked only for
    the chunks zarr had asked for."""
    assert zarr.config.get("async.concurrency") < 25
    server.served.latency = 0.05
    tif, level0, store = _open(server)
    server.served.reset()
    got = level0[300:1324, 300:1324]  # 5 x 5 tiles
    assert server.served.gets == REMOTE_PIECES
    np.testing.assert_array_equal(got, tifffile.imread(noise)[300:1324, 300:1324])
    store.close()
    tif.close()


def test_rows_fetched_ahead_are_not_fetched_again(server: RangeServer, noise: Path) -> None:
    """Each tile's bytes come over the wire once: the rows fetched ahead are handed to
    the reads that ask for them, not asked for again (a fixed 64 KiB gap keeps the rows,
    about 384 KiB apart, in requests of their own; 50 ms a request makes five rows worth
    fetching ahead)."""
    server.served.latency = 0.05
    tif = TiffFile(FsspecSource(server.url("noise.tif"), coalesce_gap=64 * 1024))
    store = ZarrTiffStore(tif.series[0], cachesize=0)
    level0 = zarr.open_array(store, mode="r")
    level0[:10, :10]
    server.served.reset()
    got = level0[300:1324, 300:1324]
    ranges = [r for method, r in server.served.requests if method == "GET"]
    # one per row of tiles: the viewport's five, and one beyond it, since the first
    # round fetches up to twice zarr's ten chunks ahead and the box's height is unknown
    assert len(ranges) == 6
    assert len(set(ranges)) == 6
    np.testing.assert_array_equal(got, tifffile.imread(noise)[300:1324, 300:1324])
    store.close()
    tif.close()


def test_a_failing_prediction_fails_the_read_and_never_hangs(
    server: RangeServer, noise: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(turn: object, source: object, budget: int) -> list[tuple[int, int]]:
        raise RuntimeError("prediction broke")

    tif, level0, store = _open(server)
    monkeypatch.setattr(fetching, "walk_ahead", broken)
    outcome: list[BaseException | None] = []

    def read() -> None:
        try:
            level0[300:1324, 300:1324]
        except BaseException as exc:  # handed to the test thread below
            outcome.append(exc)
        else:
            outcome.append(None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(60)  # a bound, not a speed check: a hang would wait forever
    assert not reader.is_alive()
    assert isinstance(outcome[0], RuntimeError)
    store.close()
    tif.close()


@pytest.mark.parametrize("budget", [100 * 1024, 4 * 1024 * 1024])
def test_no_more_is_fetched_ahead_than_a_round_trip_is_worth(
    server: RangeServer, noise: Path, monkeypatch: pytest.MonkeyPatch, budget: int
) -> None:
    """Over a slow link a wrong guess would cost more than the round trip it might save:
    the bytes fetched beyond the viewport's own tiles stay within what the source says a
    round trip is worth (here set, rather than learnt)."""
    source = FsspecSource(server.url("noise.tif"), coalesce_gap=0)  # ranges as asked
    monkeypatch.setattr(source.cost, "gap", lambda: budget)
    tif = TiffFile(source)
    store = ZarrTiffStore(tif.series[0], cachesize=0)
    level0 = zarr.open_array(store, mode="r")
    level0[:10, :10]
    server.served.reset()
    level0[300:1324, 300:1324]
    fetched = 0
    for method, header in server.served.requests:
        if method == "GET":
            start, end = header.removeprefix("bytes=").split("-")
            fetched += int(end) - int(start) + 1
    keyframe = tif.series[0].keyframe
    wanted = 0
    for row in range(1, 6):
        for col in range(1, 6):
            located = keyframe.segment_range(row * (2048 // TILE) + col)
            assert located is not None
            wanted += located[1]
    assert wanted <= fetched <= wanted + budget
    if budget > 1024 * 1024:  # room for the whole guess: a row beyond the box came too
        assert fetched > wanted
    store.close()
    tif.close()
