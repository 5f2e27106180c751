"""Series of files written by tifffile, compared with tifffile: kinds, shapes, axes,
levels and every pixel of every level."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_tiffzarr import TiffFile

RNG = np.random.default_rng(42)
Writer = Callable[[Path], None]


def _ints(shape: tuple[int, ...], dtype: str = "u2") -> np.ndarray:
    return RNG.integers(0, 200, shape).astype(dtype)


def generic_stack(path: Path) -> None:
    tifffile.imwrite(path, _ints((5, 33, 47)), metadata=None, compression="lzw")


def generic_mixed(path: Path) -> None:
    with tifffile.TiffWriter(path) as tif:
        for shape in [(32, 40), (32, 40), (16, 40), (32, 40), (32, 40, 3)]:
            tif.write(_ints(shape, "u1"), metadata=None)


def shaped_tzyx(path: Path) -> None:
    tifffile.imwrite(
        path, _ints((2, 3, 30, 40)), photometric="minisblack", metadata={"axes": "TZYX"}
    )


def shaped_two_series(path: Path) -> None:
    with tifffile.TiffWriter(path) as tif:
        tif.write(_ints((4, 20, 30)), photometric="minisblack", metadata={"axes": "ZYX"})
        tif.write(_ints((30, 40, 3), "u1"), photometric="rgb")


def subifd_pyramid(path: Path) -> None:
    base = _ints((256, 320), "u1")
    with tifffile.TiffWriter(path) as tif:
        tif.write(base, subifds=2, tile=(64, 64), compression="zlib")
        tif.write(base[::2, ::2], subfiletype=1, tile=(64, 64), compression="zlib")
        tif.write(base[::4, ::4], subfiletype=1, tile=(64, 64), compression="zlib")


def reduced_page_pyramid(path: Path) -> None:
    base = _ints((256, 320, 3), "u1")
    with tifffile.TiffWriter(path) as tif:
        tif.write(base, tile=(64, 64), photometric="rgb", metadata=None)
        tif.write(base[::2, ::2], subfiletype=1, tile=(64, 64), photometric="rgb", metadata=None)
        tif.write(base[::4, ::4], subfiletype=1, tile=(64, 64), photometric="rgb", metadata=None)


def imagej_hyperstack(path: Path) -> None:
    tifffile.imwrite(
        path,
        _ints((2, 3, 2, 24, 32)),
        imagej=True,
        resolution=(2.0, 2.0),
        metadata={"axes": "TZCYX", "unit": "um", "spacing": 1.5, "finterval": 0.5},
    )


def imagej_rgb(path: Path) -> None:
    tifffile.imwrite(path, _ints((3, 24, 32, 3), "u1"), imagej=True, photometric="rgb")


def ome_pyramid_channels(path: Path) -> None:
    data = _ints((2, 3, 128, 160))
    options = {"tile": (64, 64), "compression": "zlib"}
    with tifffile.TiffWriter(path, ome=True) as tif:
        tif.write(
            data,
            subifds=2,
            metadata={
                "axes": "ZCYX",
                "PhysicalSizeX": 0.25,
                "PhysicalSizeY": 0.25,
                "PhysicalSizeZ": 2.0,
                "Channel": {"Name": ["DAPI", "GFP", "RFP"]},
            },
            **options,
        )
        tif.write(data[:, :, ::2, ::2], subfiletype=1, **options)
        tif.write(data[:, :, ::4, ::4], subfiletype=1, **options)
        tif.write(_ints((40, 50, 3), "u1"), photometric="rgb", metadata={"axes": "YXS"})


def ome_tcyx(path: Path) -> None:
    tifffile.imwrite(path, _ints((3, 2, 20, 30), "u1"), ome=True, metadata={"axes": "TCYX"})


def svs_like(path: Path) -> None:
    """Aperio's layout: tiled baseline, stripped thumbnail, tiled levels, label, macro."""
    base = _ints((512, 640, 3), "u1")
    desc = (
        "Aperio Image Library v12.0.15\r\n640x512 [0,0 640x512] (256x256) JPEG/RGB Q=70"
        "|AppMag = 20|MPP = 0.4990"
    )
    with tifffile.TiffWriter(path) as tif:
        tif.write(base, tile=(256, 256), photometric="rgb", description=desc, metadata=None)
        tif.write(base[::8, ::8], photometric="rgb", description="thumbnail", metadata=None)
        tif.write(base[::4, ::4], tile=(256, 256), photometric="rgb", metadata=None)
        tif.write(_ints((40, 60, 3), "u1"), photometric="rgb", subfiletype=1, metadata=None)
        tif.write(_ints((50, 60, 3), "u1"), photometric="rgb", subfiletype=9, metadata=None)


def qptiff_like(path: Path) -> None:
    software = "PerkinElmer-QPI"
    with tifffile.TiffWriter(path) as tif:
        for channel in range(3):
            tag = "PerkinElmer-QPI-ImageDescription"
            desc = f"<{tag}><Name>C{channel}</Name></{tag}>"
            tif.write(
                _ints((128, 160), "u1"),
                tile=(64, 64),
                software=software,
                description=desc,
                metadata=None,
            )
        tif.write(_ints((16, 20, 3), "u1"), photometric="rgb", software=software, metadata=None)
        for _ in range(3):
            tif.write(
                _ints((64, 80), "u1"),
                tile=(64, 64),
                subfiletype=1,
                software=software,
                metadata=None,
            )
        tif.write(_ints((30, 40, 3), "u1"), photometric="rgb", software=software, metadata=None)
        tif.write(_ints((20, 30, 3), "u1"), photometric="rgb", software=software, metadata=None)


WRITERS: dict[str, Writer] = {
    f.__name__: f
    for f in (
        generic_stack,
        generic_mixed,
        shaped_tzyx,
        shaped_two_series,
        subifd_pyramid,
        reduced_page_pyramid,
        imagej_hyperstack,
        imagej_rgb,
        ome_pyramid_channels,
        ome_tcyx,
        svs_like,
        qptiff_like,
    )
}
EXPECTED_KINDS = {
    "generic_stack": "generic",
    "generic_mixed": "generic",
    "shaped_tzyx": "shaped",
    "shaped_two_series": "shaped",
    "subifd_pyramid": "shaped",
    "reduced_page_pyramid": "generic",
    "imagej_hyperstack": "imagej",
    "imagej_rgb": "imagej",
    "ome_pyramid_channels": "ome",
    "ome_tcyx": "ome",
    "svs_like": "svs",
    "qptiff_like": "qpi",
}


def assert_series_equal(path: Path, series_facts: Callable[..., tuple]) -> list:  # type: ignore[type-arg]
    with tifffile.TiffFile(path) as theirs, TiffFile(path) as ours:
        assert [s.kind for s in ours.series] == [s.kind for s in theirs.series]
        assert [series_facts(s) for s in ours.series] == [series_facts(s) for s in theirs.series]
        assert [s.name for s in ours.series] == [s.name for s in theirs.series]
        for mine, reference in zip(ours.series, theirs.series, strict=True):
            for index, level in enumerate(reference.levels):
                np.testing.assert_array_equal(mine.asarray(level=index), level.asarray())
        return [(s.kind, s.physical_sizes, s.channel_names) for s in ours.series]


@pytest.mark.parametrize("name", list(WRITERS))
def test_series_equal_tifffile(tmp_path: Path, name: str, series_facts) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / f"{name}.tif"
    WRITERS[name](path)
    facts = assert_series_equal(path, series_facts)
    assert facts[0][0] == EXPECTED_KINDS[name]


def test_imagej_physical_sizes(tmp_path: Path) -> None:
    path = tmp_path / "ij.tif"
    imagej_hyperstack(path)
    with TiffFile(path) as tif:
        sizes = tif.series[0].physical_sizes
    assert sizes == {
        "X": (0.5, "micrometer"),
        "Y": (0.5, "micrometer"),
        "Z": (1.5, "micrometer"),
        "T": (0.5, "second"),
    }


def test_ome_physical_sizes_and_channel_names(tmp_path: Path) -> None:
    path = tmp_path / "ome.ome.tif"
    ome_pyramid_channels(path)
    with TiffFile(path) as tif:
        series = tif.series[0]
        assert series.channel_names == ["DAPI", "GFP", "RFP"]
        assert series.physical_sizes == {
            "X": (0.25, "micrometer"),
            "Y": (0.25, "micrometer"),
            "Z": (2.0, "micrometer"),
        }


def test_svs_mpp_and_names(tmp_path: Path) -> None:
    path = tmp_path / "slide.svs"
    svs_like(path)
    with TiffFile(path) as tif:
        assert [s.name for s in tif.series] == ["Baseline", "Thumbnail", "Label", "Macro"]
        assert tif.series[0].physical_sizes["X"] == (0.499, "micrometer")


def test_multifile_ome_is_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Planes in another file of the dataset are detected, named, and read as fill."""
    path = tmp_path / "part1.ome.tif"
    tifffile.imwrite(path, _ints((2, 16, 20), "u1"), ome=True, metadata={"axes": "ZYX"})
    with tifffile.TiffFile(path) as tif:
        xml = tif.pages[0].description
    uuid = xml.split('UUID="', 1)[1].split('"', 1)[0]
    xml = xml.replace('SizeZ="2"', 'SizeZ="3"', 1)
    extra = (
        '<TiffData FirstZ="2" IFD="0" PlaneCount="1">'
        '<UUID FileName="part2.ome.tif">'
        f"urn:uuid:{'0' * 8}-0000-0000-0000-{'0' * 12}</UUID></TiffData>"
    )
    xml = xml.replace("</Pixels>", extra + "</Pixels>", 1)
    assert uuid
    tifffile.tiffcomment(path, xml.encode())
    with caplog.at_level(logging.WARNING, logger="napari_tiffzarr"), TiffFile(path) as tif:
        series = tif.series[0]
        assert series.shape == (3, 16, 20)
        assert series.missing_files == ["part2.ome.tif"]
        data = series.asarray()
    assert "part2.ome.tif" in caplog.text
    np.testing.assert_array_equal(data[:2], tifffile.imread(path, series=0, key=[0, 1]))
    assert not data[2].any()
