"""Time from viewer.open to the first frame showing the image, and peak memory, in napari.

    flock /tmp/tiffzarr-measure.lock xvfb-run -a python benchmarks/viewer_first_frame.py

Writes (once, cached) a 16384 x 16384 RGB pyramid of 256-pixel JPEG tiles with tifffile, its
levels in SubIFDs down to 512 x 512.  Then, for each reader in turn, in a fresh process so the
peak resident memory is that reader's own, it starts a shown napari viewer, waits until the
window is idle, and calls ``viewer.open(path, plugin=...)``: ``napari-tiffzarr`` (ours, the
pyramid as zarr arrays over our store) and ``napari`` (napari's builtin reader, which reads
level 0 eagerly through imageio and tifffile).

The signal is the canvas itself: after each draw of the vispy canvas (connected last, so the
scene has been rendered) the frame buffer is read back, and the first frame in which most of
the canvas shows the slide's colours is the first image frame; its time is taken when the
frame is swapped to the window (QOpenGLWidget.frameSwapped).  napari 0.9 slices
synchronously unless its experimental async setting is on (reported): a multiscale layer is
first sliced at its coarsest level, and the first draw picks the level for the view and slices
the tiles in view, which draws again; the "settled" time is the frame after which nothing is
sliced or drawn for a second.  A screenshot after settling must not be blank either.

Memory: RSS when the viewer is idle before open, and the process's peak RSS
(ru_maxrss) at the end.  Runs alternate between readers; medians are printed as a table.
With --warm, each process first opens and closes a 1024 x 1024 pyramid with the same reader,
untimed, so napari's one-time costs of a first layer (imports of xarray, scipy.ndimage and
pint, the Qt layer controls) are not counted.  Other options: --runs N (default 3), --size,
--tile, --readers, --window WxH; TIFFZARR_BENCH_DATA sets the cache folder.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _process import child_result, peak_rss_mb, rss_mb

CACHE = Path(os.environ.get("TIFFZARR_BENCH_DATA", Path(tempfile.gettempdir()) / "tiffzarr-bench"))
READERS = ("napari-tiffzarr", "napari")
MIN_LEVEL = 1024  # levels are halved until one is smaller than this


# -- data ---------------------------------------------------------------------------
def _slide_tile(y0: int, x0: int, length: int, width: int, step: int) -> np.ndarray:
    """Slide-like colours at level-0 coordinates y0 + step * i, x0 + step * j."""
    y = (y0 + step * np.arange(length, dtype=np.float32))[:, None]
    x = (x0 + step * np.arange(width, dtype=np.float32))[None, :]
    tissue = 0.5 + 0.25 * (np.sin(x / 1900.0 + np.cos(y / 2300.0)) + np.cos(y / 1300.0))
    detail = 0.5 + 0.5 * np.sin(x / 37.0) * np.cos(y / 29.0)
    pink = np.array([230, 130, 190], np.float32)
    purple = np.array([110, 60, 160], np.float32)
    mix = np.clip(tissue * 0.7 + detail * 0.3, 0, 1)[..., None]
    rgb = pink + (purple - pink) * mix
    noise = ((x * 7919 + y * 104729) % 13).astype(np.float32)[..., None]
    return np.clip(rgb + noise, 0, 255).astype(np.uint8)


def _tiles(length: int, width: int, tile: int, step: int) -> Iterator[np.ndarray]:
    for y in range(0, length, tile):
        for x in range(0, width, tile):
            yield _slide_tile(y * step, x * step, tile, tile, step)


def make_pyramid(size: int, tile: int) -> Path:
    """The cached pyramid: JPEG RGB tiles, reduced levels in SubIFDs of the first page."""
    import tifffile

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"viewer-rgb-jpeg-{size}-tile{tile}.tif"
    if path.exists():
        return path
    levels = [size]
    while levels[-1] >= MIN_LEVEL:
        levels.append(levels[-1] // 2)
    partial = path.with_suffix(f".{os.getpid()}.part")
    options: dict[str, Any] = {
        "dtype": np.uint8,
        "tile": (tile, tile),
        "photometric": "rgb",
        "compression": "jpeg",
        "metadata": None,
    }
    with tifffile.TiffWriter(partial, bigtiff=True) as tif:
        for index, length in enumerate(levels):
            step = size // length
            tif.write(
                _tiles(length, length, tile, step),
                shape=(length, length, 3),
                subifds=len(levels) - 1 if index == 0 else None,
                subfiletype=1 if index else 0,
                **options,
            )
    os.replace(partial, path)
    return path


# -- one measured run, in its own process ----------------------------------------------
def _shows_slide(pixels: np.ndarray, share: float = 0.2) -> bool:
    """Most of a blank canvas is grey or black; the slide is pink and purple."""
    rgb = pixels[..., :3].astype(np.int16)
    saturated = (rgb.max(axis=-1) - rgb.min(axis=-1)) > 40
    return bool(saturated.mean() > share)


def measure(
    reader: str, path: str, window: tuple[int, int], warm: str | None = None
) -> dict[str, Any]:
    import napari
    from napari.settings import get_settings
    from qtpy.QtWidgets import QApplication
    from vispy import gloo

    viewer = napari.Viewer(show=True)
    viewer.window.resize(*window)
    app = QApplication.instance()
    assert app is not None

    def run_events(seconds: float) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            app.processEvents()
            time.sleep(0.002)

    if warm:  # napari's first-layer costs (imports, layer controls) paid before timing
        viewer.open(warm, plugin=reader)
        run_events(1.0)
        viewer.layers.clear()
    run_events(2.0)  # the window shown, laid out and drawn: idle
    scene = viewer.window._qt_viewer.canvas._scene_canvas
    draws: list[tuple[float, bool, int | None]] = []
    swaps: list[float] = []
    slices: list[float] = []
    layers: list[Any] = []

    def on_inserted(event: Any) -> None:
        layers.append(event.value)
        slices.append(time.perf_counter())  # inserted: sliced for the view already
        event.value.events.set_data.connect(lambda _e: slices.append(time.perf_counter()))

    viewer.layers.events.inserted.connect(on_inserted)

    def on_draw(_event: Any) -> None:
        now = time.perf_counter()
        pixels = gloo.read_pixels(alpha=False)
        level = getattr(layers[0], "data_level", None) if layers else None
        draws.append((now, _shows_slide(pixels), level))

    scene.events.draw.connect(on_draw, position="last")
    scene.native.frameSwapped.connect(lambda: swaps.append(time.perf_counter()))

    rss_before = rss_mb()
    peak_before = peak_rss_mb()
    start = time.perf_counter()
    viewer.open(path, plugin=reader)
    opened = time.perf_counter()
    layer = layers[0]

    deadline = opened + 600
    while time.perf_counter() < deadline:
        app.processEvents()
        time.sleep(0.002)
        now = time.perf_counter()
        image_frames = [d for d in draws if d[0] > start and d[1]]
        last_event = max([d[0] for d in draws] + slices + [opened])
        if image_frames and now - last_event > 1.0:
            break
    else:
        raise RuntimeError(f"{reader}: no frame showed the image within 600 s")

    first_draw = next(d for d in draws if d[0] > start and d[1])
    first_swap = next((s for s in swaps if s >= first_draw[0]), first_draw[0])
    last_slice = max(slices)
    settled = next(d for d in draws if d[0] > last_slice and d[1])
    settled_swap = next((s for s in swaps if s >= settled[0]), settled[0])
    shot = viewer.screenshot(canvas_only=True, flash=False)
    result = {
        "reader": reader,
        "warm": bool(warm),
        "async_slicing": bool(get_settings().experimental.async_),
        "multiscale": bool(layer.multiscale),
        "levels": len(layer.data) if layer.multiscale else 1,
        "data_type": type(layer.data[0] if layer.multiscale else layer.data).__name__,
        "open_returned_s": opened - start,
        "first_image_frame_s": first_swap - start,
        "first_image_level": first_draw[2],
        "settled_frame_s": settled_swap - start,
        "settled_level": settled[2],
        "draws_from_open": sum(d[0] > start for d in draws),
        "screenshot_shows_slide": _shows_slide(shot),
        "rss_before_open_mb": rss_before,
        "peak_rss_before_open_mb": peak_before,
        "peak_rss_mb": peak_rss_mb(),
        "canvas": list(scene.size),
    }
    viewer.close()
    return result


# -- the parent: data, fresh processes, medians ------------------------------------------
def _child(reader: str, path: Path, window: str, warm: Path | None) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", reader, str(path), "--window", window]
    if warm:
        command += ["--warm-with", str(warm)]
    return child_result(command, reader)


def _table(results: dict[str, list[dict[str, Any]]]) -> str:
    rows = [
        ("open returned (s)", "open_returned_s", "{:.2f}"),
        ("first image frame (s)", "first_image_frame_s", "{:.2f}"),
        ("settled frame (s)", "settled_frame_s", "{:.2f}"),
        ("RSS before open (MB)", "rss_before_open_mb", "{:.0f}"),
        ("peak RSS (MB)", "peak_rss_mb", "{:.0f}"),
    ]
    readers = list(results)
    lines = [
        "| median of runs | " + " | ".join(readers) + " |",
        "|---|" + "---|" * len(readers),
    ]
    for label, key, fmt in rows:
        cells = [fmt.format(statistics.median(r[key] for r in results[name])) for name in readers]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size", type=int, default=16384)
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--readers", nargs="+", default=list(READERS))
    parser.add_argument("--window", default="1400x900")
    parser.add_argument(
        "--warm",
        action="store_true",
        help="open and close a small pyramid with the same reader first, untimed",
    )
    parser.add_argument("--warm-with", help=argparse.SUPPRESS)
    parser.add_argument("--child", nargs=2, metavar=("READER", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    width, height = (int(v) for v in args.window.split("x"))
    if args.child:
        result = measure(args.child[0], args.child[1], (width, height), args.warm_with)
        print(json.dumps(result))
        return 0

    path = make_pyramid(args.size, args.tile)
    warm = make_pyramid(1024, args.tile) if args.warm else None
    print(f"{path}: {path.stat().st_size / 2**20:.0f} MB, {os.cpu_count()} cores", flush=True)
    results: dict[str, list[dict[str, Any]]] = {reader: [] for reader in args.readers}
    for run in range(args.runs):
        for reader in args.readers if run % 2 == 0 else args.readers[::-1]:
            result = _child(reader, path, args.window, warm)
            results[reader].append(result)
            print(json.dumps(result), flush=True)
    print(_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
