"""Time to read a whole 8192 x 8192 deflate-tiled level through zarr: our store vs tifffile's.

Writes one uint16 file (deflate with the horizontal predictor, 512 x 512 tiles, a smooth
texture with noise so that tiles neither vanish nor fail to compress) into a temporary
directory, then reads level 0 completely with ``zarr.open_array(store)[...]`` through each
store, alternating ours and tifffile's after one warm-up read each, and prints the median
of the timed runs and the ratio.  Each run opens the file afresh, so no store reuses
decoded tiles.

    python benchmarks/store_full_level.py [--repeat 5] [--size 8192]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tifffile
import zarr

from napari_tiffzarr import TiffFile


def texture(size: int, seed: int = 0) -> np.ndarray:
    """Smooth waves plus 6 bits of noise: compresses like a real image, about 1.6 to 1."""
    rng = np.random.default_rng(seed)
    y, x = np.ogrid[:size, :size]
    waves = 20000 + 12000 * np.sin(x / 97.0) * np.cos(y / 131.0) + 8 * ((x + y) % 512)
    noise = rng.integers(0, 64, (size, size), dtype=np.uint16)
    return (waves.astype(np.uint16) + noise).astype(np.uint16)


def read_ours(path: Path) -> np.ndarray:
    with TiffFile(path) as tif:
        return np.asarray(zarr.open_array(tif.series[0].aszarr(), mode="r")[...])


def read_tifffile(path: Path) -> np.ndarray:
    with tifffile.TiffFile(path) as tif:
        return np.asarray(zarr.open_array(tif.series[0].aszarr(), mode="r")[...])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--size", type=int, default=8192)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "level.tif"
        data = texture(args.size)
        tifffile.imwrite(
            path, data, tile=(512, 512), compression="zlib", predictor=True, metadata=None
        )
        print(
            f"{args.size} x {args.size} uint16, deflate + predictor, 512 x 512 tiles: "
            f"{os.path.getsize(path) / 2**20:.1f} MiB on disk, {data.nbytes / 2**20:.0f} MiB "
            f"decoded; {os.cpu_count()} CPUs"
        )
        readers: dict[str, Callable[[Path], np.ndarray]] = {
            "napari-tiffzarr": read_ours,
            "tifffile": read_tifffile,
        }
        for name, read in readers.items():  # warm-up, and both must read the same pixels
            if not np.array_equal(read(path), data):
                raise SystemExit(f"{name} read different pixels")
        times: dict[str, list[float]] = {name: [] for name in readers}
        for _ in range(args.repeat):
            for name, read in readers.items():
                start = time.perf_counter()
                read(path)
                times[name].append(time.perf_counter() - start)
        medians = {name: statistics.median(values) for name, values in times.items()}
        for name, values in times.items():
            runs = " ".join(f"{v:.3f}" for v in values)
            print(f"{name:16s} median {medians[name]:.3f} s   runs: {runs}")
        ratio = medians["napari-tiffzarr"] / medians["tifffile"]
        print(f"ratio ours / tifffile: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
