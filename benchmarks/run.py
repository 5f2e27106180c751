"""Benchmarks of napari-tiffzarr against tifffile, in one run, readers taking turns.

    python benchmarks/run.py [--repeat 5] [--quick] [--out benchmarks/RESULTS.md]

Makes its own data (tifffile, and libvips where installed) in a cache folder, then times
each case for both readers alternately and reports medians and ratios (ours / tifffile).
Peak memory is measured in a fresh process per reader.  The decode limit is one thread
reading and decoding every tile with imagecodecs, divided by the number of cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

CACHE = Path(os.environ.get("TIFFZARR_BENCH_DATA", Path(tempfile.gettempdir()) / "tiffzarr-bench"))


# -- data -------------------------------------------------------------------------
def _texture(length: int, width: int, channels: int = 0, seed: int = 0) -> np.ndarray:
    """Smooth content with noise: compresses like real images, not like zeros or noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(length, dtype=np.float32)[:, None]
    x = np.arange(width, dtype=np.float32)[None, :]
    base = np.sin(x / 53.0) * np.cos(y / 71.0) + np.sin((x + y) / 157.0)
    if channels:
        planes = [
            base * (0.6 + 0.2 * c) + np.cos(x / (31.0 + 7 * c)) * 0.3 for c in range(channels)
        ]
        image = np.stack(planes, axis=-1)
        image = (image - image.min()) / (np.ptp(image) or 1) * 200 + 20
        image += rng.integers(0, 12, image.shape)
        return image.astype(np.uint8)
    image = (base + 2.2) * 12000 + rng.integers(0, 600, base.shape)
    return image.astype(np.uint16)


def make_data(quick: bool) -> dict[str, Path]:
    import tifffile

    CACHE.mkdir(parents=True, exist_ok=True)
    size = 4096 if quick else 8192
    big = 8192 if quick else 16384
    files = {
        "stack5000": CACHE / "generic-lzw-5000.tif",
        "imagej10000": CACHE / "imagej-10000.tif",
        "deflate": CACHE / f"deflate-{size}.tif",
        "jpeg": CACHE / f"jpeg-{size}.tif",
        "pyramid": CACHE / f"jpeg-pyramid-{big}.tif",
        "vips": CACHE / "vips-pyramid.tif",
    }
    if not files["stack5000"].exists():
        data = np.random.default_rng(1).integers(0, 255, (5000, 64, 64), np.uint8)
        tifffile.imwrite(files["stack5000"], data, compression="lzw", metadata=None)
    if not files["imagej10000"].exists():
        tifffile.imwrite(files["imagej10000"], np.zeros((10000, 64, 64), np.uint8), imagej=True)
    if not files["deflate"].exists():
        tifffile.imwrite(
            files["deflate"],
            _texture(size, size),
            tile=(512, 512),
            compression="zlib",
            predictor=True,
            metadata=None,
        )
    if not files["jpeg"].exists():
        tifffile.imwrite(
            files["jpeg"],
            _texture(size, size, 3),
            tile=(256, 256),
            compression="jpeg",
            photometric="rgb",
            metadata=None,
        )
    if not files["pyramid"].exists():
        level = _texture(big, big, 3, seed=2)
        options = {
            "tile": (256, 256),
            "compression": "jpeg",
            "photometric": "rgb",
            "metadata": None,
        }
        with tifffile.TiffWriter(files["pyramid"], bigtiff=True) as tif:
            tif.write(level, subifds=4, **options)
            for _ in range(4):
                level = level[::2, ::2].copy()
                tif.write(level, subfiletype=1, **options)
            del level
    if not files["vips"].exists() and shutil.which("vips"):
        source = CACHE / "vips-source.tif"
        tifffile.imwrite(source, _texture(size, size, 3, seed=3), photometric="rgb", metadata=None)
        subprocess.run(
            [
                "vips",
                "tiffsave",
                str(source),
                str(files["vips"]),
                "--tile",
                "--pyramid",
                "--compression",
                "jpeg",
                "--tile-width",
                "256",
                "--tile-height",
                "256",
            ],
            check=True,
        )
    return {k: v for k, v in files.items() if v.exists()}


# -- the two readers --------------------------------------------------------------
def open_ours(path: Path) -> object:
    import zarr

    from napari_tiffzarr import TiffFile
    from napari_tiffzarr.store import ZarrTiffStore

    tif = TiffFile(path)
    store = ZarrTiffStore(tif.series[0], multiscales=True)
    return zarr.open_group(store, mode="r")


def open_theirs(path: Path) -> object:
    import tifffile
    import zarr

    tif = tifffile.TiffFile(path)
    return zarr.open_group(tif.series[0].aszarr(multiscales=True), mode="r")


READERS: dict[str, Callable[[Path], object]] = {"ours": open_ours, "tifffile": open_theirs}


def time_alternating(cases: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeat):
        for name, case in cases.items():
            started = time.perf_counter()
            case()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def bench_open(path: Path, repeat: int) -> dict[str, float]:
    return time_alternating({name: (lambda f=f: f(path)) for name, f in READERS.items()}, repeat)


def bench_full_level(path: Path, repeat: int) -> dict[str, float]:
    groups = {name: f(path) for name, f in READERS.items()}
    return time_alternating(
        {name: (lambda g=g: g["0"][...]) for name, g in groups.items()}, repeat
    )


def bench_viewports(
    path: Path, repeat: int, count: int = 30, size: int = 1024
) -> dict[str, float]:
    groups = {name: f(path) for name, f in READERS.items()}
    length, width = groups["ours"]["0"].shape[:2]  # type: ignore[index]
    rng = random.Random(5)
    boxes = [
        (rng.randrange(0, length - size), rng.randrange(0, width - size)) for _ in range(count)
    ]

    def viewports(group: object) -> None:
        array = group["0"]  # type: ignore[index]
        for y, x in boxes:
            array[y : y + size, x : x + size]

    return time_alternating(
        {name: (lambda g=g: viewports(g)) for name, g in groups.items()}, repeat
    )


def decode_limit(path: Path) -> float:
    """One thread reading and decoding every tile of level 0 with imagecodecs, per core."""
    import imagecodecs

    from napari_tiffzarr import TiffFile

    with TiffFile(path) as tif:
        page = tif.pages[0]
        ranges = page.segment_ranges()
        compression = int(page.compression)
        tables = page.jpegtables
        started = time.perf_counter()
        with open(path, "rb") as fh:
            for item in ranges:
                if item is None:
                    continue
                data = os.pread(fh.fileno(), item[1], item[0])
                if compression == 7:
                    imagecodecs.jpeg_decode(data, tables=tables)
                else:
                    decoded = imagecodecs.deflate_decode(
                        data, out=page.tilelength * page.tilewidth * 2
                    )
                    tile = (
                        np.frombuffer(decoded, np.uint16)
                        .reshape(page.tilelength, page.tilewidth)
                        .copy()
                    )
                    imagecodecs.delta_decode(tile, axis=-1, out=tile)
        elapsed = time.perf_counter() - started
    return elapsed / (os.cpu_count() or 1)


def peak_memory(reader: str, path: Path) -> tuple[float, float]:
    """Peak resident MB of a fresh process reading level 0 whole, above its baseline, and
    the output's MB.  VmHWM is reset by exec; ru_maxrss would inherit the parent's peak."""
    here = str(Path(__file__).resolve().parent)
    code = "\n".join(
        [
            f"import sys; sys.path.insert(0, {here!r}); import run",
            "def hwm():",
            "    status = open('/proc/self/status').read().split('VmHWM:')[1]",
            "    return int(status.split()[0])",
            f"run.READERS[{reader!r}](run.Path({str(path)!r})); base = hwm()",
            f"g = run.READERS[{reader!r}](run.Path({str(path)!r})); a = g['0'][...]",
            "print(base, hwm(), a.nbytes)",
        ]
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    base, peak, nbytes = map(int, out.stdout.split())
    return (peak - base) / 1024, nbytes / 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="smaller images, for a smoke run")
    parser.add_argument("--out", type=Path, help="write the results table (Markdown) here")
    args = parser.parse_args(argv)
    files = make_data(args.quick)
    rows: list[tuple[str, float, float, str]] = []

    def add(case: str, result: dict[str, float], target: str = "") -> None:
        rows.append((case, result["ours"], result["tifffile"], target))
        print(
            f"{case:58s} ours {result['ours'] * 1000:9.1f} ms  "
            f"tifffile {result['tifffile'] * 1000:9.1f} ms"
            f"  ratio {result['ours'] / result['tifffile']:.2f}",
            flush=True,
        )

    add("open 5,000-page generic LZW stack", bench_open(files["stack5000"], args.repeat), "<= 0.5")
    add("open 10,000-page ImageJ stack", bench_open(files["imagej10000"], args.repeat))
    if "vips" in files:
        add("open libvips JPEG pyramid", bench_open(files["vips"], args.repeat))
    deflate = bench_full_level(files["deflate"], args.repeat)
    add("full level: uint16 deflate+predictor, 512 tiles", deflate, "<= 0.5")
    jpeg = bench_full_level(files["jpeg"], args.repeat)
    add("full level: RGB JPEG, 256 tiles", jpeg, "<= 0.5")
    add(
        "30 random 1024x1024 viewports, level 0 of JPEG pyramid",
        bench_viewports(files["pyramid"], args.repeat),
        "<= 0.7",
    )
    limits = {"deflate": decode_limit(files["deflate"]), "jpeg": decode_limit(files["jpeg"])}
    memory = {
        name: {r: peak_memory(r, files[name]) for r in READERS} for name in ("deflate", "jpeg")
    }

    lines = [
        "# Benchmark results",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, "
        f"{platform.system()}; median of {args.repeat}, readers alternating in one run.",
        "",
        "| case | ours (ms) | tifffile (ms) | ours / tifffile | target |",
        "|---|---:|---:|---:|---|",
    ]
    lines += [
        f"| {c} | {o * 1000:.1f} | {t * 1000:.1f} | {o / t:.2f} | {g} |" for c, o, t, g in rows
    ]
    lines += [
        "",
        "| full-level read | ours / decode limit | decode limit (ms) | target |",
        "|---|---:|---:|---|",
    ]
    for name, result in (("deflate", deflate), ("jpeg", jpeg)):
        lines.append(
            f"| {name} | {result['ours'] / limits[name]:.2f} "
            f"| {limits[name] * 1000:.1f} | <= 1.3 |"
        )
    lines += [
        "",
        "| full-level read | output MB | ours peak MB | tifffile peak MB "
        "| ours limit (1.3 x output + 150) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in ("deflate", "jpeg"):
        ours_peak, output = memory[name]["ours"]
        theirs_peak, _ = memory[name]["tifffile"]
        lines.append(
            f"| {name} | {output:.0f} | {ours_peak:.0f} | {theirs_peak:.0f} "
            f"| {1.3 * output + 150:.0f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    json.dumps(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
