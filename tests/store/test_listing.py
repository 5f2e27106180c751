"""Listing from metadata and grid arithmetic: how many IFDs a listing parses, counted.

zarr and every tool above it list groups and arrays; a listing that parsed every page would
undo the laziness of a 100,000-page file.  Directories of chunks come from arithmetic, chunk
keys stream, and exists() of a chunk reads at most that chunk's page.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

import napari_tiffzarr.tiff.file as tiff_file
import napari_tiffzarr.tiff.pages as tiff_pages
from napari_tiffzarr import TiffFile
from napari_tiffzarr.store import ZarrTiffStore

PAGES = 40
SHAPE = (PAGES, 64, 48)
TILE = (32, 16)


class IfdCounter:
    """Counts the IFDs TiffFile parses: pages of the main chain and SubIFDs."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.offsets: list[int] = []

        def counting(read):  # type: ignore[no-untyped-def]
            def counted(source, header, offset):  # type: ignore[no-untyped-def]
                self.offsets.append(offset)
                return read(source, header, offset)

            return counted

        # the main chain's pages read their IFD's block; SubIFDs are read whole
        monkeypatch.setattr(tiff_pages, "ifd_block", counting(tiff_pages.ifd_block))
        monkeypatch.setattr(tiff_file, "read_ifd", counting(tiff_file.read_ifd))

    def reset(self) -> None:
        self.offsets.clear()

    @property
    def count(self) -> int:
        return len(self.offsets)


@pytest.fixture
def ifds(monkeypatch: pytest.MonkeyPatch) -> IfdCounter:
    return IfdCounter(monkeypatch)


@pytest.fixture
def stack(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A plain stack of tiled LZW pages: one uniform series, its pages parsed lazily."""
    data = np.arange(np.prod(SHAPE), dtype="u2").reshape(SHAPE)
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, data, tile=TILE, compression="lzw", metadata=None)
    return path, data


@pytest.fixture
def pyramid(tmp_path: Path) -> Path:
    path = tmp_path / "pyramid.tif"
    base = np.arange(256 * 192, dtype="u1").reshape(256, 192)
    with tifffile.TiffWriter(path) as tif:
        tif.write(base, tile=(32, 32), subifds=2, compression="zlib")
        tif.write(base[::2, ::2], tile=(32, 32), subfiletype=1, compression="zlib")
        tif.write(base[::4, ::4], tile=(32, 32), subfiletype=1, compression="zlib")
    return path


async def _collect(iterator: AsyncIterator[str]) -> list[str]:
    return [key async for key in iterator]


def _grid_keys(prefix: str, grid: tuple[int, ...]) -> Iterator[str]:
    return (prefix + "/".join(["c", *map(str, c)]) for c in np.ndindex(*grid))


def test_list_dir_of_a_stack_parses_no_page(
    stack: tuple[Path, np.ndarray], ifds: IfdCounter
) -> None:
    path, _ = stack
    with TiffFile(path) as tif:
        series = tif.series[0]
        assert series.kind == "uniform"
        ifds.reset()
        store = ZarrTiffStore(series)
        assert sorted(asyncio.run(_collect(store.list_dir("")))) == ["c", "zarr.json"]
        assert asyncio.run(_collect(store.list_dir("c"))) == [str(i) for i in range(PAGES)]
        assert asyncio.run(_collect(store.list_dir("c/20"))) == ["0", "1"]
        assert asyncio.run(_collect(store.list_dir("c/20/1"))) == ["0", "1", "2"]
        assert ifds.count == 0


def test_array_keys_of_a_pyramid_parse_no_page(pyramid: Path, ifds: IfdCounter) -> None:
    with TiffFile(pyramid) as tif, tifffile.TiffFile(pyramid) as their:
        series = tif.series[0]
        ifds.reset()
        group = zarr.open_group(ZarrTiffStore(series), mode="r")
        assert sorted(group.array_keys()) == ["0", "1", "2"]
        assert [group[k].shape for k in ("0", "1", "2")] == [
            level.shape for level in their.series[0].levels
        ]
        assert ifds.count == 0


def test_exists_reads_only_the_chunks_page(
    stack: tuple[Path, np.ndarray], ifds: IfdCounter
) -> None:
    path, _ = stack
    with TiffFile(path) as tif:
        store = ZarrTiffStore(tif.series[0])
        ifds.reset()
        assert asyncio.run(store.exists("c/23/1/2"))
        assert ifds.count == 1
        assert asyncio.run(store.exists("c/23/0/0"))  # the same page: parsed already
        assert not asyncio.run(store.exists(f"c/{PAGES}/0/0"))  # out of range: arithmetic
        assert not asyncio.run(store.exists("c/23/2/0"))
        assert ifds.count == 1
        assert tif.pages.offsets[23] in ifds.offsets


def test_listing_streams_page_by_page(stack: tuple[Path, np.ndarray], ifds: IfdCounter) -> None:
    """The first keys of list() come after parsing the first page only: keys are made as
    they are asked for, never all held; all of them are the grid's, as tifffile's shape
    and tiles say."""
    path, _ = stack
    with tifffile.TiffFile(path) as their:
        shape = their.series[0].shape
        tile = (their.pages[0].tilelength, their.pages[0].tilewidth)
    grid = (shape[0], -(-shape[1] // tile[0]), -(-shape[2] // tile[1]))
    with TiffFile(path) as tif:
        store = ZarrTiffStore(tif.series[0])
        ifds.reset()

        async def first(count: int) -> list[str]:
            keys: list[str] = []
            async for key in store.list():
                keys.append(key)
                if len(keys) == count:
                    break
            return keys

        per_page = grid[1] * grid[2]
        keys = asyncio.run(first(1 + per_page))  # zarr.json and the first page's chunks
        assert keys == ["zarr.json", *list(_grid_keys("", grid))[:per_page]]
        assert ifds.count <= 1
        everything = asyncio.run(_collect(store.list()))
        assert everything == ["zarr.json", *_grid_keys("", grid)]


def test_list_prefix_reads_only_the_pages_it_names(
    stack: tuple[Path, np.ndarray], ifds: IfdCounter
) -> None:
    path, _ = stack
    with TiffFile(path) as tif:
        store = ZarrTiffStore(tif.series[0])
        ifds.reset()
        keys = asyncio.run(_collect(store.list_prefix("c/31/")))
        assert keys == [f"c/31/{y}/{x}" for y in range(2) for x in range(3)]
        assert ifds.count == 1
        # "c/3" is no whole index: c/3/... and c/30/... to c/39/... match
        keys = asyncio.run(_collect(store.list_prefix("c/3")))
        assert {k.split("/")[1] for k in keys} == {"3", *map(str, range(30, 40))}


def test_list_dir_names_grid_positions_list_prefix_the_stored_chunks(case_file) -> None:  # type: ignore[no-untyped-def]
    """list_dir is arithmetic, sparse chunks included (they read as the fill value);
    list_prefix and exists() say which chunks hold data, as tifffile's byte counts do."""
    path, _ = case_file("sparse_tiles")  # tiles 0, 5, 11 of a 5 x 4 grid are sparse
    with TiffFile(path) as tif, tifffile.TiffFile(path) as their:
        counts = their.pages[0].databytecounts
        store = ZarrTiffStore(tif.pages[0])
        assert asyncio.run(_collect(store.list_dir("c"))) == ["0", "1", "2", "3", "4"]
        for row in range(5):
            assert asyncio.run(_collect(store.list_dir(f"c/{row}"))) == ["0", "1", "2", "3"]
            stored = [f"c/{row}/{x}" for x in range(4) if counts[row * 4 + x] > 0]
            assert asyncio.run(_collect(store.list_prefix(f"c/{row}/"))) == stored
            assert [k for k in _grid_keys("", (5, 4)) if asyncio.run(store.exists(k))] == [
                k for k in _grid_keys("", (5, 4)) if counts[int(k[2]) * 4 + int(k[4])] > 0
            ]


def test_zarr_format_2_listing(pyramid: Path, ifds: IfdCounter) -> None:
    with TiffFile(pyramid) as tif:
        store = ZarrTiffStore(tif.series[0], zarr_format=2)
        ifds.reset()
        top = set(asyncio.run(_collect(store.list_dir(""))))
        assert top == {".zgroup", ".zattrs", "0", "1", "2"}
        level2 = asyncio.run(_collect(store.list_dir("2")))
        assert set(level2) == {".zarray", ".zattrs", "0.0", "0.1", "1.0", "1.1"}
        assert len(asyncio.run(_collect(store.list_dir("0")))) == 2 + 8 * 6
        assert ifds.count == 0
        keys = asyncio.run(_collect(store.list_prefix("2/1.")))
        assert keys == ["2/1.0", "2/1.1"]
