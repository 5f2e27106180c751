"""The chunks a walk over a box of chunks asks for next, from the first ones it asked for.

zarr reads a selection's chunks in C order, at most ``async.concurrency`` (10) at a time,
asking for the next one as each arrives.  Remotely, a viewport of 25 tiles would then cost
three round trips.  The chunks of the first turn show the box's width as soon as its first
row of chunks is complete, so the rows that follow can be fetched in the same round trip,
before zarr asks for them.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["continuation"]


def continuation(
    asked: Sequence[tuple[int, ...]], grid: tuple[int, ...], count: int
) -> list[tuple[int, ...]]:
    """Up to count chunk coordinates that follow asked in a C-order walk over a box.

    asked must be the walk's first chunks: rows of one width, all complete but the last,
    over exactly two varying dimensions.  Anything else (one row, whose width is unknown;
    three varying dimensions; gaps) predicts nothing.  The box is assumed to go on
    downwards to the edge of grid: the caller bounds how much of that it fetches.
    """
    ordered = sorted(set(asked))
    if len(ordered) < 2 or count <= 0:
        return []
    first = ordered[0]
    varying = [d for d in range(len(first)) if any(c[d] != first[d] for c in ordered)]
    if len(varying) != 2:
        return []
    outer, inner = varying
    columns = sorted({c[inner] for c in ordered})
    rows = sorted({c[outer] for c in ordered})
    if columns != list(range(columns[0], columns[-1] + 1)):
        return []
    if rows != list(range(rows[0], rows[-1] + 1)):
        return []
    # a C-order prefix of the box: every row full but the last, which starts at the left
    expected = [(row, column) for row in rows[:-1] for column in columns]
    last = [c[inner] for c in ordered if c[outer] == rows[-1]]
    expected += [(rows[-1], column) for column in columns[: len(last)]]
    if [(c[outer], c[inner]) for c in ordered] != expected:
        return []

    def at(row: int, column: int) -> tuple[int, ...]:
        coords = list(first)
        coords[outer], coords[inner] = row, column
        return tuple(coords)

    following = [at(rows[-1], column) for column in columns[len(last) :]]
    row = rows[-1] + 1
    while len(following) < count and row < grid[outer]:
        following += [at(row, column) for column in columns]
        row += 1
    return following[:count]
