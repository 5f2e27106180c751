"""The zarr store over TIFF pages and series: the only package that imports zarr."""

from .arrays import open_arrays
from .store import CHUNKMODE, TiffChunkWarning, ZarrTiffStore

__all__ = ["CHUNKMODE", "TiffChunkWarning", "ZarrTiffStore", "open_arrays"]
