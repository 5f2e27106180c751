"""The gap worth merging between two ranges: learnt from the round trip and rate of the
requests a source has made, so that a viewport's rows of tiles come in one request from a
distant server and in one request per row from a near one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr
from remote_server import TILE, RangeServer

from napari_tiffzarr import TiffFile
from napari_tiffzarr.sources.remote import FsspecSource
from napari_tiffzarr.sources.requestcost import ASSUMED_RATE, RATE_SAMPLE_BYTES, RequestCost
from napari_tiffzarr.store import ZarrTiffStore

KIB = 1024
MIB = 1024 * KIB


def test_before_any_request_the_gap_is_the_least() -> None:
    cost = RequestCost(64 * KIB, 4 * MIB)
    assert cost.round_trip is None
    assert cost.rate == ASSUMED_RATE
    assert cost.gap() == 64 * KIB


def test_small_requests_measure_the_round_trip_at_the_assumed_rate() -> None:
    cost = RequestCost(64 * KIB, 64 * MIB)
    for seconds in (0.031, 0.030, 0.045):
        cost.record(seconds, 256 * KIB)
    expected_trip = 0.030 - 256 * KIB / ASSUMED_RATE
    assert cost.round_trip == pytest.approx(expected_trip)
    assert cost.gap() == int(expected_trip * ASSUMED_RATE)


def test_a_large_transfer_measures_the_rate_apart_from_the_round_trip() -> None:
    """A fast link to a slow server: 20 ms before the first byte, then 1 GB/s.  Taken as a
    whole, the 8 MiB batch would say 300 MB/s; less the round trip, it says 1 GB/s."""
    cost = RequestCost(64 * KIB, 64 * MIB)
    cost.record(0.020, 100)
    cost.record(0.020 + 8 * MIB / 1e9, 8 * MIB)
    assert cost.rate == pytest.approx(8 * MIB / (8 * MIB / 1e9), rel=1e-6)
    assert cost.round_trip == pytest.approx(0.020, abs=1e-6)
    assert cost.gap() == pytest.approx(0.020 * 1e9, rel=1e-3)


def test_the_gap_is_bounded_both_ways() -> None:
    near = RequestCost(64 * KIB, 4 * MIB)
    near.record(0.0001, 10)  # 0.1 ms round trip: 10 KB at the assumed rate
    assert near.gap() == 64 * KIB
    far = RequestCost(64 * KIB, 4 * MIB)
    far.record(2.0, 10)  # two seconds: 200 MB at the assumed rate
    assert far.gap() == 4 * MIB


def test_a_slow_link_merges_little() -> None:
    """1 MB/s: a 5 ms round trip is worth 5 KB, less than the least gap."""
    cost = RequestCost(64 * KIB, 4 * MIB)
    cost.record(0.005 + 16 * KIB / 1e6, 16 * KIB)
    cost.record(0.005 + RATE_SAMPLE_BYTES / 1e6, RATE_SAMPLE_BYTES)
    assert cost.rate == pytest.approx(1e6, rel=0.05)
    assert cost.gap() == 64 * KIB


def test_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match="min_gap"):
        RequestCost(10, 5)


@pytest.fixture
def noise(http_root: Path) -> Path:
    """2048 x 2048 uint8 noise in 256-pixel deflate tiles: each tile about 64 KiB, so a
    viewport's rows of tiles lie a few hundred KiB apart in the file."""
    path = http_root / "noise.tif"
    data = np.random.default_rng(0).integers(0, 256, (2048, 2048), np.uint8)
    tifffile.imwrite(path, data, tile=(TILE, TILE), compression="zlib", metadata=None)
    return path


@pytest.mark.parametrize("fixed_gap", [None, 64 * KIB])
def test_a_distant_server_gets_a_viewport_in_two_requests(
    server: RangeServer, noise: Path, fixed_gap: int | None
) -> None:
    """50 ms a request.  A 1024 x 1024 viewport off the tile grid in 512-pixel chunks: 36
    tiles in six rows of six, which lie two tiles (about 128 KiB) apart in the file.  The
    learnt gap merges them; the merged span, over a MiB, goes out as two concurrent
    requests without the gap between them.  A fixed gap of 64 KiB asks once per row."""
    server.served.latency = 0.05
    source = FsspecSource(server.url("noise.tif"), coalesce_gap=fixed_gap)
    with TiffFile(source) as tif:
        expected = tifffile.imread(noise)
        store = ZarrTiffStore(tif.series[0], chunkshape=512, cachesize=0)
        level0 = zarr.open_array(store, mode="r")
        level0[:10, :10]  # the page's offsets and byte counts: not what is counted
        trip = source.cost.round_trip
        assert trip is not None
        assert trip >= 0.04  # 50 ms, less a block's bytes at the rate
        server.served.reset()
        got = level0[300:1324, 300:1324]
        assert server.served.gets == (2 if fixed_gap is None else 6)
        if fixed_gap is None:
            (_, last), (second, _) = sorted(
                tuple(map(int, spec.removeprefix("bytes=").split("-")))
                for _, spec in server.served.requests
            )
            assert second - last > 1  # a gap between the rows of tiles is not fetched
            assert second - last >= 64 * KIB  # the widest: a tile at least
        np.testing.assert_array_equal(got, expected[300:1324, 300:1324])
        store.close()
