"""How zarr decodes the chunks of each level: the codecs chosen from the pages' coding.

Every chunk of the store is one strip or tile of the TIFF (or one raw, contiguous page), so
zarr decodes it with a numcodecs codec chosen from the page's coding (compression,
predictor, byte order and sample type) by table.  What imagecodecs' codecs cannot decode is,
with ``portable=True``, refused with a ValueError that names the feature; otherwise those
levels use our segment codec (:mod:`napari_tiffzarr.segment_codec`), which decodes a segment
as the reader does.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..segment_codec import SEGMENT_CODEC_ID, segment_config
from ..tiff.codecs import (
    CODECS,
    PREDICTORS,
    CodingParameters,
    Role,
    byte_aligned,
    codec,
    jpeg_colorspaces,
)
from ..tiff.page import TiffPage
from ..tiff.series.base import coding_key
from ..tiff.tags import Compression, describe_value
from .codecs import V3_CODECS, V3_PREFIX

if TYPE_CHECKING:
    from ..store.store import ZarrTiffStore

__all__ = [
    "DEFAULT_COMPRESSORS",
    "ChunkCoding",
    "chunk_coding",
    "is_segment_coding",
    "level_codings",
    "refuse",
    "required_codecs",
    "segment_coding",
]

# TIFF compression -> numcodecs id of a codec that decodes one of its segments alone
DEFAULT_COMPRESSORS: dict[int, str] = {
    compression: row.numcodec for compression, row in CODECS.items() if row.numcodec
}


@dataclass(frozen=True)
class ChunkCoding:
    """How zarr decodes one chunk: filters, then a compressor or an image codec."""

    filters: tuple[dict[str, Any], ...]
    compressor: dict[str, Any] | None
    image: bool  # the compressor decodes to an array in native byte order
    dtype: np.dtype  # of the bytes the compressor returns, file byte order unless image

    def zarr2(self) -> dict[str, Any]:
        return {
            "dtype": self.dtype.str,
            "compressor": self.compressor,
            "filters": list(self.filters) or None,
        }

    def zarr3(self) -> list[dict[str, Any]]:
        def named(config: Mapping[str, Any]) -> dict[str, Any]:
            rest = {k: v for k, v in config.items() if k != "id"}
            return {"name": V3_PREFIX + config["id"], "configuration": rest}

        codecs = [named(f) for f in self.filters]
        if self.image:
            assert self.compressor is not None  # an image codec is a compressor
            return [*codecs, named(self.compressor)]
        if self.dtype.itemsize > 1:
            endian = "big" if self.dtype.byteorder == ">" else "little"
            codecs.append({"name": "bytes", "configuration": {"endian": endian}})
        else:
            codecs.append({"name": "bytes"})
        if self.compressor is not None:
            codecs.append(named(self.compressor))
        return codecs


def refuse(page: TiffPage, feature: str) -> ValueError:
    return ValueError(f"{page.name}: {feature} cannot be represented as fsspec references")


def _jpeg_config(
    page: TiffPage, params: CodingParameters, codec_id: str, first: bytes
) -> dict[str, Any]:
    colorspace, outcolorspace = jpeg_colorspaces(
        params, (params.jpegheader or first)[6:11] == b"JFIF\x00"
    )

    def b64(data: bytes | None) -> str | None:
        return None if data is None else base64.b64encode(data).decode()

    return {
        "id": codec_id,
        "bitspersample": page.bitspersample,
        "colorspace_data": outcolorspace,
        "colorspace_jpeg": colorspace,
        "header": b64(params.jpegheader),
        "tables": b64(params.jpegtables),
    }


def _first_segment(page: TiffPage, length: int = 16) -> bytes:
    """The start of the first stored segment: JPEG's colour space depends on a marker."""
    for index in range(page.layout.count):
        found = page.segment_range(index)
        if found is not None:
            return page.source.read(found[0], min(length, found[1]))
    return b""


def chunk_coding(
    page: TiffPage,
    *,
    whole_page: bool = False,
    compressors: Mapping[int, str | None] | None = None,
) -> ChunkCoding:
    """The codecs that decode the page's strips or tiles (or whole page), or ValueError."""
    params = page.coding()
    compression = int(page.compression)
    name = describe_value(Compression, compression)
    table: dict[int, str | None] = {**DEFAULT_COMPRESSORS, **(compressors or {})}
    dtype = page.dtype
    row = codec(compression)
    role = None if row is None else row.role
    if params.fillorder == 2:
        raise refuse(page, "FillOrder 2 (reversed bit order)")
    if whole_page and (role is not Role.RAW or params.predictor != 1):
        raise refuse(page, f"chunkmode 2 (whole pages) over {name} data")
    codec_id = None if role is Role.RAW else table.get(compression)
    if role is not Role.RAW and codec_id is None:
        raise refuse(page, f"compression {name}")
    image = role in (Role.IMAGE, Role.JPEG)
    if page.is_subsampled and role is not Role.JPEG:
        raise refuse(page, "YCbCr subsampling outside JPEG")
    if image:
        assert codec_id is not None
        if codec_id == "imagecodecs_jpeg":
            config = _jpeg_config(page, params, codec_id, _first_segment(page))
        elif codec_id == "imagecodecs_webp" and page.layout.segment[3] == 4:
            config = {"id": codec_id, "hasalpha": True}  # WebP drops an opaque alpha
        else:
            config = {"id": codec_id}
        return ChunkCoding((), config, image=True, dtype=dtype.newbyteorder("="))
    if params.sampleformat == 5:
        raise refuse(page, "complex integer samples")
    if dtype.kind == "f" and params.bitspersample == 24:
        raise refuse(page, "float24 samples")
    if not byte_aligned(params.sampleformat, params.bitspersample):
        raise refuse(page, f"packed {params.bitspersample}-bit integers")
    stored = (
        dtype.newbyteorder(">" if params.byteorder == ">" else "<")
        if dtype.itemsize > 1
        else dtype
    )
    filters: tuple[dict[str, Any], ...] = ()
    if params.predictor != 1:
        predictor = PREDICTORS.get(params.predictor)
        if predictor is None:
            raise refuse(page, f"predictor {params.predictor}")
        depth, length, width, samples = page.layout.segment
        # the chunk's shape: a separate sample plane and a depth only where the page has them
        shape = [length, width] + ([samples] if samples > 1 else [])
        if page.shaped[1] > 1:
            shape.insert(0, depth)
        if page.shaped[0] > 1:
            shape.insert(0, 1)
        filters = (
            {
                "id": predictor.numcodec,
                "shape": shape,
                "dtype": stored.str,
                "axis": -2 if samples > 1 else -1,
                "dist": predictor.distance,
            },
        )
    compressor = None if codec_id is None else {"id": codec_id}
    return ChunkCoding(filters, compressor, image=False, dtype=stored)


def _check_level(
    level_pages: Sequence[TiffPage | None], keyframe: TiffPage, whole_pages: bool
) -> None:
    """Pages of one array share one set of codecs, so their coding must agree."""
    others = [p for p in level_pages if p is not None and p is not keyframe]
    if others and keyframe.jpegtables is not None:
        raise refuse(keyframe, "JPEGTables in a multi-page series")
    key = coding_key(keyframe)
    for page in others:
        if coding_key(page) != key or page.jpegtables is not None:
            raise refuse(page, "pages of differing shape or coding in one series")
    strips = not keyframe.layout.tiled and not whole_pages
    if strips and keyframe.shaped[2] % keyframe.layout.segment[1]:
        raise refuse(
            keyframe,
            f"an incomplete chunk (image length {keyframe.shaped[2]} is not a multiple of "
            f"rows per strip {keyframe.layout.segment[1]})",
        )


def segment_coding(
    level_pages: Sequence[TiffPage | None], keyframe: TiffPage, whole_pages: bool, fill: Any
) -> ChunkCoding:
    """Our segment codec for a level imagecodecs' codecs cannot decode, or ValueError."""
    if whole_pages:
        raise refuse(keyframe, "chunkmode 2 (whole pages) with the TIFF segment codec")
    unsupported = keyframe.decoder.unsupported
    if unsupported is not None:
        raise refuse(keyframe, unsupported)
    # one configuration serves every page: all must decode alike
    key = (coding_key(keyframe), keyframe.jpegtables, keyframe.jpegheader)
    for page in level_pages:
        if page is None or page is keyframe:
            continue
        if (coding_key(page), page.jpegtables, page.jpegheader) != key:
            raise refuse(page, "pages of differing shape or coding in one series")
    config = segment_config(keyframe, fill)
    return ChunkCoding((), config, image=True, dtype=keyframe.dtype.newbyteorder("="))


def level_codings(
    store: ZarrTiffStore,
    compressors: Mapping[int, str | None] | None,
    portable: bool = True,
) -> list[ChunkCoding]:
    """The codecs of every level, after checking that its pages can share them; where
    imagecodecs' codecs cannot decode a level, ours unless portable."""
    codings = []
    for level in store.index.levels:
        whole_pages = level.grid.whole_pages
        keyframe = level.keyframe
        if level.grid.span != (1, 1):
            raise refuse(keyframe, "chunks of several strips or tiles (chunkshape)")
        try:
            _check_level(level.series.pages, keyframe, whole_pages)
            coding = chunk_coding(keyframe, whole_page=whole_pages, compressors=compressors)
        except ValueError:
            if portable:
                raise
            coding = segment_coding(level.series.pages, keyframe, whole_pages, store.fillvalue)
        codings.append(coding)
    return codings


def is_segment_coding(coding: ChunkCoding) -> bool:
    return coding.compressor is not None and coding.compressor["id"] == SEGMENT_CODEC_ID


# who provides a codec, by numcodecs id (format 2); zarr 3 knows the built-in ones itself
_PROVIDERS = {SEGMENT_CODEC_ID: "napari-tiffzarr", "zlib": "numcodecs", "lzma": "numcodecs"}


def required_codecs(codings: Sequence[ChunkCoding], zarr_format: int) -> dict[str, str]:
    """The codecs a reader needs, by the name the metadata gives them, and the package that
    provides each: what the JSON's top-level ``codecs`` attribute says."""
    needed: dict[str, str] = {}
    for coding in codings:
        configs = [*coding.filters, *([coding.compressor] if coding.compressor else [])]
        for config in configs:
            codec_id = config["id"]
            provider = _PROVIDERS.get(codec_id) or (
                "imagecodecs" if codec_id.startswith("imagecodecs_") else "numcodecs"
            )
            if zarr_format == 2:
                needed[codec_id] = provider
            elif codec_id in V3_CODECS:
                # zarr 3 wraps numcodecs' own codecs; these through our entry points
                needed[V3_PREFIX + codec_id] = "napari-tiffzarr"
    return dict(sorted(needed.items()))
