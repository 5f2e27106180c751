"""Text describing a file's structure: series, levels, chunks, compression, byte order.

Written for a narrow panel: one short line per level, what all levels share said once.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..tiff.file import TiffFile
from ..tiff.sequence import TiffSequence
from ..tiff.series import TiffPageSeries
from ..tiff.tags import Compression, enum_or_int

__all__ = ["describe_file", "describe_series", "format_shape", "plural"]


def plural(count: int, noun: str) -> str:
    """'1 page', '2 pages'."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


TIMES = " \u00d7 "  # the multiplication sign, spaced


def format_shape(shape: Sequence[int]) -> str:
    return TIMES.join(str(int(n)) for n in shape)


def _compression(series: TiffPageSeries) -> str:
    value = enum_or_int(Compression, int(series.keyframe.compression))
    return value.name if isinstance(value, Compression) else str(value)


def describe_series(series: TiffPageSeries) -> str:
    """One line: what users choose a series by."""
    name = f" {series.name}" if series.name else ""
    return (
        f"{series.index}: {series.kind}{name} {format_shape(series.shape)} {series.dtype} "
        f"{series.axes}, {plural(len(series.levels), 'level')}, {_compression(series)}"
    )


def _level_line(index: int, level: TiffPageSeries, compression: str) -> str:
    key = level.keyframe
    kind = key.storage
    segment = format_shape(key.layout.segment[1:3])
    pages = len(level.pages)
    extra = [] if pages == 1 else [plural(pages, "page")]
    if _compression(level) != compression:
        extra.append(_compression(level))
    tail = "".join(f", {item}" for item in extra)
    return f"  {index}: {format_shape(level.shape)}, {kind} {segment}{tail}"


def describe_file(tif: TiffFile | TiffSequence) -> str:
    if isinstance(tif, TiffSequence):
        lines = [
            tif.filename,
            f"{plural(len(tif.files), 'file')}, {tif.axes} {format_shape(tif.shape)} from names",
        ]
    else:
        order = "little" if tif.byteorder == "<" else "big"
        lines = [
            tif.filename,
            f"{'BigTIFF' if tif.is_bigtiff else 'classic TIFF'}, {order}-endian, "
            f"{tif.filesize:,} bytes",
        ]
    for series in tif.series:
        compression = _compression(series)
        name = f" {series.name}" if series.name else ""
        lines.append(
            f"series {series.index}: {series.kind}{name}, {series.axes} {series.dtype}, "
            f"{compression}"
        )
        lines.extend(
            _level_line(index, level, compression) for index, level in enumerate(series.levels)
        )
    return "\n".join(lines)
