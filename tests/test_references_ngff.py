"""References exported in the NGFF layout open through the NGFF tools: ome-zarr-py's reader
and napari-ome-zarr, pixels equal to our store's and tifffile's, chunks pointing at the very
byte ranges that tifffile's layout points at."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pytest
import tifffile
import zarr
from ome_zarr.format import FormatV04, FormatV05
from ome_zarr.io import parse_url
from ome_zarr.reader import Reader
from ome_zarr_models.v05.image import Image as ImageV05

from napari_tiffzarr import TiffFile
from napari_tiffzarr.references import write_sequence
from napari_tiffzarr.store import ZarrTiffStore
from ngff_files import (
    check_dimension_names,
    write_multichannel_ome,
    write_rgb_pyramid,
    write_tzcyx,
)

pytestmark = pytest.mark.filterwarnings("ignore::zarr.errors.ZarrUserWarning")

# name -> (writer, its axes in NGFF order as positions of tifffile's)
FILES: dict[str, tuple[Callable[[Path], Any], tuple[int, ...]]] = {
    "rgb.tif": (write_rgb_pyramid, (2, 0, 1)),
    "channels.ome.tif": (write_multichannel_ome, (0, 1, 2)),
    "tzcyx.tif": (write_tzcyx, (0, 2, 1, 3, 4)),
}


def _store(refs: Path) -> zarr.storage.FsspecStore:
    fs = fsspec.filesystem("reference", fo=str(refs), remote_protocol="file", asynchronous=True)
    return zarr.storage.FsspecStore(fs, read_only=True, path="")


def _export(tmp_path: Path, name: str, zarr_format: int, layout: str = "ngff") -> Path:
    out = tmp_path / f"{name}.{layout}.{zarr_format}.json"
    with TiffFile(tmp_path / name) as tif:
        ZarrTiffStore(tif.series[0]).write_fsspec(
            out,
            tmp_path.as_uri(),
            layout=layout,  # type: ignore[typeddict-item]
            zarr_format=zarr_format,  # type: ignore[typeddict-item]
        )
    return out


def _theirs(path: Path) -> list[np.ndarray]:
    with tifffile.TiffFile(path) as tif:
        return [level.asarray() for level in tif.series[0].levels]


@pytest.mark.parametrize("name", list(FILES))
def test_ome_zarr_reads_the_ngff_references(tmp_path: Path, name: str) -> None:
    writer, order = FILES[name]
    writer(tmp_path / name)
    refs = _export(tmp_path, name, 3)
    location = parse_url(_store(refs), fmt=FormatV05())
    assert location is not None
    (node, *_) = list(Reader(location)())
    theirs = _theirs(tmp_path / name)
    with TiffFile(tmp_path / name) as tif:
        ours = zarr.open_group(ZarrTiffStore(tif.series[0], layout="ngff"), mode="r")
        assert len(node.data) == len(theirs)
        for index, (data, expected) in enumerate(zip(node.data, theirs, strict=True)):
            pixels = np.asarray(data)
            np.testing.assert_array_equal(pixels, expected.transpose(order))
            np.testing.assert_array_equal(pixels, ours[str(index)][:])
    axes = [axis["name"] for axis in node.metadata["axes"]]
    assert axes == ["tczyx"[i] for i in range(5) if "tczyx"[i] in axes]  # NGFF's order


def test_ome_zarr_reads_channel_names_colours_and_units(tmp_path: Path) -> None:
    write_multichannel_ome(tmp_path / "channels.ome.tif")
    for zarr_format, fmt in ((3, FormatV05()), (2, FormatV04())):
        refs = _export(tmp_path, "channels.ome.tif", zarr_format)
        location = parse_url(_store(refs), fmt=fmt)
        assert location is not None
        (node, *_) = list(Reader(location)())
        assert node.metadata["channel_names"] == ["DAPI", "GFP", "mCherry"]
        assert [c[1] for c in node.metadata["colormap"]] == [[0, 0, 1], [0, 1, 0], [1, 0, 0]]
        assert [a.get("unit") for a in node.metadata["axes"]] == [
            None,
            "micrometer",
            "micrometer",
        ]
        scale = node.metadata["coordinateTransformations"][0][0]["scale"]
        assert scale == [1.0, 0.5, 0.25]


@pytest.mark.parametrize("name", ["rgb.tif", "tzcyx.tif"])
def test_zarr_2_references_out_of_ngff_order_are_refused_by_ome_zarr(
    tmp_path: Path, name: str
) -> None:
    """What the store reports as not valid in zarr 2, the NGFF reader refuses too."""
    writer, _ = FILES[name]
    writer(tmp_path / name)
    with TiffFile(tmp_path / name) as tif:
        problems = ZarrTiffStore(tif.series[0], layout="ngff", zarr_format=2).index.ngff_problems
    assert problems
    assert problems[0].startswith("axis order")
    location = parse_url(_store(_export(tmp_path, name, 2)), fmt=FormatV04())
    assert location is not None
    with pytest.raises(ValueError, match="'space' axes must come after"):
        list(Reader(location)())


@pytest.mark.parametrize("name", list(FILES))
def test_ngff_references_point_at_the_same_byte_ranges(tmp_path: Path, name: str) -> None:
    writer, order = FILES[name]
    writer(tmp_path / name)
    ngff = json.loads(_export(tmp_path, name, 3).read_text())
    seed = json.loads(_export(tmp_path, name, 3, "tifffile").read_text())
    chunks = 0
    for key, value in seed.items():
        if not isinstance(value, list):
            continue
        # tifffile's layout serves one level alone, NGFF's always as a group
        prefix, coords = key.split("c/", 1)
        served = [coords.split("/")[i] for i in order]
        assert ngff[(prefix or "0/") + "c/" + "/".join(served)] == value
        chunks += 1
    assert chunks == sum(isinstance(v, list) for v in ngff.values()) > 0


def test_a_sequence_of_rgb_files_joins_as_valid_ngff(tmp_path: Path) -> None:
    levels = [write_rgb_pyramid(tmp_path / f"rgb{i}.tif") for i in range(2)]
    out = tmp_path / "sequence.json"
    tifs = [TiffFile(tmp_path / f"rgb{i}.tif") for i in range(2)]
    try:
        stores = [ZarrTiffStore(tif.series[0]) for tif in tifs]
        write_sequence(out, stores, tmp_path.as_uri(), layout="ngff", zarr_format=3)
    finally:
        for tif in tifs:
            tif.close()
    group = zarr.open_group(_store(out), mode="r")
    image = ImageV05.from_zarr(group)
    (multiscale,) = image.ome_attributes.multiscales
    assert [a.name for a in multiscale.axes] == ["i", "c", "y", "x"]
    array = group["1"]
    assert isinstance(array, zarr.Array)
    assert array.metadata.dimension_names == ("i", "c", "y", "x")
    expected = np.stack([np.moveaxis(file_levels[1], -1, 0) for file_levels in levels])
    np.testing.assert_array_equal(array[:], expected)


@pytest.mark.parametrize("sequence", [False, True])
@pytest.mark.parametrize("zarr_format", [2, 3])
@pytest.mark.parametrize("layout", ["tifffile", "ngff"])
@pytest.mark.parametrize("name", list(FILES))
def test_references_name_arrays_as_the_axes(
    tmp_path: Path, name: str, layout: str, zarr_format: int, sequence: bool
) -> None:
    """In both layouts and formats, alone or joined as a sequence, every array's dimension
    names in the references are the multiscales axes' names, and the store's own."""
    writer, _ = FILES[name]
    writer(tmp_path / name)
    out = tmp_path / "refs.json"
    with TiffFile(tmp_path / name) as tif, TiffFile(tmp_path / name) as again:
        options: Any = {"layout": layout, "zarr_format": zarr_format}
        stores = [ZarrTiffStore(t.series[0], multiscales=True) for t in (tif, again)]
        if sequence:
            write_sequence(out, stores, tmp_path.as_uri(), **options)
        else:
            stores[0].write_fsspec(out, tmp_path.as_uri(), **options)
        served = ZarrTiffStore(tif.series[0], multiscales=True, **options)
        served_names = check_dimension_names(zarr.open_group(served, mode="r"), layout)
    names = check_dimension_names(zarr.open_group(_store(out), mode="r"), layout)
    lead = {"tifffile": ["I"], "ngff": ["i"]}[layout] if sequence else []
    assert names == lead + served_names
    with tifffile.TiffFile(tmp_path / name) as tif:
        axes = tif.series[0].axes
    if layout == "tifffile":  # tifffile's letters, in its order
        assert "".join(n[0] for n in names) == "I" * sequence + axes
    else:  # NGFF's names of the same axes, in NGFF's order
        assert sorted(n[0] for n in names) == sorted(
            ("i" * sequence + axes.lower()).replace("s", "c")
        )
