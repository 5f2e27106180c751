"""What one 1024 x 1024 view at level 0 of an NDPI slide costs to decode, today and if
only the restart intervals it needs were decoded.

    python benchmarks/ndpi_view.py [FILE.ndpi] [--repeat 7]

An NDPI level is one JPEG strip cut by restart markers; each restart interval decodes on
its own (tiff/ndpi.py).  Reported, as CPU medians:

- the view through the store as the napari reader opens it (chunkshape 1024) and with one
  chunk per restart interval, with how many pixels that decodes per pixel shown;
- the intervals that hold the view's rows, each decoded whole (the least a chunk of
  whole intervals can cost);
- those intervals decoded only up to the view's right edge (the frame's width patched
  down, libjpeg stopping there), checked pixel-equal to the whole decode.
"""

from __future__ import annotations

import argparse
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
DEFAULT = CORPUS / "slideio-tutorial" / "test3-DAPI-2-387.ndpi"
Y0, X0, SIZE = 1000, 1500, 1024  # a view off the chunk grid, as a user's usually is


def cpu_ms(call: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times = []
    result = None
    for _ in range(repeat):
        began = time.process_time()
        result = call()
        times.append(time.process_time() - began)
    return sorted(times)[repeat // 2] * 1e3, result


def main() -> None:
    import imagecodecs
    import zarr

    from napari_tiffzarr import TiffFile
    from napari_tiffzarr.store import ZarrTiffStore
    from napari_tiffzarr.tiff.ndpi import NdpiPage

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", default=str(DEFAULT))
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with TiffFile(args.file) as tif:
        series = tif.series[0]
        page = series.levels[0].keyframe
        if not isinstance(page, NdpiPage) or page.restart_tiles is None:
            raise SystemExit(f"{args.file}: level 0 is not cut into restart intervals")
        tiling, starts = page.restart_tiles
        print(
            f"level 0 {page.shape}, restart intervals {tiling.tilelength} x "
            f"{tiling.tilewidth}, {len(starts)} of them; view {SIZE} x {SIZE} at ({Y0}, {X0})"
        )
        for label, options in (
            ("store, chunkshape 1024 (the napari reader)", {"chunkshape": 1024}),
            ("store, one chunk per restart interval", {}),
        ):
            array = zarr.open_array(
                ZarrTiffStore(series, level=0, cachesize=0, **options), mode="r"
            )
            rows = -(-(Y0 + SIZE) // array.chunks[0]) - Y0 // array.chunks[0]
            columns = -(-(X0 + SIZE) // array.chunks[1]) - X0 // array.chunks[1]
            decoded = rows * columns * array.chunks[0] * array.chunks[1] / SIZE**2
            ms, _ = cpu_ms(lambda a=array: a[Y0 : Y0 + SIZE, X0 : X0 + SIZE], args.repeat)
            print(f"{label}: {decoded:.2f} pixels decoded per pixel shown, {ms:.1f} ms CPU")
        per_row = -(-page.imagewidth // tiling.tilewidth)
        first, last = Y0 // tiling.tilelength, (Y0 + SIZE - 1) // tiling.tilelength
        needed = [
            row * per_row + column
            for row in range(first, last + 1)
            for column in range(X0 // tiling.tilewidth, (X0 + SIZE - 1) // tiling.tilewidth + 1)
        ]
        blobs = []
        for index in needed:
            found = page.segment_range(index)
            assert found is not None
            blobs.append(page.source.read(*found))
        decoder = page.decoder
        ms, whole = cpu_ms(
            lambda: [decoder.decode(b, i) for b, i in zip(blobs, needed, strict=True)],
            args.repeat,
        )
        shown = len(needed) * tiling.tilelength * tiling.tilewidth / SIZE**2
        print(f"{len(needed)} needed intervals decoded whole: {shown:.2f}, {ms:.1f} ms CPU")
        right = min(-(-(X0 + SIZE) // 8) * 8, tiling.tilewidth)
        sof = tiling.header.find(b"\xff\xc0")
        header = (
            tiling.header[: sof + 5]
            + struct.pack(">HH", tiling.tilelength, right)
            + tiling.header[sof + 9 :]
        )
        ms, cut = cpu_ms(
            lambda: [imagecodecs.jpeg8_decode(header + b, outcolorspace="RGB") for b in blobs],
            args.repeat,
        )
        equal = all(np.array_equal(c, w[0, :, :right]) for c, w in zip(cut, whole, strict=True))
        print(
            f"the same intervals decoded up to x = {right}: "
            f"{len(needed) * tiling.tilelength * right / SIZE**2:.2f}, {ms:.1f} ms CPU, "
            f"pixel-equal: {equal}"
        )


if __name__ == "__main__":
    main()
