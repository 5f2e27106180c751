"""Decoding one strip or tile: decompression through imagecodecs, then unpacking.

A :class:`SegmentDecoder` is built once per page (or once per uniform series) from the
page's coding parameters and then decodes any of its segments from any thread; it holds
no mutable state.  The steps mirror how TIFF stores samples: bit order, decompression,
unpacking of packed or odd-sized samples, and undoing the predictor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import imagecodecs
import numpy as np

from ..errors import TiffFileError
from .layout import SegmentLayout
from .tags import Compression, Photometric, describe_value

__all__ = ["CodingParameters", "SegmentDecoder", "jpeg_colorspaces", "sample_dtype"]

ByteCodec = Callable[..., bytes | bytearray | memoryview]
ImageCodec = Callable[..., np.ndarray]


def _inflate(data: bytes | bytearray, *, out: bytearray) -> bytes | bytearray | memoryview:
    """Deflate through libdeflate, twice as fast as zlib; zlib where libdeflate refuses a
    stream it cannot handle whole (truncated, or longer than the segment), as libtiff
    reads what zlib can."""
    try:
        return imagecodecs.deflate_decode(data, out=out)
    except imagecodecs.DeflateError:
        return imagecodecs.zlib_decode(data, out=out)


# Codecs that return bytes; they take the expected size to bound their output.
BYTE_CODECS: dict[int, ByteCodec] = {  # keyed by int: files hold codes we have no name for
    Compression.LZW: imagecodecs.lzw_decode,
    Compression.ADOBE_DEFLATE: _inflate,
    Compression.DEFLATE: _inflate,
    Compression.PACKBITS: imagecodecs.packbits_decode,
    Compression.LZMA: imagecodecs.lzma_decode,
    Compression.ZSTD: imagecodecs.zstd_decode,
    Compression.ZSTD_DEPRECATED: imagecodecs.zstd_decode,
}

# Codecs that return an image; predictor and fill order do not apply to them.
IMAGE_CODECS: dict[int, ImageCodec] = {
    Compression.JPEG2000: imagecodecs.jpeg2k_decode,
    Compression.APERIO_JP2000_YCBC: imagecodecs.jpeg2k_decode,
    Compression.APERIO_JP2000_RGB: imagecodecs.jpeg2k_decode,
    Compression.JPEG_2000_LOSSY: imagecodecs.jpeg2k_decode,
    Compression.JPEGXL: imagecodecs.jpegxl_decode,
    Compression.JPEGXL_DNG: imagecodecs.jpegxl_decode,
    Compression.JPEGXR: imagecodecs.jpegxr_decode,
    Compression.WEBP: imagecodecs.webp_decode,
    Compression.WEBP_DEPRECATED: imagecodecs.webp_decode,
    Compression.PNG: imagecodecs.png_decode,
    Compression.LERC: imagecodecs.lerc_decode,
}

JPEG_COMPRESSIONS = frozenset({Compression.OJPEG, Compression.JPEG, Compression.JPEG_LOSSY})
CCITT_COMPRESSIONS = frozenset({Compression.CCITTRLE, Compression.CCITT_T4, Compression.CCITT_T6})

# predictor -> (decoder, distance in samples)
PREDICTORS: dict[int, tuple[Callable[..., np.ndarray], int]] = {
    2: (imagecodecs.delta_decode, 1),
    3: (imagecodecs.floatpred_decode, 1),
    34892: (imagecodecs.delta_decode, 2),
    34893: (imagecodecs.delta_decode, 4),
    34894: (imagecodecs.floatpred_decode, 2),
    34895: (imagecodecs.floatpred_decode, 4),
}
FLOAT_PREDICTORS = frozenset({3, 34894, 34895})

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


@dataclass(frozen=True, slots=True)
class CodingParameters:
    """Everything about a page that decoding one of its segments depends on."""

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
    name: str  # for messages: file and page


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
        self._unsupported = self._check_supported()

    def _check_supported(self) -> str | None:
        params = self.params
        compression = params.compression
        known = (
            compression == Compression.NONE
            or compression in BYTE_CODECS
            or compression in IMAGE_CODECS
            or compression in JPEG_COMPRESSIONS
            or compression in CCITT_COMPRESSIONS
        )
        if not known:
            return f"compression {describe_value(Compression, compression)} is not supported"
        if params.subsampled and (
            compression not in JPEG_COMPRESSIONS or params.planarconfig == 2
        ):
            return "YCbCr chroma subsampling is only supported in JPEG"
        if self.is_raw and params.predictor != 1:
            if params.predictor not in PREDICTORS:
                return f"predictor {params.predictor} is not supported"
            if params.sampleformat == 5:
                return "a predictor on complex integers is not supported"
            if params.bitspersample == 24 and self.dtype.kind == "f":
                return "a predictor on 24-bit floats is not supported"
        return None

    @property
    def is_raw(self) -> bool:
        """Whether segments decompress to bytes that we unpack, rather than to an image."""
        compression = self.params.compression
        return compression == Compression.NONE or compression in BYTE_CODECS

    def _fail(self, index: int, what: str) -> TiffFileError:
        return TiffFileError(f"{self.params.name}: segment {index}: {what}")

    def decode(self, data: bytes | None, index: int) -> np.ndarray:
        """Decode segment index, padded to the full segment shape with the fill value."""
        layout = self.params.layout
        if data is None:
            return np.full(layout.segment, self.params.fillvalue, self.dtype)
        array = self.decode_valid(data, index)
        if array.shape == layout.segment:
            return array
        full = np.full(layout.segment, self.params.fillvalue, self.dtype)
        full[: array.shape[0], : array.shape[1], : array.shape[2]] = array
        return full

    def decode_valid(self, data: bytes, index: int) -> np.ndarray:
        """Decode segment index to at least the part that lies inside the image."""
        if self._unsupported:
            raise self._fail(index, self._unsupported)
        params = self.params
        try:
            if params.compression in JPEG_COMPRESSIONS:
                array = self._decode_jpeg(data, index)
            elif params.compression in CCITT_COMPRESSIONS:
                array = self._decode_ccitt(data, index)
            elif params.compression in IMAGE_CODECS:
                array = self._decode_image(data)
            else:
                return self._decode_raw(data, index)
        except (RuntimeError, ValueError, TypeError, OverflowError) as exc:
            if isinstance(exc, TiffFileError):
                raise
            raise self._fail(index, f"cannot decode: {type(exc).__name__}: {exc}") from exc
        except MemoryError as exc:
            # image codecs allocate what the stream's own header declares, which a
            # corrupt segment can make gigabytes: the file's fault, not the caller's
            raise self._fail(
                index, f"cannot decode: no memory for the image its stream declares: {exc}"
            ) from exc
        return self._reshape(array, index).astype(self.dtype, copy=False)

    def _decode_image(self, data: bytes) -> np.ndarray:
        codec = IMAGE_CODECS[self.params.compression]
        if codec is imagecodecs.webp_decode and self.params.layout.segment[3] == 4:
            # WebP drops an all-opaque alpha channel; ask for it back
            return imagecodecs.webp_decode(data, hasalpha=True)
        result: Any = codec(data)
        if isinstance(result, tuple):  # LERC may return masks beside the image
            result = result[0]
        return np.asarray(result)

    def _decode_jpeg(self, data: bytes, index: int) -> np.ndarray:
        params = self.params
        _, length, _, _ = params.layout.valid_shape(index)
        start = params.jpegheader or data
        colorspace, outcolorspace = jpeg_colorspaces(params, start[6:11] == b"JFIF\x00")
        result: np.ndarray = imagecodecs.jpeg_decode(
            data,
            bitspersample=params.bitspersample,
            tables=params.jpegtables,
            header=params.jpegheader,
            colorspace=colorspace,
            outcolorspace=outcolorspace,
            shape=(params.layout.segment[1], params.layout.segment[2])
            if params.layout.tiled
            else (length, params.layout.segment[2]),
        )
        return result

    def _decode_ccitt(self, data: bytes | bytearray, index: int) -> np.ndarray:
        params = self.params
        if params.fillorder == 2:
            data = imagecodecs.bitorder_decode(data)
        _, rows, _, _ = params.layout.valid_shape(index)
        width = params.layout.segment[2]
        if params.layout.tiled:
            rows = params.layout.segment[1]
        if params.compression == Compression.CCITT_T4:
            result: np.ndarray = imagecodecs.ccittfax3_decode(
                data, rows, width, t4options=params.t4options
            )
        elif params.compression == Compression.CCITT_T6:
            result = imagecodecs.ccittfax4_decode(data, rows, width)
        else:
            result = imagecodecs.ccittrle_decode(data, rows, width)
        return result

    def _decode_raw(self, data: bytes | bytearray, index: int) -> np.ndarray:
        params = self.params
        if params.fillorder == 2:
            data = imagecodecs.bitorder_decode(data)
        layout = params.layout
        samples: bytes | bytearray | memoryview = data
        if params.compression != Compression.NONE:
            expected = layout.segment_nbytes_items * self.dtype.itemsize
            # into a buffer of our own: writable, so the predictor works in place
            samples = BYTE_CODECS[params.compression](data, out=bytearray(expected))
        array = self._unpack(samples)
        array = self._reshape(array, index)
        if array.dtype != self.dtype:
            array = array.astype(self.dtype)
        predictor = PREDICTORS.get(params.predictor)
        if predictor is not None:
            unpredict, distance = predictor
            if params.predictor in FLOAT_PREDICTORS:
                array = unpredict(array, axis=-2, dist=distance)
            else:
                if not array.flags.writeable:
                    array = array.copy()
                array = unpredict(array, axis=-2, dist=distance, out=array)
        return array

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
        if bits in (8, 16, 32, 64, 128):
            if params.predictor in FLOAT_PREDICTORS:
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
        return np.asarray(
            imagecodecs.packints_decode(packed, self._stored_dtype, bits, runlen=width * samples)
        )

    def _reshape(self, array: np.ndarray, index: int) -> np.ndarray:
        """Give decoded samples their (depth, length, width, sample) shape, or fail."""
        layout = self.params.layout
        segment = layout.segment
        size = int(np.prod(segment))
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
        )
