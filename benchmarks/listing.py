"""Listing a store against tifffile's ZarrTiffStore, in one run, the readers taking turns.

    python benchmarks/listing.py [--repeat 7]

zarr and every tool above it list groups and arrays before reading anything, so a listing
must cost what the metadata costs, not what the pages cost.  Cases:

- ``list_dir("")`` of a 5,000-page LZW stack (target: 20 ms or less);
- ``zarr.open_group(store).array_keys()`` on a 16384 x 16384 pyramid (50 ms or less) and
  on a 100,000 x 100,000 pyramid (no slower than the 16384 one: independent of the
  number of chunks); both have seven levels, 256 x 256 tiles.

Each repetition opens the file and finds its series untimed (finding series is measured
by run.py), then times making the store and listing it, so that no page parsed by an
earlier repetition is cached.  The data are written with tifffile into a temporary folder:
the pyramids' tiles are zeros, written pre-compressed, so the 100,000 x 100,000 one takes
seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

TILE = 256
LEVELS = 7  # 16384 down to 256, one tile


def write_stack(path: Path) -> None:
    import tifffile

    data = np.random.default_rng(1).integers(0, 255, (5000, 64, 64), np.uint8)
    tifffile.imwrite(path, data, compression="lzw", metadata=None)


def write_pyramid(path: Path, size: int, levels: int = LEVELS) -> None:
    """A SubIFD pyramid of zero tiles, each tile compressed once, halving levels - 1 times
    (both pyramids get as many levels: zarr's own work grows with the arrays listed)."""
    import tifffile

    tile = zlib.compress(bytes(TILE * TILE))

    def tiles(shape: tuple[int, int]) -> Iterator[bytes]:
        count = -(-shape[0] // TILE) * -(-shape[1] // TILE)
        return (tile for _ in range(count))

    shapes = [(size, size)]
    while len(shapes) < levels:
        shapes.append((-(-shapes[-1][0] // 2), -(-shapes[-1][1] // 2)))
    options: dict[str, Any] = {
        "dtype": "uint8",
        "tile": (TILE, TILE),
        "compression": "zlib",
        "metadata": None,
    }
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        tif.write(tiles(shapes[0]), shape=shapes[0], subifds=len(shapes) - 1, **options)
        for shape in shapes[1:]:
            tif.write(tiles(shape), shape=shape, subfiletype=1, **options)


# -- what is timed: making the store over a found series, and listing it ------------------
def _ours(path: Path, zarr_format: int = 3) -> tuple[Any, Any]:
    from napari_tiffzarr import TiffFile
    from napari_tiffzarr.store import ZarrTiffStore

    tif = TiffFile(path)
    series = tif.series[0]
    return tif, lambda: ZarrTiffStore(series, zarr_format=zarr_format)


def _ours_v2(path: Path) -> tuple[Any, Any]:
    return _ours(path, 2)


def _theirs(path: Path) -> tuple[Any, Any]:
    import tifffile

    tif = tifffile.TiffFile(path)
    series = tif.series[0]
    return tif, series.aszarr  # zarr format 2, the only one tifffile's store serves


def list_dir_root(make_store: Callable[[], Any]) -> list[str]:
    async def collect() -> list[str]:
        return [key async for key in make_store().list_dir("")]

    return asyncio.run(collect())


def array_keys(make_store: Callable[[], Any]) -> list[str]:
    import zarr

    return sorted(zarr.open_group(make_store(), mode="r").array_keys())


def timed(
    path: Path, opener: Callable[[Path], tuple[Any, Any]], work: Callable[..., list[str]]
) -> tuple[float, list[str]]:
    tif, make_store = opener(path)
    try:
        start = time.perf_counter()
        result = work(make_store)
        return time.perf_counter() - start, result
    finally:
        tif.close()


def compare(
    path: Path, work: Callable[..., list[str]], repeat: int, ours: Any = _ours
) -> tuple[float, float, list[str], list[str]]:
    """Median seconds (ours, tifffile's), alternating, after one warm-up each, and the
    two results."""
    mine: list[float] = []
    theirs: list[float] = []
    _, our_result = timed(path, ours, work)
    _, their_result = timed(path, _theirs, work)
    for _ in range(repeat):
        mine.append(timed(path, ours, work)[0])
        theirs.append(timed(path, _theirs, work)[0])
    return statistics.median(mine), statistics.median(theirs), our_result, their_result


def _shown(keys: list[str]) -> str:
    keys = sorted(keys)
    return str(keys) if len(keys) <= 8 else f"{len(keys)} names: {keys[:3]} ..."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tiffzarr-listing-") as folder:
        base = Path(folder)
        files = {
            "stack": base / "stack-lzw-5000.tif",
            "16384": base / "pyramid-16384.tif",
            "100000": base / "pyramid-100000.tif",
        }
        start = time.perf_counter()
        write_stack(files["stack"])
        write_pyramid(files["16384"], 16384)
        write_pyramid(files["100000"], 100_000)
        print(f"data written in {time.perf_counter() - start:.1f} s")
        rows = []
        stack = compare(files["stack"], list_dir_root, args.repeat)
        rows.append(('list_dir("") of a 5,000-page LZW stack', stack, "<= 20 ms"))
        stack2 = compare(files["stack"], list_dir_root, args.repeat, _ours_v2)
        rows.append(("same, ours in zarr format 2 (chunk keys listed)", stack2, ""))
        small = compare(files["16384"], array_keys, args.repeat)
        rows.append(("array_keys() of a 16384 x 16384 pyramid", small, "<= 50 ms"))
        large = compare(files["100000"], array_keys, args.repeat)
        rows.append(("array_keys() of a 100,000 x 100,000 pyramid", large, "<= the 16384 one"))
    print(f"\nmedians of {args.repeat} runs, ours and tifffile's ZarrTiffStore taking turns\n")
    print("| case | ours (ms) | tifffile (ms) | ours / tifffile | target | ours | tifffile |")
    print("|---|---:|---:|---:|---|---|---|")
    for name, (mine, theirs, our_keys, their_keys), target in rows:
        print(
            f"| {name} | {mine * 1e3:.2f} | {theirs * 1e3:.2f} | {mine / theirs:.2f} "
            f"| {target} | {_shown(our_keys)} | {_shown(their_keys)} |"
        )
    print(f"\n100,000 / 16384 pyramid, ours: {large[0] / small[0]:.2f}")


if __name__ == "__main__":
    main()
