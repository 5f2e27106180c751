"""fsspec ReferenceFileSystem (kerchunk) JSON from a store's metadata and byte ranges.

A chunk key maps to ``[url, offset, length]`` of a strip or tile of the TIFF (or a raw,
contiguous page), decoded by the codecs chosen from the page's coding.  The modules:
``coding`` chooses the codecs, ``codecs`` gives zarr 3 the imagecodecs and segment codecs by
name, ``sequences`` places one file of a sequence in the joined array, ``entries`` builds
the metadata documents and chunk references, ``output`` writes the JSON.  The TIFF is only
read.
"""

from __future__ import annotations

from .codecs import register_codecs
from .coding import DEFAULT_COMPRESSORS, ChunkCoding, chunk_coding, required_codecs
from .output import FsspecOptions, check_output_folder, write_fsspec, write_sequence

__all__ = [
    "DEFAULT_COMPRESSORS",
    "ChunkCoding",
    "FsspecOptions",
    "check_output_folder",
    "chunk_coding",
    "register_codecs",
    "required_codecs",
    "write_fsspec",
    "write_sequence",
]
