"""Panning in a real napari viewer with a rest between steps: napari's data fetch per step.

    xvfb-run -a -s "-screen 0 1920x1200x24" env QT_QPA_PLATFORM=xcb \\
        python benchmarks/viewer_pan.py [--runs 2] [--pause 0.15] [--write]

The 16384 x 16384 RGB pyramid of 256-pixel JPEG tiles of viewer_first_frame.py is shown in
a 1280 x 1024 window with the camera at zoom 1, so level 0 is drawn.  The camera then
moves 20 steps of 400 pixels to the right (new ground) and 20 steps back to the start
(ground seen a moment ago), resting --pause seconds between steps as a user's hand does.
It is viewer_browse.py's ``pan400`` scenario with napari's synchronous slicing and a rest;
per step:

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
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _viewer import READERS, WINDOW
from viewer_browse import STEPS, Run, run_all
from viewer_first_frame import make_pyramid

STEP = 400


def _mean(runs: list[dict[str, Any]], key: str) -> float:
    """Mean per step over all steps of all runs: a step that decodes counts as much as one
    that does not, as a user feels it."""
    phase, measure = key.split("_", 1)
    return statistics.fmean(v for r in runs for v in r["phases"][phase][measure])


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
    sliced = [f"{statistics.fmean(_sliced(r) for r in results[name]):.1f}" for name in readers]
    lines.append(
        f"| steps that read data (of {STEPS} + {STEPS}) | " + " | ".join(sliced) + " |  |"
    )
    lines.append("| peak RSS of the process (MB) | " + " | ".join(peaks) + f" | {peak_ratio} |")
    canvas = next(iter(results.values()))[0]["canvas"]
    levels = {name: sorted({r["level_drawn"] for r in rs}) for name, rs in results.items()}
    intro = (
        f"`python benchmarks/viewer_pan.py --runs {runs} --pause {pause}` under Xvfb: napari "
        f"{_napari_version()}, window {WINDOW[0]} x {WINDOW[1]} (canvas {canvas[0]} x "
        f"{canvas[1]}), zoom 1 (levels drawn: {levels}), {STEPS} steps of {STEP} px right, "
        f"{STEPS} back, {pause} s between steps; each reader in a fresh process, the "
        f"readers taking turns, {runs} runs each; means over all steps of all runs. "
        "Data fetch: time inside napari's slicing call (the level drawn and the thumbnail); "
        "whole step: camera set to the frame after the last slice. `ours` is the "
        "napari-tiffzarr reader as shipped (1024-pixel chunks, the decoded-chunk cache, "
        "read-ahead); `memory` holds every level decoded in numpy (the floor)."
    )
    return "## napari pan steps (16384 x 16384 RGB JPEG pyramid, 256-pixel tiles)\n\n" + (
        intro + "\n\n" + "\n".join(lines)
    )


def _sliced(result: dict[str, Any]) -> int:
    return sum(n > 0 for phase in result["phases"].values() for n in phase["slices"])


def _napari_version() -> str:
    import napari

    return str(napari.__version__)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--pause", type=float, default=0.15)
    parser.add_argument("--readers", nargs="+", default=list(READERS))
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args()
    path, warm = make_pyramid(16384, 256), make_pyramid(1024, 256)
    plan = [
        Run(reader, "pan400", str(path), "sync", STEPS, args.pause, str(warm))
        for run in range(args.runs)
        for reader in (args.readers if run % 2 == 0 else args.readers[::-1])
    ]
    results: dict[str, list[dict[str, Any]]] = {reader: [] for reader in args.readers}
    for result in run_all(plan):
        results[result["reader"]].append(result)
    text = table(results, args.pause, args.runs)
    print(text)
    if args.write:
        from _results import write_section

        write_section("viewer-pan", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
