"""What one turn of an event loop asked for: the one place a selection is collected.

zarr asks for the chunks of a selection in one turn of its event loop, one ``get`` each.
The turn is what the scheduler learns a view from (the predictor's input) and what it
fetches in one round of requests (where a request costs a round trip).

zarr keeps at most ``async.concurrency`` chunk reads in flight, though: a selection of
more chunks than that is asked for over several turns, the first one full, the others
asking for the next chunks in C order as earlier ones arrive.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import zarr

from ...sources import ByteSource

if TYPE_CHECKING:
    from .chunks import ChunkReader, Fetched

__all__ = ["Asked", "Batch", "Turn", "in_flight"]


def in_flight() -> int:
    """The most chunk reads zarr keeps in flight (0: no limit): a turn that asks for that
    many has more of its selection to come."""
    return int(zarr.config.get("async.concurrency") or 0)


@dataclass(eq=False)
class Asked:
    """The chunks of one level of one store asked for in a turn."""

    reader: ChunkReader
    level: int
    pages: set[int] = field(default_factory=set)
    coords: list[tuple[int, ...]] = field(default_factory=list)
    # asked for as one whole selection (see ReadScheduler.read_view): no more of it comes
    whole: bool = False


@dataclass(eq=False)
class Batch:
    """The byte ranges of one source asked for in a turn, and their bytes once fetched."""

    source: ByteSource
    fetched: asyncio.Future[dict[tuple[int, int], Fetched | None]]
    ranges: list[tuple[int, int]] = field(default_factory=list)


@dataclass(eq=False)
class Turn:
    asks: dict[tuple[int, int], Asked] = field(default_factory=dict)
    batches: dict[int, Batch] = field(default_factory=dict)  # by id of the source

    def ask(
        self,
        reader: ChunkReader,
        level: int,
        page: int,
        coords: tuple[int, ...],
        *,
        whole: bool = False,
    ) -> None:
        asked = self.asks.get((id(reader), level))
        if asked is None:
            asked = self.asks[(id(reader), level)] = Asked(reader, level, whole=whole)
        asked.pages.add(page)
        asked.coords.append(coords)
