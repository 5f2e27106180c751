"""OME-XML of multi-file datasets for tests: one file per channel, each file holding the
whole dataset's XML with its own UUID, its planes found through TiffData UUID FileName
elements (as Bio-Formats writes them)."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["channel_files_xml"]


def channel_files_xml(
    names: Sequence[str],
    uuids: Sequence[str],
    own: int,
    *,
    planes: int,
    length: int,
    width: int,
    dtype: str = "uint16",
    name: str | None = None,
) -> str:
    """The XML that file own of the dataset holds: channel c is names[c], whose UUID is
    uuids[c], with planes Z planes of length x width pixels of dtype."""
    channels = len(names)
    tiffdata = "".join(
        f'<TiffData FirstC="{c}" IFD="0" PlaneCount="{planes}">'
        f'<UUID FileName="{names[c]}">{uuids[c]}</UUID></TiffData>'
        for c in range(channels)
    )
    named = "" if name is None else f' Name="{name}"'
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06" '
        f'UUID="{uuids[own]}"><Image ID="Image:0"{named}><Pixels ID="Pixels:0" '
        f'DimensionOrder="XYZCT" Type="{dtype}" SizeX="{width}" SizeY="{length}" '
        f'SizeZ="{planes}" SizeC="{channels}" SizeT="1">'
        + "".join(f'<Channel ID="Channel:0:{c}" SamplesPerPixel="1"/>' for c in range(channels))
        + tiffdata
        + "</Pixels></Image></OME>"
    )
