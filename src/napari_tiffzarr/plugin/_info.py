"""Text describing a file's structure: series, levels, chunks, compression, byte order."""

from __future__ import annotations

from ..tiff.file import TiffFile
from ..tiff.sequence import TiffSequence
from ..tiff.series import TiffPageSeries
from ..tiff.tags import Compression, enum_or_int

__all__ = ["describe_file", "describe_series"]


def _compression(series: TiffPageSeries) -> str:
    value = enum_or_int(Compression, int(series.keyframe.compression))
    return value.name if isinstance(value, Compression) else str(value)


def describe_series(series: TiffPageSeries) -> str:
    """One line: what users choose a series by."""
    name = f" {series.name}" if series.name else ""
    levels = len(series.levels)
    return (
        f"{series.index}: {series.kind}{name} {series.shape} {series.dtype} {series.axes}, "
        f"{levels} level{'s' if levels > 1 else ''}, {_compression(series)}"
    )


def describe_file(tif: TiffFile | TiffSequence) -> str:
    if isinstance(tif, TiffSequence):
        lines = [f"{tif.filename}: {len(tif.files)} files, {tif.axes} {tif.shape} from names"]
    else:
        order = "little" if tif.byteorder == "<" else "big"
        lines = [
            f"{tif.filename}: {'BigTIFF' if tif.is_bigtiff else 'classic TIFF'}, "
            f"{order}-endian, {tif.filesize:,} bytes"
        ]
    for series in tif.series:
        lines.append("series " + describe_series(series))
        for index, level in enumerate(series.levels):
            key = level.keyframe
            kind = "tiles" if key.is_tiled else "strips"
            lines.append(
                f"  level {index}: {level.shape}, {len(level.pages)} page(s), "
                f"{kind} {key.layout.segment[1]}x{key.layout.segment[2]}, "
                f"{_compression(level)}"
            )
    return "\n".join(lines)
