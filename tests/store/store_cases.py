"""Cases for the store tests: small TIFFs written with tifffile into tmp_path.

Every case is a function ``(path, byteorder, compression) -> target`` that writes a file
and says which part of it the store serves: ``("series", i)`` or ``("page", i)``.  Pixel
content is non-trivial (random with structure) so that a misplaced chunk shows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
import zarr

from napari_tiffzarr import TiffFile
from napari_tiffzarr.store import ZarrTiffStore
from sparse_segments import make_sparse

Target = tuple[str, int]
Case = Callable[[Path, str, str], Target]

# tifffile's names for the compressions of the matrix
COMPRESSIONS = ["none", "zlib", "lzw", "jpeg"]
BYTEORDERS = ["<", ">"]


def pixels(shape: tuple[int, ...], dtype: Any, seed: int = 0) -> np.ndarray:
    """Smooth gradient plus noise: compressible, yet every pixel differs from its chunk's."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    grid = np.indices(shape).sum(axis=0).astype(np.float64)
    top = 250 if dtype.itemsize == 1 else 60000
    values = (grid * 7 + rng.integers(0, 40, shape)) % top + 1  # never 0: fill must show
    return values.astype(dtype)


def _kw(compression: str) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    if compression == "jpeg":
        kw.update(compression="jpeg", compressionargs={"level": 95})
    elif compression != "none":
        kw["compression"] = compression
    return kw


def _dtype(compression: str) -> str:
    return "u1" if compression == "jpeg" else "u2"


def single_tiled(path: Path, byteorder: str, compression: str) -> Target:
    data = pixels((100, 70), _dtype(compression))
    tifffile.imwrite(
        path, data, tile=(32, 32), metadata=None, byteorder=byteorder, **_kw(compression)
    )
    return ("page", 0)


def single_strips(path: Path, byteorder: str, compression: str) -> Target:
    # 50 rows in strips of 7: the last strip holds one row only
    data = pixels((50, 61), _dtype(compression))
    tifffile.imwrite(
        path, data, rowsperstrip=7, metadata=None, byteorder=byteorder, **_kw(compression)
    )
    return ("series", 0)


def generic_pages(path: Path, byteorder: str, compression: str) -> Target:
    # 9 pages written one by one without metadata: a generic (uniform) series
    data = pixels((9, 40, 48), _dtype(compression), seed=1)
    with tifffile.TiffWriter(path, byteorder=byteorder) as tif:
        for plane in data:
            tif.write(plane, tile=(16, 16), metadata=None, **_kw(compression))
    return ("series", 0)


def shaped_pages(path: Path, byteorder: str, compression: str) -> Target:
    # a 2 x 5 stack with tifffile's shaped metadata, stripped, strips not dividing the height
    data = pixels((2, 5, 30, 41), _dtype(compression), seed=2)
    tifffile.imwrite(
        path,
        data,
        rowsperstrip=8,
        photometric="minisblack",
        byteorder=byteorder,
        **_kw(compression),
    )
    return ("series", 0)


def shaped_unit(path: Path, byteorder: str, compression: str) -> Target:
    # a length-1 dimension inside the shape: what squeeze removes
    data = pixels((5, 1, 24, 40), _dtype(compression), seed=8)
    tifffile.imwrite(
        path,
        data,
        tile=(16, 16),
        photometric="minisblack",
        byteorder=byteorder,
        **_kw(compression),
    )
    return ("series", 0)


def subifd_pyramid(path: Path, byteorder: str, compression: str) -> Target:
    data = pixels((2, 96, 80), _dtype(compression), seed=3)
    with tifffile.TiffWriter(path, byteorder=byteorder) as tif:
        kw = _kw(compression)
        tif.write(data, tile=(32, 32), subifds=2, photometric="minisblack", **kw)
        tif.write(data[:, ::2, ::2], tile=(32, 32), subfiletype=1, photometric="minisblack", **kw)
        tif.write(data[:, ::4, ::4], tile=(16, 16), subfiletype=1, photometric="minisblack", **kw)
    return ("series", 0)


def reduced_pyramid(path: Path, byteorder: str, compression: str) -> Target:
    data = pixels((90, 70), _dtype(compression), seed=4)
    with tifffile.TiffWriter(path, byteorder=byteorder) as tif:
        kw = _kw(compression)
        tif.write(data, tile=(16, 16), **kw)
        tif.write(data[::2, ::2], tile=(16, 16), subfiletype=1, **kw)
        tif.write(data[::4, ::4], tile=(16, 16), subfiletype=1, **kw)
    return ("series", 0)


def rgb_contig(path: Path, byteorder: str, compression: str) -> Target:
    data = pixels((45, 66, 3), "u1", seed=5)
    tifffile.imwrite(
        path, data, tile=(16, 32), photometric="rgb", byteorder=byteorder, **_kw(compression)
    )
    return ("series", 0)


def planar_separate(path: Path, byteorder: str, compression: str) -> Target:
    data = pixels((3, 45, 66), _dtype(compression), seed=6)
    tifffile.imwrite(
        path,
        data,
        rowsperstrip=10,
        photometric="rgb",
        planarconfig="separate",
        byteorder=byteorder,
        **_kw(compression),
    )
    return ("series", 0)


def sparse_tiles(path: Path, byteorder: str, compression: str) -> Target:
    data = pixels((80, 100), _dtype(compression), seed=7)
    tifffile.imwrite(
        path, data, tile=(16, 32), metadata=None, byteorder=byteorder, **_kw(compression)
    )
    make_sparse(path, [0, 5, 11])
    return ("page", 0)


CASES: dict[str, Case] = {
    "single_tiled": single_tiled,
    "single_strips": single_strips,
    "generic_pages": generic_pages,
    "shaped_pages": shaped_pages,
    "shaped_unit": shaped_unit,
    "subifd_pyramid": subifd_pyramid,
    "reduced_pyramid": reduced_pyramid,
    "rgb_contig": rgb_contig,
    "planar_separate": planar_separate,
    "sparse_tiles": sparse_tiles,
}


def write_case(
    directory: Path, name: str, byteorder: str = "<", compression: str = "none"
) -> tuple[Path, Target]:
    path = directory / f"{name}_{'le' if byteorder == '<' else 'be'}_{compression}.tif"
    return path, CASES[name](path, byteorder, compression)


@contextmanager
def both_stores(path: Path, target: Target, **kwargs: Any) -> Iterator[tuple[ZarrTiffStore, Any]]:
    """Our store and tifffile's over the same part of the same file, with the same kwargs."""
    ours_kw = dict(kwargs)
    theirs_kw = {k: v for k, v in kwargs.items() if k != "zarr_format"}
    kind, index = target
    with TiffFile(path) as ours_file, tifffile.TiffFile(path) as their_file:
        if kind == "page":
            ours = ours_file.pages[index].aszarr(**ours_kw)
            theirs = their_file.pages[index].aszarr(**theirs_kw)
        else:
            ours = ours_file.series[index].aszarr(**ours_kw)
            theirs = their_file.series[index].aszarr(**theirs_kw)
        try:
            yield ours, theirs
        finally:
            ours.close()
            theirs.close()


def arrays(node: Any) -> dict[str, Any]:
    """The arrays of a zarr node by path: '' for an array, '0', '1', ... for a group."""
    if isinstance(node, zarr.Array):
        return {"": node}
    return {name: node[name] for name in sorted(node.array_keys(), key=int)}
