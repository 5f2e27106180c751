"""The NGFF layout: the store serves valid OME-NGFF (0.5 with zarr 3, 0.4 with zarr 2) over
the TIFF's own chunk bytes, checked with the community's models (ome-zarr-models)."""

from __future__ import annotations

import asyncio
import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
import zarr
from ome_zarr_models.v04.image import Image as ImageV04
from ome_zarr_models.v05.image import Image as ImageV05
from zarr.core.buffer import default_buffer_prototype

from napari_tiffzarr import TiffFile
from napari_tiffzarr.store import ZarrTiffStore
from napari_tiffzarr.store.ngff import ngff_order, ngff_problems
from ngff_files import (
    array_dimension_names,
    write_multichannel_ome,
    write_rgb_pyramid,
    write_tzcyx,
)

pytestmark = pytest.mark.filterwarnings("ignore::zarr.errors.ZarrUserWarning")


def _validate(store: ZarrTiffStore) -> Any:
    group = zarr.open_group(store, mode="r")
    model = ImageV05 if store.zarr_format == 3 else ImageV04
    return model.from_zarr(group)


def _attributes(store: ZarrTiffStore) -> dict[str, Any]:
    if store.zarr_format == 3:
        return dict(json.loads(store.index.metadata["zarr.json"])["attributes"]["ome"])
    return dict(json.loads(store.index.metadata[".zattrs"]))


def _get(store: ZarrTiffStore, key: str) -> bytes:
    found = asyncio.run(store.get(key, default_buffer_prototype()))
    assert found is not None, key
    return found.to_bytes()


def test_rgb_pyramid_served_in_ngff_order_over_the_same_chunk_bytes(tmp_path: Path) -> None:
    path = tmp_path / "rgb.tif"
    levels = write_rgb_pyramid(path)
    with TiffFile(path) as tif:
        ngff = ZarrTiffStore(tif.series[0], layout="ngff")
        seed = ZarrTiffStore(tif.series[0])
        image = _validate(ngff)
        (multiscale,) = image.ome_attributes.multiscales
        assert [a.name for a in multiscale.axes] == ["c", "y", "x"]
        group = zarr.open_group(ngff, mode="r")
        for index, expected in enumerate(levels):
            array = group[str(index)]
            assert isinstance(array, zarr.Array)
            assert array.metadata.dimension_names == ("c", "y", "x")
            np.testing.assert_array_equal(array[:], np.moveaxis(expected, -1, 0))
        # the chunk (c, y, x) of the NGFF layout is the chunk (y, x, c) of tifffile's,
        # byte for byte: zarr's transpose codec turns it around, not the store
        for y, x in [(0, 0), (1, 2), (3, 4)]:
            assert _get(ngff, f"0/c/0/{y}/{x}") == _get(seed, f"0/c/{y}/{x}/0")
        assert seed.config.layout == "tifffile"
        assert zarr.open_group(seed, mode="r")["0"].shape == levels[0].shape


def test_tzcyx_reordered_with_scale_and_units(tmp_path: Path) -> None:
    path = tmp_path / "tzcyx.tif"
    data = write_tzcyx(path)
    with TiffFile(path) as tif:
        store = ZarrTiffStore(tif.series[0], layout="ngff")
        _validate(store)
        (multiscale,) = _attributes(store)["multiscales"]
        axes = multiscale["axes"]
        assert [a["name"] for a in axes] == ["t", "c", "z", "y", "x"]
        assert [a.get("unit") for a in axes] == [
            "second",
            None,
            "micrometer",
            "micrometer",
            "micrometer",
        ]
        (transform,) = multiscale["datasets"][0]["coordinateTransformations"]
        assert transform["scale"] == [2.0, 1.0, 1.5, 0.25, 0.25]
        array = zarr.open_group(store, mode="r")["0"]
        np.testing.assert_array_equal(array[:], data.transpose(0, 2, 1, 3, 4))
        assert isinstance(array, zarr.Array)
        assert array.metadata.dimension_names == ("t", "c", "z", "y", "x")
        # zarr 2 has no codec to reorder: the names match, the order stays ImageJ's
        twin = ZarrTiffStore(tif.series[0], layout="ngff", zarr_format=2)
        assert twin.index.ngff_problems == ngff_problems("TZCYX") != []
        with pytest.raises(ValueError, match="space axes must be at the end"):
            _validate(twin)
        np.testing.assert_array_equal(zarr.open_group(twin, mode="r")["0"][:], data)


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_channel_names_colours_and_pixel_sizes(tmp_path: Path, zarr_format: int) -> None:
    path = tmp_path / "channels.ome.tif"
    data = write_multichannel_ome(path)
    with TiffFile(path) as tif:
        store = ZarrTiffStore(tif.series[0], layout="ngff", zarr_format=zarr_format)
        _validate(store)
        attributes = _attributes(store)
        (multiscale,) = attributes["multiscales"]
        assert multiscale["datasets"][0]["coordinateTransformations"][0]["scale"] == [
            1.0,
            0.5,
            0.25,
        ]
        channels = attributes["omero"]["channels"]
        assert [c["label"] for c in channels] == ["DAPI", "GFP", "mCherry"]
        assert [c["color"] for c in channels] == ["0000FF", "00FF00", "FF0000"]
        assert all(c["window"]["end"] == 65535 for c in channels)
        group = zarr.open_group(store, mode="r")
        np.testing.assert_array_equal(group["0"][:], data)
        names_key = "dimension_names" if zarr_format == 3 else "_ARRAY_DIMENSIONS"
        document = "0/zarr.json" if zarr_format == 3 else "0/.zattrs"
        names = json.loads(store.index.metadata[document])[names_key]
        assert names == [a["name"] for a in multiscale["axes"]] == ["c", "y", "x"]


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_every_level_named_as_the_axes(tmp_path: Path, zarr_format: int) -> None:
    path = tmp_path / "gray.tif"
    data = np.arange(128 * 96, dtype=np.uint16).reshape(128, 96)
    with tifffile.TiffWriter(path) as tif:
        tif.write(data, tile=(32, 32), subifds=2)
        tif.write(data[::2, ::2], tile=(32, 32), subfiletype=1)
        tif.write(data[::4, ::4], tile=(32, 32), subfiletype=1)
    with TiffFile(path) as tif:
        store = ZarrTiffStore(tif.series[0], layout="ngff", zarr_format=zarr_format)
        image = _validate(store)
        (multiscale,) = image.ome_attributes.multiscales
        group = zarr.open_group(store, mode="r")
        for level in range(3):
            array = group[str(level)]
            assert isinstance(array, zarr.Array)
            names = tuple(array_dimension_names(array))
            assert names == ("y", "x") == tuple(a.name for a in multiscale.axes)
        # tifffile's layout: the axes are named by its letters, as level 0's dimensions;
        # a smaller level's shrunk dimensions are named apart, as tifffile's are
        seed = ZarrTiffStore(tif.series[0], zarr_format=zarr_format)
        group_key = "zarr.json" if zarr_format == 3 else ".zattrs"
        attributes = json.loads(seed.index.metadata[group_key])
        ome = attributes["attributes"]["ome"] if zarr_format == 3 else attributes
        axes = ome["multiscales"][0]["axes"]
        assert axes == [{"name": "Y", "type": "space"}, {"name": "X", "type": "space"}]
        seed_group = zarr.open_group(seed, mode="r")
        for level, expected in enumerate([("Y", "X"), ("Y_1", "X_1"), ("Y_2", "X_2")]):
            array = seed_group[str(level)]
            assert isinstance(array, zarr.Array)
            assert tuple(array_dimension_names(array)) == expected
        if zarr_format == 2:  # NGFF 0.4 says nothing of zarr 2's dimension names
            assert seed.index.ngff_problems == []
            _validate(seed)
        else:
            assert seed.index.ngff_problems == [
                "smaller levels name their shrunk dimensions apart (Y_1), as tifffile's"
                " layout does: NGFF 0.5 wants the axes' names on every level"
            ]
            with pytest.raises(ValueError, match="dimension names"):
                _validate(seed)


def test_one_level_is_a_group_in_the_ngff_layout(tmp_path: Path) -> None:
    path = tmp_path / "one.tif"
    data = np.arange(40 * 30, dtype=np.uint8).reshape(40, 30)
    tifffile.imwrite(path, data)
    with TiffFile(path) as tif:
        assert not ZarrTiffStore(tif.series[0]).is_multiscales
        store = ZarrTiffStore(tif.series[0], layout="ngff")
        assert store.is_multiscales
        _validate(store)
        alone = ZarrTiffStore(tif.series[0], layout="ngff", level=0)
        assert not alone.is_multiscales
        assert "a lone array" in alone.index.ngff_problems[0]
        assert zarr.open_array(alone, mode="r").metadata.dimension_names == ("y", "x")


def test_layout_pickles_and_shows(tmp_path: Path) -> None:
    path = tmp_path / "rgb.tif"
    write_rgb_pyramid(path)
    with TiffFile(path) as tif:
        store = ZarrTiffStore(tif.series[0], layout="ngff")
        copy = pickle.loads(pickle.dumps(store))
        assert copy.config.layout == "ngff"
        assert copy == store
        assert "layout='ngff'" in repr(store)
        assert zarr.open_group(copy, mode="r")["0"].shape == (3, 256, 272)
        assert store.with_layout("tifffile").index.axes == "YXS"
        with pytest.raises(ValueError, match="layout"):
            ZarrTiffStore(tif.series[0], layout="xyz")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("axes", "valid"),
    [
        ("YX", True),
        ("CYX", True),
        ("IYX", True),
        ("TCZYX", True),
        ("YXS", False),
        ("TZCYX", False),
        ("IQYX", False),
        ("TZCYXS", False),
        ("CSYX", True),  # interleaved samples beside channels: a custom axis 's'
        ("ICSYX", False),
    ],
)
def test_problems_agree_with_the_validator(axes: str, valid: bool) -> None:
    """ngff_problems, which the store reports, says what ome-zarr-models says."""
    from ome_zarr_models.v05.multiscales import Multiscale

    from napari_tiffzarr.store.ngff import ngff_axes

    described = [{"name": a.name, **({"type": a.type} if a.type else {})} for a in ngff_axes(axes)]
    scale = {"type": "scale", "scale": [1.0] * len(axes)}
    document = {
        "axes": described,
        "datasets": [{"path": "0", "coordinateTransformations": [scale]}],
    }
    try:
        Multiscale.model_validate(document)
        validated = True
    except ValueError:
        validated = False
    assert validated == valid
    assert (not ngff_problems(axes)) == valid
    # served in NGFF's order, only what no order mends remains
    ordered = "".join(axes[i] for i in ngff_order(axes))
    assert not [p for p in ngff_problems(ordered) if p.startswith("axis order")]


def test_writes_through_the_ngff_layout_land_in_the_tiff(tmp_path: Path) -> None:
    """zarr's transpose codec hands the store the chunk in the TIFF's own order."""
    path = tmp_path / "rgb.tif"
    data = np.zeros((64, 64, 3), np.uint8)
    tifffile.imwrite(path, data, tile=(32, 32), photometric="rgb")
    with TiffFile(path, mode="r+") as tif:
        array = zarr.open_group(ZarrTiffStore(tif.series[0], layout="ngff"), mode="r+")["0"]
        assert isinstance(array, zarr.Array)
        array[1, :32, 32:] = 7
        array[2, 32:, :32] = 9
    data[:32, 32:, 1] = 7
    data[32:, :32, 2] = 9
    np.testing.assert_array_equal(tifffile.imread(path), data)
