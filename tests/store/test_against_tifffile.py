"""The store against tifffile's aszarr: same shapes, chunks and pixels for every parameter,
over single pages, many-page series, pyramids, RGB, planar, sparse tiles, odd strips and
both byte orders."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
import zarr

from napari_tiffzarr import TiffFile
from napari_tiffzarr.store import CHUNKMODE, ZarrTiffStore
from sparse_segments import make_sparse

RNG = np.random.default_rng(11)


def _u16(shape: tuple[int, ...]) -> np.ndarray:
    return RNG.integers(1, 60000, shape).astype(np.uint16)


def single_page(path: Path) -> None:
    tifffile.imwrite(path, _u16((100, 130)), tile=(32, 48), compression="zlib", metadata=None)


def odd_strips(path: Path) -> None:
    tifffile.imwrite(
        path, _u16((101, 67)), rowsperstrip=13, compression="lzw", predictor=True, metadata=None
    )


def big_endian_pages(path: Path) -> None:
    tifffile.imwrite(
        path,
        _u16((4, 50, 60)),
        byteorder=">",
        tile=(16, 16),
        metadata=None,
        photometric="minisblack",
    )


def shaped_series(path: Path) -> None:
    tifffile.imwrite(
        path, _u16((2, 3, 40, 50)), photometric="minisblack", metadata={"axes": "TZYX"}
    )


def rgb_tiles(path: Path) -> None:
    tifffile.imwrite(
        path,
        RNG.integers(0, 255, (90, 70, 3), np.uint8),
        tile=(32, 32),
        photometric="rgb",
        metadata=None,
    )


def planar_rgb(path: Path) -> None:
    data = RNG.integers(0, 255, (3, 90, 70), np.uint8)
    tifffile.imwrite(
        path, data, photometric="rgb", planarconfig="separate", rowsperstrip=20, metadata=None
    )


def jpeg_rgb(path: Path) -> None:
    y, x = np.mgrid[0:96, 0:128]
    data = np.stack([x * 2, y * 2, x + y], axis=-1).astype(np.uint8)
    tifffile.imwrite(
        path, data, tile=(32, 32), photometric="rgb", compression="jpeg", metadata=None
    )


def subifd_pyramid(path: Path) -> None:
    base = _u16((256, 192))
    with tifffile.TiffWriter(path) as tif:
        tif.write(base, subifds=2, tile=(64, 64), compression="zlib")
        tif.write(base[::2, ::2], subfiletype=1, tile=(64, 64), compression="zlib")
        tif.write(base[::4, ::4], subfiletype=1, tile=(64, 64), compression="zlib")


def page_pyramid_stack(path: Path) -> None:
    base = _u16((3, 128, 160))
    with tifffile.TiffWriter(path, ome=True) as tif:
        tif.write(base, subifds=1, tile=(32, 32), metadata={"axes": "CYX"})
        tif.write(base[:, ::2, ::2], subfiletype=1, tile=(32, 32))


def sparse_tiles(path: Path) -> None:
    tifffile.imwrite(path, _u16((64, 64)), tile=(16, 16), metadata=None)
    make_sparse(path, [0, 6, 15], counts=False)  # offsets 0, byte counts kept


FILES: dict[str, Callable[[Path], None]] = {
    f.__name__: f
    for f in (
        single_page,
        odd_strips,
        big_endian_pages,
        shaped_series,
        rgb_tiles,
        planar_rgb,
        jpeg_rgb,
        subifd_pyramid,
        page_pyramid_stack,
        sparse_tiles,
    )
}


@pytest.fixture(scope="module", params=list(FILES))
def tiff(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("store") / f"{request.param}.tif"
    FILES[request.param](path)
    return path


def _pair(path: Path, **kwargs: Any) -> tuple[Any, Any]:
    theirs = tifffile.TiffFile(path)
    ours = TiffFile(path)
    theirs_store = theirs.series[0].aszarr(**kwargs)
    ours_store = ZarrTiffStore(ours.series[0], **kwargs)
    return zarr.open(theirs_store, mode="r"), zarr.open(ours_store, mode="r")


def _arrays(node: Any) -> list[Any]:
    if isinstance(node, zarr.Array):
        return [node]
    return [node[key] for key in sorted(node.array_keys(), key=int)]


PARAMETERS = [
    {},
    {"chunkmode": 0},
    {"chunkmode": 2},
    {"chunkmode": CHUNKMODE.PAGE},
    {"chunkmode": "page"},
    {"level": 0},
    {"level": 1},
    {"multiscales": True},
    {"multiscales": False},
    {"squeeze": False},
    {"squeeze": True},
    {"fillvalue": 42},
    {"maxworkers": 1, "chunkmode": 2},
    {"buffersize": 100, "chunkmode": 2},
]


@pytest.mark.parametrize(
    "kwargs", PARAMETERS, ids=[json.dumps(p, default=str) for p in PARAMETERS]
)
def test_data_equal_tifffile(tiff: Path, kwargs: dict[str, Any]) -> None:
    with tifffile.TiffFile(tiff) as tif:
        levels = len(tif.series[0].levels)
    if kwargs.get("level", 0) >= levels:  # both refuse a level the file does not have
        with pytest.raises(IndexError):
            tifffile.TiffFile(tiff).series[0].aszarr(**kwargs)
        with TiffFile(tiff) as tif, pytest.raises(IndexError, match="level"):
            ZarrTiffStore(tif.series[0], **kwargs)
        return
    theirs, ours = _pair(tiff, **kwargs)
    theirs_arrays, ours_arrays = _arrays(theirs), _arrays(ours)
    assert len(ours_arrays) == len(theirs_arrays)
    for mine, reference in zip(ours_arrays, theirs_arrays, strict=True):
        assert mine.shape == reference.shape
        assert mine.dtype == reference.dtype
        assert mine.chunks == reference.chunks
        assert mine.fill_value == reference.fill_value
        np.testing.assert_array_equal(mine[...], reference[...])


def test_zattrs_are_merged(tiff: Path) -> None:
    with TiffFile(tiff) as tif:
        node = zarr.open(ZarrTiffStore(tif.series[0], zattrs={"source": "test", "n": 3}), mode="r")
        assert node.attrs["source"] == "test"
        assert node.attrs["n"] == 3


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_both_zarr_formats_read_the_same(tiff: Path, zarr_format: int) -> None:
    with TiffFile(tiff) as tif, tifffile.TiffFile(tiff) as reference:
        node = zarr.open(ZarrTiffStore(tif.series[0], zarr_format=zarr_format), mode="r")
        assert node.metadata.zarr_format == zarr_format
        for index, array in enumerate(_arrays(node)):
            np.testing.assert_array_equal(array[...], reference.series[0].levels[index].asarray())


def test_sparse_tiles_are_missing_chunks_filled(tmp_path: Path) -> None:
    path = tmp_path / "sparse.tif"
    sparse_tiles(path)
    with TiffFile(path) as tif:
        store = ZarrTiffStore(tif.series[0], fillvalue=9)
        array = zarr.open_array(store, mode="r")
        data = array[...]
        assert (data[:16, :16] == 9).all()
        assert (data[16:32, 32:48] == 9).all()
        assert (data[48:, 48:] == 9).all()
        assert (data[:16, 16:32] != 9).any()
        keys = [k for k in _sync_list(store) if k.startswith("c/")]
        assert len(keys) == 16 - 3
        assert "c/0/0" not in keys


def _sync_list(store: ZarrTiffStore) -> list[str]:
    import asyncio

    async def collect() -> list[str]:
        return [key async for key in store.list()]

    return asyncio.run(collect())


def test_parameters_and_layouts_combined(tmp_path: Path) -> None:
    """Chunk mode x zarr format x squeeze on a pyramid of pages, all equal to tifffile."""
    path = tmp_path / "combined.ome.tif"
    page_pyramid_stack(path)
    with tifffile.TiffFile(path) as reference:
        expected = [level.asarray() for level in reference.series[0].levels]
    for chunkmode, zarr_format, squeeze in itertools.product((0, 2), (2, 3), (None, False)):
        with TiffFile(path) as tif:
            store = ZarrTiffStore(
                tif.series[0], chunkmode=chunkmode, zarr_format=zarr_format, squeeze=squeeze
            )
            group = zarr.open_group(store, mode="r")
            for index, wanted in enumerate(expected):
                got = group[str(index)][...]
                np.testing.assert_array_equal(got.reshape(wanted.shape), wanted)
