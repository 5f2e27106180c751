"""The napari reader: sniff the magic bytes, open the main series through our store."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..errors import TiffFileError
from ..sources.remote import is_url, sniff_url
from ..store import ZarrTiffStore, open_arrays
from ..tiff.sequence import open_tiff, tiff_files
from ._layers import LayerSource, file_stem, layer_data

if TYPE_CHECKING:
    from ..tiff.series import TiffPageSeries

__all__ = ["TIFF_MAGIC", "get_reader", "open_layers", "open_source", "read_tiff"]

TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")

# Remote files we claim: a URL costs a request to sniff, so only TIFF names are asked.
URL_PROTOCOLS = ("http://", "https://", "s3://", "gs://", "gcs://")
TIFF_SUFFIXES = (".tif", ".tiff", ".btf", ".tf8", ".svs", ".ndpi", ".qptiff", ".scn")

LayerData = tuple[Any, dict[str, Any], str]

# What napari gets: zarr chunks of at least 512 x 512 pixels (2 x 2 tiles of 256), whose
# tiles are decoded together, because zarr's work per chunk on its one event-loop thread
# costs more than decoding a tile; and prefetch along the view's motion.  napari re-slices
# when the view leaves the chunks it holds: measured panning without rest
# (benchmarks/RESULTS.md, viewer chunk sizes), 512 fetches as little a step as 256 and
# 1024 with a third of 1024's worst step, 256 is slower under napari's async slicing,
# and 2048 decodes four times the pixels in one step.
VIEWER_CHUNKSHAPE = 512
# Remotely, every pixel napari asks for crosses the network, and napari widens each
# request to whole chunks: smaller chunks (2 x 2 tiles) fetch and decode less per view.
VIEWER_CHUNKSHAPE_REMOTE = 512
# A layer of one level is not tiled by napari: it reads the whole plane at every step (a
# slider's frame, a channel) whatever the view shows, so its chunks are whole planes, one
# chunk a step, decoded tile rows in parallel, with none of zarr's work per chunk to pay
# (benchmarks/RESULTS.md, time-lapse).  Up to this many bytes a plane: a bigger one keeps
# the chunks above, so that one chunk still fits the share of the cache read ahead.
WHOLE_PLANE_BYTES = 64 << 20
VIEWER_READAHEAD = True


def _is_tiff_url(url: str) -> bool:
    """A URL with a TIFF name whose first bytes are a TIFF's; a failed request is no."""
    name = urlsplit(url).path.lower()
    if not url.lower().startswith(URL_PROTOCOLS) or not name.endswith(TIFF_SUFFIXES):
        return False
    return sniff_url(url) in TIFF_MAGIC


def _is_tiff(path: Any) -> bool:
    if isinstance(path, str) and is_url(path):
        return _is_tiff_url(path)
    if not isinstance(path, str | os.PathLike):
        return False
    try:
        if not os.path.isfile(path):
            return False
        with open(path, "rb") as fh:
            return fh.read(4) in TIFF_MAGIC
    except (OSError, ValueError):
        return False


def _is_tiff_folder(path: Any) -> bool:
    """A folder whose first TIFF-named file (in natural order) is a TIFF: read as a stack."""
    if not isinstance(path, str | os.PathLike) or not os.path.isdir(path):
        return False
    try:
        files = tiff_files(path)
    except OSError:
        return False
    return bool(files) and _is_tiff(files[0])


def get_reader(path: str | list[str]) -> Callable[[Any], list[LayerData]] | None:
    """read_tiff if path is one TIFF file or a folder of them, else None; never raises."""
    if isinstance(path, list | tuple):
        if len(path) != 1:
            return None
        path = path[0]
    return read_tiff if _is_tiff(path) or _is_tiff_folder(path) else None


def open_layers(
    path: str,
    *,
    series: int = 0,
    level: int | None = None,
    chunkmode: int = 0,
    fillvalue: float | None = None,
    cachesize: int | None = None,
) -> list[LayerData]:
    """Layers for one series of a TIFF (or of a folder of TIFFs read as one stack), every
    level a zarr array over our store."""
    tif = open_tiff(path)
    try:
        if not tif.series:
            raise TiffFileError(f"{tif.filename}: no image series")
        item = tif.series[series]
        store = ZarrTiffStore(
            item,
            level=level,
            multiscales=level is None,
            chunkmode=chunkmode,
            fillvalue=fillvalue,
            on_error="fill",  # a corrupt tile shows the fill value and warns once
            chunkshape=_viewer_chunkshape(path, item, level) if int(chunkmode) == 0 else None,
            cachesize=cachesize,
            readahead=False,  # the reads for contrast limits below start none
        )
        arrays = open_arrays(store, views=True)
        shown = item if level is None else item.levels[level]
        source = LayerSource(os.fspath(path), series, level, int(chunkmode), fillvalue, cachesize)
        # the file's name without extension, also of a URL (without its query)
        name = file_stem(tif.filename)
        if item.name and len(tif.series) > 1:
            name = f"{name} [{item.name}]"
        layers = layer_data(
            arrays,
            axes=shown.axes,
            source=source,
            name=name,
            channel_names=item.channel_names,
            physical_sizes=item.physical_sizes,
            channel_colors=item.channel_colors,
        )
        store.readahead = VIEWER_READAHEAD  # from napari's first view on
        return layers
    except BaseException:
        tif.close()
        raise


def open_source(source: LayerSource) -> list[LayerData]:
    """Layers for what a layer's source names: how the widget reopens a layer."""
    return open_layers(
        source.path,
        series=source.series,
        level=source.level,
        chunkmode=source.chunkmode,
        fillvalue=source.fillvalue,
        cachesize=source.cachesize,
    )


def _viewer_chunkshape(
    path: str, series: TiffPageSeries, level: int | None
) -> int | tuple[int, int]:
    """The chunk shape napari gets: whole planes for a layer of one level (see
    WHOLE_PLANE_BYTES), else chunks of some tiles."""
    if level is not None or len(series.levels) == 1:
        _, _, length, width, samples = series.levels[level or 0].keyframe.layout.shaped
        plane = length * width * samples * series.dtype.itemsize
        if plane <= WHOLE_PLANE_BYTES:
            return (max(1, length), max(1, width))
    remote = isinstance(path, str) and is_url(path)
    return VIEWER_CHUNKSHAPE_REMOTE if remote else VIEWER_CHUNKSHAPE


def read_tiff(path: str | list[str]) -> list[LayerData]:
    """Layers of a local path or a URL (napari passes a URL through unchanged)."""
    if isinstance(path, list | tuple):
        path = path[0]
    layers = open_layers(os.fspath(path))
    show_scale_bar(layers)
    return layers


def show_scale_bar(layers: list[LayerData]) -> None:
    """Turn the scale bar of the viewer opening these layers on when they have physical
    units: napari draws it in the layers' units, but only when asked to."""
    import napari

    physical = any(unit != "pixel" for _, kwargs, _ in layers for unit in kwargs.get("units", ()))
    viewer = napari.current_viewer()
    if physical and viewer is not None:
        scale_bar(viewer).visible = True


def scale_bar(viewer: Any) -> Any:
    """napari 0.9 keeps the scale bar among the canvas' overlays; earlier, on the viewer."""
    overlays = getattr(getattr(viewer, "canvas", None), "overlays", None)
    return overlays["scale_bar"] if overlays is not None else viewer.scale_bar
