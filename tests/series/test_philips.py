"""Philips DP TIFF: levels padded to whole tiles, cropped to what the XML's pixel spacing
says, compared with tifffile's reading of the same file."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

from napari_tiffzarr import TiffFile
from napari_tiffzarr.store import ZarrTiffStore

TILE = 256
BASE = (1024, 1536)  # the baseline, whole tiles as a Philips scanner writes it
SPACING_MM = 0.00025  # 0.25 micrometre pixels


def philips_xml(levels: int, spacing: float = SPACING_MM) -> str:
    """A Philips DP description: nested DataObjects, one PixelDataRepresentation a level."""
    representations = "".join(
        '<DataObject ObjectType="PixelDataRepresentation">'
        f'<Attribute Name="PIIM_PIXEL_DATA_REPRESENTATION_NUMBER">{index}</Attribute>'
        f'<Attribute Name="DICOM_PIXEL_SPACING">"{spacing * 2**index:g}" '
        f'"{spacing * 2**index:g}"</Attribute>'
        "</DataObject>"
        for index in range(levels)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" ?>'
        '<DataObject ObjectType="DPUfsImport">'
        '<Attribute Name="PIM_DP_SCANNED_IMAGES"><Array>'
        '<DataObject ObjectType="DPScannedImage">'
        '<Attribute Name="PIIM_PIXEL_DATA_REPRESENTATION_SEQUENCE"><Array>'
        f"{representations}"
        "</Array></Attribute></DataObject></Array></Attribute></DataObject>"
    )


def _slide(length: int, width: int) -> np.ndarray:
    y, x = np.mgrid[0:length, 0:width]
    return np.stack([x * 255 // width, y * 255 // length, (x ^ y) & 255], axis=-1).astype(np.uint8)


def write_philips(path: Path, *, description: str | None = None, levels: int = 4) -> None:
    """Baseline, reduced levels padded with zeros up to whole tiles, an untiled page, then
    a macro and a label, as Philips' scanners lay them out."""
    base = _slide(*BASE)
    options = {"tile": (TILE, TILE), "compression": "jpeg", "photometric": "rgb"}
    with tifffile.TiffWriter(path) as tif:
        tif.write(
            base,
            software="Philips DP v1.0",
            description=philips_xml(levels) if description is None else description,
            metadata=None,
            **options,
        )
        for index in range(1, levels):
            level = base[:: 2**index, :: 2**index]
            padded = np.zeros(
                (-(-level.shape[0] // TILE) * TILE, -(-level.shape[1] // TILE) * TILE, 3),
                np.uint8,
            )
            padded[: level.shape[0], : level.shape[1]] = level
            tif.write(padded, metadata=None, **options)
        tif.write(_slide(40, 60), photometric="rgb", metadata=None)
        tif.write(_slide(100, 300), description="Macro", photometric="rgb", metadata=None)
        tif.write(_slide(80, 80), description="Label", photometric="rgb", metadata=None)


def test_series_and_levels_equal_tifffile(tmp_path: Path) -> None:
    path = tmp_path / "philips.tiff"
    write_philips(path)
    with tifffile.TiffFile(path) as theirs, TiffFile(path) as ours:
        assert theirs.is_philips
        expected = [
            (s.name, s.shape, s.axes, [lv.shape for lv in s.levels]) for s in theirs.series
        ]
        found = [(s.name, s.shape, s.axes, [lv.shape for lv in s.levels]) for s in ours.series]
        assert found == expected
        # cropped: 1024 // 8 rows, not the 256 the padded page stores
        assert ours.series[0].levels[3].shape == (128, 192, 3)
        assert [s.kind for s in ours.series] == ["philips"] * 4
        for mine, reference in zip(ours.series, theirs.series, strict=True):
            for index, level in enumerate(reference.levels):
                np.testing.assert_array_equal(mine.asarray(level=index), level.asarray())
        # the file's own pages stay as stored
        assert ours.pages[3].shape == (256, 256, 3)


def test_store_serves_the_cropped_levels(tmp_path: Path) -> None:
    path = tmp_path / "philips.tiff"
    write_philips(path)
    with TiffFile(path) as tif:
        series = tif.series[0]
        assert series.physical_sizes == {
            "Y": (pytest.approx(0.25), "micrometer"),
            "X": (pytest.approx(0.25), "micrometer"),
        }
        group = zarr.open_group(ZarrTiffStore(series, multiscales=True), mode="r")
        with tifffile.TiffFile(path) as theirs:
            for index, level in enumerate(theirs.series[0].levels):
                np.testing.assert_array_equal(group[str(index)][:], level.asarray())


@pytest.mark.parametrize(
    ("description", "why"),
    [
        ("<DataObject ObjectType='DPUfsImport'><broken</DataObject>", "unreadable XML"),
        (philips_xml(2), "two levels described, four stored"),
    ],
)
def test_unusable_description_falls_back_to_generic(
    tmp_path: Path, description: str, why: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "philips.tiff"
    write_philips(path, description=description)
    with caplog.at_level(logging.WARNING, logger="napari_tiffzarr"), TiffFile(path) as tif:
        series = tif.series
        # said by us, before tifffile below logs its own complaint about the file
        ours = [r.getMessage() for r in caplog.records if r.name == "napari_tiffzarr"]
        assert any("Philips" in message for message in ours), why
        assert series, why
        assert all(s.kind != "philips" for s in series), why
        np.testing.assert_array_equal(series[0].asarray(), tifffile.imread(path))
