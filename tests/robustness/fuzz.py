"""Seeded mutation fuzzing of the TIFF reader and the zarr store.

Run as a script, it is a worker: it mutates seed files deterministically (the same seed
and index give the same file), opens each mutated file from memory, reads every series and
level through TiffFile and through the zarr store, and reports every exception that is not
a TiffFileError.  The parent (``run``) starts workers under a memory limit and a time
limit, restarts them after a crash or a hang, and counts what escaped.

    python tests/robustness/fuzz.py --count 20000 --seed 1     # a long run
"""

from __future__ import annotations

import argparse
import json
import os
import random
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

INTERESTING_32 = (
    0,
    1,
    2,
    7,
    8,
    0xFF,
    0x7FFF,
    0x8000,
    0xFFFF,
    0x10000,
    0x7FFFFFFF,
    0x80000000,
    0xFFFFFFFF,
)
INTERESTING_16 = (0, 1, 2, 3, 4, 7, 8, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF)
# Tags whose values most often decide sizes and offsets.
HOT_TAGS = (
    256,
    257,
    258,
    259,
    262,
    273,
    277,
    278,
    279,
    284,
    317,
    322,
    323,
    324,
    325,
    330,
    338,
    339,
    347,
    32997,
)
# Small real files of other writers and kinds (libtiff fax and JPEG, GDAL, Bio-Formats,
# ScanImage, Aperio, imagecodecs' codecs), mutated beside the generated seeds where the
# shared corpus is present: they reach paths that tifffile-written files never take.
CORPUS_SEEDS = (
    "galaxy-image-analysis/tools__bfconvert__res.ome.tiff",
    "image-tiff/geotiff__usda_naip_256_webp_z3.tif",
    "image-tiff/images__big_g4.tif",
    "image-tiff/images__bigtiff__ScanImageBigTIFFv57.tif",
    "image-tiff/images__gradient-1c-64b-float.tiff",
    "image-tiff/images__issue_69_packbits.tiff",
    "image-tiff/images__quad-tile.jpg.tiff",
    "image-tiff/images__random-fp16-pred2.tiff",
    "image-tiff/images__seq__seq-1c-1b-fax3-71f6a21a.tiff",
    "imagecodecs/gray.lerc.u1.tif",
    "imagecodecs/rgb.tiled.jpeg2000.u1.tif",
    "imagecodecs/rgb.tiled.jpegxr.u1.tif",
    "openslide-python/small.svs",
    "pillow/child_ifd_jpeg.tiff",
    "pillow/compression.tif",
    "rasterio/RGBA.uint16.tif",
    "rasterio/all-nodata.tif",
)
CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
# Memory a worker may map: far above what any seed needs, far below the machine.
WORKER_MEMORY = 3 * 2**30
# A single file must finish within this many seconds, or it counts as a hang.  Generous:
# imagecodecs alone takes up to 7 s on some corrupt JPEG XR tiles on a loaded 2-core
# machine, and a hang this catches is a loop that never ends.
FILE_SECONDS = 30.0


@dataclass
class Entry:
    """Where one IFD entry lives in a seed, for structured mutation."""

    position: int
    code: int
    bigtiff: bool


@dataclass
class Seed:
    data: bytes
    byteorder: str
    entries: list[Entry] = field(default_factory=list)
    ifds: list[int] = field(default_factory=list)


def parse_seed(data: bytes) -> Seed:
    """IFD and entry positions of a valid seed (followed through the main chain)."""
    order = "<" if data[:2] == b"II" else ">"
    seed = Seed(data, order)
    bigtiff = struct.unpack(order + "H", data[2:4])[0] == 43
    offset = struct.unpack(
        order + ("Q" if bigtiff else "I"), data[8:16] if bigtiff else data[4:8]
    )[0]
    seen: set[int] = set()
    while offset and offset not in seen and offset + 8 < len(data) and len(seen) < 64:
        seen.add(offset)
        seed.ifds.append(offset)
        count_size, entry_size = (8, 20) if bigtiff else (2, 12)
        count = struct.unpack_from(order + ("Q" if bigtiff else "H"), data, offset)[0]
        base = offset + count_size
        if base + count * entry_size + (8 if bigtiff else 4) > len(data):
            break
        for i in range(count):
            position = base + i * entry_size
            code = struct.unpack_from(order + "H", data, position)[0]
            seed.entries.append(Entry(position, code, bigtiff))
        offset = struct.unpack_from(
            order + ("Q" if bigtiff else "I"), data, base + count * entry_size
        )[0]
    return seed


def mutate(seed: Seed, rng: random.Random) -> bytes:
    """One to three mutations of the kinds real corruption and hostile files show."""
    data = bytearray(seed.data)
    order = seed.byteorder
    for _ in range(rng.randint(1, 3)):
        kind = rng.random()
        if kind < 0.25 or not seed.entries:  # bit flips anywhere
            for _ in range(rng.randint(1, 8)):
                position = rng.randrange(len(data))
                data[position] ^= 1 << rng.randrange(8)
        elif kind < 0.35:  # truncation
            del data[rng.randrange(8, max(9, len(data))) :]
        elif kind < 0.75:  # a tag's count, value or offset overwritten
            entry = rng.choice([e for e in seed.entries if e.code in HOT_TAGS] or seed.entries)
            if entry.position + 12 > len(data):
                continue
            which = rng.random()
            if which < 0.3:  # the count
                struct.pack_into(order + "I", data, entry.position + 4, rng.choice(INTERESTING_32))
            elif which < 0.8:  # the value or offset
                value = rng.choice((*INTERESTING_32, len(data), len(data) - 1, len(data) + 1))
                struct.pack_into(order + "I", data, entry.position + 8, value & 0xFFFFFFFF)
            else:  # the field type
                struct.pack_into(order + "H", data, entry.position + 2, rng.choice(INTERESTING_16))
        elif kind < 0.85 and len(seed.ifds) > 0:  # an IFD loop or a wild next-IFD offset
            ifd = rng.choice(seed.ifds)
            if ifd + 2 > len(data):
                continue
            count = struct.unpack_from(order + "H", data, ifd)[0]
            position = ifd + 2 + 12 * count
            if position + 4 <= len(data):
                target = rng.choice([*seed.ifds, 0, 1, len(data) - 2, 0xFFFFFFF0])
                struct.pack_into(order + "I", data, position, target)
        else:  # bytes of the pixel data or tag values overwritten
            start = rng.randrange(len(data))
            for i in range(start, min(len(data), start + rng.randint(1, 64))):
                data[i] = rng.randrange(256)
    return bytes(data)


def exercise(data: bytes) -> None:
    """What a viewer does with a file: pages, series, levels, and zarr reads."""
    import numpy as np
    import zarr

    from napari_tiffzarr import TiffFile
    from napari_tiffzarr.store import ZarrTiffStore, open_arrays

    with TiffFile(data) as tif:
        pages = tif.pages
        for page in pages[:4]:
            _ = page.shape, page.dtype, page.axes
            page.asarray()
        for series in tif.series[:3]:
            for index in range(min(3, len(series.levels))):
                series.asarray(level=index)
            for level in range(min(2, len(series.levels))):
                store = ZarrTiffStore(series, level=level)
                array = zarr.open_array(store, mode="r")
                if array.nbytes <= 64 * 2**20:
                    np.asarray(array[...])
            # as the napari reader reads: a view array, on this thread, reading ahead
            view = open_arrays(ZarrTiffStore(series, readahead=True), views=True)[0]
            if view.nbytes <= 64 * 2**20:
                np.asarray(view[...])


def worker(seeds: list[Path], seed: int, start: int, count: int, progress: Path) -> None:
    """Fuzz files start..start+count; report escapes as JSON lines on stdout."""
    import logging
    import resource
    import signal

    from napari_tiffzarr import TiffFileError

    logging.disable(logging.CRITICAL)  # the reader's warnings about broken files are expected
    resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY, WORKER_MEMORY))
    parsed = [parse_seed(p.read_bytes()) for p in seeds]

    class Hang(Exception):
        pass

    def alarm(signum: int, frame: object) -> None:
        raise Hang

    signal.signal(signal.SIGALRM, alarm)
    outcomes = {"read": 0, "refused": 0}
    for index in range(start, start + count):
        progress.write_text(str(index))
        rng = random.Random(seed * 1_000_003 + index)
        source = rng.choice(parsed)
        data = mutate(source, rng)
        signal.setitimer(signal.ITIMER_REAL, FILE_SECONDS)
        try:
            exercise(data)
            outcomes["read"] += 1
        except TiffFileError:
            outcomes["refused"] += 1
        except Hang:
            print(json.dumps({"index": index, "kind": "hang"}), flush=True)
        except BaseException as exc:  # an escape is what we are here to find
            print(
                json.dumps(
                    {
                        "index": index,
                        "kind": "escape",
                        "error": f"{type(exc).__name__}: {exc}"[:300],
                    }
                ),
                flush=True,
            )
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    print(json.dumps({"kind": "outcomes", **outcomes}), flush=True)
    progress.write_text("done")


@dataclass
class Report:
    files: int = 0
    escapes: list[dict[str, object]] = field(default_factory=list)
    hangs: list[int] = field(default_factory=list)
    crashes: list[int] = field(default_factory=list)
    read: int = 0  # opened and read through completely
    refused: int = 0  # raised TiffFileError


def _chunks(start: int, stop: int, size: int) -> Iterator[tuple[int, int]]:
    for first in range(start, stop, size):
        yield first, min(size, stop - first)


def run(seeds: list[Path], *, seed: int, count: int, workers: int, tmp: Path) -> Report:
    """Fuzz count files in worker processes; a crashed or hung worker restarts after the
    file it died on."""
    report = Report(files=count)
    pending = list(_chunks(0, count, max(1, count // (workers * 4) or 1)))
    running: list[tuple[subprocess.Popen[str], Path, int, int, float]] = []
    env = {**os.environ, "MALLOC_ARENA_MAX": "2", "OMP_NUM_THREADS": "1"}
    while pending or running:
        while pending and len(running) < workers:
            first, size = pending.pop(0)
            progress = tmp / f"progress-{first}"
            process = subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--worker",
                    "--seed",
                    str(seed),
                    "--start",
                    str(first),
                    "--count",
                    str(size),
                    "--progress",
                    str(progress),
                    *map(str, seeds),
                ],
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )
            running.append((process, progress, first, size, time.monotonic()))
        time.sleep(0.05)
        for item in list(running):
            process, progress, first, size, started = item
            done = process.poll() is not None
            timed_out = time.monotonic() - started > size * FILE_SECONDS + 60
            if not done and not timed_out:
                continue
            if not done:
                process.kill()
            output, _ = process.communicate()
            for line in output.splitlines():
                event = json.loads(line)
                if event["kind"] == "outcomes":
                    report.read += int(event["read"])
                    report.refused += int(event["refused"])
                elif event["kind"] == "hang":
                    report.hangs.append(int(event["index"]))
                else:
                    report.escapes.append(event)
            running.remove(item)
            last = progress.read_text() if progress.exists() else str(first)
            if last != "done":  # died on file `last`: a crash or a hang past the alarm
                dead = int(last)
                (report.hangs if timed_out else report.crashes).append(dead)
                if dead + 1 < first + size:
                    pending.append((dead + 1, first + size - dead - 1))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("seeds", nargs="*", type=Path)
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--progress", type=Path)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.seeds, args.seed, args.start, args.count, args.progress)
        return 0
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        seeds = args.seeds or make_seeds(Path(tmp) / "seeds") + corpus_seeds()
        started = time.monotonic()
        report = run(seeds, seed=args.seed, count=args.count, workers=args.workers, tmp=Path(tmp))
    seconds = time.monotonic() - started
    print(
        f"fuzzed {report.files} files from {len(seeds)} seeds in {seconds:.0f} s: "
        f"{report.read} read through, {report.refused} refused with TiffFileError, "
        f"{len(report.escapes)} escapes, {len(report.hangs)} hangs, {len(report.crashes)} crashes"
    )
    for event in report.escapes[:20]:
        print("escape", event)
    return 1 if report.escapes or report.hangs or report.crashes else 0


def corpus_seeds(corpus: Path = CORPUS) -> list[Path]:
    """The corpus seeds that are present: none where the shared corpus is absent."""
    return [corpus / name for name in CORPUS_SEEDS if (corpus / name).is_file()]


def make_seeds(folder: Path) -> list[Path]:
    """Small valid TIFFs covering the structures and codecs the reader handles."""
    import numpy as np
    import tifffile

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 255, (40, 52), np.uint8)
    rgb = rng.integers(0, 255, (40, 52, 3), np.uint8)
    u16 = rng.integers(0, 4000, (3, 24, 30), np.uint16)
    seeds: dict[str, tuple[np.ndarray, dict[str, object]]] = {
        "strips": (gray, {"rowsperstrip": 7}),
        "tiles-lzw": (u16, {"tile": (16, 16), "compression": "lzw", "predictor": True}),
        "tiles-zlib-be": (u16, {"tile": (16, 16), "compression": "zlib", "byteorder": ">"}),
        "jpeg": (rgb, {"tile": (16, 16), "compression": "jpeg", "photometric": "rgb"}),
        "packbits": (gray, {"compression": "packbits", "rowsperstrip": 5}),
        "float-pred": (rng.random((20, 24), np.float32), {"compression": "zlib", "predictor": 3}),
        "planar": (
            rgb.transpose(2, 0, 1).copy(),
            {"photometric": "rgb", "planarconfig": "separate"},
        ),
        "bigtiff": (gray, {"bigtiff": True, "tile": (16, 16)}),
        "imagej": (u16, {"imagej": True}),
        "ome": (u16, {"ome": True, "tile": (16, 16)}),
        "bilevel": (gray > 128, {"compression": "packbits"}),
        "webp": (rgb, {"compression": "webp", "photometric": "rgb", "tile": (16, 16)}),
    }
    paths = []
    for name, (data, options) in seeds.items():
        path = folder / f"{name}.tif"
        tifffile.imwrite(path, data, **options)  # type: ignore[arg-type]
        paths.append(path)
    path = folder / "pyramid.tif"
    with tifffile.TiffWriter(path) as tif:
        tif.write(gray, subifds=1, tile=(16, 16), compression="zlib")
        tif.write(gray[::2, ::2], subfiletype=1, tile=(16, 16), compression="zlib")
    paths.append(path)
    return paths


if __name__ == "__main__":
    sys.exit(main())
