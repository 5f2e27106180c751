"""Small TIFFs whose axes are not NGFF's order, written with tifffile, for the NGFF tests;
and the check that a group's arrays are named as its multiscales axes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import tifffile
import zarr


def _rgb(size: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 255, (size, size + 16, 3), dtype=np.uint8)


def write_rgb_pyramid(path: Path, size: int = 256) -> list[np.ndarray]:
    """A tiled RGB (YXS) pyramid of three levels in SubIFDs, JPEG-free so pixels compare
    exactly; the levels as written."""
    levels = [_rgb(size)]
    for _ in range(2):
        levels.append(levels[-1][::2, ::2].copy())
    with tifffile.TiffWriter(path) as tif:
        options = {"tile": (64, 64), "photometric": "rgb", "compression": "zlib"}
        tif.write(levels[0], subifds=len(levels) - 1, resolution=(2.0, 2.0), **options)
        for level in levels[1:]:
            tif.write(level, subfiletype=1, **options)
    return levels


def write_multichannel_ome(path: Path) -> np.ndarray:
    """An OME-TIFF of three named, coloured uint16 channels with pixel sizes in µm."""
    rng = np.random.default_rng(2)
    data = rng.integers(0, 4000, (3, 96, 80), dtype=np.uint16)
    metadata = {
        "axes": "CYX",
        "PhysicalSizeX": 0.25,
        "PhysicalSizeXUnit": "µm",
        "PhysicalSizeY": 0.5,
        "PhysicalSizeYUnit": "µm",
        "Channel": {
            "Name": ["DAPI", "GFP", "mCherry"],
            # OME's signed RGBA integers: blue, green, red, all opaque
            "Color": [0x0000FFFF, 0x00FF00FF, -0x00FFFF01],
        },
    }
    tifffile.imwrite(path, data, ome=True, tile=(32, 32), metadata=metadata)
    return data


def write_tzcyx(path: Path) -> np.ndarray:
    """An ImageJ hyperstack in ImageJ's TZCYX order, with spacing and a frame interval."""
    rng = np.random.default_rng(3)
    data = rng.integers(0, 255, (2, 3, 2, 40, 48), dtype=np.uint8)
    tifffile.imwrite(
        path,
        data,
        imagej=True,
        resolution=(4.0, 4.0),
        metadata={"axes": "TZCYX", "spacing": 1.5, "unit": "um", "finterval": 2.0},
    )
    return data


def array_dimension_names(array: zarr.Array) -> list[str]:
    """An array's dimension names: zarr 3's dimension_names, zarr 2's _ARRAY_DIMENSIONS."""
    if array.metadata.zarr_format == 3:
        return list(array.metadata.dimension_names or [])
    return list(array.attrs["_ARRAY_DIMENSIONS"])  # type: ignore[arg-type]


def check_dimension_names(group: zarr.Group, layout: str) -> list[str]:
    """Assert that every level's dimension names are the multiscales axes' names (in
    tifffile's layout a smaller level's shrunk dimensions get the level's index, as
    tifffile's store names them); return the axes' names."""
    attributes = group.attrs.asdict()
    ngff: Any = attributes["ome"] if group.metadata.zarr_format == 3 else attributes
    (multiscale,) = ngff["multiscales"]
    names = [axis["name"] for axis in multiscale["axes"]]
    assert len(set(names)) == len(names)
    base = None
    for dataset in multiscale["datasets"]:
        array = group[dataset["path"]]
        assert isinstance(array, zarr.Array)
        found = array_dimension_names(array)
        base = base or array.shape
        level = int(dataset["path"])
        expected = [
            name if layout == "ngff" or size == full else f"{name}_{level}"
            for name, size, full in zip(names, array.shape, base, strict=True)
        ]
        assert found == expected, (dataset["path"], found, names)
    return names
