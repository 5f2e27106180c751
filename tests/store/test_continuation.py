"""The chunks a C-order walk over a box asks for next, predicted from its first ones:
what a remote store fetches in the first round trip instead of three."""

from __future__ import annotations

import itertools

from napari_tiffzarr.store.scheduler.continuation import continuation


def walk(
    rows: range, columns: range, lead: tuple[int, ...] = (), tail: tuple[int, ...] = ()
) -> list[tuple[int, ...]]:
    """zarr's order: the box's chunk coordinates, last dimension fastest."""
    return [(*lead, r, c, *tail) for r, c in itertools.product(rows, columns)]


def test_a_viewports_first_ten_tiles_predict_the_other_fifteen() -> None:
    box = walk(range(30, 35), range(12, 17), tail=(0,))  # 5 x 5 tiles, RGB's sample axis
    assert continuation(box[:10], (64, 64, 1), 15) == box[10:]


def test_a_partial_last_row_is_finished_first() -> None:
    box = walk(range(3, 7), range(0, 4))  # 4 wide: ten chunks end two into the third row
    assert continuation(box[:10], (100, 100), 6) == box[10:]


def test_count_and_the_grid_edge_bound_the_prediction() -> None:
    box = walk(range(0, 4), range(2, 5))
    assert continuation(box[:6], (4, 10), 100) == box[6:]  # the grid ends after row 3
    assert continuation(box[:6], (100, 10), 4) == box[6:10]


def test_leading_dimensions_stay_fixed() -> None:
    box = walk(range(1, 4), range(5, 8), lead=(7,))  # frame 7 of a stack
    assert continuation(box[:5], (10, 10, 10), 4) == box[5:]


def test_unknown_widths_and_other_walks_predict_nothing() -> None:
    assert continuation(walk(range(2, 3), range(0, 10)), (10, 10), 5) == []  # one row
    assert continuation([(0, 0)], (10, 10), 5) == []
    assert continuation([(0, 0), (0, 2), (1, 0), (1, 2)], (10, 10), 5) == []  # a gap
    assert continuation([(0, 1), (1, 0), (1, 1)], (10, 10), 5) == []  # not from the left
    three = [(t, y, 0) for t in range(2) for y in range(2)] + [(0, 0, 1)]
    assert continuation(three, (5, 5, 5), 5) == []  # three dimensions vary
    assert continuation(walk(range(2), range(3)), (10, 10), 0) == []
