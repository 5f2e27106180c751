"""Test-side encoders of the row codecs libtiff reads and writers rarely make: SGI LogLuv
(Compression 34676) and ThunderScan (32809), written from the format descriptions, with
the files that hold them.  Tests decode these with our reader and with libtiff.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tiffbuild import LONG, SHORT, TiffBuilder

__all__ = [
    "CODES2",
    "CODES3",
    "LOGL",
    "LOGLUV",
    "SKIP2",
    "SKIP3",
    "encode_logluv",
    "encode_thunderscan_row",
    "thunderscan_image",
    "write_logluv",
    "write_thunderscan",
]

LOGL, LOGLUV = 32844, 32845
SKIP2, SKIP3 = 2, 4  # the delta codes that give no pixel
CODES2 = {0: 0, 1: 1, -1: 3}
CODES3 = {0: 0, 1: 1, 2: 2, 3: 3, -3: 5, -2: 6, -1: 7}


def _encode_plane(values: bytes) -> bytes:
    """One byte plane of a row: runs of three or more equal bytes (at most 129) as
    runs, everything between as literals of at most 127 bytes."""
    out = bytearray()
    literal = bytearray()

    def flush() -> None:
        for start in range(0, len(literal), 127):
            part = literal[start : start + 127]
            out.append(len(part))
            out.extend(part)
        literal.clear()

    i = 0
    while i < len(values):
        run = 1
        while i + run < len(values) and run < 129 and values[i + run] == values[i]:
            run += 1
        if run >= 3:
            flush()
            out += bytes((128 + run - 2, values[i]))
            i += run
        else:
            literal.append(values[i])
            i += 1
    flush()
    return bytes(out)


def encode_logluv(codes: np.ndarray, nbytes: int) -> bytes:
    """Rows of unsigned codes of nbytes bytes, as SGILOG stores them."""
    big = codes.astype(f">u{nbytes}").view(np.uint8).reshape(*codes.shape, nbytes)
    return b"".join(
        _encode_plane(big[row, :, plane].tobytes())
        for row in range(codes.shape[0])
        for plane in range(nbytes)
    )


def write_logluv(
    path: Path, codes: np.ndarray, photometric: int, rows: int, byteorder: str = "<"
) -> None:
    """A SGILOG file of 16-bit signed samples, rows rows a strip."""
    nbytes = 2 if photometric == LOGL else 4
    samples = 1 if photometric == LOGL else 3
    length, width = codes.shape
    builder = TiffBuilder(byteorder)
    strips = [encode_logluv(codes[y : y + rows], nbytes) for y in range(0, length, rows)]
    offsets = [builder.blob(strip) for strip in strips]
    builder.first(
        builder.ifd(
            {
                256: (LONG, [width]),
                257: (LONG, [length]),
                258: (SHORT, [16] * samples),
                259: (SHORT, [34676]),
                262: (SHORT, [photometric]),
                273: (LONG, offsets),
                277: (SHORT, [samples]),
                278: (LONG, [rows]),
                279: (LONG, [len(s) for s in strips]),
                284: (SHORT, [1]),
                339: (SHORT, [2] * samples),
            }
        )
    )
    path.write_bytes(builder.bytes())


def _wrap(delta: int) -> int:
    """A 4-bit difference as the smallest delta in -8 ... 7."""
    return (delta + 8) % 16 - 8


def encode_thunderscan_row(row: np.ndarray, final_runs: bool) -> bytes:
    """One row of 4-bit values: runs of the last value, three 2-bit or two 3-bit deltas
    (with a skip code now and then), else the raw value."""
    out = bytearray()
    last, i, width = 0, 0, len(row)
    while i < width:
        run = 0
        while i + run < width and run < 63 and row[i + run] == last:
            run += 1
        if run >= 2 and (final_runs or i + run < width):
            out.append(run)
            i += run
            continue
        ahead = [int(v) for v in row[i : i + 3]]
        deltas = [_wrap(v - p) for p, v in zip([last, *ahead], ahead, strict=False)]
        if len(deltas) == 3 and all(d in CODES2 for d in deltas):
            codes = [CODES2[d] for d in deltas]
            out.append(0x40 | codes[0] << 4 | codes[1] << 2 | codes[2])
            i, last = i + 3, int(row[i + 2])
        elif len(deltas) >= 2 and all(d in CODES3 for d in deltas[:2]):
            out.append(0x80 | CODES3[deltas[0]] << 3 | CODES3[deltas[1]])
            i, last = i + 2, int(row[i + 1])
        elif deltas[0] in CODES2 and i % 5 == 0:
            # one pixel in a 2-bit delta byte: the others are skips
            out.append(0x40 | SKIP2 << 4 | CODES2[deltas[0]] << 2 | SKIP2)
            i, last = i + 1, int(row[i])
        elif deltas[0] in CODES3 and i % 7 == 0:
            out.append(0x80 | SKIP3 << 3 | CODES3[deltas[0]])
            i, last = i + 1, int(row[i])
        else:
            out.append(0xC0 | int(row[i]))
            i, last = i + 1, int(row[i])
    return bytes(out)


def thunderscan_image(length: int, width: int, seed: int) -> np.ndarray:
    """Smooth ramps (deltas), flat stretches (runs) and noise (raw values)."""
    rng = np.random.default_rng(seed)
    image = (np.add.outer(np.arange(length), np.arange(width)) // 3 % 16).astype(np.uint8)
    image[:, width // 3 : width // 2] = 9
    image[length // 2 :, : width // 4] = rng.integers(0, 16, (length - length // 2, width // 4))
    return image


def write_thunderscan(
    path: Path, image: np.ndarray, rows: int, final_runs: bool = True, tiles: bool = False
) -> None:
    length, width = image.shape
    builder = TiffBuilder(">")
    if tiles:
        # whole tiles only: the test's images are multiples of the tile size
        blocks = [
            image[y : y + rows, x : x + 16]
            for y in range(0, length, rows)
            for x in range(0, width, 16)
        ]
    else:
        blocks = [image[y : y + rows] for y in range(0, length, rows)]
    segments = [
        b"".join(encode_thunderscan_row(row, final_runs) for row in block) for block in blocks
    ]
    offsets = [builder.blob(s) for s in segments]
    entries = {
        256: (LONG, [width]),
        257: (LONG, [length]),
        258: (SHORT, [4]),
        259: (SHORT, [32809]),
        262: (SHORT, [1]),
        277: (SHORT, [1]),
    }
    if tiles:
        entries |= {
            322: (LONG, [16]),
            323: (LONG, [rows]),
            324: (LONG, offsets),
            325: (LONG, [len(s) for s in segments]),
        }
    else:
        entries |= {
            273: (LONG, offsets),
            278: (LONG, [rows]),
            279: (LONG, [len(s) for s in segments]),
        }
    builder.first(builder.ifd(entries))
    path.write_bytes(builder.bytes())
