"""Retake the README's pictures from real runs of napari with the plugin.

    xvfb-run -a -s "-screen 0 1920x1200x24" python docs/screenshots.py

demo.png: ``napari-tiffzarr demo`` as a new user sees it, 1280 x 800.
ome-channels.png: a three-channel OME-TIFF pyramid written here with tifffile, 1280 x 880.
ndpi.png: a Hamamatsu NDPI slide of the test corpus (../shared/corpus beside the checkout,
or --ndpi FILE), the widget's file structure open.
Each picture is stored with a palette, as large as keeps it under 280 KB.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CORPUS_NDPI = HERE.parent.parent / "shared/corpus/slideio-tutorial/test3-DAPI-2-387.ndpi"
SIZE = (1280, 800)


def write_ome_channels(path: Path) -> Path:
    """Nuclei (DAPI), their membranes (GFP) and spots (mCherry): 1024 x 1024, 0.325 um
    pixels, three named and coloured OME channels, a two-level pyramid in SubIFDs."""
    import tifffile

    rng = np.random.default_rng(11)
    size = 1024
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    nuclei = np.zeros((size, size), np.float32)
    rings = np.zeros((size, size), np.float32)
    spots = np.zeros((size, size), np.float32)
    for cy, cx, r in zip(*rng.uniform(0, size, (2, 60)), rng.uniform(18, 34, 60), strict=True):
        d = np.hypot(y - cy, x - cx)
        nuclei += np.clip(1 - d / r, 0, 1) ** 0.5
        rings += np.exp(-(((d - 1.8 * r) / 3.0) ** 2))
    for cy, cx in zip(*rng.uniform(0, size, (2, 400)), strict=True):
        spots += np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / 18.0)
    channels = [nuclei, rings, spots]
    data = np.stack([np.clip(c / c.max() * 50000 + 800, 0, 65535) for c in channels])
    data = data.astype(np.uint16)  # no noise: a picture that compresses
    metadata = {
        "axes": "CYX",
        "PhysicalSizeX": 0.325,
        "PhysicalSizeXUnit": "µm",
        "PhysicalSizeY": 0.325,
        "PhysicalSizeYUnit": "µm",
        "Channel": {
            "Name": ["DAPI", "GFP", "mCherry"],
            "Color": [0x0080FFFF, 0x00FF00FF, -16776961],  # blue, green, red (signed RGBA)
        },
    }
    with tifffile.TiffWriter(path, ome=True) as tif:
        options = {"tile": (256, 256), "compression": "zlib"}
        tif.write(data, subifds=1, metadata=metadata, **options)
        tif.write(data[:, ::2, ::2], subfiletype=1, **options)
    return path


def _settle(seconds: float = 2.0) -> None:
    from qtpy.QtWidgets import QApplication

    for _ in range(int(seconds / 0.05)):  # docks, canvas and the tiles in view
        QApplication.processEvents()
        time.sleep(0.05)


def _save(viewer: object, path: Path, limit: int = 280_000) -> None:
    """The whole window, with the largest palette that keeps the file under limit bytes."""
    from PIL import Image

    pixels = viewer.window.screenshot(canvas_only=False, flash=False)  # type: ignore[attr-defined]
    image = Image.fromarray(np.asarray(pixels)[..., :3])
    for colors in (256, 192, 128, 96, 64, 48, 32):
        image.quantize(colors=colors, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
        if path.stat().st_size <= limit:
            break
    width, height = image.size
    print(f"{path}: {width} x {height}, {colors} colours, {path.stat().st_size:,} bytes")


def _viewer(path: str, *, structure: bool = False, size: tuple[int, int] = SIZE) -> object:
    import napari

    from napari_tiffzarr.plugin._demo import open_demo

    viewer = napari.Viewer()
    widget = open_demo(viewer, path)
    viewer.window.resize(*size)
    if structure:
        widget.structure.expand(animate=False)
    _settle()
    return viewer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ndpi", default=str(CORPUS_NDPI), help="the NDPI slide to show")
    parser.add_argument("--out", default=str(HERE), help="where the PNGs go")
    args = parser.parse_args()
    out = Path(args.out)

    from napari_tiffzarr.tiff.sample import sample_path

    viewer = _viewer(sample_path())
    _save(viewer, out / "demo.png")
    viewer.close()  # type: ignore[attr-defined]

    with tempfile.TemporaryDirectory() as folder:
        ome = write_ome_channels(Path(folder) / "channels.ome.tif")
        # a little taller: the layer list shows all three channels
        viewer = _viewer(os.fspath(ome), size=(1280, 880))
        _save(viewer, out / "ome-channels.png")
        viewer.close()  # type: ignore[attr-defined]

    viewer = _viewer(args.ndpi, structure=True)
    _save(viewer, out / "ndpi.png")
    viewer.close()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
