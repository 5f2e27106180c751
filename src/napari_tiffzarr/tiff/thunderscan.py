"""ThunderScan compression (Compression 32809): 4-bit grey pixels, runs and small deltas.

Each byte of a row's stream is a two-bit code and six bits of data:

- ``00 nnnnnn``: the last pixel again, n times (a run);
- ``01 aabbcc``: three pixels, each the last one plus a 2-bit delta (0, +1, skip, -1);
- ``10 aaabbb``: two pixels, each the last one plus a 3-bit delta (0, +1, +2, +3, skip,
  -3, -2, -1);
- ``11 xxvvvv``: one pixel of value v.

Values wrap to four bits, a "skip" delta gives no pixel, and every row starts from a last
pixel of 0 on a fresh byte: deltas past the row's end in its last byte are dropped.  We
return one value (0 to 15) a byte, as the 4-bit samples the page declares unpack to.

A row needing more bytes than the segment holds, or a run going past the row's end, is
corrupt (libtiff refuses both); the message says which row.  Work is bounded by the output:
at most one pass over the segment's bytes, never more pixels than rows x width.
"""

from __future__ import annotations

import numpy as np

__all__ = ["thunderscan_decode"]

# a delta for each 2- and 3-bit code; None is the skip code, which adds no pixel
_DELTA2: tuple[int | None, ...] = (0, 1, None, -1)
_DELTA3: tuple[int | None, ...] = (0, 1, 2, 3, None, -3, -2, -1)


def _deltas(byte: int) -> tuple[int | None, ...]:
    if byte >> 6 == 1:
        return (_DELTA2[(byte >> 4) & 3], _DELTA2[(byte >> 2) & 3], _DELTA2[byte & 3])
    return (_DELTA3[(byte >> 3) & 7], _DELTA3[byte & 7])


# the most pixels one byte gives: a run of 63
_MOST_PIXELS = 0x3F

# for each byte value of the two delta codes, its deltas without the skips
_DELTAS: dict[int, tuple[int, ...]] = {
    byte: tuple(d for d in _deltas(byte) if d is not None) for byte in range(0x40, 0xC0)
}


def thunderscan_decode(data: bytes, rows: int, width: int) -> np.ndarray:
    """Decode rows x width pixels of one strip or tile, as uint8 values 0 to 15, or raise
    ValueError where the stream is short or a run passes a row's end."""
    if rows * width > _MOST_PIXELS * len(data):
        # checked before allocating: corrupt size tags must not cost gigabytes
        raise ValueError(
            f"not enough data: {len(data)} bytes cannot hold {rows} rows of {width} pixels"
        )
    out = bytearray(rows * width)
    size = len(data)
    position = 0
    for row in range(rows):
        start = row * width
        end = start + width
        pixel = start
        last = 0
        while pixel < end:
            if position >= size:
                raise ValueError(
                    f"not enough data: row {row} of {rows} has {pixel - start} of {width} pixels"
                )
            byte = data[position]
            position += 1
            code = byte >> 6
            if code == 0:  # a run of the last pixel
                count = byte & 0x3F
                if pixel + count > end:
                    raise ValueError(
                        f"too much data: a run of {count} at pixel {pixel - start} passes "
                        f"the end of row {row} ({width} pixels)"
                    )
                out[pixel : pixel + count] = bytes((last,)) * count
                pixel += count
            elif code == 3:  # one pixel, as it is
                last = byte & 0x0F
                out[pixel] = last
                pixel += 1
            else:
                for delta in _DELTAS[byte]:
                    last = (last + delta) & 0x0F
                    if pixel < end:  # deltas past the row's end are dropped
                        out[pixel] = last
                        pixel += 1
    return np.frombuffer(out, np.uint8).reshape(rows, width)
