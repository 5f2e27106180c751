"""A sample slide: a pyramidal RGB TIFF that looks a little like an H&E section,
generated on the fly (nothing downloaded) for napari's sample menu and the demo command."""

from __future__ import annotations

import os
import tempfile

import numpy as np

from .writer import write_tiled_pyramid

__all__ = ["make_sample_pyramid", "sample_path"]


def _smooth_field(size: int, rng: np.random.Generator, cells: int = 48) -> np.ndarray:
    """Smooth noise in [0, 1] at size x size: coarse random values, blurred, upsampled."""
    coarse: np.ndarray = rng.random((cells, cells)).astype(np.float32)
    for _ in range(4):
        coarse = (
            coarse
            + np.roll(coarse, 1, 0)
            + np.roll(coarse, -1, 0)
            + np.roll(coarse, 1, 1)
            + np.roll(coarse, -1, 1)
        ) / 5
    coarse = (coarse - coarse.min()) / (np.ptp(coarse) or 1)
    position = np.linspace(0, cells - 1.001, size, dtype=np.float32)
    index = position.astype(np.intp)
    weight = position - index
    rows = coarse[index] * (1 - weight)[:, None] + coarse[index + 1] * weight[:, None]
    field: np.ndarray = rows[:, index] * (1 - weight) + rows[:, index + 1] * weight
    return field


def _stained_tissue(size: int, seed: int = 7) -> np.ndarray:
    """An RGB image that looks a little like an H&E section: pink tissue, purple nuclei."""
    rng = np.random.default_rng(seed)
    tissue = np.clip((_smooth_field(size, rng) - 0.35) * 8, 0, 1)
    texture = _smooth_field(size, rng, cells=size // 16)
    background = np.array([244, 242, 246], np.float32)
    stroma = np.array([226, 140, 190], np.float32)
    shade = (0.8 + 0.4 * texture)[..., None]
    rgb = background + (stroma * shade - background) * tissue[..., None]
    image = np.clip(rgb, 0, 255).astype(np.uint8)
    nucleus = np.array([88, 52, 140], np.uint8)
    count = size * size // 900
    ys, xs = rng.integers(0, size, (2, count))
    radii = rng.integers(max(2, size // 1000), max(4, size // 400), count)
    for y, x, r in zip(ys, xs, radii, strict=True):
        if tissue[y, x] < 0.5:
            continue
        y0, y1, x0, x1 = max(0, y - r), min(size, y + r + 1), max(0, x - r), min(size, x + r + 1)
        dy, dx = np.ogrid[y0 - y : y1 - y, x0 - x : x1 - x]
        image[y0:y1, x0:x1][dy * dy + dx * dx <= r * r] = nucleus
    return image


def make_sample_pyramid(path: str | os.PathLike[str], size: int = 4096, levels: int = 5) -> str:
    """Write the sample slide with its pyramid levels to path."""
    image = _stained_tissue(size)
    pyramid = [image]
    for _ in range(levels - 1):
        last = pyramid[-1]
        length, width = last.shape[0] // 2 * 2, last.shape[1] // 2 * 2
        blocks = last[:length, :width].reshape(length // 2, 2, width // 2, 2, 3)
        pyramid.append(blocks.mean(axis=(1, 3)).astype(np.uint8))
    write_tiled_pyramid(
        path, pyramid, tile=(256, 256), description="napari-tiffzarr sample pyramid"
    )
    return os.fspath(path)


def sample_path() -> str:
    """The sample's path in the user's temporary directory, written once."""
    path = os.path.join(tempfile.gettempdir(), "napari-tiffzarr-sample-pyramid.tif")
    if not os.path.exists(path):
        partial = path + f".{os.getpid()}.part"
        make_sample_pyramid(partial)
        os.replace(partial, path)
    return path
