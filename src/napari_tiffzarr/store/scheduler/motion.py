"""Where a view goes next, from the views zarr was asked for: pan, zoom and sliders alike.

A view is the box of chunks one store was asked for in one turn, on its most-read level
(a viewer's thumbnail reads the coarsest level beside it).  Between two views on one
level, the box moves by a whole number of chunks per dimension: along y and x that is a
pan, along a leading axis (T, Z, C, a page index) a slider; a box that shrinks or grows
on both sides, or a change to the next level, is a zoom.  The next views follow the same
step, as many ahead as the time between views asks for (a slider played fast, a fling)
within the caller's budget; a zoom reads the next level around the same focus (all of
it from a view of the whole slide), and one that has reached the last level in its
direction reads around the view, as after a jump.

zarr asks for a selection of more chunks than it keeps in flight over several turns, in
C order: those later turns are more of the same view, which grows, not new views.  The
motion is measured between the first turns of two selections, alike in size.  Knowing
nothing yet (a first view, or one after a jump: a click far along a slider, a change of
several levels at once to a place typed in or zoomed to), the chunks around the view, the
frames beside it along each slider (BESIDE_FRAMES each way) and the finer level under it
come first, once the view has stood still for a moment (see STILL_SECONDS).

Pure arithmetic on chunk coordinates: the scheduler turns them into chunks to decode.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from ..keys import ChunkGrid

__all__ = [
    "SPACE_ROLES",
    "STILL_SECONDS",
    "Box",
    "Motion",
    "View",
    "box_of",
    "covers_plane",
    "predict",
    "sliders_of",
    "view_of",
]

Box = tuple[tuple[int, int], ...]  # per dimension, the first and last chunk index

# How far ahead the views to come are read, in seconds at the measured pace: enough to
# decode the next view or two while the viewer draws this one.  Further ahead, a hand that
# does not rest keeps every core decoding views it may never reach (a turn, a jump), beside
# napari's drawing: measured on the T slider without rest (benchmarks/RESULTS.md), 0.5 s
# cost more in the back and jump steps than it saved going forward.
LOOKAHEAD_SECONDS = 0.15
MIN_STEPS = 2  # steps ahead with no pace measured, or a slow one
MAX_STEPS = 12  # steps ahead at most, however fast the views come
# A move of more chunks than this along any dimension is a jump (a click on a slider, a
# new place typed in), not a motion that goes on: nothing is predicted from it.
MAX_STEP_CHUNKS = 16
# Along a slider, a jump is a move of more frames than this: napari plays frame by frame,
# and a hand dragging a slider skips a few at most.
MAX_SLIDER_STEP = 4
# Frames read on each side of a view that stands still along a slider, nearest first:
# a hand that starts to step or play from there asks for the second one while the
# viewer still draws the first, and a second frame started only then was late in every
# run without rest; with frames read ahead whole on one thread each (MOTION_PARTS), the
# third was late in three runs of eight (benchmarks/RESULTS.md, T slider).
BESIDE_FRAMES = 3
SPACE_ROLES = (2, 3)  # length and width: the plane a view shows; the other roles slide
# Seconds a view stands still before what lies around it is guessed at (see
# Motion.guessing).  A hand that jumps (a slider dragged far, clicks along it) moves on
# sooner: 50 to 70 ms a step with napari's drawing on this project's machine, and the
# frames beside each jump, decoded on every core while napari drew it, slowed its steps
# and were never shown (benchmarks/RESULTS.md, T slider jumps).  A user who looks at a
# view for longer than this finds its neighbours read as before.
STILL_SECONDS = 0.08


@dataclass(frozen=True, slots=True)
class View:
    """The chunks of one level asked for in one turn: their box, and the first and the
    last of them in zarr's C order."""

    level: int
    box: Box
    time: float
    first: tuple[int, ...] = ()
    end: tuple[int, ...] = ()


def view_of(level: int, coords: Sequence[tuple[int, ...]], time: float) -> View:
    return View(level, box_of(coords), time, min(coords), max(coords))


def box_of(coords: Iterable[tuple[int, ...]]) -> Box:
    """The least box holding every chunk of coords (not empty)."""
    columns = list(zip(*coords, strict=True))
    return tuple((min(c), max(c)) for c in columns)


def _shift(old: tuple[int, int], new: tuple[int, int]) -> int:
    """How far a box's extent moved along one dimension: 0 where it did not move, or
    shrank or grew on both sides (a zoom, not a pan)."""
    low, high = new[0] - old[0], new[1] - old[1]
    if low * high < 0:
        return 0
    return low if abs(low) >= abs(high) else high


class Motion:
    """The views of one store and how they move: the step per dimension between the last
    two views on one level, the zoom direction (+1 coarser, -1 finer), and the pace."""

    def __init__(self) -> None:
        self.last: View | None = None  # the last view, grown by the turns that continued it
        self.step: tuple[int, ...] | None = None
        self.zoom = 0
        self.interval: float | None = None  # seconds between views, smoothed
        self._boxes: dict[int, Box] = {}  # the box of the first turn of each level's view
        self._opening: View | None = None  # the first turn of the last view
        self._more = False  # whether the last view's selection may have more to come

    def continues(self, view: View, fixed: Sequence[int]) -> bool:
        """Whether view is more of the last view's selection: a full first turn (more),
        then chunks after its last one in C order, on its level and in its plane (the
        dimensions fixed, a slider's among them, unchanged)."""
        last = self.last
        return (
            self._more
            and last is not None
            and view.level == last.level
            and view.first > last.end
            and all(view.box[d] == last.box[d] for d in fixed)
        )

    def extend(self, view: View) -> None:
        """Grow the last view by view, which continues it (see continues)."""
        last = self.last
        assert last is not None
        box = tuple(
            (min(a, c), max(b, d)) for (a, b), (c, d) in zip(last.box, view.box, strict=True)
        )
        self.last = View(last.level, box, last.time, last.first, view.end)

    def observe(
        self,
        view: View,
        *,
        thumbnail: bool = False,
        more: bool = False,
        sliders: Sequence[int] = (),
    ) -> bool:
        """Take a new view; False where it changes nothing: the last box of its level
        again (a viewer reading the same chunks again, or its thumbnail of the coarsest
        level beside each view), or a thumbnail beside a view of another level
        (thumbnail: the box holds all of the coarsest level's plane, as napari's
        thumbnail does; a whole finer level is a view, as napari opens on the whole
        slide).  more: the turn asked for as many chunks as zarr keeps in flight, so
        the next turns may continue it."""
        if self._boxes.get(view.level) == view.box:
            return False
        self._boxes[view.level] = view.box
        last = self._opening
        if thumbnail and last is not None and last.level != view.level:
            return False
        if last is not None:
            seconds = max(0.0, view.time - last.time)
            self.interval = seconds if self.interval is None else (self.interval + seconds) / 2
            if view.level != last.level:
                # a zoom goes on level by level; several levels at once are a jump
                moved = view.level - last.level
                self.zoom = moved if abs(moved) == 1 else 0
                self.step = None
            else:
                step = tuple(_shift(o, n) for o, n in zip(last.box, view.box, strict=True))
                moving = (
                    any(step)
                    and max(map(abs, step)) <= MAX_STEP_CHUNKS
                    and all(abs(step[d]) <= MAX_SLIDER_STEP for d in sliders)
                )
                self.step = step if moving else None
                size = math.prod(high - low + 1 for low, high in view.box)
                before = math.prod(high - low + 1 for low, high in last.box)
                self.zoom = 0 if any(step) or size == before else (1 if size > before else -1)
        self.last = self._opening = view
        self._more = more
        return True

    @property
    def guessing(self) -> bool:
        """Whether nothing is known of where the views go next: a first view, or one
        after a jump, as against a pan, a slider's steps or a zoom."""
        return self.step is None and not self.zoom

    @property
    def first(self) -> bool:
        """Whether the last view is the store's first (the pace is measured from the
        second on)."""
        return self.interval is None

    @property
    def steps_ahead(self) -> int:
        if not self.interval:
            return MAX_STEPS if self.interval == 0 else MIN_STEPS
        return max(MIN_STEPS, min(MAX_STEPS, math.ceil(LOOKAHEAD_SECONDS / self.interval)))


def predict(motion: Motion, grids: Sequence[ChunkGrid]) -> Iterator[tuple[int, tuple[int, ...]]]:
    """(level, chunk coordinates) of the chunks the next views need, nearest first, each
    once, none of the last view's own; the caller stops when its budget is spent."""
    view = motion.last
    if view is None:
        return
    seen: set[tuple[int, tuple[int, ...]]] = {(view.level, c) for c in _cells(view.box)}

    def new(level: int, box: Box | None) -> Iterator[tuple[int, tuple[int, ...]]]:
        if box is None:
            return
        for coords in _cells(box):
            if (level, coords) not in seen:
                seen.add((level, coords))
                yield level, coords

    grid = grids[view.level]
    if motion.step is not None:
        for n in range(1, motion.steps_ahead + 1):
            moved = tuple(
                (lo + n * s, hi + n * s) for (lo, hi), s in zip(view.box, motion.step, strict=True)
            )
            yield from new(view.level, _clip(moved, grid.grid))
        return
    if motion.zoom:
        target = view.level + motion.zoom
        if 0 <= target < len(grids):
            # a view of the whole slide (napari's first): a zoom in may go anywhere in it,
            # and at 1.5 x a step shows more of the finer level than the same pixels' worth
            whole = motion.zoom < 0 and covers_plane(view.box, grid)
            yield from new(target, _zoomed(view.box, grid, grids[target], extent=whole))
            return
        # zoomed as far as the levels go: a pan comes next, or the way back
    # nothing known yet: around the view in space, the frames beside it along each slider
    # (the step after a jump is then ready too), and the finer level under it (a viewer
    # opens on the whole image, then zooms in)
    yield from new(view.level, _clip(_grown(view.box, grid, SPACE_ROLES), grid.grid))
    # not beside a store's first view: a viewer draws its first frame then, and frames
    # decoded beside it on every core delay what a user waits for most
    # (benchmarks/RESULTS.md, time to first frame)
    sliders = [] if motion.first else sliders_of(grid)
    for distance in range(1, BESIDE_FRAMES + 1):
        for dim in sliders:
            for side in (distance, -distance):
                beside = list(view.box)
                beside[dim] = (view.box[dim][0] + side, view.box[dim][1] + side)
                yield from new(view.level, _clip(tuple(beside), grid.grid))
    if view.level > 0:
        finer = _zoomed(view.box, grid, grids[view.level - 1], extent=covers_plane(view.box, grid))
        yield from new(view.level - 1, finer)


def _cells(box: Box) -> Iterator[tuple[int, ...]]:
    """Every chunk of box, those nearest its middle first."""
    middle = [(lo + hi) / 2 for lo, hi in box]
    cells = _product([range(lo, hi + 1) for lo, hi in box])
    yield from sorted(
        cells, key=lambda c: sum((a - m) ** 2 for a, m in zip(c, middle, strict=True))
    )


def _product(ranges: Sequence[range]) -> list[tuple[int, ...]]:
    out: list[tuple[int, ...]] = [()]
    for r in ranges:
        out = [(*head, i) for head in out for i in r]
    return out


def _clip(box: Box, grid: tuple[int, ...]) -> Box | None:
    """box within the grid, None where nothing of it is."""
    clipped = tuple((max(0, lo), min(n - 1, hi)) for (lo, hi), n in zip(box, grid, strict=True))
    return None if any(lo > hi for lo, hi in clipped) else clipped


def _grown(box: Box, grid: ChunkGrid, roles: Sequence[int]) -> Box:
    """box one chunk larger on both sides along the dimensions of roles."""
    return tuple(
        (lo - 1, hi + 1) if role in roles and n > 1 else (lo, hi)
        for (lo, hi), role, n in zip(box, grid.served_roles, grid.grid, strict=True)
    )


def sliders_of(grid: ChunkGrid) -> list[int]:
    """The dimensions of grid that a slider moves along: all but the plane a view shows."""
    return [dim for dim, role in enumerate(grid.served_roles) if role not in SPACE_ROLES]


def covers_plane(box: Box, grid: ChunkGrid) -> bool:
    """Whether box holds all of its level's plane."""
    return all(
        (lo, hi) == (0, n - 1)
        for (lo, hi), n, role in zip(box, grid.grid, grid.served_roles, strict=True)
        if role in SPACE_ROLES
    )


def _zoomed(box: Box, grid: ChunkGrid, other: ChunkGrid, *, extent: bool = False) -> Box | None:
    """The box a view of box's extent on screen covers on another level, around the same
    focus: the same pixels' worth of that level, centred where box is centred; extent:
    all of box's extent there instead (on a finer level, more than the same pixels)."""
    if len(other.shape) != len(grid.shape):
        return None
    out = []
    for (lo, hi), size, chunk, other_size, other_chunk in zip(
        box, grid.shape, grid.chunks, other.shape, other.chunks, strict=True
    ):
        if size == other_size:  # a dimension the levels share: the same chunks
            out.append((lo * chunk // other_chunk, ((hi + 1) * chunk - 1) // other_chunk))
            continue
        first, last = lo * chunk, min(size, (hi + 1) * chunk)
        scale = other_size / size
        middle = (first + last) / 2 * scale
        half = (last - first) / 2 * (scale if extent else 1.0)
        out.append(
            (int(max(0, middle - half) // other_chunk), int((middle + half - 1) // other_chunk))
        )
    return _clip(tuple(out), other.grid)
