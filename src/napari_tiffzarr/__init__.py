"""Browse multiscale TIFFs lazily in napari through a Zarr store of our own.

The public API never imports napari or Qt: the TIFF reader and the store work on their own.
"""

from __future__ import annotations

from .errors import TiffFileError
from .tiff.file import TiffFile
from .tiff.page import TiffPage

__version__ = "0.1.0"

__all__ = ["TiffFile", "TiffFileError", "TiffPage", "__version__"]
