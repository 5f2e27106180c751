"""Physical pixel sizes and their units, from resolution tags and format metadata.

Sizes are kept per axis letter as (size per pixel, unit), units named as OME-NGFF and
napari name them ('micrometer', 'second', ...).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..tags import TagCode

if TYPE_CHECKING:
    from ..page import TiffPage

__all__ = ["PhysicalSizes", "imagej_physical_sizes", "normalize_unit", "tag_physical_sizes"]

PhysicalSizes = dict[str, tuple[float, str]]

_UNITS = {
    "micron": "micrometer",
    "microns": "micrometer",
    "um": "micrometer",
    "µm": "micrometer",
    "\\u00b5m": "micrometer",
    "micrometer": "micrometer",
    "nm": "nanometer",
    "nanometer": "nanometer",
    "mm": "millimeter",
    "millimeter": "millimeter",
    "cm": "centimeter",
    "centimeter": "centimeter",
    "m": "meter",
    "meter": "meter",
    "inch": "inch",
    "in": "inch",
    "s": "second",
    "sec": "second",
    "second": "second",
    "ms": "millisecond",
    "min": "minute",
    "h": "hour",
}

# ResolutionUnit -> the unit its resolutions count pixels per
_RESOLUTION_UNITS = {3: "centimeter", 4: "millimeter", 5: "micrometer"}


def normalize_unit(unit: str | None) -> str | None:
    """The NGFF name of a unit as microscopy software writes it, or None if unknown."""
    if not unit:
        return None
    return _UNITS.get(unit.strip().lower().replace("\\", "\\"))


def _per_pixel(value: Any) -> float | None:
    """The size of one pixel from a resolution (pixels per unit) rational."""
    if isinstance(value, tuple) and len(value) == 2:
        numerator, denominator = value
        if numerator and denominator:
            return float(denominator) / float(numerator)
        return None
    if isinstance(value, int | float) and value:
        return 1.0 / float(value)
    return None


def tag_physical_sizes(page: TiffPage, unit: str | None = None) -> PhysicalSizes:
    """X and Y pixel size from XResolution and YResolution, in metric units only.

    Resolutions in inches are nearly always a document's dots per inch, not a
    microscope's pixel size, so they are not taken for one.
    """
    if unit is None:
        code = page.ifd.value(TagCode.ResolutionUnit, 2)
        unit = _RESOLUTION_UNITS.get(code if isinstance(code, int) else 2)
        if unit is None:
            return {}
    sizes: PhysicalSizes = {}
    for axis, code in (("X", TagCode.XResolution), ("Y", TagCode.YResolution)):
        size = _per_pixel(page.ifd.value(code))
        if size is not None:
            sizes[axis] = (size, unit)
    return sizes


def imagej_physical_sizes(page: TiffPage, meta: dict[str, Any]) -> PhysicalSizes:
    """ImageJ keeps the unit and Z spacing in its description, X and Y in the tags."""
    unit = normalize_unit(str(meta.get("unit", ""))) if "unit" in meta else None
    if unit is None:
        return {}
    sizes = tag_physical_sizes(page, unit)
    spacing = meta.get("spacing")
    if isinstance(spacing, int | float) and spacing > 0:
        sizes["Z"] = (float(spacing), unit)
    interval = meta.get("finterval")
    if isinstance(interval, int | float) and interval > 0:
        sizes["T"] = (float(interval), "second")
    return sizes
