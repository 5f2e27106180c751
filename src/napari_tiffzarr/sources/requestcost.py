"""What a request to a remote file costs, learnt from the requests made to it.

A request costs a round trip before its first byte arrives, then its bytes at the link's
rate.  Two ranges are worth fetching in one request when the bytes between them arrive in
less time than the second request's round trip: a gap of round trip x rate.  Over a fast
link with a slow server that is megabytes (the rows of tiles of a viewport come in one
request); over a slow link it is tens of KiB.  Both figures are learnt from the batches
fetched: the round trip from the quickest, the rate from the large ones.
"""

from __future__ import annotations

import threading
from collections import deque

__all__ = ["RequestCost"]

# Until a large transfer shows the link's rate, assume that of a typical connection to a
# cloud object store: an underestimate only merges less than it could.
ASSUMED_RATE = 100e6  # bytes a second
# A batch needs this many bytes before its time says more about the rate than the latency.
RATE_SAMPLE_BYTES = 1 << 20
# The batches remembered: enough to ride out one slow response, few enough to follow a
# link that changes.
SAMPLES = 16


class RequestCost:
    """Round trip and transfer rate of one server, from (seconds, bytes) of its batches.

    A batch is one round of concurrent requests; its time is about one round trip plus
    its bytes at the rate.  Thread-safe: batches finish on several threads.
    """

    def __init__(self, min_gap: int, max_gap: int) -> None:
        if not 0 <= min_gap <= max_gap:
            raise ValueError(f"need 0 <= min_gap <= max_gap, not {min_gap} and {max_gap}")
        self._min_gap = min_gap
        self._max_gap = max_gap
        self._samples: deque[tuple[float, int]] = deque(maxlen=SAMPLES)
        self._lock = threading.Lock()

    def record(self, seconds: float, nbytes: int) -> None:
        """A batch of requests for nbytes took seconds, from asking to the last byte."""
        if seconds > 0 and nbytes >= 0:
            with self._lock:
                self._samples.append((seconds, nbytes))

    @property
    def round_trip(self) -> float | None:
        """Seconds before a request's first byte: the quickest batch, less its bytes' time
        at the rate; None before any request."""
        samples = self._snapshot()
        return _round_trip(samples, _rate(samples))

    @property
    def rate(self) -> float:
        """Bytes a second once a request's bytes flow."""
        return _rate(self._snapshot())

    def gap(self) -> int:
        """Bytes between two ranges worth fetching rather than asking for twice."""
        samples = self._snapshot()
        rate = _rate(samples)
        round_trip = _round_trip(samples, rate)
        if round_trip is None:
            return self._min_gap
        return min(self._max_gap, max(self._min_gap, int(round_trip * rate)))

    def _snapshot(self) -> list[tuple[float, int]]:
        with self._lock:
            return list(self._samples)


def _round_trip(samples: list[tuple[float, int]], rate: float) -> float | None:
    if not samples:
        return None
    return max(0.0, min(seconds - nbytes / rate for seconds, nbytes in samples))


def _rate(samples: list[tuple[float, int]]) -> float:
    large = [(seconds, nbytes) for seconds, nbytes in samples if nbytes >= RATE_SAMPLE_BYTES]
    if not large:
        return ASSUMED_RATE
    # the round trip is in every batch's time: take the quickest small batch's away,
    # so that a fast link over a slow server is not mistaken for a slow link
    small = [seconds for seconds, nbytes in samples if nbytes < RATE_SAMPLE_BYTES]
    latency = min(small) if small else 0.0
    rates = sorted(nbytes / max(seconds - latency, 1e-6) for seconds, nbytes in large)
    return rates[len(rates) // 2]
