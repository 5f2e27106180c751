"""The napari writer: an image layer's source series as kerchunk reference JSON."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..sources.remote import is_url
from ..store import ZarrTiffStore
from ..store.config import ZarrFormat
from ..tiff.sequence import open_tiff
from ._layers import LayerSource

__all__ = ["ReferenceWriterError", "write_layer_references", "write_references"]


class ReferenceWriterError(RuntimeError):
    """Why a layer's references cannot be saved.  Not a ValueError: napari's save takes a
    writer's ValueError for "no writer found" and drops its message."""


def write_layer_references(
    jsonfile: str,
    source: LayerSource,
    *,
    url: str | None = None,
    version: int = 1,
    zarr_format: ZarrFormat = 2,
    portable: bool = False,
) -> str:
    """Write the references of the series a layer was opened from; return the path.

    Without a url the references point at the TIFF where it is: its own URL's directory
    for a remote file, a file:// URL for a local one.  Zarr format 2 by default, as kerchunk
    writes it.  portable refuses what imagecodecs' numcodecs cannot decode; otherwise
    napari-tiffzarr's TIFF segment codec decodes it (readers need napari-tiffzarr).
    """
    path = source.path
    if url is None and is_url(path):
        url = path.rsplit("/", 1)[0] + "/"
    elif url is None and os.path.isdir(path):  # a folder read as one stack: its files
        url = Path(os.path.abspath(path)).as_uri() + "/"
    elif url is None:
        url = Path(os.path.dirname(os.path.abspath(path))).as_uri() + "/"
    with open_tiff(path) as tif:
        store = ZarrTiffStore(
            tif.series[source.series],
            level=source.level,
            multiscales=source.level is None,
            chunkmode=source.chunkmode,
            fillvalue=source.fillvalue,
            zarr_format=zarr_format,
        )
        store.write_fsspec(jsonfile, url=url, version=version, portable=portable)
    return jsonfile


def write_references(path: str, data: Any, meta: dict[str, Any]) -> list[str]:
    """npe2 single-layer writer for image layers."""
    source = LayerSource.from_metadata(meta.get("metadata"))
    name = meta.get("name", "layer")
    if source is None:
        raise ReferenceWriterError(
            f"layer {name!r} was not opened from a TIFF by napari-tiffzarr: "
            "there is no file to reference"
        )
    if not path.endswith(".json"):
        path += ".json"
    try:
        return [write_layer_references(path, source)]
    except ValueError as exc:  # TiffFileError, or what references cannot represent
        raise ReferenceWriterError(f"cannot save references of layer {name!r}: {exc}") from exc
