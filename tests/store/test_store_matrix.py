"""Our store against tifffile's ``aszarr`` on a generated matrix: same arrays, same pixels.

tifffile serves zarr format 2 only; the data of every level is comparable whatever our
format, and so are shape, dtype, chunks and fill value.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
import zarr
from store_cases import BYTEORDERS, CASES, COMPRESSIONS, Target, arrays, both_stores

from napari_tiffzarr.store import CHUNKMODE

MakeCase = Callable[..., tuple[Path, Target]]

# JPEG needs 8-bit, unpacked, contiguous samples in tifffile's writer for these layouts
JPEG_CASES = {"single_tiled", "generic_pages", "reduced_pyramid", "rgb_contig", "sparse_tiles"}


def compare(ours_store: Any, theirs_store: Any, *, chunks: bool = True) -> dict[str, Any]:
    """Assert both stores hold the same arrays; return ours by path."""
    ours = arrays(zarr.open(ours_store, mode="r"))
    theirs = arrays(zarr.open(theirs_store, mode="r"))
    assert list(ours) == list(theirs)
    for name, theirs_array in theirs.items():
        ours_array = ours[name]
        assert ours_array.shape == theirs_array.shape, name
        assert ours_array.dtype == theirs_array.dtype, name
        if chunks:
            assert ours_array.chunks == theirs_array.chunks, name
        assert ours_array.fill_value == theirs_array.fill_value, name
        expected = theirs_array[...]
        np.testing.assert_array_equal(ours_array[...], expected, err_msg=name)
    return ours


MATRIX = [
    (name, byteorder, compression)
    for name in CASES
    for byteorder in BYTEORDERS
    for compression in COMPRESSIONS
    if compression != "jpeg" or name in JPEG_CASES
]


@pytest.mark.parametrize(("name", "byteorder", "compression"), MATRIX)
def test_default_parameters(
    case_file: MakeCase, name: str, byteorder: str, compression: str
) -> None:
    path, target = case_file(name, byteorder, compression)
    with both_stores(path, target) as (ours, theirs):
        compare(ours, theirs)


def _levels(path: Path, target: Target) -> int:
    with tifffile.TiffFile(path) as tif:
        kind, index = target
        return 1 if kind == "page" else len(tif.series[index].levels)


@pytest.mark.parametrize("name", ["subifd_pyramid", "reduced_pyramid", "single_tiled"])
@pytest.mark.parametrize("byteorder", BYTEORDERS)
def test_level(case_file: MakeCase, name: str, byteorder: str) -> None:
    path, target = case_file(name, byteorder, "zlib")
    count = _levels(path, target)
    assert count == (1 if name == "single_tiled" else 3)
    for level in range(count):
        with both_stores(path, target, level=level) as (ours, theirs):
            result = compare(ours, theirs)
            assert list(result) == [""]  # one level: an array, not a group


def test_level_out_of_range(case_file: MakeCase) -> None:
    path, target = case_file("subifd_pyramid")
    with pytest.raises(IndexError), both_stores(path, target, level=3):
        pass


@pytest.mark.parametrize(
    "chunkmode", [0, 2, CHUNKMODE.PAGE, CHUNKMODE.NONE, "page", "PAGE", "strile"]
)
@pytest.mark.parametrize(
    "name", ["single_tiled", "shaped_pages", "subifd_pyramid", "planar_separate", "rgb_contig"]
)
def test_chunkmode(case_file: MakeCase, name: str, chunkmode: Any) -> None:
    path, target = case_file(name, ">", "lzw")
    theirs_mode = (
        tifffile.CHUNKMODE(int(chunkmode))
        if not isinstance(chunkmode, str)
        else tifffile.CHUNKMODE[chunkmode.upper()]
    )
    # tifffile gets its own enum; ours takes whatever form was given
    with both_stores(path, target, chunkmode=chunkmode) as (ours, _):
        theirs = _their_store(path, target, chunkmode=theirs_mode)
        result = compare(ours, theirs)
    if int(theirs_mode) == 2:
        # one chunk per page: the chunk holds the page's whole image
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            for array in result.values():
                assert np.prod(array.chunks) in (page.size, page.size // 4, page.size // 16)


def _their_store(path: Path, target: Target, **kwargs: Any) -> Any:
    """tifffile's store over target, its file left open for the test's duration."""
    tif = tifffile.TiffFile(path)
    kind, index = target
    return (tif.pages[index] if kind == "page" else tif.series[index]).aszarr(**kwargs)


def test_chunkmode_refuses_unsupported(case_file: MakeCase) -> None:
    path, target = case_file("single_tiled")
    for mode in (1, 3, "file", "nonsense", 9):
        with (
            pytest.raises(ValueError, match="chunkmode"),
            both_stores(path, target, chunkmode=mode),
        ):
            pass


@pytest.mark.parametrize("fillvalue", [None, 0, 7, 65535])
@pytest.mark.parametrize("compression", ["none", "zlib"])
def test_fillvalue_on_sparse_tiles(
    case_file: MakeCase, fillvalue: int | None, compression: str
) -> None:
    path, target = case_file("sparse_tiles", "<", compression)
    with both_stores(path, target, fillvalue=fillvalue) as (ours, theirs):
        data = compare(ours, theirs)[""][...]
    # tiles 0, 5 and 11 of a 80 x 100 image in 16 x 32 tiles (4 across) are sparse
    fill = fillvalue or 0
    assert (data[0:16, 0:32] == fill).all()
    assert (data[16:32, 32:64] == fill).all()
    assert (data[32:48, 96:100] == fill).all()
    assert (data[16:32, 0:32] != fill).all()  # pixels are never 0, 7 or 65535


@pytest.mark.parametrize("fillvalue", [None, 7])
def test_fillvalue_on_sparse_tiles_whole_pages(case_file: MakeCase, fillvalue: int | None) -> None:
    """A listed difference: with chunkmode 2, tifffile fills sparse tiles with the file's
    nodata and ignores fillvalue, so one file reads differently by chunkmode; ours reads
    as with chunkmode 0, where tifffile uses fillvalue."""
    path, target = case_file("sparse_tiles", ">", "zlib")
    with both_stores(path, target, fillvalue=fillvalue) as (_, theirs_tiles):
        expected = zarr.open_array(theirs_tiles, mode="r")[...]
    with both_stores(path, target, fillvalue=fillvalue, chunkmode=2) as (ours, theirs):
        array = zarr.open_array(ours, mode="r")
        assert array.chunks == zarr.open_array(theirs, mode="r").chunks == (80, 100)
        np.testing.assert_array_equal(array[...], expected)
        their_pages = zarr.open_array(theirs, mode="r")[...]
    sparse = np.zeros(expected.shape, bool)
    sparse[0:16, 0:32] = sparse[16:32, 32:64] = sparse[32:48, 96:100] = True
    np.testing.assert_array_equal(their_pages[~sparse], expected[~sparse])
    assert (their_pages[sparse] == 0).all()


def test_zattrs_merged(case_file: MakeCase) -> None:
    path, target = case_file("subifd_pyramid")
    zattrs = {"origin": "test", "nested": {"a": [1, 2]}}
    for multiscales in (True, False):
        with both_stores(path, target, zattrs=zattrs, multiscales=multiscales) as (ours, theirs):
            node = zarr.open(ours, mode="r")
            their_node = zarr.open(theirs, mode="r")
            for key, value in zattrs.items():
                assert node.attrs[key] == value
                assert their_node.attrs[key] == value
            if multiscales:
                assert "ome" in node.attrs  # merged, not replaced


@pytest.mark.parametrize("multiscales", [True, False, None])
@pytest.mark.parametrize("name", ["subifd_pyramid", "reduced_pyramid", "single_tiled"])
def test_multiscales(case_file: MakeCase, name: str, multiscales: bool | None) -> None:
    path, target = case_file(name, "<", "zlib")
    levels = _levels(path, target)
    with both_stores(path, target, multiscales=multiscales) as (ours, theirs):
        result = compare(ours, theirs)
    group = multiscales or (multiscales is None and levels > 1)
    assert list(result) == ([str(i) for i in range(levels)] if group else [""])


@pytest.mark.parametrize("squeeze", [True, False, None])
@pytest.mark.parametrize(
    "name", ["single_tiled", "shaped_pages", "shaped_unit", "generic_pages", "rgb_contig"]
)
def test_squeeze(case_file: MakeCase, name: str, squeeze: bool | None) -> None:
    path, target = case_file(name)
    with both_stores(path, target, squeeze=squeeze) as (ours, theirs):
        result = compare(ours, theirs)
    with tifffile.TiffFile(path) as tif:
        kind, index = target
        if kind == "series":
            item = tif.series[index]
            expected = item.shape if squeeze is None else item.get_shape(squeeze)
            assert result[""].shape == expected
    if name == "shaped_unit":
        # tifffile keeps the shape of its own metadata unless squeeze is asked for
        assert result[""].shape == ((5, 24, 40) if squeeze else (5, 1, 24, 40))


@pytest.mark.parametrize("maxworkers", [None, 1, 3])
@pytest.mark.parametrize("buffersize", [None, 64, 10**9])
@pytest.mark.parametrize("name", ["single_strips", "planar_separate", "sparse_tiles"])
def test_maxworkers_buffersize(
    case_file: MakeCase, name: str, maxworkers: int | None, buffersize: int | None
) -> None:
    path, target = case_file(name, ">", "zlib")
    kwargs = {"maxworkers": maxworkers, "buffersize": buffersize, "chunkmode": 2}
    with both_stores(path, target, **kwargs) as (ours, theirs):
        compare(ours, theirs)


def _documents(store: Any) -> dict[str, Any]:
    import asyncio

    async def collect() -> dict[str, Any]:
        keys = [key async for key in store.list()]
        out = {}
        for key in keys:
            if key.rsplit("/", 1)[-1] in ("zarr.json", ".zarray", ".zattrs", ".zgroup"):
                buffer = await store.get(key)
                out[key] = json.loads(buffer.to_bytes())
        return out

    return asyncio.run(collect())


def test_zarr_format_2_documents(case_file: MakeCase) -> None:
    path, target = case_file("subifd_pyramid", ">", "zlib")
    with both_stores(path, target, zarr_format=2) as (ours, theirs):
        documents = _documents(ours)
        assert set(documents) == {
            ".zgroup",
            ".zattrs",
            *(f"{i}/{name}" for i in range(3) for name in (".zarray", ".zattrs")),
        }
        assert documents[".zgroup"] == {"zarr_format": 2}
        (multiscale,) = documents[".zattrs"]["multiscales"]
        assert multiscale["version"] == "0.4"
        assert [d["path"] for d in multiscale["datasets"]] == ["0", "1", "2"]
        scales = [d["coordinateTransformations"][0]["scale"] for d in multiscale["datasets"]]
        assert scales == [[1.0, 1.0, 1.0], [1.0, 2.0, 2.0], [1.0, 4.0, 4.0]]
        # the axes are named as the full-resolution array's dimensions
        names = [a["name"] for a in multiscale["axes"]]
        assert names == documents["0/.zattrs"]["_ARRAY_DIMENSIONS"]
        assert names[-2:] == ["Y", "X"]
        for level in range(3):
            zarray = documents[f"{level}/.zarray"]
            assert zarray["zarr_format"] == 2
            assert zarray["compressor"] is None
            names = documents[f"{level}/.zattrs"]["_ARRAY_DIMENSIONS"]
            assert len(names) == len(zarray["shape"])
            assert names[-2][0] == "Y"
            assert names[-1][0] == "X"
        group = zarr.open_group(ours, mode="r", zarr_format=2)
        assert group.metadata.zarr_format == 2
        compare(ours, theirs)


def test_zarr_format_3_documents(case_file: MakeCase) -> None:
    path, target = case_file("subifd_pyramid", "<", "none")
    with both_stores(path, target, zarr_format=3) as (ours, theirs):
        documents = _documents(ours)
        assert set(documents) == {"zarr.json", *(f"{i}/zarr.json" for i in range(3))}
        group = documents["zarr.json"]
        assert group["node_type"] == "group"
        assert group["zarr_format"] == 3
        ome = group["attributes"]["ome"]
        assert ome["version"] == "0.5"
        (multiscale,) = ome["multiscales"]
        assert "version" not in multiscale  # 0.5 keeps it on the ome object
        assert len(multiscale["datasets"]) == 3
        for level in range(3):
            array = documents[f"{level}/zarr.json"]
            assert array["node_type"] == "array"
            assert array["dimension_names"][-2:][0].startswith("Y")
            assert array["codecs"][0]["name"] == "bytes"
        assert zarr.open_group(ours, mode="r").metadata.zarr_format == 3
        compare(ours, theirs)


@pytest.mark.parametrize("zarr_format", [2, 3])
@pytest.mark.parametrize("name", list(CASES))
def test_zarr_formats_same_data(case_file: MakeCase, name: str, zarr_format: int) -> None:
    path, target = case_file(name, ">", "zlib")
    with both_stores(path, target, zarr_format=zarr_format) as (ours, theirs):
        node = zarr.open(ours, mode="r")
        assert node.metadata.zarr_format == zarr_format
        compare(ours, theirs)


def test_zarr_format_invalid(case_file: MakeCase) -> None:
    path, target = case_file("single_tiled")
    with pytest.raises(ValueError, match="zarr_format"), both_stores(path, target, zarr_format=4):
        pass
