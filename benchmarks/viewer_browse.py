"""Browsing in a real napari viewer without rest: pans, a zoom and a T slider, step after step.

    xvfb-run -a -s "-screen 0 1920x1200x24" env QT_QPA_PLATFORM=xcb \\
        python benchmarks/viewer_browse.py [--runs 2] [--steps 20] [--write]

Each step starts as soon as the canvas has drawn the previous one: when napari has finished
slicing (in its draw handler, or in its slicing thread under async slicing) and a frame
drawn after the last slice has reached the window.  There is no fixed sleep; ``--rest S``
waits S seconds between steps instead, as a hand that pauses does.  Scenarios:

- ``pan400``, ``pan100``: the 16384 x 16384 RGB JPEG pyramid of viewer_first_frame.py at
  zoom 1 (level 0 drawn), --steps steps of 400 (or 100) screen pixels right, then back
  over the same ground to the start;
- ``zoom``: the same slide from the whole slide to zoom 1 in steps of a factor 1.5 around
  a point that stays where it is on the screen (as a mouse wheel zooms), then back out;
- ``scrub``: a 120 x 2048 x 2048 uint16 time-lapse, deflate, 256-pixel tiles, written
  by tifffile once into the benchmark data folder: --steps frames forward one at a time
  from the frame napari shows first, back over the frames just seen, then --steps random
  jumps (seeded); and the time from ``viewer.open`` to the first frame drawn.

Each process first opens and closes a small file of the same kind, untimed, so napari's
one-time costs of a reader's first layer (imports, plugin discovery) are not counted.

Per step: *data fetch*, the time inside napari's slicing call (the region of the level in
view and the thumbnail), summed over the step's calls; *whole step*, from the change of
camera or slider to the frame showing it.  Tables give mean, p90 and worst over all steps
of all runs, and each process's peak resident memory.  Readers, each in a fresh process
per scenario so that its peak memory is its own, taking turns: ``ours`` (this package's
reader as shipped), ``napari-tiff`` (tifffile's store under dask), ``tifffile``
(tifffile's ZarrTiffStore levels handed to napari as zarr arrays) and ``memory`` (the
levels decoded in numpy first: the floor).  Every scenario runs with napari's synchronous
slicing and again with its experimental async slicing (``--modes``), in a napari settings
file of its own, so the user's settings are never read or changed.

Every step of every run is saved as it is measured (a JSON file in the benchmark data
folder); ``--tables-from FILE`` makes the tables again from it, also of a run stopped
half-way.  ``--chunkshape 256,512,1024,2048`` runs only ours, once with each
VIEWER_CHUNKSHAPE, over the pans, for a table of mean and worst step per chunk size.
``--quick`` is a smoke run: a 4096-pixel slide, a 12 x 1024 x 1024 time-lapse, 3 steps,
one run.  ``--write`` puts the tables into benchmarks/RESULTS.md, with ratios against the
issue's targets.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _process import child_result, peak_rss_mb, rss_mb
from _viewer import (
    CHUNKSHAPE,
    READERS,
    WINDOW,
    Canvas,
    MissingPiece,
    SliceClock,
    add_layer,
    camera,
    check_reader,
    is_ours,
    ours_settings,
)
from viewer_first_frame import CACHE, make_pyramid

MODES = ("sync", "async")
STEPS = 20
ZOOM_FACTOR = 1.5
LOOK = 0.5  # seconds the first view is looked at before the hand moves (untimed)
SEED = 20


# -- data --------------------------------------------------------------------------
@dataclass(frozen=True)
class Sizes:
    slide: int  # the pyramid's level 0, square
    frames: int  # the time-lapse
    frame: int
    tile: int = 256


FULL = Sizes(slide=16384, frames=120, frame=2048)
QUICK = Sizes(slide=4096, frames=12, frame=1024)
WARM = Sizes(slide=1024, frames=4, frame=256)  # opened first, untimed: napari's one-time costs


def _frame_tiles(t: int, size: int, tile: int) -> Iterator[np.ndarray]:
    """One frame of a moving texture with camera noise, tile by tile.  Deflate without a
    predictor keeps about 93% of it, as it does of noisy 16-bit camera frames: every frame
    is mostly inflating, not zeros."""
    y = np.arange(size, dtype=np.float32)[:, None]
    x = np.arange(size, dtype=np.float32)[None, :]
    base = np.sin((x + 7 * t) / 53.0) * np.cos((y - 5 * t) / 71.0) + np.sin((x + y) / 157.0)
    noise = np.random.default_rng(t).integers(0, 600, (size, size))
    frame = ((base + 2.2) * 9000 + noise).astype(np.uint16)
    for row in range(0, size, tile):
        for col in range(0, size, tile):
            yield frame[row : row + tile, col : col + tile]


def make_timelapse(frames: int, size: int, tile: int) -> Path:
    """The cached time-lapse: T x Y x X uint16, deflate, square tiles, axes in tifffile's
    shaped description."""
    import tifffile

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"timelapse-{frames}x{size}-uint16-deflate-tile{tile}.tif"
    if path.exists():
        return path
    partial = path.with_suffix(f".{os.getpid()}.part")
    tiles = (piece for t in range(frames) for piece in _frame_tiles(t, size, tile))
    tifffile.imwrite(
        partial,
        tiles,
        shape=(frames, size, size),
        dtype=np.uint16,
        tile=(tile, tile),
        compression="zlib",
        metadata={"axes": "TYX"},
    )
    os.replace(partial, path)
    return path


# -- scenarios: each sets up its first view and returns its phases of steps ----------------
Move = Callable[[], None]
Phases = list[tuple[str, list[Move]]]


def _chunks(layer: Any) -> list[int]:
    """The chunk shape napari reads level 0 (or the one level) in; none for numpy."""
    data = layer.data[0] if layer.multiscale else layer.data
    chunks = getattr(data, "chunksize", getattr(data, "chunks", ()))  # dask, then zarr
    return [int(n) for n in chunks]


def _plane_shape(layer: Any) -> tuple[int, int]:
    data = layer.data[0] if layer.multiscale else layer.data
    shape = data.shape[:-1] if layer.rgb else data.shape
    return int(shape[-2]), int(shape[-1])


def _pan(pixels: int) -> Callable[[Any, Any, int], Phases]:
    def phases(viewer: Any, layer: Any, steps: int) -> Phases:
        length, width = _plane_shape(layer)
        y0, x0 = 0.37 * length, 0.18 * width
        if x0 + pixels * steps > width:
            raise ValueError(f"{steps} steps of {pixels} px leave the {width} px wide slide")
        view = camera(viewer)
        view.zoom = 1.0
        view.center = (y0, x0)

        def to(x: float) -> Move:
            return lambda: setattr(view, "center", (y0, x))

        return [
            ("forward", [to(x0 + pixels * i) for i in range(1, steps + 1)]),
            ("back", [to(x0 + pixels * i) for i in range(steps - 1, -1, -1)]),
        ]

    return phases


def _zoom(viewer: Any, layer: Any, steps: int) -> Phases:
    """From the whole slide to zoom 1 and back, the focus staying put on the screen."""
    del steps  # the zoom range sets the count
    length, width = _plane_shape(layer)
    viewer.reset_view()
    view = camera(viewer)
    z0 = float(view.zoom)
    c0 = np.array(view.center[-2:], dtype=float)
    focus = np.array([0.37 * length, 0.68 * width])
    zooms = [z0 * ZOOM_FACTOR**k for k in range(1, math.ceil(math.log(1 / z0, ZOOM_FACTOR)))]
    zooms.append(1.0)

    def to(zoom: float) -> Move:
        center = tuple(focus + (c0 - focus) * z0 / zoom)

        def move() -> None:
            view.center = center
            view.zoom = zoom

        return move

    return [("in", [to(z) for z in zooms]), ("out", [to(z) for z in [*zooms[-2::-1], z0]])]


def _scrub(viewer: Any, layer: Any, steps: int) -> Phases:
    """One frame at a time forward, back over those frames, then random jumps."""
    frames = int(layer.data.shape[0])
    if layer.ndim != 3 or frames <= steps:
        raise ValueError(f"scrub needs T x Y x X, more than {steps} frames: {layer.data.shape}")
    t0 = min(int(viewer.dims.current_step[0]), frames - 1 - steps)
    viewer.dims.set_current_step(0, t0)

    def to(t: int) -> Move:
        return lambda: viewer.dims.set_current_step(0, t)

    rng = random.Random(SEED)
    jumps, last = [], t0
    for _ in range(steps):
        t = rng.randrange(frames - 1)
        last = t + (t >= last)  # never the frame shown: a jump always moves
        jumps.append(last)
    return [
        ("forward", [to(t) for t in range(t0 + 1, t0 + steps + 1)]),
        ("back", [to(t) for t in range(t0 + steps - 1, t0 - 1, -1)]),
        ("jumps", [to(t) for t in jumps]),
    ]


SCENARIOS: dict[str, Callable[[Any, Any, int], Phases]] = {
    "pan400": _pan(400),
    "pan100": _pan(100),
    "zoom": _zoom,
    "scrub": _scrub,
}
LABELS = {
    "pan400": "pan, 400 px a step",
    "pan100": "pan, 100 px a step",
    "zoom": f"zoom, x {ZOOM_FACTOR} a step",
    "scrub": "T slider",
}


def _data(scenario: str, sizes: Sizes) -> Path:
    if scenario == "scrub":
        return make_timelapse(sizes.frames, sizes.frame, sizes.tile)
    return make_pyramid(sizes.slide, sizes.tile)


# -- one measured run, in its own process -------------------------------------------------
def _check_screen(app: Any) -> None:
    size = app.primaryScreen().size()
    if size.width() < WINDOW[0] or size.height() < WINDOW[1]:
        raise MissingPiece(
            f"the screen is {size.width()} x {size.height()}, smaller than the "
            f"{WINDOW[0]} x {WINDOW[1]} window: run under "
            'xvfb-run -a -s "-screen 0 1920x1200x24"'
        )


@dataclass(frozen=True)
class Run:
    """One measured run: a reader through one scenario, in a process of its own."""

    reader: str
    scenario: str
    path: str
    mode: str  # napari's slicing: "sync" or "async"
    steps: int
    rest: float
    warm: str  # a small file of the same kind, opened and closed first

    def command(self) -> list[str]:
        return [
            *(sys.executable, __file__, "--child", self.reader, self.scenario, self.path),
            *("--mode", self.mode, "--steps", str(self.steps), "--rest", str(self.rest)),
            *("--warm", self.warm),
        ]


def measure(run: Run) -> dict[str, Any]:
    import napari
    from napari.settings import get_settings

    get_settings().experimental.async_ = run.mode == "async"
    clock = SliceClock()
    viewer = napari.Viewer(show=True)
    viewer.window.resize(*WINDOW)
    canvas = Canvas(viewer, clock)
    _check_screen(canvas.app)
    # napari's one-time costs of a first layer from a reader (imports, plugin discovery,
    # layer controls) are paid on a small file of the same kind, untimed
    start = time.perf_counter()
    add_layer(viewer, run.reader, run.warm)
    canvas.settle(start)
    viewer.layers.clear()
    canvas.run_events(1.0)  # the window shown, laid out and drawn: idle

    rss_before = rss_mb()
    start = time.perf_counter()
    layer = add_layer(viewer, run.reader, run.path)
    first_frame = canvas.settle(start) - start
    began = time.perf_counter()
    phases = SCENARIOS[run.scenario](viewer, layer, run.steps)
    canvas.scene.update()  # a frame to wait for, even where the first view was already right
    canvas.settle(began)
    canvas.run_events(LOOK)

    recorded: dict[str, dict[str, list[Any]]] = {}
    for phase, moves in phases:
        record = recorded.setdefault(phase, {"fetch_s": [], "step_s": [], "slices": []})
        for move in moves:
            if run.rest:
                canvas.run_events(run.rest)
            start = time.perf_counter()
            move()
            shown = canvas.settle(start)
            fetched, slices = clock.since(start)
            record["fetch_s"].append(fetched)
            record["step_s"].append(shown - start)
            record["slices"].append(slices)
    result = {
        "reader": run.reader,
        "scenario": run.scenario,
        "mode": run.mode,
        "async_slicing": bool(get_settings().experimental.async_),
        "rest_s": run.rest,
        "canvas": list(canvas.scene.size),
        "level_drawn": int(layer.data_level) if layer.multiscale else 0,
        "chunks": _chunks(layer),
        "settings": ours_settings(run.reader) if is_ours(run.reader) else {},
        "first_frame_s": first_frame,
        "phases": recorded,
        "rss_before_open_mb": rss_before,
        "peak_rss_mb": peak_rss_mb(),
    }
    viewer.close()
    return result


# -- the parent: data, fresh processes, tables ----------------------------------------------
Results = dict[str, dict[str, dict[str, list[dict[str, Any]]]]]  # mode, scenario, reader


def _child(run: Run, settings: Path) -> dict[str, Any]:
    what = f"{run.reader} {run.scenario} ({run.mode})"
    return child_result(run.command(), what, {"NAPARI_CONFIG": str(settings)})


def _summary(values: list[float]) -> tuple[float, float, float]:
    """Mean, p90 and worst: a step that reads nothing counts as much as one that does, as a
    user feels it."""
    p90 = (
        statistics.quantiles(values, n=10, method="inclusive")[8] if len(values) > 1 else values[0]
    )
    return statistics.fmean(values), p90, max(values)


def _pooled(runs: list[dict[str, Any]], phase: str, measure: str) -> list[float]:
    return [v for r in runs for v in r["phases"][phase][f"{measure}_s"]]


@dataclass(frozen=True)
class Target:
    """One of the issue's Done-when figures: ours / peer of a statistic at most limit."""

    scenario: str
    row: str  # "<phase> fetch", "first frame" or "peak RSS"
    stat: int  # 0 mean, 1 p90, 2 worst of the row's triple; 0 for single values
    peer: str
    limit: float

    def text(self, figures: dict[str, tuple[float, ...]]) -> str:
        ours, peer = figures["ours"][self.stat], figures[self.peer][self.stat]
        stat = ("mean", "p90", "worst")[self.stat] if self.row.endswith(("fetch", "step")) else ""
        if peer:
            ratio = ours / peer
            verdict = f"{'held' if ratio <= self.limit else 'NOT held'} ({ratio:.2f})"
        else:  # the peer spent nothing measurable: ours must not either
            verdict = "held (both 0)" if ours == 0 else "NOT held (peer 0)"
        return f"{stat} <= {self.limit:g} x {self.peer}: {verdict}".lstrip()


# issue 20's Done-when figures: scenario, row, statistic, peer, ours / peer at most
DONE_WHEN = """
pan400: forward fetch, mean, napari-tiff, 0.3;  forward fetch, worst, napari-tiff, 1.0;
        peak RSS, value, napari-tiff, 1.0
pan100: forward fetch, mean, napari-tiff, 0.3;  forward fetch, worst, napari-tiff, 0.5;
        peak RSS, value, napari-tiff, 1.0
zoom:   in fetch, mean, napari-tiff, 0.5;  out fetch, mean, napari-tiff, 0.5
scrub:  forward fetch, mean, tifffile, 0.2;  forward fetch, worst, tifffile, 0.5;
        back fetch, mean, tifffile, 0.1;  first frame, value, tifffile, 1.0;
        peak RSS, value, napari-tiff, 0.6
"""


def _targets(text: str) -> tuple[Target, ...]:
    stats = {"mean": 0, "p90": 1, "worst": 2, "value": 0}
    found, scenario = [], ""
    for line in text.strip().splitlines():
        items = line
        if ":" in line:
            scenario, items = line.split(":", 1)
        for item in filter(None, (part.strip() for part in items.split(";"))):
            row, stat, peer, limit = (field.strip() for field in item.split(","))
            found.append(Target(scenario, row, stats[stat], peer, float(limit)))
    return tuple(found)


TARGETS = _targets(DONE_WHEN)
PEERS = ("napari-tiff", "tifffile", "memory")


def _rows(scenario: str, runs: dict[str, list[dict[str, Any]]]) -> list[tuple[str, dict]]:
    """(row name, reader -> its figures: a mean / p90 / worst triple or one value)."""
    phases = list(next(iter(runs.values()))[0]["phases"])
    rows: list[tuple[str, dict[str, tuple[float, ...]]]] = [
        (
            f"{phase} {measure}",
            {r: _summary(_pooled(rs, phase, measure)) for r, rs in runs.items()},
        )
        for phase in phases
        for measure in ("fetch", "step")
    ]
    if scenario == "scrub":
        first = {r: (statistics.median(x["first_frame_s"] for x in rs),) for r, rs in runs.items()}
        rows.append(("first frame", first))
    peaks = {r: (statistics.median(x["peak_rss_mb"] for x in rs),) for r, rs in runs.items()}
    rows.append(("peak RSS", peaks))
    return rows


def _label(row: str) -> str:
    phase, _, measure = row.rpartition(" ")
    names = {"fetch": "data fetch (ms)", "step": "whole step (ms)"}
    if measure in names:
        return f"{phase}: {names[measure]}"
    return {"first frame": "open to first frame (s)", "peak RSS": "peak RSS (MB)"}[row]


def _cell(row: str, values: tuple[float, ...]) -> str:
    if row == "peak RSS":
        return f"{values[0]:.0f}"
    if row == "first frame":
        return f"{values[0]:.2f}"
    return " / ".join(f"{v * 1000:.1f}" for v in values)


def _ratio(ours: tuple[float, ...], peer: tuple[float, ...]) -> str:
    return " / ".join(f"{a / b:.2f}" if b else "-" for a, b in zip(ours, peer, strict=True))


def _columns(results: dict[str, dict[str, list[dict[str, Any]]]]) -> list[str]:
    """The readers measured, ours first and the chunk shapes in order."""
    found = {r for runs in results.values() for r in runs}

    def order(reader: str) -> tuple[int, int]:
        base, _, size = reader.partition("-")
        known = READERS.index(reader) if reader in READERS else READERS.index(base)
        return known, int(size) if size.isdigit() else 0

    return sorted(found, key=order)


def browse_table(results: dict[str, dict[str, list[dict[str, Any]]]]) -> str:
    readers = _columns(results)
    peers = [p for p in PEERS if p in readers and "ours" in readers]
    head = ["scenario", "measure (mean / p90 / worst)", *readers]
    head += [f"ours / {p}" for p in peers] + ["target (issue 20)"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 3) + "---|"]
    for scenario, runs in results.items():
        for row, figures in _rows(scenario, runs):
            cells = [LABELS[scenario], _label(row)]
            cells += [_cell(row, figures[r]) if r in figures else "-" for r in readers]
            cells += [
                _ratio(figures["ours"], figures[p]) if {"ours", p} <= figures.keys() else "-"
                for p in peers
            ]
            held = [
                t.text(figures)
                for t in TARGETS
                if (t.scenario, t.row) == (scenario, row) and {"ours", t.peer} <= figures.keys()
            ]
            lines.append("| " + " | ".join([*cells, "; ".join(held)]) + " |")
    return "\n".join(lines)


def _first(results: dict[str, dict[str, list[dict[str, Any]]]], reader: str) -> dict[str, Any]:
    return next(runs[reader][0] for runs in results.values() if reader in runs)


def chunk_table(results: dict[str, dict[str, list[dict[str, Any]]]]) -> str:
    """A column per chunk shape: mean and worst whole step and data fetch of each pan."""
    readers = _columns(results)
    head = ["scenario", "measure (mean / worst)"] + [r.removeprefix("ours-") for r in readers]
    lines = [
        f"Columns: {CHUNKSHAPE} in pixels; napari read level 0 in chunks of "
        + ", ".join(
            f"{' x '.join(map(str, _first(results, r).get('chunks', [])))} ({r})" for r in readers
        )
        + ".",
        "",
        "| " + " | ".join(head) + " |",
        "|---|---|" + "---:|" * len(readers),
    ]
    for scenario, runs in results.items():
        for row, figures in _rows(scenario, runs):
            # mean and worst of a triple; a single value as it is
            cells = [_cell(row, figures[r][0:3:2]) if r in figures else "-" for r in readers]
            lines.append(f"| {LABELS[scenario]} | {_label(row)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _measured_code() -> str:
    """Which napari-tiffzarr ran: its checkout's commit, and whether it had changes."""
    import subprocess

    import napari_tiffzarr

    folder = Path(napari_tiffzarr.__file__).parent

    def git(*command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", "-C", str(folder), *command], check=False, capture_output=True, text=True
        )

    head = git("rev-parse", "--short", "HEAD")
    if head.returncode:
        return f"napari-tiffzarr {napari_tiffzarr.__version__}"
    changed = git("status", "--porcelain", ".")
    dirty = " with uncommitted changes" if changed.stdout.strip() else ""
    return f"napari-tiffzarr at {head.stdout.strip()}{dirty}"


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for package in ("napari", "napari-tiff", "tifffile", "zarr"):
        try:
            found.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            found.append(f"{package} not installed")
    return ", ".join(found)


def report(saved: dict[str, Any]) -> str:
    """The tables of a saved run, with what it ran in their introduction."""
    from run import machine

    results: Results = saved["results"]
    runs, steps, rest, slide, frames, frame = (
        saved[k] for k in ("runs", "steps", "rest", "slide", "frames", "frame")
    )
    every = [r for m in results.values() for s in m.values() for rs in s.values() for r in rs]
    canvas = every[0]["canvas"]
    shipped = next((r.get("settings", {}) for r in every if r["reader"] == "ours"), {})
    settings = ", ".join(f"{name} {value}" for name, value in shipped.items())
    settings = f" ({settings})" if settings else ""
    pause = f"{rest:g} s of rest between steps" if rest else "no rest between steps"
    title = "## napari browsing: " + ("chunk shape of ours" if saved["chunks"] else pause)
    intro = (
        f"`{saved['command']}` under Xvfb, {saved.get('code', 'napari-tiffzarr')}, "
        f"{_versions()}; window {WINDOW[0]} x {WINDOW[1]} (canvas {canvas[0]} x "
        f"{canvas[1]}); {pause}, each step starting once the canvas has drawn the previous "
        "one; each reader in a fresh process per scenario, the readers taking turns, "
        f"{runs} runs; mean, p90 and worst over every step of every run. Data fetch: time "
        "inside napari's slicing call (the region in view and the thumbnail); whole step: "
        "camera or slider set to the frame showing it. Pans at zoom 1 over level 0 of the "
        f"{slide} x {slide} RGB JPEG pyramid, {steps} steps forward and back to the start; "
        "zoom from the whole slide to zoom 1 and out; T slider on a "
        f"{frames} x {frame} x {frame} uint16 deflate time-lapse, {steps} frames forward, "
        f"back, {steps} random jumps. Each process first opens and closes a small file of "
        "the same kind, untimed (napari's one-time costs of a reader's first layer). "
        f"`ours` is the napari-tiffzarr reader as shipped{settings}; `memory` holds "
        "every level decoded in numpy (the floor)."
    )
    if saved["chunks"]:
        intro += f" Here only ours, with {CHUNKSHAPE} set to each size."
    parts = [title, "", intro, "", *machine()]
    for mode, by_scenario in results.items():
        name = "napari's synchronous slicing" if mode == "sync" else "napari's async slicing"
        table = chunk_table(by_scenario) if saved["chunks"] else browse_table(by_scenario)
        parts += ["", f"### {name}", "", table]
    return "\n".join(parts) + "\n"


def _section(saved: dict[str, Any]) -> str:
    name = "viewer-chunkshape" if saved["chunks"] else "viewer-browse"
    return name + ("-rest" if saved["rest"] else "")


def run_all(plan: list[Run]) -> Iterator[dict[str, Any]]:
    """Each run in a fresh process, in order, in a napari settings file of their own (napari
    saves a setting as it is changed: the user's file is never read or written)."""
    with tempfile.TemporaryDirectory(prefix="viewer-browse-") as folder:
        settings = Path(folder) / "napari-settings.yaml"
        for run in plan:
            started = time.perf_counter()
            result = _child(run, settings)
            _say(result, time.perf_counter() - started)
            yield result


def _say(result: dict[str, Any], seconds: float) -> None:
    phases = ", ".join(
        f"{name} {statistics.fmean(p['fetch_s']) * 1000:.1f}"
        f" / {statistics.fmean(p['step_s']) * 1000:.1f} ms"
        for name, p in result["phases"].items()
    )
    print(
        f"{result['mode']:5s} {result['scenario']:6s} {result['reader']:11s} fetch / step: "
        f"{phases}; peak {result['peak_rss_mb']:.0f} MB [{seconds:.0f} s]",
        flush=True,
    )


def _preflight(readers: list[str]) -> None:
    for reader in readers:
        check_reader(reader)
    SliceClock.check()
    if not os.environ.get("DISPLAY"):
        raise MissingPiece(
            'no display: run under xvfb-run -a -s "-screen 0 1920x1200x24" '
            "env QT_QPA_PLATFORM=xcb python benchmarks/viewer_browse.py ..."
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--scenarios", nargs="+", choices=list(SCENARIOS))
    parser.add_argument("--readers", nargs="+", default=list(READERS))
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--rest", type=float, default=0.0, help="seconds between steps")
    parser.add_argument(
        "--chunkshape",
        help="e.g. 256,512,1024,2048: only ours, panning, once per VIEWER_CHUNKSHAPE",
    )
    parser.add_argument("--quick", action="store_true", help="small data, 3 steps: a smoke run")
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    parser.add_argument("--tables-from", type=Path, help="a saved run's JSON: its tables again")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=MODES, default="sync", help=argparse.SUPPRESS)
    parser.add_argument("--warm", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.steps = args.steps or (3 if args.quick else STEPS)
    if args.child:
        run = Run(*args.child, args.mode, args.steps, args.rest, args.warm)
        print(json.dumps(measure(run)))
        return 0
    if args.tables_from:
        saved = json.loads(args.tables_from.read_text())
        if saved["slide"] != FULL.slide and args.write:
            parser.error(f"{args.tables_from} is a --quick run: not results to --write")
        return _tables(saved, args.write)
    if args.quick and args.write:
        parser.error("--quick is a smoke run: its figures are not results to --write")
    args.runs = args.runs or (1 if args.quick else 2)
    args.sizes = QUICK if args.quick else FULL
    chunks = bool(args.chunkshape)
    readers = [f"ours-{int(n)}" for n in args.chunkshape.split(",")] if chunks else args.readers
    scenarios = args.scenarios or (["pan400", "pan100"] if chunks else list(SCENARIOS))
    try:
        _preflight(readers)
    except MissingPiece as error:
        print(f"viewer_browse: {error}", file=sys.stderr)
        return 2
    paths = {scenario: _data(scenario, args.sizes) for scenario in scenarios}
    warm = {scenario: str(_data(scenario, WARM)) for scenario in scenarios}

    plan = [
        Run(reader, scenario, str(paths[scenario]), mode, args.steps, args.rest, warm[scenario])
        for turn in range(args.runs)
        for mode in args.modes
        for scenario in scenarios
        for reader in (readers if turn % 2 == 0 else readers[::-1])
    ]
    results: Results = {m: {s: {r: [] for r in readers} for s in scenarios} for m in args.modes}
    saved = {
        "command": "python benchmarks/viewer_browse.py " + " ".join(sys.argv[1:]),
        "runs": args.runs,
        "steps": args.steps,
        "rest": args.rest,
        "chunks": chunks,
        "code": _measured_code(),
        "slide": args.sizes.slide,
        "frames": args.sizes.frames,
        "frame": args.sizes.frame,
        "results": results,
    }
    raw = CACHE / f"viewer-browse-{time.strftime('%Y%m%d-%H%M%S')}.json"
    raw.write_text(json.dumps(saved))
    print(f"every step of every run goes to {raw} (--tables-from: the tables again)", flush=True)
    began = time.perf_counter()
    try:
        for result in run_all(plan):
            results[result["mode"]][result["scenario"]][result["reader"]].append(result)
            raw.write_text(json.dumps(saved))
    except RuntimeError as error:
        print(f"{error}\nwhat was measured before is in {raw}", file=sys.stderr)
        return 1
    print(f"all runs: {time.perf_counter() - began:.0f} s", flush=True)
    return _tables(saved, args.write)


def _measured(results: Results) -> Results:
    """The readers and scenarios with runs: a run that stopped half-way has its tables."""
    kept = {
        mode: {s: {r: rs for r, rs in by_r.items() if rs} for s, by_r in by_s.items()}
        for mode, by_s in results.items()
    }
    return {mode: {s: by_r for s, by_r in by_s.items() if by_r} for mode, by_s in kept.items()}


def _tables(saved: dict[str, Any], write: bool) -> int:
    saved = {**saved, "results": _measured(saved["results"])}
    text = report(saved)
    print(text)
    if write:
        from _results import write_section

        write_section(_section(saved), text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
