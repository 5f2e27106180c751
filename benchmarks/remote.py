"""A 16384 x 16384 JPEG pyramid over local HTTP: requests and time to open it and to read
one 1024 x 1024 viewport at level 0, ours against tifffile over fsspec.

    python benchmarks/remote.py [--latency 0.02] [--repeat 3] [--tile 256] [--write]

The pyramid (RGB, JPEG tiles, levels in SubIFDs down to 512) is written once with tifffile
into a cache folder and served from memory by a range-serving HTTP server on 127.0.0.1
that counts requests; --latency adds a delay to every request, as a real network would.
Open is TiffFile + series + a zarr group over the store with every level's array.
"""

from __future__ import annotations

import argparse
import math
import mmap
import os
import re
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

CACHE = Path(os.environ.get("TIFFZARR_BENCH_DATA", Path(tempfile.gettempdir()) / "tiffzarr-bench"))
SIZE = 16384
VIEWPORT = 1024
_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


def write_pyramid(tile: int) -> Path:
    """The pyramid, written tile by tile so that level 0 never sits in memory whole."""
    import tifffile

    path = CACHE / f"remote_pyramid_{SIZE}_t{tile}_noise.tif"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    sizes = [SIZE >> level for level in range(6)]  # 16384 ... 512

    def tiles(size: int) -> Iterator[np.ndarray]:
        step = SIZE // size
        for ty in range(0, size, tile):
            y = (np.arange(ty, ty + tile, dtype=np.float32) * step)[:, None]
            for tx in range(0, size, tile):
                x = (np.arange(tx, tx + tile, dtype=np.float32) * step)[None, :]
                planes = [
                    np.sin(x / (53.0 + 9 * c)) * np.cos(y / 71.0) + np.sin((x + y) / 157.0)
                    for c in range(3)
                ]
                # noise, so that tiles compress as a scanned slide's do, not as a gradient's
                noise = np.random.default_rng(ty * size + tx).normal(0, 10, (tile, tile, 3))
                yield np.clip(np.stack(planes, -1) * 60 + 128 + noise, 0, 255).astype(np.uint8)

    partial = path.with_suffix(".partial")
    options: dict[str, Any] = {
        "tile": (tile, tile),
        "compression": "jpeg",
        "compressionargs": {"level": 85},
        "photometric": "rgb",
        "dtype": np.uint8,
    }
    with tifffile.TiffWriter(partial, bigtiff=True) as tif:
        tif.write(tiles(sizes[0]), shape=(SIZE, SIZE, 3), subifds=len(sizes) - 1, **options)
        for size in sizes[1:]:
            tif.write(tiles(size), shape=(size, size, 3), subfiletype=1, **options)
    partial.rename(path)
    return path


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, path: Path, latency: float) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.name = path.name
        with path.open("rb") as fh:
            self.data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        self.latency = latency
        self.requests = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/{self.name}"

    def take(self) -> int:
        with self.lock:
            count, self.requests = self.requests, 0
        return count


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go in two writes: without this, Nagle's algorithm and the
    # client's delayed ACK hold every response back 40 ms, which real servers do not
    disable_nagle_algorithm = True
    server: Server

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def _serve(self, *, body: bool) -> None:
        server = self.server
        with server.lock:
            server.requests += 1
        if server.latency:
            time.sleep(server.latency)
        size = len(server.data)
        start, end = 0, size
        match = _RANGE.match(self.headers.get("Range", ""))
        if match:
            start = int(match.group(1))
            end = min(int(match.group(2)) + 1 if match.group(2) else size, size)
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        else:
            self.send_response(200)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start))
        self.end_headers()
        if body:
            self.wfile.write(server.data[start:end])

    def log_message(self, format: str, *args: object) -> None:
        pass


def ours(url: str, **options: Any) -> tuple[Callable[[], Any], Callable[[Any], np.ndarray]]:
    import zarr

    from napari_tiffzarr import TiffFile

    def open_() -> Any:
        tif = TiffFile(url)
        series = tif.series[0]
        group = zarr.open_group(series.aszarr(**options), mode="r")
        return tif, [group[str(i)] for i in range(len(series.levels))]

    return open_, _viewport


def ours_viewer(url: str) -> tuple[Callable[[], Any], Callable[[Any], np.ndarray]]:
    """As the napari reader opens a URL: 512-pixel chunks of 2 x 2 tiles."""
    from napari_tiffzarr.plugin._reader import VIEWER_CHUNKSHAPE_REMOTE

    return ours(url, chunkshape=VIEWER_CHUNKSHAPE_REMOTE)


def ours_viewer_arrays(url: str) -> tuple[Callable[[], Any], Callable[[Any], np.ndarray]]:
    """As the napari reader reads a URL: 512-pixel chunks, through its view arrays."""
    from napari_tiffzarr import TiffFile
    from napari_tiffzarr.plugin._reader import VIEWER_CHUNKSHAPE_REMOTE
    from napari_tiffzarr.store.arrays import open_arrays

    def open_() -> Any:
        tif = TiffFile(url)
        store = tif.series[0].aszarr(chunkshape=VIEWER_CHUNKSHAPE_REMOTE)
        return tif, open_arrays(store, views=True)

    return open_, _viewport


def theirs(url: str) -> tuple[Callable[[], Any], Callable[[Any], np.ndarray]]:
    import fsspec
    import tifffile
    import zarr

    def open_() -> Any:
        tif = tifffile.TiffFile(fsspec.open(url).open())
        series = tif.series[0]
        group = zarr.open_group(series.aszarr(), mode="r")
        return tif, [group[str(i)] for i in range(len(series.levels))]

    return open_, _viewport


def _viewport(opened: Any) -> np.ndarray:
    # centred and not tile-aligned, as a viewer's view usually is
    start = SIZE // 2 - VIEWPORT // 2 + 100
    level0 = opened[1][0]
    result: np.ndarray = level0[start : start + VIEWPORT, start : start + VIEWPORT]
    return result


READERS: dict[str, Callable[[str], Any]] = {
    "ours (tile chunks)": ours,
    "ours (napari reader: 512-pixel chunks)": ours_viewer,
    "ours (napari reader's arrays: one view)": ours_viewer_arrays,
    "tifffile over fsspec": theirs,
}


def measure(server: Server, repeat: int) -> dict[str, dict[str, float]]:
    """Open and one viewport per reader, the readers taking turns, medians of repeat."""
    readers = {name: make(server.url) for name, make in READERS.items()}
    samples: dict[str, dict[str, list[float]]] = {
        name: {"open_s": [], "open_requests": [], "view_s": [], "view_requests": []}
        for name in readers
    }
    reference = None
    for open_, read in readers.values():
        warm = open_()  # imports, filesystem and connection set-up are not what is measured
        read(warm)
        warm[0].close()
    for run in range(repeat):
        order = list(readers) if run % 2 == 0 else list(readers)[::-1]
        for name in order:
            open_, read = readers[name]
            got = samples[name]
            server.take()
            began = time.perf_counter()
            opened = open_()
            got["open_s"].append(time.perf_counter() - began)
            got["open_requests"].append(server.take())
            began = time.perf_counter()
            pixels = read(opened)
            got["view_s"].append(time.perf_counter() - began)
            got["view_requests"].append(server.take())
            reference = pixels if reference is None else reference
            assert np.array_equal(pixels, reference), f"{name}: other pixels"
            opened[0].close()
    return {
        name: {key: statistics.median(values) for key, values in got.items()}
        for name, got in samples.items()
    }


FLOOR = "floor: one round trip + decoding the viewport's tiles on every core"


def floor(server: Server, path: Path, tile: int, repeat: int) -> dict[str, float]:
    """What no reader can beat on this machine: one request's round trip (a 1-byte range)
    and decoding just the tiles the viewport touches, spread over every core (medians)."""
    from concurrent.futures import ThreadPoolExecutor

    import fsspec
    import imagecodecs

    from napari_tiffzarr import TiffFile

    fs = fsspec.filesystem("http")
    trips = []
    for _ in range(repeat):
        began = time.perf_counter()
        fs.cat_ranges([server.url], [0], [1])
        trips.append(time.perf_counter() - began)
    server.take()
    start = SIZE // 2 - VIEWPORT // 2 + 100  # as _viewport
    wanted = range(start // tile, (start + VIEWPORT - 1) // tile + 1)
    with TiffFile(path) as tif:
        page = tif.series[0].levels[0].keyframe
        per_row = SIZE // tile
        located = [page.segment_range(row * per_row + col) for row in wanted for col in wanted]
        tables = page.jpegtables
    with path.open("rb") as fh:
        tiles = [os.pread(fh.fileno(), length, offset) for offset, length in filter(None, located)]
    decodes = []
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        for _ in range(repeat):
            began = time.perf_counter()
            list(pool.map(lambda data: imagecodecs.jpeg_decode(data, tables=tables), tiles))
            decodes.append(time.perf_counter() - began)
    return {
        "open_s": math.nan,
        "open_requests": math.nan,
        "view_s": statistics.median(trips) + statistics.median(decodes),
        "view_requests": 1,
        "tiles": len(tiles),
    }


def table(results: dict[float, dict[str, dict[str, float]]], repeat: int, tile: int) -> str:
    peer = "tifffile over fsspec"
    lines = [
        "## Remote: a 16384 x 16384 JPEG pyramid over local HTTP",
        "",
        f"`python benchmarks/remote.py --repeat {repeat} --write`: {tile}-pixel RGB JPEG "
        "tiles served by a local range-serving HTTP server that counts requests and adds "
        "the latency shown to each; open is TiffFile + series + a zarr group with every "
        "level's array; the viewport is 1024 x 1024 at level 0, centred and not aligned "
        f"to tiles. Readers take turns; medians of {repeat}; ratios are against tifffile "
        "over an fsspec file.",
        "",
        "| latency | reader | open requests | open (ms) | open / tifffile "
        "| viewport requests | viewport (ms) | viewport / tifffile | viewport / floor |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for latency, by_reader in results.items():
        base = by_reader.get(peer)
        least = by_reader.get(FLOOR)
        for name, r in by_reader.items():
            if name == FLOOR:
                lines.append(
                    f"| {latency * 1000:.0f} ms | {name} ({r['tiles']:.0f} tiles) |  |  |  | "
                    f"{r['view_requests']:.0f} | {r['view_s'] * 1000:.1f} | "
                    f"{r['view_s'] / base['view_s']:.2f} | 1.00 |"
                    if base
                    else ""
                )
                continue
            open_ratio = f"{r['open_s'] / base['open_s']:.2f}" if base else ""
            view_ratio = f"{r['view_s'] / base['view_s']:.2f}" if base else ""
            floor_ratio = f"{r['view_s'] / least['view_s']:.2f}" if least else ""
            lines.append(
                f"| {latency * 1000:.0f} ms | {name} | {r['open_requests']:.0f} | "
                f"{r['open_s'] * 1000:.1f} | {open_ratio} | {r['view_requests']:.0f} | "
                f"{r['view_s'] * 1000:.1f} | {view_ratio} | {floor_ratio} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, nargs="*", default=[0.0, 0.02])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args()
    path = write_pyramid(args.tile)
    print(f"{path.name}: {path.stat().st_size / 2**20:.1f} MiB, {args.tile}-pixel tiles")
    results: dict[float, dict[str, dict[str, float]]] = {}
    for latency in args.latency:
        server = Server(path, latency)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            results[latency] = measure(server, args.repeat)
            results[latency][FLOOR] = floor(server, path, args.tile, args.repeat)
        finally:
            server.shutdown()
            server.server_close()
    text = table(results, args.repeat, args.tile)
    print(text)
    if args.write:
        from _results import write_section

        write_section("remote", text)


if __name__ == "__main__":
    main()
