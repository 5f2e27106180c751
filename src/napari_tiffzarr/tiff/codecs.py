"""The codec table, and decoding one strip or tile: decompression, then unpacking.

:data:`CODECS` is the one place a TIFF compression is classified: its role (raw, byte
compressor, image codec, JPEG family, CCITT, row streams), its decoder (imagecodecs', or
ours in :mod:`.thunderscan` and :mod:`.sgilog` for what imagecodecs lacks), and the numcodecs
id that decodes one of its segments alone; :data:`PREDICTORS` does the same for
predictors.  Decoding, in-place writing, references and the zarr 3 codec registration all
read them, and :func:`is_raw` is the one test for segments whose bytes are the samples.

A :class:`SegmentDecoder` is built once per set of coding parameters (a page's, shared by
the pages that decode alike) and then decodes any of their segments from any thread; it
holds no mutable state.  The steps mirror how TIFF stores samples: bit order, decompression,
unpacking of packed or odd-sized samples, and undoing the predictor.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, Protocol

import imagecodecs
import numpy as np

from ..errors import TiffFileError
from .layout import SegmentLayout
from .ojpegstream import OjpegCoding
from .sgilog import sgilog_decode
from .tags import Compression, Photometric, Predictor, describe_value
from .thunderscan import thunderscan_decode
from .tilerow import decode_tile_row, decodes_tile_rows
from .ycbcr import YCbCrColours, unpack_subsampled

__all__ = [
    "CODECS",
    "PREDICTORS",
    "Codec",
    "CodingParameters",
    "PredictorCodec",
    "Role",
    "SegmentDecoder",
    "byte_aligned",
    "codec",
    "is_raw",
    "jpeg_colorspaces",
    "numcodec_kinds",
    "sample_dtype",
    "why_not_raw",
]


class Role(enum.Enum):
    """What the stored bytes of a segment are, which decides every step after reading."""

    RAW = "raw"  # the samples themselves
    BYTES = "bytes"  # samples through a byte compressor: fill order, unpacking, predictor apply
    IMAGE = "image"  # an image codec's stream, decoding to the samples; no predictor
    JPEG = "jpeg"  # an image, plus JPEGTables, colour spaces and YCbCr subsampling
    BILEVEL = "bilevel"  # CCITT fax: one bit a sample, decoded knowing rows and width
    ROWS = "rows"  # a pixel stream decoded row by row knowing rows and width, to samples


# The largest ratio of decoded to stored bytes a codec may reach before a declared image
# size is called corruption rather than compression (deflate's limit is 1032).
DEFAULT_MAX_EXPANSION = 1 << 16


@dataclass(frozen=True, slots=True)
class Codec:
    """How one TIFF compression is decoded, here and by numcodecs."""

    role: Role
    decode: Callable[..., Any] | None  # imagecodecs' decoder; None for raw samples
    # numcodecs id of a codec that decodes one segment on its own, or None where no
    # numcodecs codec can (raw samples need none; others need what only the page knows)
    numcodec: str | None
    aliases: tuple[str, ...] = ()  # further numcodecs ids that decode the same stream
    max_expansion: int = DEFAULT_MAX_EXPANSION
    # why pages of some coding cannot be decoded (their sample type, photometric ...), or
    # None where they can; codecs that decode any page they meet have none
    check: Callable[[CodingParameters], str | None] | None = None


def _inflate(data: bytes | bytearray, *, out: bytearray) -> bytes | bytearray | memoryview:
    """Deflate through libdeflate, twice as fast as zlib; zlib where libdeflate refuses a
    stream it cannot handle whole (truncated, or longer than the segment), as libtiff
    reads what zlib can."""
    try:
        return imagecodecs.deflate_decode(data, out=out)
    except imagecodecs.DeflateError:
        return imagecodecs.zlib_decode(data, out=out)


# The decoders of a segment's rows (fax and the others) with one signature: the segment,
# its rows and width, and the page's coding (only T.4 and LogLuv need more of it).
def _ccittrle(data: bytes, rows: int, width: int, params: CodingParameters) -> np.ndarray:
    return np.asarray(imagecodecs.ccittrle_decode(data, rows, width))


def _ccittfax3(data: bytes, rows: int, width: int, params: CodingParameters) -> np.ndarray:
    t4options = params.t4options
    return np.asarray(imagecodecs.ccittfax3_decode(data, rows, width, t4options=t4options))


def _ccittfax4(data: bytes, rows: int, width: int, params: CodingParameters) -> np.ndarray:
    return np.asarray(imagecodecs.ccittfax4_decode(data, rows, width))


def _thunderscan(data: bytes, rows: int, width: int, params: CodingParameters) -> np.ndarray:
    return thunderscan_decode(data, rows, width)


def _sgilog(data: bytes, rows: int, width: int, params: CodingParameters) -> np.ndarray:
    return sgilog_decode(data, rows, width, luv=params.photometric == Photometric.LOGLUV)


def _check_thunderscan(params: CodingParameters) -> str | None:
    if params.bitspersample != 4 or params.layout.segment[3] != 1:
        return (
            f"ThunderScan data of {params.bitspersample}-bit samples, "
            f"{params.layout.segment[3]} a pixel: it codes one 4-bit sample a pixel"
        )
    return None


def _check_sgilog(params: CodingParameters) -> str | None:
    samples = params.layout.segment[3]
    kinds: dict[int, int] = {Photometric.LOGL: 1, Photometric.LOGLUV: 3}
    photometric = describe_value(Photometric, params.photometric)
    if kinds.get(params.photometric) != samples:
        return f"SGILOG data with photometric {photometric} and {samples} samples a pixel"
    if params.bitspersample != 16 or params.sampleformat == 3:
        # libtiff would convert to float XYZ or tone-mapped RGB: not decoded here
        return f"SGILOG data as {params.bitspersample}-bit samples of format {params.sampleformat}"
    return None


_DEFLATE = Codec(Role.BYTES, _inflate, "zlib", ("imagecodecs_zlib", "imagecodecs_deflate"))
_ZSTD = Codec(Role.BYTES, imagecodecs.zstd_decode, "imagecodecs_zstd")
_JPEG2K = Codec(Role.IMAGE, imagecodecs.jpeg2k_decode, "imagecodecs_jpeg2k")
_JPEGXL = Codec(Role.IMAGE, imagecodecs.jpegxl_decode, "imagecodecs_jpegxl")
_WEBP = Codec(Role.IMAGE, imagecodecs.webp_decode, "imagecodecs_webp")

# THE codec table: every compression the reader decodes, keyed by int, as files hold
# codes we have no name for.  No numcodecs id where none decodes a segment to the page's
# samples from the segment and a fixed configuration: old-style JPEG needs the page's
# other tags; imagecodecs' CCITT codecs need each segment's rows and give a byte per
# pixel; ThunderScan and SGI LogLuv have no numcodecs codec at all; DNG's lossy JPEG is
# left out until a file shows that imagecodecs_jpeg reads it.
CODECS: Mapping[int, Codec] = MappingProxyType(
    {
        Compression.NONE: Codec(Role.RAW, None, None, max_expansion=1),
        Compression.CCITTRLE: Codec(Role.BILEVEL, _ccittrle, None),
        Compression.CCITT_T4: Codec(Role.BILEVEL, _ccittfax3, None),
        Compression.CCITT_T6: Codec(Role.BILEVEL, _ccittfax4, None),
        Compression.THUNDERSCAN: Codec(
            Role.ROWS, _thunderscan, None, max_expansion=64, check=_check_thunderscan
        ),
        Compression.SGILOG: Codec(
            Role.ROWS, _sgilog, None, max_expansion=128, check=_check_sgilog
        ),
        Compression.LZW: Codec(Role.BYTES, imagecodecs.lzw_decode, "imagecodecs_lzw"),
        Compression.OJPEG: Codec(Role.JPEG, imagecodecs.jpeg_decode, None),
        Compression.JPEG: Codec(Role.JPEG, imagecodecs.jpeg_decode, "imagecodecs_jpeg"),
        Compression.JPEG_LOSSY: Codec(Role.JPEG, imagecodecs.jpeg_decode, None),
        Compression.ADOBE_DEFLATE: _DEFLATE,
        Compression.DEFLATE: _DEFLATE,
        Compression.PACKBITS: Codec(
            Role.BYTES, imagecodecs.packbits_decode, "imagecodecs_packbits", max_expansion=128
        ),
        Compression.LZMA: Codec(Role.BYTES, imagecodecs.lzma_decode, "lzma"),
        Compression.ZSTD: _ZSTD,
        Compression.ZSTD_DEPRECATED: _ZSTD,
        Compression.JPEG2000: _JPEG2K,
        Compression.APERIO_JP2000_YCBC: _JPEG2K,
        Compression.APERIO_JP2000_RGB: _JPEG2K,
        Compression.JPEG_2000_LOSSY: _JPEG2K,
        Compression.JPEGXL: _JPEGXL,
        Compression.JPEGXL_DNG: _JPEGXL,
        Compression.JPEGXR: Codec(Role.IMAGE, imagecodecs.jpegxr_decode, "imagecodecs_jpegxr"),
        Compression.WEBP: _WEBP,
        Compression.WEBP_DEPRECATED: _WEBP,
        Compression.PNG: Codec(Role.IMAGE, imagecodecs.png_decode, "imagecodecs_png"),
        Compression.LERC: Codec(Role.IMAGE, imagecodecs.lerc_decode, "imagecodecs_lerc"),
    }
)


def codec(compression: int) -> Codec | None:
    """The table's row for compression, or None where the reader cannot decode it."""
    return CODECS.get(int(compression))


@dataclass(frozen=True, slots=True)
class PredictorCodec:
    """How one TIFF predictor is undone, here and by numcodecs."""

    decode: Callable[..., np.ndarray]
    distance: int  # in samples
    numcodec: str
    floating: bool  # the floating point predictor stores bytes most significant first


def _delta(distance: int) -> PredictorCodec:
    return PredictorCodec(imagecodecs.delta_decode, distance, "imagecodecs_delta", False)


def _floatpred(distance: int) -> PredictorCodec:
    return PredictorCodec(imagecodecs.floatpred_decode, distance, "imagecodecs_floatpred", True)


PREDICTORS: Mapping[int, PredictorCodec] = MappingProxyType(
    {
        Predictor.HORIZONTAL: _delta(1),
        Predictor.HORIZONTALX2: _delta(2),
        Predictor.HORIZONTALX4: _delta(4),
        Predictor.FLOATINGPOINT: _floatpred(1),
        Predictor.FLOATINGPOINTX2: _floatpred(2),
        Predictor.FLOATINGPOINTX4: _floatpred(4),
    }
)

NumcodecKind = Literal["bytes", "image", "array"]


def numcodec_kinds() -> dict[str, NumcodecKind]:
    """Every numcodecs id the tables name, with what it turns its input into: bytes
    (decompressed), an image (decoded), or an array from an array (predictors)."""
    kinds: dict[str, NumcodecKind] = {}
    for row in CODECS.values():
        kind: NumcodecKind = "bytes" if row.role is Role.BYTES else "image"
        for codec_id in (row.numcodec, *row.aliases):
            if codec_id is not None:
                kinds[codec_id] = kind
    for predictor in PREDICTORS.values():
        kinds[predictor.numcodec] = "array"
    return kinds


# (SampleFormat, bits per sample) -> numpy type of the decoded samples
_UINT_SIZES = ((1, "?"), (8, "u1"), (16, "u2"), (32, "u4"))


def sample_dtype(sampleformat: int, bitspersample: int) -> np.dtype | None:
    """The numpy type samples decode to, or None where TIFF allows no such type."""
    if sampleformat in (1, 4):  # unsigned and void
        if bitspersample == 64:
            return np.dtype("u8")
        for limit, code in _UINT_SIZES:
            if bitspersample <= limit:
                return np.dtype(code)
        return None
    table: dict[tuple[int, int], str] = {
        (2, 8): "i1",
        (2, 16): "i2",
        (2, 24): "i4",  # GDAL's 24-bit integers: unpacked, then the sign extended
        (2, 32): "i4",
        (2, 64): "i8",
        (3, 16): "f2",
        (3, 24): "f4",
        (3, 32): "f4",
        (3, 64): "f8",
        (5, 32): "c8",
        (5, 64): "c16",
        (6, 64): "c8",
        (6, 128): "c16",
    }
    found = table.get((sampleformat, bitspersample))
    return None if found is None else np.dtype(found)


def byte_aligned(sampleformat: int, bitspersample: int) -> bool:
    """Whether each sample is stored as whole bytes of the type it decodes to, so that
    numpy reads decompressed bytes as they are: not packed (1 to 7, 12, 24 bits ...),
    not float24, not complex integers (widened to complex floats)."""
    dtype = sample_dtype(sampleformat, bitspersample)
    return dtype is not None and dtype.itemsize * 8 == bitspersample


class SampleCoding(Protocol):
    """What decides whether stored bytes are samples: a page or its coding parameters."""

    @property
    def compression(self) -> int: ...
    @property
    def predictor(self) -> int: ...
    @property
    def fillorder(self) -> int: ...
    @property
    def sampleformat(self) -> int: ...
    @property
    def bitspersample(self) -> int: ...
    @property
    def is_subsampled(self) -> bool: ...


def why_not_raw(coding: SampleCoding) -> str | None:
    """Why a segment's stored bytes are not its samples as numpy reads them (in the file's
    byte order), or None where they are.  Raw segments may be written in place, referenced
    without a codec, and read as frames behind one IFD."""
    row = codec(coding.compression)
    if row is None or row.role is not Role.RAW:
        return f"data compressed with {describe_value(Compression, coding.compression)}"
    if coding.predictor != Predictor.NONE:
        return "data with a predictor"
    if coding.fillorder != 1:
        return "data with FillOrder 2"
    if coding.is_subsampled:
        return "subsampled YCbCr data"
    if not byte_aligned(coding.sampleformat, coding.bitspersample):
        return f"{coding.bitspersample}-bit packed or complex integer samples"
    return None


def is_raw(coding: SampleCoding) -> bool:
    """Whether segments store raw, byte-aligned samples: see why_not_raw."""
    return why_not_raw(coding) is None


@dataclass(frozen=True, slots=True)
class CodingParameters:
    """Everything about a page that decoding one of its segments depends on.  Pages whose
    parameters are equal decode alike: the name, which only words messages, is not compared."""

    layout: SegmentLayout
    byteorder: str
    compression: int
    predictor: int
    fillorder: int
    photometric: int
    planarconfig: int
    bitspersample: int
    sampleformat: int
    extrasamples: tuple[int, ...]
    subsampled: bool
    jpegtables: bytes | None
    jpegheader: bytes | None  # NDPI restart tiles: the stream's header, sized to a tile
    t4options: int
    fillvalue: Any
    name: str = field(compare=False)  # for messages: file and page
    ojpeg: OjpegCoding | None = None  # old-style JPEG's headers
    ycbcr: YCbCrColours | None = None  # YCbCr pages: colour tags and subsampling

    @property
    def is_subsampled(self) -> bool:
        return self.subsampled


def jpeg_colorspaces(params: CodingParameters, jfif: bool) -> tuple[Any, Any]:
    """The colour space libjpeg should assume and the one to convert to."""
    colorspace: Any = None
    outcolorspace: Any = None
    if not params.extrasamples:
        if params.photometric == Photometric.YCBCR:
            outcolorspace = "RGB"
        elif params.photometric == Photometric.RGB:
            # RGB without a JFIF marker is stored as RGB (Aperio does this): no conversion
            if not jfif:
                colorspace = "RGB"
            outcolorspace = "RGB"
        elif params.photometric == Photometric.SEPARATED:
            outcolorspace = "CMYK"
    if params.planarconfig == 2:
        outcolorspace = "GRAY"  # separate planes are single-channel images
    return colorspace, outcolorspace


class SegmentDecoder:
    """Decodes the strips or tiles of pages that share one set of coding parameters."""

    def __init__(self, params: CodingParameters, dtype: np.dtype) -> None:
        self.params = params
        self.dtype = dtype
        self._stored_dtype = np.dtype(params.byteorder + dtype.char)
        self._codec = codec(params.compression)
        self._byte_aligned = byte_aligned(params.sampleformat, params.bitspersample)
        self._unsupported = self._check_supported()
        self._predictor = PREDICTORS.get(params.predictor)  # None for none: looked up once
        # whether decode_row_into decodes a row of tiles in one call (see tilerow)
        self.decodes_rows = self._unsupported is None and decodes_tile_rows(
            params, dtype, self._predictor
        )
        # JPEG's colour spaces without and with a JFIF marker: worked out once, not per tile
        self._jpeg_colorspaces = (jpeg_colorspaces(params, False), jpeg_colorspaces(params, True))

    def _check_supported(self) -> str | None:
        params = self.params
        row = self._codec
        if row is None:
            name = describe_value(Compression, params.compression)
            return f"compression {name} is not supported"
        if row.check is not None:
            why = row.check(params)
            if why is not None:
                return f"{why} is not supported"
        if params.subsampled and row.role is not Role.JPEG and not self._unpacks_ycbcr():
            return (
                "YCbCr chroma subsampling is only supported in JPEG and in 8-bit "
                "interleaved samples without a predictor"
            )
        if params.subsampled and params.planarconfig == 2:
            return "YCbCr chroma subsampling of separate planes is not supported"
        if self.unpacks and params.predictor != 1:
            if params.predictor not in PREDICTORS:
                return f"predictor {params.predictor} is not supported"
            if params.sampleformat == 5:
                return "a predictor on complex integers is not supported"
            if params.bitspersample == 24 and self.dtype.kind == "f":
                return "a predictor on 24-bit floats is not supported"
        return None

    def _unpacks_ycbcr(self) -> bool:
        """Whether segments hold subsampled YCbCr that we unpack (libtiff's way)."""
        params = self.params
        return (
            params.subsampled
            and params.ycbcr is not None
            and self._codec is not None
            and self._codec.role in (Role.RAW, Role.BYTES)
            and params.bitspersample == 8
            and params.planarconfig == 1
            and params.predictor == 1
            and params.layout.segment[3] == 3
            and all(f in (1, 2, 4) for f in params.ycbcr.subsampling)
        )

    @property
    def unsupported(self) -> str | None:
        """Why no segment of these pages can be decoded, or None."""
        return self._unsupported

    @property
    def unpacks(self) -> bool:
        """Whether segments decompress to bytes that we unpack, rather than to an image."""
        return self._codec is not None and self._codec.role in (Role.RAW, Role.BYTES)

    def _fail(self, index: int, what: str, name: str | None) -> TiffFileError:
        return TiffFileError(f"{name or self.params.name}: segment {index}: {what}")

    def decode(self, data: bytes | None, index: int, name: str | None = None) -> np.ndarray:
        """Decode segment index, padded to the full segment shape with the fill value.
        name: the page's, for messages, where the decoder is shared with other pages."""
        layout = self.params.layout
        if data is None:
            return np.full(layout.segment, self.params.fillvalue, self.dtype)
        array = self.decode_valid(data, index, name)
        if array.shape == layout.segment:
            return array
        full = np.full(layout.segment, self.params.fillvalue, self.dtype)
        full[: array.shape[0], : array.shape[1], : array.shape[2]] = array
        return full

    def decode_row_into(self, tiles: Sequence[bytes], out: np.ndarray) -> bool:
        """Decode whole tiles into out (C-contiguous: tiles, length, width, samples) in
        one call where decodes_rows; False where decode() of each tile must do it (and
        says what is wrong with which)."""
        return self.decodes_rows and decode_tile_row(self.params, self._predictor, tiles, out)

    def decode_valid(self, data: bytes, index: int, name: str | None = None) -> np.ndarray:
        """Decode segment index to at least the part that lies inside the image."""
        if self._unsupported:
            raise self._fail(index, self._unsupported, name)
        assert self._codec is not None  # _unsupported says so where it is None
        role = self._codec.role
        try:
            if role is Role.JPEG:
                array = self._decode_jpeg(data, index)
            elif role in (Role.BILEVEL, Role.ROWS):
                array = self._decode_rows(data, index)
            elif role is Role.IMAGE:
                array = self._decode_image(data)
            else:
                return self._decode_raw(data, index, name)
        except (RuntimeError, ValueError, TypeError, OverflowError) as exc:
            if isinstance(exc, TiffFileError):
                raise
            raise self._fail(index, f"cannot decode: {type(exc).__name__}: {exc}", name) from exc
        except MemoryError as exc:
            # image codecs allocate what the stream's own header declares, which a
            # corrupt segment can make gigabytes: the file's fault, not the caller's
            raise self._fail(
                index, f"cannot decode: no memory for the image its stream declares: {exc}", name
            ) from exc
        return self._reshape(array, index, name).astype(self.dtype, copy=False)

    def _decode_image(self, data: bytes) -> np.ndarray:
        decode = self._decoder()
        if decode is imagecodecs.webp_decode and self.params.layout.segment[3] == 4:
            # WebP drops an all-opaque alpha channel; ask for it back
            return imagecodecs.webp_decode(data, hasalpha=True)
        result: Any = decode(data)
        if isinstance(result, tuple):  # LERC may return masks beside the image
            result = result[0]
        return np.asarray(result)

    def _decoder(self) -> Callable[..., Any]:
        decode = None if self._codec is None else self._codec.decode
        assert decode is not None  # only raw samples have no decoder
        return decode

    def _decode_jpeg(self, data: bytes, index: int) -> np.ndarray:
        params = self.params
        layout = params.layout
        # a tile is coded whole; a strip holds the rows inside the image
        rows = layout.segment[1] if layout.tiled else layout.valid_shape(index)[1]
        start = params.jpegheader or data
        colorspace, outcolorspace = self._jpeg_colorspaces[start[6:11] == b"JFIF\x00"]
        ojpeg = params.ojpeg
        if ojpeg is not None and not ojpeg.whole(data):
            return ojpeg.decode(data, rows, layout.segment[2], colorspace, outcolorspace)
        result: np.ndarray = self._decoder()(
            data,
            bitspersample=params.bitspersample,
            tables=params.jpegtables,
            header=params.jpegheader,
            colorspace=colorspace,
            outcolorspace=outcolorspace,
            shape=(rows, layout.segment[2]),
        )
        return result

    def _decode_rows(self, data: bytes | bytearray, index: int) -> np.ndarray:
        params = self.params
        if params.fillorder == 2:
            data = imagecodecs.bitorder_decode(data)
        _, rows, _, _ = params.layout.valid_shape(index)
        width = params.layout.segment[2]
        if params.layout.tiled:
            rows = params.layout.segment[1]
        result: np.ndarray = self._decoder()(data, rows, width, params)
        return result

    def _decode_raw(self, data: bytes | bytearray, index: int, name: str | None) -> np.ndarray:
        params = self.params
        if params.fillorder == 2:
            data = imagecodecs.bitorder_decode(data)
        layout = params.layout
        samples: bytes | bytearray | memoryview = data
        if self._codec is not None and self._codec.decode is not None:
            expected = layout.segment_nbytes_items * self.dtype.itemsize
            # into a buffer of our own: writable, so the predictor works in place
            samples = self._codec.decode(data, out=bytearray(expected))
        if params.subsampled and params.ycbcr is not None:
            return self._subsampled(samples, index)
        array = self._unpack(samples)
        array = self._reshape(array, index, name)
        if array.dtype != self.dtype:
            array = array.astype(self.dtype)
        predictor = self._predictor
        if predictor is not None:
            if predictor.floating:
                array = predictor.decode(array, axis=-2, dist=predictor.distance)
            else:
                if not array.flags.writeable:
                    array = array.copy()
                array = predictor.decode(array, axis=-2, dist=predictor.distance, out=array)
        return array

    def _subsampled(self, data: bytes | bytearray | memoryview, index: int) -> np.ndarray:
        """Subsampled YCbCr samples, unpacked and converted to RGB as libtiff does."""
        params = self.params
        assert params.ycbcr is not None  # _unpacks_ycbcr said so
        layout = params.layout
        _, rows, width, _ = layout.valid_shape(index)
        if layout.tiled:
            rows, width = layout.segment[1], layout.segment[2]
        ycbcr = unpack_subsampled(bytes(data), rows, width, params.ycbcr.subsampling)
        return params.ycbcr.to_rgb(ycbcr)[np.newaxis]

    def _unpack(self, data: bytes | bytearray | memoryview) -> np.ndarray:
        params = self.params
        bits = params.bitspersample
        width = params.layout.segment[2]
        samples = params.layout.segment[3]
        if params.sampleformat == 5:
            # complex integers: pairs of ints, widened to the complex float type
            itype = np.dtype(f"{params.byteorder}i{bits // 16}")
            ftype = np.dtype(f"f{self.dtype.itemsize // 2}")
            return np.frombuffer(data, itype).astype(ftype).view(self.dtype)
        if self._byte_aligned:
            predictor = self._predictor
            if predictor is not None and predictor.floating:
                # the floating point predictor stores bytes most significant first
                stored = np.dtype(self.dtype.char)
            else:
                stored = self._stored_dtype
            usable = len(data) - len(data) % stored.itemsize
            return np.frombuffer(data, stored, count=usable // stored.itemsize)
        packed = data if not isinstance(data, memoryview) else data.tobytes()
        if bits == 24 and self.dtype.kind == "f":
            order: Literal["<", ">"] = "<" if params.byteorder == "<" else ">"
            return np.asarray(imagecodecs.float24_decode(packed, byteorder=order))
        unpacked = np.asarray(
            imagecodecs.packints_decode(packed, self._stored_dtype, bits, runlen=width * samples)
        )
        if self.dtype.kind == "i":
            # packints gives the bits as they are: move the sample's sign bit to the type's
            shift = self.dtype.itemsize * 8 - bits
            unpacked = (unpacked.view(self.dtype) << shift) >> shift
        return unpacked

    def _reshape(self, array: np.ndarray, index: int, name: str | None) -> np.ndarray:
        """Give decoded samples their (depth, length, width, sample) shape, or fail."""
        layout = self.params.layout
        segment = layout.segment
        size = math.prod(segment)  # per segment: numpy's prod of a tuple costs microseconds
        if array.ndim == 1 and array.size > size:
            array = array[:size]  # codecs may return padding past the samples
        if array.size == size:
            return array.reshape(segment)
        valid = layout.valid_shape(index)
        if layout.tiled:
            # an edge tile may hold only the part inside the image, or full rows of it
            for shape in (valid, (valid[0], valid[1], segment[2], segment[3])):
                if array.size == int(np.prod(shape)):
                    return array.reshape(shape)
        elif array.size % (segment[0] * segment[2] * segment[3]) == 0:
            rows = array.size // (segment[0] * segment[2] * segment[3])
            if rows >= valid[1]:
                return array.reshape((segment[0], rows, segment[2], segment[3]))[:, : valid[1]]
        raise self._fail(
            index,
            f"corrupted {'tile' if layout.tiled else 'strip'}: "
            f"{array.size} samples cannot fill shape {valid}",
            name,
        )
