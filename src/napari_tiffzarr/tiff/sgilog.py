"""SGI LogLuv (Compression 34676): Greg Ward's high dynamic range pixels, run-length coded.

Photometric LOGL (32844) stores one 16-bit *L16* value a pixel: a sign bit and 15 bits of
log2 luminance (Y = 2 ** ((Le + 0.5) / 256 - 64)).  Photometric LOGLUV (32845) stores 32
bits a pixel: the same 16 bits of L, then 8 bits each of the chromaticity u' and v'
(u' = (ue + 0.5) / 410).  A row is stored as byte planes, most significant first; each
plane is a sequence of runs (a byte 128 + n - 2, then the byte to repeat n times) and
literals (a byte n < 128, then n bytes).

What we return
--------------
libtiff converts these pixels to one of several *data formats* (SGILOGDATAFMT); a reader
that sets none gets the one the page's sample tags ask for, and these files declare 16-bit
integer samples (BitsPerSample 16, SampleFormat 2).  For those libtiff gives (and
``tiffcp -c none`` writes) 16-bit integers: L16 as stored, and for LOGLUV the triple
(L16, u' x 2**15, v' x 2**15) with the chromaticities rounded down.  We return the same,
so the page's dtype (int16, or uint16 where SampleFormat says unsigned) and shape (one
sample for LOGL, three for LOGLUV) are the ones its tags declare and tifffile reports:
a faithful, lossless view of the stored values, which converting to float XYZ or to
tone-mapped 8-bit RGB (libtiff's other formats) would not be.  Pages declaring another
sample type are refused.

LogLuv24 (Compression 34677) is not decoded: its chromaticity is an index into a grid
published only as part of libtiff's code.
"""

from __future__ import annotations

import numpy as np

__all__ = ["UV_SCALE", "sgilog_decode"]

# u' and v' are stored in steps of 1/410; the 16-bit format gives them in steps of 2**-15
UV_STEPS = 410
UV_SCALE = 1 << 15
_MIN_RUN = 2  # a run byte 128 + n - 2 repeats the next byte n times


def _plane(data: bytes, position: int, row: int, plane: int, width: int) -> tuple[bytes, int]:
    """One row's byte plane, and the position after it."""
    out = bytearray(width)
    size = len(data)
    pixel = 0
    while pixel < width:
        if position >= size:
            raise ValueError(
                f"not enough data: row {row}, byte plane {plane} has {pixel} of {width} pixels"
            )
        control = data[position]
        position += 1
        if control >= 128:
            count = control - 128 + _MIN_RUN
            if position >= size:
                raise ValueError(f"not enough data: row {row} ends inside a run")
            value = data[position]
            position += 1
        else:
            count = control
            value = -1
        if pixel + count > width:
            raise ValueError(
                f"too much data: a {'run' if value >= 0 else 'literal'} of {count} at pixel "
                f"{pixel} passes the end of row {row} ({width} pixels)"
            )
        if value >= 0:
            out[pixel : pixel + count] = bytes((value,)) * count
        else:
            if position + count > size:
                raise ValueError(f"not enough data: row {row} ends inside a literal")
            out[pixel : pixel + count] = data[position : position + count]
            position += count
        pixel += count
    return bytes(out), position


def _codes(data: bytes, rows: int, width: int, nbytes: int) -> np.ndarray:
    """The stored codes, rows x width unsigned integers of nbytes bytes."""
    # two bytes give at most a run of 129 values of one plane: checked before allocating,
    # so that corrupt size tags cannot cost gigabytes
    if rows * width * nbytes > (len(data) // 2 + 1) * (127 + _MIN_RUN):
        raise ValueError(
            f"not enough data: {len(data)} bytes cannot hold {rows} rows of {width} pixels"
        )
    planes = np.empty((rows, nbytes, width), np.uint8)
    position = 0
    for row in range(rows):
        for plane in range(nbytes):
            values, position = _plane(data, position, row, plane, width)
            planes[row, plane] = np.frombuffer(values, np.uint8)
    # planes are most significant first: each pixel's bytes, big-endian
    bigendian = np.ascontiguousarray(planes.transpose(0, 2, 1))
    return bigendian.view(f">u{nbytes}").reshape(rows, width)


def sgilog_decode(data: bytes, rows: int, width: int, luv: bool) -> np.ndarray:
    """Decode one strip or tile: rows x width L16 values (int16), or for LOGLUV rows x
    width x 3 (L16, u', v' in steps of 2**-15), or raise ValueError for a corrupt stream."""
    if not luv:
        return _codes(data, rows, width, 2).astype(np.uint16).view(np.int16)
    codes = _codes(data, rows, width, 4)
    out = np.empty((rows, width, 3), np.int16)
    out[..., 0] = (codes >> 16).astype(np.uint16).view(np.int16)
    for sample, shift in ((1, 8), (2, 0)):
        stored = ((codes >> shift) & 0xFF).astype(np.int64)
        # (code + 1/2) / 410 in steps of 2**-15, rounded down: exact in integers
        out[..., sample] = ((2 * stored + 1) * UV_SCALE) // (2 * UV_STEPS)
    return out
