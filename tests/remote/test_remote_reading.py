"""TIFFs over HTTP: the same pages, series and pixels as tifffile reads locally, in few
requests, through a server that fails now and then, and a clear error from one that fails
always."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import fsspec
import numpy as np
import pytest
import tifffile
import zarr
from remote_server import PYRAMID_LEVELS, TILE, RangeServer

from napari_tiffzarr import TiffFile
from napari_tiffzarr.sources import open_source
from napari_tiffzarr.sources.remote import (
    REMOTE_BLOCK_SIZE,
    FsspecSource,
    RemoteLocation,
    RemoteReadError,
    sniff_url,
)
from napari_tiffzarr.store import ZarrTiffStore, open_arrays


def test_tifffile_over_http_equals_tifffile(server: RangeServer, stack: Path) -> None:
    with TiffFile(server.url("stack.tif")) as tif, tifffile.TiffFile(stack) as ref:
        assert tif.path is None  # path means a local file
        assert isinstance(tif.source, FsspecSource)
        assert tif.source.url == server.url("stack.tif")
        assert tif.filename == "stack.tif"
        assert len(tif.pages) == len(ref.pages) == 5
        assert [s.shape for s in tif.series] == [s.shape for s in ref.series]
        for index in range(5):
            np.testing.assert_array_equal(tif.pages[index].asarray(), ref.pages[index].asarray())
        np.testing.assert_array_equal(tif.asarray(), ref.asarray())


def test_pyramid_store_over_http_equals_tifffile(server: RangeServer, pyramid: Path) -> None:
    with TiffFile(server.url("pyramid.tif")) as tif, tifffile.TiffFile(pyramid) as ref:
        group = zarr.open_group(tif.series[0].aszarr(), mode="r")
        assert len(ref.series[0].levels) == PYRAMID_LEVELS
        for level in range(PYRAMID_LEVELS):
            expected = ref.series[0].levels[level].asarray()
            np.testing.assert_array_equal(group[str(level)][:], expected)
            np.testing.assert_array_equal(
                group[str(level)][100:300, 7:301], expected[100:300, 7:301]
            )


def test_fsspec_file_objects_are_read_in_ranges(server: RangeServer, stack: Path) -> None:
    expected = tifffile.imread(stack)
    with fsspec.open(server.url("stack.tif"), "rb") as fh, TiffFile(fh) as tif:
        assert isinstance(tif.source, FsspecSource)
        np.testing.assert_array_equal(tif.asarray(), expected)
    with TiffFile(fsspec.open(server.url("stack.tif"))) as tif:  # an OpenFile, unopened
        np.testing.assert_array_equal(tif.asarray(), expected)


def test_opening_a_pyramid_and_reading_a_tile_takes_few_requests(
    server: RangeServer, pyramid: Path
) -> None:
    """The budget, from the design: one HEAD for the size, then one block request for each
    distinct 256 KiB block holding the header, an IFD or a tag value.  tifffile writes each
    level's IFD and values together, so that is at most one block per level and the header,
    which shares the first level's block: opening costs <= 1 + levels requests.  One tile is
    then exactly one range request, and a 2 x 2 tile region one per tile row."""
    served = server.served
    tif = TiffFile(server.url("pyramid.tif"))
    series = tif.series[0]
    group = zarr.open_group(series.aszarr(), mode="r")
    level0 = group["0"]
    opened = list(served.requests)
    assert opened[0] == ("HEAD", None)
    assert 2 <= len(opened) <= 1 + PYRAMID_LEVELS
    block_aligned = [
        r for m, r in opened[1:] if r and int(r[6:].split("-")[0]) % REMOTE_BLOCK_SIZE == 0
    ]
    assert len(block_aligned) == len(opened) - 1  # metadata comes in whole blocks

    served.reset()
    tile = level0[TILE : 2 * TILE, 3 * TILE : 4 * TILE]
    located = series.levels[0].keyframe.segment_range(1 * (2048 // TILE) + 3)
    assert located is not None
    start, length = located
    assert served.requests == [("GET", f"bytes={start}-{start + length - 1}")]
    served.reset()
    # two tile rows, each two adjacent tiles in one range; the rows merge only where the
    # bytes between them cost less than the round trip the source has measured
    source = series.levels[0].keyframe.source
    assert isinstance(source, FsspecSource)
    keyframe = series.levels[0].keyframe
    located = [
        keyframe.segment_range(row * (2048 // TILE) + col) for row in (2, 3) for col in (0, 1)
    ]
    tiles = [t for t in located if t is not None]
    assert len(tiles) == 4
    assert all(tiles[i + 1][0] == tiles[i][0] + tiles[i][1] for i in (0, 2))  # rows: one run
    gap = tiles[2][0] - (tiles[1][0] + tiles[1][1])
    requests = 1 if gap <= source.cost.gap() else 2
    region = level0[2 * TILE : 4 * TILE, 0 : 2 * TILE]
    assert len(served.requests) == requests

    expected = tifffile.imread(pyramid, series=0, level=0)
    np.testing.assert_array_equal(tile, expected[TILE : 2 * TILE, 3 * TILE : 4 * TILE])
    np.testing.assert_array_equal(region, expected[2 * TILE : 4 * TILE, : 2 * TILE])
    tif.close()


@pytest.mark.parametrize("failure", ["status", "drop"])
def test_retries_survive_a_server_failing_every_tenth_request(
    server: RangeServer, pyramid: Path, failure: str
) -> None:
    server.served.fail_every = 10
    server.served.failure = failure
    with TiffFile(server.url("pyramid.tif")) as tif, tifffile.TiffFile(pyramid) as ref:
        group = zarr.open_group(tif.series[0].aszarr(), mode="r")
        for level in range(PYRAMID_LEVELS):
            expected = ref.series[0].levels[level].asarray()
            np.testing.assert_array_equal(group[str(level)][:], expected)
    assert len(server.served.requests) >= 10  # the failures did happen


def test_a_server_that_always_fails_gives_a_clear_error(
    server: RangeServer, pyramid: Path
) -> None:
    url = server.url("pyramid.tif")
    tif = TiffFile(url)
    store = tif.series[0].aszarr()
    group = zarr.open_group(store, mode="r")
    server.served.fail_every = 1
    server.served.reset()
    with pytest.raises(RemoteReadError, match="after 5 attempts") as raised:
        group["0"][:]
    assert url in str(raised.value)
    # bounded: every range tried 1 + 4 times, nothing more
    assert 0 < len(server.served.requests) <= 5 * 8 * 8
    with pytest.raises(RemoteReadError, match=url):
        TiffFile(url)
    tif.close()


def test_missing_file_is_filenotfound_not_retried(server: RangeServer, pyramid: Path) -> None:
    with pytest.raises(FileNotFoundError):
        TiffFile(server.url("missing.tif"))
    assert len(server.served.requests) <= 2  # HEAD, then fsspec's GET fallback; no retries


def test_not_a_tiff_over_http_is_a_tifffileerror(server: RangeServer, http_root: Path) -> None:
    from napari_tiffzarr import TiffFileError

    (http_root / "junk.tif").write_bytes(b"junk" * 100)
    with pytest.raises(TiffFileError, match=r"junk\.tif"):
        TiffFile(server.url("junk.tif"))


def test_server_ignoring_ranges_is_refused(server: RangeServer, pyramid: Path) -> None:
    server.served.ignore_ranges = True
    with pytest.raises(RemoteReadError, match="ignores range requests"):
        TiffFile(server.url("pyramid.tif"))


def test_source_batches_and_caches(server: RangeServer, stack: Path) -> None:
    content = stack.read_bytes()
    source = FsspecSource(server.url("stack.tif"))
    server.served.reset()
    ranges = [(5000, 3), (10, 5), (20, 0), (len(content) - 7, 7)]
    assert source.read_ranges(ranges) == [content[o : o + n] for o, n in ranges]
    assert server.served.gets == 1  # the file is smaller than the gap: one coalesced range
    server.served.reset()
    assert source.read(100, 8) == content[100:108]
    assert source.read(2000, 30) == content[2000:2030]
    assert server.served.gets == 1  # one block holds both small reads
    source.close()
    assert source.closed


def test_pickled_store_over_url_reopens(server: RangeServer, pyramid: Path) -> None:
    with TiffFile(server.url("pyramid.tif")) as tif:
        store = tif.series[0].aszarr()
        copy = pickle.loads(pickle.dumps(store))
        assert copy == store
        assert "pyramid.tif" in repr(copy)
        group = zarr.open_group(copy, mode="r")
        np.testing.assert_array_equal(group["1"][:], tifffile.imread(pyramid, series=0, level=1))
        copy.close()


def test_pickled_store_reopens_with_storage_options(server: RangeServer, pyramid: Path) -> None:
    options = {"headers": {"X-Test": "1"}}
    with TiffFile(server.url("pyramid.tif"), storage_options=options) as tif:
        copy = pickle.loads(pickle.dumps(tif.series[0].aszarr()))
        location = copy.__getstate__()["location"].path
    assert isinstance(location, RemoteLocation)
    assert location.url == server.url("pyramid.tif")
    assert dict(location.storage_options) == options


def test_sniff_url_never_raises(server: RangeServer, stack: Path) -> None:
    assert sniff_url(server.url("stack.tif")) == b"II*\x00"
    assert sniff_url(server.url("missing.tif")) is None
    assert sniff_url("http://127.0.0.1:1/nothing.tif") is None


def test_a_server_that_never_answers_times_out(
    server: RangeServer, pyramid: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that accepts and then says nothing must not hold a read for minutes:
    each attempt times out, and the retries end in an error naming the URL."""
    from napari_tiffzarr.sources import remote

    monkeypatch.setattr(remote, "REMOTE_TIMEOUT", 0.2)
    monkeypatch.setattr(remote, "SNIFF_TIMEOUT", 0.2)
    url = server.url("pyramid.tif")
    server.served.stall = True
    try:
        with pytest.raises(RemoteReadError, match="after 5 attempts") as raised:
            TiffFile(url)
        assert url in str(raised.value)
        assert sniff_url(url) is None
        # the timeout is ours, not the caller's: it is not put into the storage options
        # that a pickled store reopens with
        location = RemoteLocation(url, {})
        assert dict(location.storage_options) == {}
    finally:
        server.served.release.set()
    # five attempts to size it (a HEAD, then fsspec's GET fallback, each), one sniff
    assert len(server.served.requests) == 5 * 2 + 1


def test_a_timeout_the_caller_chose_is_kept() -> None:
    import aiohttp

    from napari_tiffzarr.sources.remote import with_timeout

    mine = aiohttp.ClientTimeout(total=3)
    options = {"client_kwargs": {"timeout": mine, "trust_env": True}}
    assert with_timeout("https://host/x.tif", options, 30)["client_kwargs"]["timeout"] is mine
    chosen = with_timeout("https://host/x.tif", {}, 30)["client_kwargs"]["timeout"]
    assert (chosen.sock_connect, chosen.sock_read) == (30, 30)
    assert with_timeout("s3://bucket/x.tif", {"anon": True}, 30) == {"anon": True}


def test_remote_files_cannot_be_opened_for_update(server: RangeServer, stack: Path) -> None:
    with pytest.raises(TypeError, match="update"):
        open_source(server.url("stack.tif"), writable=True)


def test_importing_the_package_does_not_import_fsspec() -> None:
    # the reader alone; zarr itself imports fsspec, so the store cannot promise this
    code = "import sys, napari_tiffzarr; print('fsspec' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_local_paths_do_not_use_fsspec(tmp_path: Path) -> None:
    path = tmp_path / "a.tif"
    tifffile.imwrite(path, np.zeros((8, 8), np.uint8))
    with TiffFile(path) as tif:
        assert type(tif.source).__name__ == "PathSource"
    with TiffFile(f"file://{path}") as tif:
        assert type(tif.source).__name__ == "PathSource"
    store = ZarrTiffStore(TiffFile(path).pages[0])
    assert store.series.keyframe.source.path == str(path)
    store.close()


def test_merged_requests_are_capped_between_ranges() -> None:
    from napari_tiffzarr.sources import coalesce_ranges
    from napari_tiffzarr.sources.remote import cap_runs

    ranges = [(0, 40), (40, 40), (90, 40), (130, 10), (500, 5)]
    runs = cap_runs(coalesce_ranges(ranges, 64), ranges, 100)
    # every range whole in exactly one run, every run within the cap unless one range is
    assert sorted(i for _, _, members in runs for i in members) == list(range(5))
    for start, length, members in runs:
        assert length <= 100
        for i in members:
            offset, size = ranges[i]
            assert start <= offset
            assert offset + size <= start + length
    assert [members for _, _, members in runs] == [[0, 1], [2, 3], [4]]


def test_a_long_merged_request_is_split_in_two_where_the_longer_half_is_shortest() -> None:
    from napari_tiffzarr.sources import coalesce_ranges
    from napari_tiffzarr.sources.remote import split_runs_apart

    # three rows of tiles: 0-100, then 1,000 bytes of gap, 1100-1200, 10 bytes, 1210-1300
    ranges = [(1210, 90), (0, 50), (50, 50), (1100, 100)]
    runs = coalesce_ranges(ranges, 2_000)
    assert len(runs) == 1
    split = split_runs_apart(runs, ranges, 2, 1_000)
    # cut after the first row: halves of 100 and 200 bytes, the 1,000-byte gap unread;
    # every other cut leaves a half of 1,200 bytes or more
    assert split == [(0, 100, [1, 2]), (1100, 200, [3, 0])]
    for start, length, members in split:
        for i in members:
            offset, size = ranges[i]
            assert start <= offset
            assert offset + size <= start + length
    assert split_runs_apart(runs, ranges, 2, 1_301) == runs  # shorter than least: kept
    assert split_runs_apart(runs, ranges, 1, 0) == runs  # pieces enough already
    one = coalesce_ranges([(0, 5_000)], 0)
    assert split_runs_apart(one, [(0, 5_000)], 2, 0) == one  # one range: nothing to cut
    # three pieces: the longer half (200 bytes) is cut again
    assert split_runs_apart(runs, ranges, 3, 0) == [
        (0, 100, [1, 2]),
        (1100, 100, [3]),
        (1210, 90, [0]),
    ]


@pytest.mark.parametrize("views", [False, True], ids=["zarr", "viewer-arrays"])
def test_a_spanned_chunk_viewport_is_one_round(
    server: RangeServer, pyramid: Path, views: bool
) -> None:
    """Level 0 in 1024-pixel chunks: a 1024 x 1024 viewport off the tile grid touches four
    chunks, 25 tiles in five rows of tiles; their bytes go out in one concurrent batch of
    merged ranges (one per row of tiles at most), never one request per tile.  Through
    zarr, one turn's ranges are one batch; a viewer's arrays read the selection on the
    calling thread, its chunks' ranges fetched first."""
    with TiffFile(server.url("pyramid.tif")) as tif, tifffile.TiffFile(pyramid) as ref:
        expected = ref.series[0].levels[0].asarray()
        store = ZarrTiffStore(tif.series[0], chunkshape=1024, cachesize=0)
        level0 = open_arrays(store, views=views)[0]
        level0[:10, :10]  # the page's offsets and byte counts: not what is counted
        server.served.reset()
        got = level0[300:1324, 500:1524]
        assert server.served.gets <= 5
        np.testing.assert_array_equal(got, expected[300:1324, 500:1524])
        store.close()
