"""Benchmarks of napari-tiffzarr against tifffile, in one run, readers taking turns.

    python benchmarks/run.py [--repeat 5] [--quick] [--out benchmarks/RESULTS.md]

Makes its own data (tifffile, and libvips where installed) in a cache folder, then times
each case for both readers alternately and reports medians and ratios (ours / tifffile).
Peak memory is measured in a fresh process per reader.  The decode limit is one thread
reading and decoding every tile with imagecodecs, divided by the number of cores.
"""

from __future__ import annotations

import argparse
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
        "vips": CACHE / f"vips-pyramid-{size}.tif",
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
        source = CACHE / f"vips-source-{size}.tif"
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
def open_ours(path: Path, **options: object) -> object:
    import zarr

    from napari_tiffzarr import TiffFile
    from napari_tiffzarr.store import ZarrTiffStore

    tif = TiffFile(path)
    try:
        store = ZarrTiffStore(tif.series[0], multiscales=True, **options)  # type: ignore[arg-type]
    except TypeError as error:
        raise TypeError(
            f"ZarrTiffStore does not take {sorted(options)}: the first-read and single-thread "
            f"cases need cachesize, readahead and maxworkers ({error})"
        ) from error
    return zarr.open_group(store, mode="r")


# A first read: nothing kept from an earlier read (the decoded-chunk cache off), nothing
# read before it is asked for (read-ahead off), and a new store for every repeat, opened
# untimed, so no state of the store survives from one repeat to the next.
COLD = {"cachesize": 0, "readahead": False}
FIRST_READS: dict[str, Callable[[Path], object]] = {
    "uncached": lambda path: open_ours(path, **COLD),
    "single": lambda path: open_ours(path, maxworkers=1, **COLD),  # one decoding thread
}


def open_theirs(path: Path) -> object:
    import tifffile
    import zarr

    tif = tifffile.TiffFile(path)
    return zarr.open_group(tif.series[0].aszarr(multiscales=True), mode="r")


READERS: dict[str, Callable[[Path], object]] = {"ours": open_ours, "tifffile": open_theirs}


def open_memory(path: Path) -> object:
    """Level 0 already decoded, in a zarr MemoryStore with the file's chunks: what zarr's
    own work costs for the same selection, the floor under any store's time."""
    import zarr
    from zarr.storage import MemoryStore

    source = open_ours(path)["0"]  # type: ignore[index]
    group = zarr.open_group(MemoryStore(), mode="w")
    array = group.create_array(
        "0",
        shape=source.shape,
        chunks=source.chunks,
        dtype=source.dtype,
        compressors=None,
        fill_value=0,
    )
    array[...] = source[...]
    return group


def with_floor(path: Path, first: tuple[str, ...] = ("uncached",)) -> dict[str, object]:
    """The readers, these first-read variants of ours, and zarr alone (the floor)."""
    return {
        **{name: f(path) for name, f in READERS.items()},
        **{name: FIRST_READS[name](path) for name in first},
        "zarr": open_memory(path),
    }


def reopener(groups: dict[str, object], path: Path) -> Callable[[str], None]:
    """Before each read of a first-read case, a new store in place of the last one."""

    def reopen(name: str) -> None:
        if name in FIRST_READS and name in groups:
            groups[name].store.close()  # type: ignore[attr-defined]
            groups[name] = FIRST_READS[name](path)

    return reopen


def time_alternating(
    cases: dict[str, Callable[[], object]],
    repeat: int,
    prepare: Callable[[str], None] = lambda name: None,
) -> dict[str, float]:
    """Median seconds of each case, and its CPU seconds in this process ("name cpu": the
    steadier of the two on a shared machine), the cases taking turns after one untimed
    warm-up each (imports, the page cache), so that both readers see the same machine state.
    prepare(name) runs untimed before each run of a case."""
    for name, case in cases.items():
        prepare(name)
        case()
    times: dict[str, list[float]] = {}
    for _ in range(repeat):
        for name, case in cases.items():
            prepare(name)
            cpu = time.process_time()
            started = time.perf_counter()
            case()
            times.setdefault(name, []).append(time.perf_counter() - started)
            times.setdefault(name + " cpu", []).append(time.process_time() - cpu)
    return {name: statistics.median(values) for name, values in times.items()}


def bench_open(path: Path, repeat: int) -> dict[str, float]:
    return time_alternating({name: (lambda f=f: f(path)) for name, f in READERS.items()}, repeat)


def bench_full_level(path: Path, repeat: int) -> dict[str, float]:
    groups = with_floor(path)
    return time_alternating(
        {name: (lambda n=name: groups[n]["0"][...]) for name in groups},  # type: ignore[index]
        repeat,
        reopener(groups, path),
    )


VIEWPORTS = 30
VIEWPORT = 1024


def viewport_boxes(length: int, width: int) -> list[tuple[int, int]]:
    """The (y, x) corners of the random viewports, the same in every run."""
    rng = random.Random(5)
    return [
        (rng.randrange(0, length - VIEWPORT), rng.randrange(0, width - VIEWPORT))
        for _ in range(VIEWPORTS)
    ]


def viewport_tiles(path: Path) -> list[int]:
    """The tiles of level 0 that the viewports touch, once per viewport touching them."""
    from napari_tiffzarr import TiffFile

    with TiffFile(path) as tif:
        page = tif.pages[0]
        length, width, tile = page.imagelength, page.imagewidth, page.tilelength
    across = -(-width // tile)
    return [
        row * across + col
        for y, x in viewport_boxes(length, width)
        for row in range(y // tile, (y + VIEWPORT - 1) // tile + 1)
        for col in range(x // tile, (x + VIEWPORT - 1) // tile + 1)
    ]


def bench_viewports(path: Path, repeat: int) -> dict[str, float]:
    groups = with_floor(path, first=("uncached", "single"))
    boxes = viewport_boxes(*groups["ours"]["0"].shape[:2])  # type: ignore[index]

    def viewports(group: object) -> None:
        array = group["0"]  # type: ignore[index]
        for y, x in boxes:
            array[y : y + VIEWPORT, x : x + VIEWPORT]

    return time_alternating(
        {name: (lambda n=name: viewports(groups[n])) for name in groups},
        repeat,
        reopener(groups, path),
    )


def decode_limit(path: Path, repeat: int, tiles: list[int] | None = None) -> float:
    """One thread reading and decoding every tile of level 0 (or these tiles) with
    imagecodecs, divided by the number of cores: the time a perfectly parallel reader
    would need (median)."""
    import imagecodecs

    from napari_tiffzarr import TiffFile

    with TiffFile(path) as tif:
        page = tif.pages[0]
        located = page.segment_ranges()
        if tiles is not None:
            located = [located[index] for index in tiles]
        ranges = [item for item in located if item is not None]
        jpeg = int(page.compression) == 7
        tables = page.jpegtables
        shape = (page.tilelength, page.tilewidth)
        nbytes = page.tilelength * page.tilewidth * page.dtype.itemsize

    def once() -> None:
        with open(path, "rb") as fh:
            fd = fh.fileno()
            for offset, length in ranges:
                data = os.pread(fd, length, offset)
                if jpeg:
                    imagecodecs.jpeg_decode(data, tables=tables)
                else:
                    buffer = bytearray(nbytes)
                    imagecodecs.deflate_decode(data, out=buffer)
                    tile = np.frombuffer(buffer, np.uint16).reshape(shape)
                    imagecodecs.delta_decode(tile, axis=-1, out=tile)

    return time_alternating({"limit": once}, repeat)["limit"] / (os.cpu_count() or 1)


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


def machine() -> list[str]:
    """What the numbers were measured on: CPU, cores, memory and the versions that matter."""
    import imagecodecs
    import tifffile
    import zarr

    import napari_tiffzarr

    cpu = platform.processor() or platform.machine()
    memory = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        total = Path("/proc/meminfo").read_text().split()[1]
        memory = f"{int(total) / 2**20:.1f} GiB memory"
    except OSError:
        pass
    vips = "not installed"
    if shutil.which("vips"):
        done = subprocess.run(["vips", "--version"], check=False, capture_output=True, text=True)
        vips = done.stdout.strip()
    return [
        f"- CPU: {cpu}, {os.cpu_count()} cores{', ' + memory if memory else ''}",
        f"- {platform.system()} {platform.release()}, Python {platform.python_version()}",
        f"- napari-tiffzarr {napari_tiffzarr.__version__}, tifffile {tifffile.__version__}, "
        f"zarr {zarr.__version__}, imagecodecs {imagecodecs.__version__}, "
        f"numpy {np.__version__}, {vips}",
    ]


def verdict(value: float, limit: float) -> str:
    return f"{'held' if value <= limit else 'NOT held'} ({value:.2f} <= {limit:g})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="smaller images, for a smoke run")
    parser.add_argument("--out", type=Path, help="write the results table (Markdown) here")
    args = parser.parse_args(argv)
    files = make_data(args.quick)
    size = 4096 if args.quick else 8192
    big = 8192 if args.quick else 16384
    rows: list[tuple[str, float, float, float | None, float | None, float | None]] = []

    def add(case: str, result: dict[str, float], target: float | None = None) -> None:
        rows.append(
            (
                case,
                result["ours"],
                result["tifffile"],
                result.get("zarr"),
                target,
                result.get("uncached"),
            )
        )
        floor = f"  zarr alone {result['zarr'] * 1000:7.1f} ms" if "zarr" in result else ""
        print(
            f"{case:58s} ours {result['ours'] * 1000:9.1f} ms  "
            f"tifffile {result['tifffile'] * 1000:9.1f} ms"
            f"  ratio {result['ours'] / result['tifffile']:.2f}{floor}",
            flush=True,
        )

    add("open 5,000-page generic LZW stack", bench_open(files["stack5000"], args.repeat), 0.5)
    add("open 10,000-page ImageJ stack", bench_open(files["imagej10000"], args.repeat))
    if "vips" in files:
        add(f"open libvips JPEG pyramid ({size} x {size})", bench_open(files["vips"], args.repeat))
    deflate = bench_full_level(files["deflate"], args.repeat)
    add(f"full level: {size} x {size} uint16 deflate+predictor, 512 tiles", deflate, 0.5)
    jpeg = bench_full_level(files["jpeg"], args.repeat)
    add(f"full level: {size} x {size} RGB JPEG, 256 tiles", jpeg, 0.5)
    viewports = bench_viewports(files["pyramid"], args.repeat)
    add(f"30 random 1024 x 1024 viewports, level 0 of {big} x {big} JPEG pyramid", viewports, 0.5)
    limits = {
        "deflate": decode_limit(files["deflate"], args.repeat),
        "jpeg": decode_limit(files["jpeg"], args.repeat),
        "viewports": decode_limit(files["pyramid"], args.repeat, viewport_tiles(files["pyramid"])),
    }
    cores = os.cpu_count() or 1
    # the least time of any store whose first read keeps every core busy: the decoding
    # and zarr's own work for the same selection (serial, but overlapping the decoding)
    floors = {
        name: max(result["zarr"], limits[name] + result["zarr"] / cores)
        for name, result in (("deflate", deflate), ("jpeg", jpeg), ("viewports", viewports))
    }
    # with one decoding thread: all the decoding on it, zarr's work beside it on the other
    floors["single"] = max(viewports["zarr"], limits["viewports"] * cores)
    memory = {
        name: {r: peak_memory(r, files[name]) for r in READERS} for name in ("deflate", "jpeg")
    }

    lines = [
        "# Benchmark results",
        "",
        "`python benchmarks/run.py"
        + (" --quick" if args.quick else "")
        + f" --repeat {args.repeat}`: medians of {args.repeat} runs, the two readers taking "
        "turns in one run after a warm-up each; ratios are ours / tifffile's ZarrTiffStore, "
        "both read through zarr.",
        "",
        *machine(),
        "",
        "| case | ours (ms) | tifffile (ms) | ours / tifffile | target | zarr alone (ms) "
        "| ours, cache off (ms) | cache off / tifffile |",
        "|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    lines += [
        f"| {c} | {o * 1000:.1f} | {t * 1000:.1f} | {o / t:.2f} | "
        f"{verdict(o / t, g) if g is not None else ''} | "
        f"{'' if z is None else f'{z * 1000:.1f}'} | "
        f"{'' if u is None else f'{u * 1000:.1f}'} | "
        f"{'' if u is None else f'{u / t:.2f}'} |"
        for c, o, t, z, g, u in rows
    ]
    lines += [
        "",
        "*zarr alone*: the same selections from a zarr MemoryStore holding the level already "
        "decoded, in the same chunks: zarr's own work per chunk (on its one event-loop "
        "thread) and the copy into the output, which no store can avoid. *ours*: the "
        "store's defaults, tile chunks and the decoded-chunk cache (256 MiB), which holds "
        "a whole level of these files, so the timed repeats after the warm-up read are "
        "served from it; *cache off*: a first read, cachesize=0 and readahead=False in a "
        "store opened anew (untimed) before every repeat, so every repeat reads and decodes "
        "again.",
    ]
    lines += [
        "",
        "A first read, against what no store can beat here: *floor* is the decode limit "
        "below plus zarr's own work (*zarr alone*) divided by the cores, the time of a "
        "store that keeps every core busy from the first chunk to the last. *maxworkers=1*: "
        "the same first read of the viewports with one decoding thread; its floor is all the "
        "decoding on one thread or zarr's work, whichever is longer. tifffile's store "
        "decodes on zarr's thread here either way (below 3 cores its default maxworkers is "
        "1). Targets: issue 20's, for cold reads through zarr.",
        "",
        "| first read (cache and read-ahead off) | ours (ms) | tifffile (ms) | floor (ms) "
        "| ours / tifffile | floor / tifffile | ours / floor | target |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    first_reads = (
        ("deflate", deflate["uncached"], deflate, floors["deflate"], None),
        ("jpeg", jpeg["uncached"], jpeg, floors["jpeg"], 0.45),
        ("viewports", viewports["uncached"], viewports, floors["viewports"], 0.6),
        ("viewports, maxworkers=1", viewports["single"], viewports, floors["single"], 1.0),
    )
    for name, first, result, least, target in first_reads:
        theirs = result["tifffile"]
        lines.append(
            f"| {name} | {first * 1000:.1f} | {theirs * 1000:.1f} | {least * 1000:.1f} "
            f"| {first / theirs:.2f} | {least / theirs:.2f} | {first / least:.2f} "
            f"| {'' if target is None else verdict(first / theirs, target)} |"
        )
    lines += [
        "",
        "Decode limit: one thread reading and decoding every tile of the level with "
        "imagecodecs, divided by the number of cores.",
        "",
        "| full-level read | ours (ms) | decode limit (ms) | ours / decode limit | target |",
        "|---|---:|---:|---:|---|",
    ]
    for name, result in (("deflate", deflate), ("jpeg", jpeg)):
        ratio = result["ours"] / limits[name]
        lines.append(
            f"| {name} | {result['ours'] * 1000:.1f} | {limits[name] * 1000:.1f} "
            f"| {ratio:.2f} | {verdict(ratio, 1.3)} |"
        )
    lines += [
        "",
        "Peak memory: resident MB above the baseline of a fresh process that has opened the "
        "file, while it reads level 0 whole.",
        "",
        "| full-level read | output MB | ours peak MB | tifffile peak MB "
        "| ours limit (1.3 x output + 150) | target |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name in ("deflate", "jpeg"):
        ours_peak, output = memory[name]["ours"]
        theirs_peak, _ = memory[name]["tifffile"]
        limit = 1.3 * output + 150
        held = "held" if ours_peak <= limit else "NOT held"
        lines.append(
            f"| {name} | {output:.0f} | {ours_peak:.0f} | {theirs_peak:.0f} "
            f"| {limit:.0f} | {held} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        from _results import write_section

        write_section(
            "offline", text.replace("# Benchmark results\n", "## Offline\n", 1), args.out
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
