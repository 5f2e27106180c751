"""Fixtures of the remote tests: a counting HTTP server and the TIFFs it serves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tifffile
from remote_server import PYRAMID_LEVELS, PYRAMID_SIZE, TILE, RangeServer, gradient_rgb, serving


@pytest.fixture
def http_root(tmp_path: Path) -> Path:
    root = tmp_path / "www"
    root.mkdir()
    return root


@pytest.fixture
def server(http_root: Path) -> Iterator[RangeServer]:
    """A server on 127.0.0.1 for the files in http_root; server.served counts requests."""
    with serving(http_root) as httpd:
        yield httpd


@pytest.fixture
def pyramid(http_root: Path) -> Path:
    """A 2048 x 2048 RGB JPEG pyramid, levels in SubIFDs, 256-pixel tiles."""
    path = http_root / "pyramid.tif"
    level = gradient_rgb(PYRAMID_SIZE)
    with tifffile.TiffWriter(path) as tif:
        options = {"tile": (TILE, TILE), "compression": "jpeg", "photometric": "rgb"}
        tif.write(level, subifds=PYRAMID_LEVELS - 1, metadata=None, **options)
        for _ in range(PYRAMID_LEVELS - 1):
            level = level[::2, ::2].copy()
            tif.write(level, subfiletype=1, metadata=None, **options)
    return path


@pytest.fixture
def stack(http_root: Path) -> Path:
    """A 5-page deflate stack of uint16 with a predictor: more than one IFD to find."""
    path = http_root / "stack.tif"
    data = np.arange(5 * 300 * 200, dtype=np.uint16).reshape(5, 300, 200)
    tifffile.imwrite(path, data, tile=(64, 64), compression="zlib", predictor=True)
    return path
