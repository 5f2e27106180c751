"""YCbCr samples to RGB as libtiff's RGBA interface converts them (``tiff2rgba``).

TIFF 6.0 (section 21) scales each component by ReferenceBlackWhite before applying the
YCbCrCoefficients; libjpeg's own conversion assumes full-range JFIF samples and ignores
both tags.  Where a file is read as libtiff reads it, its colours follow these tags.

libtiff also reads subsampled chroma as stored and repeats each sample over its block,
where libjpeg interpolates between neighbouring samples ("fancy upsampling").
:func:`unsmooth_chroma` undoes that interpolation on libjpeg's output: the mean of a
block of interpolated samples is the stored samples filtered by [1, 6, 1] / 8 along each
subsampled axis, an operator close enough to the identity that a few fixed-point steps
invert it to within rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = [
    "DEFAULT_COEFFICIENTS",
    "DEFAULT_REFERENCE",
    "YCbCrColours",
    "unpack_subsampled",
    "unsmooth_chroma",
    "ycbcr_to_rgb",
]

DEFAULT_COEFFICIENTS = (0.299, 0.587, 0.114)
# libtiff's default ReferenceBlackWhite for YCbCr: full-range luma, chroma centred on 128
DEFAULT_REFERENCE = (0.0, 255.0, 128.0, 255.0, 128.0, 255.0)

# Fixed-point steps inverting the interpolation: each removes most of what is left
UNSMOOTH_STEPS = 4


@dataclass(frozen=True, slots=True)
class YCbCrColours:
    """A YCbCr page's colour tags: what converting its samples to RGB needs."""

    reference: tuple[float, ...] = DEFAULT_REFERENCE  # ReferenceBlackWhite
    coefficients: tuple[float, float, float] = DEFAULT_COEFFICIENTS  # YCbCrCoefficients
    subsampling: tuple[int, int] = (1, 1)  # YCbCrSubSampling (horizontal, vertical)

    def to_rgb(self, ycbcr: np.ndarray) -> np.ndarray:
        return ycbcr_to_rgb(ycbcr, self.reference, self.coefficients)


def unpack_subsampled(
    data: bytes, length: int, width: int, factors: tuple[int, int]
) -> np.ndarray:
    """(length, width, 3) YCbCr from 8-bit samples stored subsampled (TIFF 6.0 section
    21): each block of horizontal x vertical luma samples, row by row, then its Cb and Cr;
    rows of blocks cover the width rounded up to whole blocks.  Chroma is repeated over
    its block, as libtiff does."""
    horizontal, vertical = factors
    across, down = -(-width // horizontal), -(-length // vertical)
    unit = horizontal * vertical + 2
    samples = np.frombuffer(data, np.uint8, count=min(len(data), across * down * unit))
    if samples.size < across * down * unit:
        samples = np.concatenate(
            [samples, np.zeros(across * down * unit - samples.size, np.uint8)]
        )
    blocks = samples.reshape(down, across, unit)
    luma = blocks[..., : unit - 2].reshape(down, across, vertical, horizontal)
    result = np.empty((down * vertical, across * horizontal, 3), np.uint8)
    result[..., 0] = luma.transpose(0, 2, 1, 3).reshape(down * vertical, across * horizontal)
    for channel in (1, 2):
        chroma = blocks[..., unit - 3 + channel]
        result[..., channel] = np.repeat(np.repeat(chroma, vertical, 0), horizontal, 1)
    return result[:length, :width]


# libtiff's fixed point: 16 fractional bits
_SHIFT = 16
_HALF = 1 << (_SHIFT - 1)


def _fixed(value: float) -> int:
    return int(min(max(value, 0.0), 2.0) * (1 << _SHIFT) + 0.5)


def _scaled(black: float, white: float, span: float, codes: np.ndarray) -> np.ndarray:
    """Codes scaled by ReferenceBlackWhite to span, in single precision and truncated
    towards zero, as TIFF 6.0's equations are evaluated by libtiff."""
    width = np.float32(white - black) if white != black else np.float32(1)
    values = (codes - np.int64(black)).astype(np.float32) * np.float32(span) / width
    scaled: np.ndarray = np.clip(values, -128.0 * 32, 128.0 * 32).astype(np.int64)
    return scaled


@lru_cache(maxsize=16)
def _tables(
    reference: tuple[float, ...], coefficients: tuple[float, float, float]
) -> tuple[np.ndarray, ...]:
    """Per code (0 to 255): luma, red from Cr, blue from Cb, and the two green terms."""
    red, green, blue = (np.float32(c) for c in coefficients)
    cr_red = _fixed(float(np.float32(2) - np.float32(2) * red))
    cr_green = -_fixed(float(red * (np.float32(2) - np.float32(2) * red) / green))
    cb_blue = _fixed(float(np.float32(2) - np.float32(2) * blue))
    cb_green = -_fixed(float(blue * (np.float32(2) - np.float32(2) * blue) / green))
    codes = np.arange(256, dtype=np.int64)
    centred = codes - 128
    cr = _scaled(reference[4] - 128.0, reference[5] - 128.0, 127.0, centred)
    cb = _scaled(reference[2] - 128.0, reference[3] - 128.0, 127.0, centred)
    luma = _scaled(reference[0], reference[1], 255.0, codes)
    return (
        luma,
        (cr_red * cr + _HALF) >> _SHIFT,
        (cb_blue * cb + _HALF) >> _SHIFT,
        cr_green * cr,
        cb_green * cb + _HALF,
    )


def ycbcr_to_rgb(
    ycbcr: np.ndarray,
    reference: tuple[float, ...] = DEFAULT_REFERENCE,
    coefficients: tuple[float, float, float] = DEFAULT_COEFFICIENTS,
) -> np.ndarray:
    """uint8 RGB from (..., 3) YCbCr codes (0 to 255) with libtiff's integer tables:
    TIFF 6.0's equations, scaled by ReferenceBlackWhite, in 16-bit fixed point."""
    codes = np.clip(np.rint(ycbcr), 0, 255).astype(np.intp)
    luma, red_cr, blue_cb, green_cr, green_cb = _tables(tuple(reference), coefficients)
    y = luma[codes[..., 0]]
    cb, cr = codes[..., 1], codes[..., 2]
    rgb = np.empty((*ycbcr.shape[:-1], 3), np.uint8)
    rgb[..., 0] = np.clip(y + red_cr[cr], 0, 255)
    rgb[..., 1] = np.clip(y + ((green_cb[cb] + green_cr[cr]) >> _SHIFT), 0, 255)
    rgb[..., 2] = np.clip(y + blue_cb[cb], 0, 255)
    return rgb


def _smooth(plane: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """libjpeg's interpolation, seen through block means: [1, 6, 1] / 8 along axes, the
    edge sample repeated."""
    for axis in axes:
        padded = np.pad(plane, [(1, 1) if a == axis else (0, 0) for a in range(2)], "edge")
        before = padded[:-2] if axis == 0 else padded[:, :-2]
        centre = padded[1:-1] if axis == 0 else padded[:, 1:-1]
        after = padded[2:] if axis == 0 else padded[:, 2:]
        plane = (before + 6.0 * centre + after) / 8.0
    return plane


def unsmooth_chroma(ycbcr: np.ndarray, factors: tuple[int, int]) -> np.ndarray:
    """(length, width, 3) YCbCr decoded by libjpeg with chroma subsampled by factors
    (horizontal, vertical), its chroma made as libtiff gives it: each stored sample
    repeated over its block.  Returns float samples; luma is untouched."""
    horizontal, vertical = factors
    length, width = ycbcr.shape[:2]
    result = ycbcr.astype(np.float64)
    # libjpeg interpolates only where a factor is 2; other factors repeat samples
    axes = tuple(axis for axis, f in ((0, vertical), (1, horizontal)) if f == 2)
    for channel in (1, 2):
        plane = result[..., channel]
        padded = np.pad(plane, ((0, -length % vertical), (0, -width % horizontal)), "edge")
        means = padded.reshape(
            padded.shape[0] // vertical, vertical, padded.shape[1] // horizontal, horizontal
        ).mean(axis=(1, 3))
        stored = means.copy()
        for _ in range(UNSMOOTH_STEPS if axes else 0):
            stored += means - _smooth(stored, axes)
        stored = np.clip(np.rint(stored), 0, 255)
        blocks = np.repeat(np.repeat(stored, vertical, axis=0), horizontal, axis=1)
        result[..., channel] = blocks[:length, :width]
    return result
