"""Scaling benchmarks against tifffile, in one run, the readers taking turns.

    python benchmarks/scale.py [--repeat 5]

- a 20,000-page TIFF whose pages alternate between two shapes (no uniform fast path):
  open and list the series with ours, against tifffile on 4,000 pages of the same kind
  (tifffile's grouping is quadratic: 20,000 pages would take it minutes);
- a folder of 2,000 one-page TIFFs: open it as one lazy zarr array, against tifffile's
  TiffSequence (its aszarr), and read one frame through it;
- a three-file OME-TIFF dataset (one file per channel), opened and read whole through zarr.

Makes its own data in a cache folder; reports medians and ratios (ours / tifffile).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np

from run import time_alternating

CACHE = Path(os.environ.get("TIFFZARR_BENCH_DATA", Path(tempfile.gettempdir()) / "tiffzarr-bench"))


def two_shape_stack(count: int) -> Path:
    """count pages alternating 64 x 64 and 64 x 96, as separate IFDs (tifffile writes)."""
    import tifffile

    path = CACHE / f"two-shapes-{count}.tif"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(0)
        shapes = [(64, 64), (64, 96)]
        frames = [rng.integers(0, 255, shape, np.uint8) for shape in shapes]
        with tifffile.TiffWriter(path.with_suffix(".partial")) as writer:
            for i in range(count):
                writer.write(frames[i % 2], metadata=None, contiguous=False)
        path.with_suffix(".partial").rename(path)
    return path


def frame_folder(count: int) -> Path:
    """count files frame_00000.tif ... of one 64 x 64 uint16 page each."""
    import tifffile

    folder = CACHE / f"folder-{count}"
    if not (folder / "done").exists():
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(1)
        for i in range(count):
            frame = rng.integers(0, 4000, (64, 64), np.uint16)
            tifffile.imwrite(folder / f"frame_{i:05d}.tif", frame, metadata=None)
        (folder / "done").touch()
    return folder


def ome_dataset(channels: int = 3, planes: int = 50) -> Path:
    """A multi-file OME-TIFF dataset: one file per channel of planes 256 x 256 uint16 planes,
    linked by TiffData UUID FileName elements; returns the first file."""
    import tifffile

    folder = CACHE / f"ome-{channels}x{planes}"
    names = [f"c{c}.ome.tif" for c in range(channels)]
    uuids = [f"urn:uuid:{c:08d}-0000-0000-0000-000000000000" for c in range(channels)]
    if not (folder / "done").exists():
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(2)
        tiffdata = "".join(
            f'<TiffData FirstC="{c}" IFD="0" PlaneCount="{planes}">'
            f'<UUID FileName="{names[c]}">{uuids[c]}</UUID></TiffData>'
            for c in range(channels)
        )
        for c in range(channels):
            xml = (
                '<?xml version="1.0" encoding="UTF-8"?><OME xmlns="http://www.openmicroscopy.org/'
                f'Schemas/OME/2016-06" UUID="{uuids[c]}"><Image ID="Image:0"><Pixels '
                f'ID="Pixels:0" DimensionOrder="XYZCT" Type="uint16" SizeX="256" SizeY="256" '
                f'SizeZ="{planes}" SizeC="{channels}" SizeT="1">'
                + "".join(f'<Channel ID="Channel:0:{i}"/>' for i in range(channels))
                + tiffdata
                + "</Pixels></Image></OME>"
            )
            data = rng.integers(0, 4000, (planes, 256, 256), np.uint16)
            tifffile.imwrite(
                folder / names[c], data, description=xml, metadata=None, compression="zlib"
            )
        (folder / "done").touch()
    return folder / names[0]


def bench_series(repeat: int) -> dict[str, float]:
    import tifffile

    from napari_tiffzarr import TiffFile

    ours_path, theirs_path = two_shape_stack(20_000), two_shape_stack(4_000)

    def ours() -> object:
        with TiffFile(ours_path) as tif:
            return [s.shape for s in tif.series]

    def theirs() -> object:
        with tifffile.TiffFile(theirs_path) as tif:
            return [s.shape for s in tif.series]

    assert ours() == [(10_000, 64, 64), (10_000, 64, 96)], ours()
    return time_alternating({"ours": ours, "tifffile": theirs}, repeat)


def bench_folder(repeat: int) -> dict[str, dict[str, float]]:
    """Open a 2,000-file folder as one zarr array; then open it and read one frame."""
    import tifffile
    import zarr

    from napari_tiffzarr.store import ZarrTiffStore
    from napari_tiffzarr.tiff.sequence import TiffSequence

    folder = frame_folder(2_000)
    pattern = str(folder / "*.tif")

    def ours(read: bool) -> object:
        with ZarrTiffStore(TiffSequence(folder).series[0]) as store:  # closes the files
            array = zarr.open_array(store, mode="r")
            return array[1000] if read else array.shape

    def theirs(read: bool) -> object:
        files = tifffile.TiffSequence(pattern)
        with files.aszarr() as store:
            array = zarr.open_array(store, mode="r")
            result = array[1000] if read else array.shape
        files.close()
        return result

    assert ours(False) == theirs(False) == (2_000, 64, 64)
    assert np.array_equal(ours(True), theirs(True))  # type: ignore[arg-type]
    return {
        "open": time_alternating(
            {"ours": lambda: ours(False), "tifffile": lambda: theirs(False)}, repeat
        ),
        "read": time_alternating(
            {"ours": lambda: ours(True), "tifffile": lambda: theirs(True)}, repeat
        ),
    }


def bench_ome(repeat: int) -> dict[str, float]:
    """Open a three-file OME dataset and read it whole through zarr."""
    import tifffile
    import zarr

    from napari_tiffzarr import TiffFile
    from napari_tiffzarr.store import ZarrTiffStore

    path = ome_dataset()

    def ours() -> np.ndarray:
        with TiffFile(path) as tif:
            return zarr.open_array(ZarrTiffStore(tif.series[0]), mode="r")[:]

    def theirs() -> np.ndarray:
        with tifffile.TiffFile(path) as tif, tif.series[0].aszarr() as store:
            return zarr.open_array(store, mode="r")[:]

    assert np.array_equal(ours(), theirs())
    return time_alternating({"ours": ours, "tifffile": theirs}, repeat)


def report(name: str, result: dict[str, float], target: float | None) -> str:
    cells = []
    for suffix in ("", " cpu"):
        ours, theirs = result["ours" + suffix], result["tifffile" + suffix]
        ratio = ours / theirs
        held = "" if target is None else (" held" if ratio <= target else " NOT held")
        cells.append(f"{ours * 1e3:.1f} | {theirs * 1e3:.1f} | {ratio:.3f}{held}")
    return f"| {name} | " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    lines = [
        "| case | ours (ms) | tifffile (ms) | ratio | ours CPU (ms) | tifffile CPU (ms) "
        "| CPU ratio |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines.append(
        report(
            "open + series: ours 20,000 two-shape pages, tifffile 4,000 (target <= 0.2)",
            bench_series(args.repeat),
            0.2,
        )
    )
    folder = bench_folder(args.repeat)
    lines.append(report("open a 2,000-file folder as one zarr array", folder["open"], None))
    lines.append(report("open it and read one frame", folder["read"], None))
    lines.append(
        report(
            "three-file OME dataset (3 x 50 x 256 x 256 deflate), read whole",
            bench_ome(args.repeat),
            None,
        )
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
