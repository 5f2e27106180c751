"""A multi-file OME-TIFF dataset over HTTP: the other files are opened through the first
file's filesystem, relative to its URL, and each file's requests are coalesced as the
first file's are."""

from __future__ import annotations

import itertools
import logging
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr
from remote_server import RangeServer

from napari_tiffzarr import TiffFile
from napari_tiffzarr.sources.remote import REMOTE_BLOCK_SIZE, REMOTE_COALESCE_GAP
from napari_tiffzarr.store import ZarrTiffStore
from ome_xml import channel_files_xml

NAMES = ["cells_c0.ome.tif", "cells_c1.ome.tif", "cells_c2.ome.tif"]
UUIDS = [f"urn:uuid:0000000{c}-aaaa-bbbb-cccc-dddddddddddd" for c in range(3)]
PLANES, LENGTH, WIDTH, TILE = 3, 64, 96, 32


def _xml(own: int) -> str:
    """The dataset's OME-XML as the file of channel own holds it: one file per channel."""
    return channel_files_xml(
        NAMES, UUIDS, own, planes=PLANES, length=LENGTH, width=WIDTH, name="cells"
    )


@pytest.fixture
def dataset(http_root: Path) -> Path:
    rng = np.random.default_rng(11)
    data = rng.integers(0, 4000, (3, PLANES, LENGTH, WIDTH), np.uint16)
    for c in range(3):
        tifffile.imwrite(
            http_root / NAMES[c],
            data[c],
            description=_xml(c),
            metadata=None,
            tile=(TILE, TILE),
            compression="zlib",
            photometric="minisblack",
        )
    return http_root / NAMES[0]


def _expected_requests(path: Path) -> int:
    """What reading all of one file costs, from its layout: one HEAD for its size, one
    request per 256 KiB block holding its header, an IFD or an IFD's value (each block
    is met in turn while its pages are parsed), and one request per run of its tiles
    whose gaps are below the coalescing gap (they are asked for in one turn)."""
    blocks = {0}
    segments: list[tuple[int, int]] = []
    with tifffile.TiffFile(path) as tif:
        for page in tif.pages:
            assert isinstance(page, tifffile.TiffPage)
            blocks.add(page.offset // REMOTE_BLOCK_SIZE)
            for tag in page.tags:
                blocks.add(tag.valueoffset // REMOTE_BLOCK_SIZE)
            segments += [
                (int(o), int(n))
                for o, n in zip(page.dataoffsets, page.databytecounts, strict=True)
                if n
            ]
        size = tif.filehandle.size
    # one block per request holds for files of one block (each walk step then finds the
    # next IFD cached): say so, rather than count requests the model would not predict
    assert size <= REMOTE_BLOCK_SIZE, "the model below assumes one block of metadata"
    segments.sort()
    runs = 1 + sum(
        1 for (a, n), (b, _) in itertools.pairwise(segments) if b - (a + n) > REMOTE_COALESCE_GAP
    )
    return 1 + len(blocks) + runs


def test_remote_dataset_reads_as_the_local_one_with_coalesced_requests(
    server: RangeServer, dataset: Path
) -> None:
    want = tifffile.imread(dataset)  # tifffile reads the local dataset, all three files
    assert want.shape == (3, PLANES, LENGTH, WIDTH)
    with TiffFile(dataset) as tif:
        local = zarr.open_array(ZarrTiffStore(tif.series[0]), mode="r")[:]
    np.testing.assert_array_equal(local, want)

    served = server.served
    chunks = 3 * PLANES * (LENGTH // TILE) * (WIDTH // TILE)
    # every chunk asked for in one turn, so that each file's tiles go out in one batch
    with (
        zarr.config.set({"async.concurrency": 2 * chunks}),
        TiffFile(server.url(NAMES[0])) as tif,
    ):
        series = tif.series[0]
        assert series.shape == want.shape
        assert series.missing_files == []
        assert [p for p in served.paths if not p.endswith(NAMES[0])] == []  # opened lazily
        remote = zarr.open_array(ZarrTiffStore(series), mode="r")[:]
        np.testing.assert_array_equal(remote, want)
        assert tif.files.opened == 2  # the two other files, each once
        for name in NAMES:
            requests = served.of(name)
            assert requests[0] == ("HEAD", None)
            assert len(requests) == _expected_requests(dataset.with_name(name)), name


@pytest.mark.parametrize("openfiles", [1, 2])
def test_remote_dataset_keeps_at_most_openfiles_open(
    server: RangeServer, dataset: Path, openfiles: int
) -> None:
    want = tifffile.imread(dataset)
    with TiffFile(server.url(NAMES[0]), _openfiles=openfiles) as tif:
        series = tif.series[0]
        np.testing.assert_array_equal(series.asarray(), want)
        assert tif.files.open_count <= openfiles
        array = zarr.open_array(ZarrTiffStore(series), mode="r")
        np.testing.assert_array_equal(array[1:, 1, 5:60, 7:90], want[1:, 1, 5:60, 7:90])
        assert tif.files.open_count <= openfiles
        if openfiles == 1:
            assert tif.files.opened > 2  # two files, one open at a time: opened again


def test_a_missing_remote_file_reads_as_fill_and_is_named_once(
    server: RangeServer, dataset: Path, caplog: pytest.LogCaptureFixture
) -> None:
    want = tifffile.imread(dataset)
    dataset.with_name(NAMES[2]).unlink()
    with (
        caplog.at_level(logging.WARNING, logger="napari_tiffzarr"),
        TiffFile(server.url(NAMES[0])) as tif,
    ):
        series = tif.series[0]
        got = zarr.open_array(ZarrTiffStore(series), mode="r")[:]
        whole = series.asarray()
        assert series.missing_files == [NAMES[2]]
    assert len([r for r in caplog.records if NAMES[2] in r.getMessage()]) == 1
    for result in (got, whole):
        np.testing.assert_array_equal(result[:2], want[:2])
        assert not result[2].any()


def test_planes_read_ahead_come_from_their_own_files(server: RangeServer, http_root: Path) -> None:
    """After a jump along the planes, the planes beside the view are read ahead along
    the channels (which are files) and the planes, their bytes fetched together: each
    plane's from its own file, never from the file of another plane fetched with it."""
    planes = 8
    names = [f"deep_c{c}.ome.tif" for c in range(3)]
    want = np.random.default_rng(5).integers(0, 4000, (3, planes, LENGTH, WIDTH), np.uint16)
    for c in range(3):
        xml = channel_files_xml(
            names, UUIDS, c, planes=planes, length=LENGTH, width=WIDTH, name="deep"
        )
        tifffile.imwrite(
            http_root / names[c],
            want[c],
            description=xml,
            metadata=None,
            tile=(TILE, TILE),  # uncompressed: every file's planes at the same offsets
            photometric="minisblack",
        )
    with TiffFile(server.url(names[0])) as tif:
        # a chunk a plane: the planes beside a view are a few chunks, fetched together
        store = ZarrTiffStore(tif.series[0], readahead=True, chunkshape=(LENGTH, WIDTH))
        array = zarr.open_array(store, mode="r")
        for c, z in [(0, 0), (0, planes - 1)]:  # a first view, then a jump
            np.testing.assert_array_equal(array[c, z], want[c, z])
            assert _settles(store)
        assert store.scheduler.prefetched >= 3
        for c, z in itertools.product(range(3), range(planes)):
            np.testing.assert_array_equal(array[c, z], want[c, z], f"plane ({c}, {z})")
        store.close()


def _settles(store: ZarrTiffStore) -> bool:
    """Whether the store's read-ahead ends within a bound (never a speed check)."""
    deadline = time.monotonic() + 30
    while not store.scheduler.pool.idle:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
