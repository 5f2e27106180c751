"""Panning in a real napari viewer: time napari spends fetching data per camera step.

    xvfb-run -a -s "-screen 0 1920x1200x24" env QT_QPA_PLATFORM=xcb \\
        python benchmarks/viewer_pan.py [--runs 2] [--pause 0.15] [--write]

The 16384 x 16384 RGB pyramid of 256-pixel JPEG tiles of viewer_first_frame.py is shown in
a 1280 x 1024 window with the camera at zoom 1, so level 0 is drawn.  The camera then
moves 20 steps of 400 pixels to the right (new ground) and 19 steps back (ground seen a
moment ago), waiting --pause seconds between steps as a user's hand does.  Per step:

- *data fetch*: the time inside napari's slicing call (``_ScalarFieldSliceRequest.__call__``,
  which materialises the visible region of the level drawn and the thumbnail), summed
  over the calls the step makes;
- *whole step*: from setting the camera to the frame drawn after the last slice.

Readers, each in a fresh process so that the peak resident memory is its own, taking
turns: ``ours`` (napari-tiffzarr's reader), ``napari-tiff`` (0.1.6: tifffile's store
under dask, 1 MiB chunks), ``tifffile`` (tifffile's ZarrTiffStore handed to napari as
zarr arrays), ``memory`` (every level already decoded in numpy: the floor).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _process import child_result, peak_rss_mb, rss_mb
from viewer_first_frame import make_pyramid

READERS = ("ours", "napari-tiff", "tifffile", "memory")
STEPS = 20
STEP = 400
WINDOW = (1280, 1024)


def _add_layer(viewer: Any, reader: str, path: str) -> Any:
    if reader.startswith("ours"):
        # variants for comparison: ours-<chunk size>[-noahead], e.g. ours-512-noahead
        from napari_tiffzarr.plugin import _reader

        for option in reader.split("-")[1:]:
            if option == "noahead":
                _reader.VIEWER_READAHEAD = False
            else:
                _reader.VIEWER_CHUNKSHAPE = int(option)
        return viewer.open(path, plugin="napari-tiffzarr")[0]
    if reader == "napari-tiff":
        return viewer.open(path, plugin="napari-tiff")[0]
    import tifffile

    tif = tifffile.TiffFile(path)
    series = tif.series[0]
    if reader == "tifffile":
        import zarr

        group = zarr.open_group(series.aszarr(multiscales=True), mode="r")
        data = [group[str(i)] for i in range(len(series.levels))]
    else:
        data = [level.asarray() for level in series.levels]
    return viewer.add_image(data, multiscale=True, rgb=True)


def measure(reader: str, path: str, pause: float) -> dict[str, Any]:
    import napari
    from napari.layers._scalar_field._slice import _ScalarFieldSliceRequest
    from qtpy.QtWidgets import QApplication

    fetches: list[tuple[float, float]] = []
    original = _ScalarFieldSliceRequest.__call__

    def timed(self: Any) -> Any:
        began = time.perf_counter()
        try:
            return original(self)
        finally:
            fetches.append((began, time.perf_counter()))

    _ScalarFieldSliceRequest.__call__ = timed  # type: ignore[method-assign]

    viewer = napari.Viewer(show=True)
    viewer.window.resize(*WINDOW)
    app = QApplication.instance()
    assert app is not None
    scene = viewer.window._qt_viewer.canvas._scene_canvas
    swaps: list[float] = []
    scene.native.frameSwapped.connect(lambda: swaps.append(time.perf_counter()))

    def settle(since: float, quiet: float = 0.1, limit: float = 60.0) -> float:
        """Run events until a frame follows the last slice (or the camera move, where
        napari slices nothing: its view still lies inside the chunks it read) and nothing
        is sliced for quiet seconds; that frame's time.  napari may redraw on its own, so
        frames alone never go quiet."""
        end = since + limit
        while time.perf_counter() < end:
            app.processEvents()
            time.sleep(0.001)
            sliced = [f for f in fetches if f[0] >= since]
            if sliced and sliced[-1][1] < sliced[-1][0]:
                continue
            after = sliced[-1][1] if sliced else since
            framed = [s for s in swaps if s >= after]
            if framed and time.perf_counter() - max(after, framed[0]) > quiet:
                return framed[0]
        raise RuntimeError(
            f"{reader}: the view did not settle within {limit} s: "
            f"{len(fetches)} slices, {len(swaps)} frames"
        )

    rss_before = rss_mb()
    layer = _add_layer(viewer, reader, path)
    camera = viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera
    y0, x0 = 6000.0, 3000.0
    camera.zoom = 1.0
    camera.center = (y0, x0)
    settle(time.perf_counter() - 0.5, quiet=0.5)
    level = layer.data_level
    # 20 steps right, then 19 back over the same ground
    xs = [x0 + STEP * i for i in range(1, STEPS + 1)] + [
        x0 + STEP * i for i in range(STEPS - 1, 0, -1)
    ]
    steps = []
    for x in xs:
        time.sleep(pause)
        app.processEvents()
        start = time.perf_counter()
        camera.center = (y0, x)
        frame = settle(start)
        fetched = sum(b - a for a, b in fetches if a >= start)
        slices = sum(a >= start for a, _ in fetches)
        steps.append(
            {
                "fetch_s": fetched,
                "step_s": frame - start,
                "level": layer.data_level,
                "slices": slices,
            }
        )
    result = {
        "reader": reader,
        "level": level,
        "canvas": list(scene.size),
        "forward_fetch_s": [s["fetch_s"] for s in steps[:STEPS]],
        "back_fetch_s": [s["fetch_s"] for s in steps[STEPS:]],
        "forward_step_s": [s["step_s"] for s in steps[:STEPS]],
        "back_step_s": [s["step_s"] for s in steps[STEPS:]],
        "slices": [s["slices"] for s in steps],
        "levels_drawn": sorted({s["level"] for s in steps}),
        "rss_before_open_mb": rss_before,
        "peak_rss_mb": peak_rss_mb(),
    }
    viewer.close()
    return result


def _child(reader: str, path: Path, pause: float) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", reader, str(path), "--pause", str(pause)]
    return child_result(command, reader)


def _mean(runs: list[dict[str, Any]], key: str) -> float:
    """Mean per step over all steps of all runs: a step that decodes counts as much as one
    that does not, as a user feels it."""
    return statistics.fmean(v for r in runs for v in r[key])


def table(results: dict[str, list[dict[str, Any]]], pause: float, runs: int) -> str:
    readers = list(results)
    peer = "napari-tiff"
    rows = [
        ("forward, new ground: data fetch (ms)", "forward_fetch_s"),
        ("back, ground seen a moment ago: data fetch (ms)", "back_fetch_s"),
        ("forward: whole step (ms)", "forward_step_s"),
        ("back: whole step (ms)", "back_step_s"),
    ]
    head = "| mean per pan step | " + " | ".join(readers) + " | ours / napari-tiff |"
    lines = [head, "|---|" + "---:|" * (len(readers) + 1)]
    for label, key in rows:
        cells = [f"{_mean(results[name], key) * 1000:.1f}" for name in readers]
        ratio = ""
        if "ours" in results and peer in results:
            ratio = f"{_mean(results['ours'], key) / _mean(results[peer], key):.2f}"
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {ratio} |")
    peaks = [
        f"{statistics.median(r['peak_rss_mb'] for r in results[name]):.0f}" for name in readers
    ]
    peak_ratio = ""
    if "ours" in results and peer in results:
        ours = statistics.median(r["peak_rss_mb"] for r in results["ours"])
        theirs = statistics.median(r["peak_rss_mb"] for r in results[peer])
        peak_ratio = f"{ours / theirs:.2f}"
    sliced = [
        f"{statistics.fmean(sum(n > 0 for n in r['slices']) for r in results[name]):.1f}"
        for name in readers
    ]
    lines.append(
        f"| steps that read data (of {STEPS} + {STEPS - 1}) | " + " | ".join(sliced) + " |  |"
    )
    lines.append("| peak RSS of the process (MB) | " + " | ".join(peaks) + f" | {peak_ratio} |")
    canvas = next(iter(results.values()))[0]["canvas"]
    levels = {
        name: sorted({lv for r in rs for lv in r["levels_drawn"]}) for name, rs in results.items()
    }
    intro = (
        f"`python benchmarks/viewer_pan.py --runs {runs} --pause {pause}` under Xvfb: napari "
        f"{_napari_version()}, window {WINDOW[0]} x {WINDOW[1]} (canvas {canvas[0]} x "
        f"{canvas[1]}), zoom 1 (levels drawn: {levels}), {STEPS} steps of {STEP} px right, "
        f"{STEPS - 1} back, {pause} s between steps; each reader in a fresh process, the "
        f"readers taking turns, {runs} runs each; means over all steps of all runs. "
        "Data fetch: time inside napari's slicing call (the level drawn and the thumbnail); "
        "whole step: camera set to the frame after the last slice. `ours` is the "
        "napari-tiffzarr reader as shipped (1024-pixel chunks, the decoded-chunk cache, "
        "read-ahead); `memory` holds every level decoded in numpy (the floor)."
    )
    return "## napari pan steps (16384 x 16384 RGB JPEG pyramid, 256-pixel tiles)\n\n" + (
        intro + "\n\n" + "\n".join(lines)
    )


def _napari_version() -> str:
    import napari

    return str(napari.__version__)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--pause", type=float, default=0.15)
    parser.add_argument("--readers", nargs="+", default=list(READERS))
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    parser.add_argument("--child", nargs=2, metavar=("READER", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], args.child[1], args.pause)))
        return 0
    path = make_pyramid(16384, 256)
    results: dict[str, list[dict[str, Any]]] = {reader: [] for reader in args.readers}
    for run in range(args.runs):
        for reader in args.readers if run % 2 == 0 else args.readers[::-1]:
            result = _child(reader, path, args.pause)
            results[reader].append(result)
            print(
                f"{reader:12s} fetch fwd {statistics.fmean(result['forward_fetch_s']) * 1000:6.1f}"
                f" back {statistics.fmean(result['back_fetch_s']) * 1000:6.1f} ms, step fwd "
                f"{statistics.fmean(result['forward_step_s']) * 1000:6.1f} back "
                f"{statistics.fmean(result['back_step_s']) * 1000:6.1f} ms, "
                f"peak {result['peak_rss_mb']:.0f} MB",
                flush=True,
            )
    text = table(results, args.pause, args.runs)
    print(text)
    if args.write:
        from _results import write_section

        write_section("viewer-pan", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
