"""A page: one image of a TIFF, its geometry, its segments' byte ranges and its pixels."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import TiffFileError
from ..sources import ByteSource
from .codecs import (
    DEFAULT_MAX_EXPANSION,
    Codec,
    CodingParameters,
    Role,
    SegmentDecoder,
    codec,
    sample_dtype,
)
from .ifd import Ifd, TiffHeader
from .layout import SegmentLayout
from .ojpegstream import OjpegCoding
from .tags import (
    Compression,
    Photometric,
    PlanarConfig,
    Predictor,
    SampleFormat,
    TagCode,
    describe_value,
    enum_or_int,
)
from .tagvalues import IntTag, read_floats, read_int
from .ycbcr import DEFAULT_COEFFICIENTS, DEFAULT_REFERENCE, YCbCrColours

if TYPE_CHECKING:
    from ..store.store import ZarrTiffStore

__all__ = ["TiffPage", "allocate", "read_segments"]

log = logging.getLogger("napari_tiffzarr")

# Read at most this many bytes of segments in one pass when decoding a whole page.
DEFAULT_BUFFERSIZE = 256 * 2**20

# Photometric values for which old-style JPEG without SamplesPerPixel means three samples
OJPEG_COLOUR = (Photometric.MINISWHITE, Photometric.MINISBLACK, Photometric.RGB, Photometric.YCBCR)

# Where segments' offsets and byte counts are: writers put tile data under the strip
# tags, and old-style JPEG under its own
STRIP_OFFSET_TAGS = (TagCode.StripOffsets, TagCode.JPEGInterchangeFormat)
STRIP_BYTECOUNT_TAGS = (TagCode.StripByteCounts, TagCode.JPEGInterchangeFormatLength)
OFFSET_TAGS = (TagCode.TileOffsets, *STRIP_OFFSET_TAGS)
BYTECOUNT_TAGS = (TagCode.TileByteCounts, *STRIP_BYTECOUNT_TAGS)


class TiffPage:
    """One IFD read as an image, parsed on first use of each property."""

    def __init__(
        self, source: ByteSource, header: TiffHeader, ifd: Ifd, index: int | tuple[int, ...]
    ) -> None:
        self.source = source
        self.header = header
        self.ifd = ifd
        self.index = index

    # -- tags ------------------------------------------------------------------------
    @property
    def tags(self) -> Ifd:
        return self.ifd

    @property
    def offset(self) -> int:
        return self.ifd.offset

    @property
    def name(self) -> str:
        return f"{self.source.name}: page {self.index}"

    imagewidth = IntTag(TagCode.ImageWidth, 0)
    imagelength = IntTag(TagCode.ImageLength, 0)
    imagedepth = IntTag(TagCode.ImageDepth, 1)
    compression = IntTag(TagCode.Compression, 1, kind=Compression)
    bitspersample = IntTag(
        TagCode.BitsPerSample, lambda page: 8 if page.is_ojpeg else 1, per_sample=True
    )
    sampleformat = IntTag(TagCode.SampleFormat, 1, per_sample=True)
    planarconfig = IntTag(
        TagCode.PlanarConfiguration,
        1,
        kind=PlanarConfig,
        when=lambda page: page.samplesperpixel > 1,
        otherwise=PlanarConfig.CONTIG,
    )
    predictor = IntTag(TagCode.Predictor, 1, kind=Predictor)
    fillorder = IntTag(TagCode.FillOrder, 1)
    newsubfiletype = IntTag(TagCode.NewSubfileType, 0)
    t4options = IntTag(TagCode.T4Options, 0)
    tilewidth = IntTag(TagCode.TileWidth, 0, when=lambda page: page.is_tiled)
    tilelength = IntTag(TagCode.TileLength, 0, when=lambda page: page.is_tiled)
    tiledepth = IntTag(TagCode.TileDepth, 1, when=lambda page: page.is_tiled)

    @property
    def is_ojpeg(self) -> bool:
        return self.compression == Compression.OJPEG

    @cached_property
    def samplesperpixel(self) -> int:
        spp = TagCode.SamplesPerPixel
        if spp not in self.ifd and self.is_ojpeg and self.photometric in OJPEG_COLOUR:
            return 3  # old-style JPEG writers leave it out; libtiff assumes colour
        return read_int(self, spp, 1)

    @cached_property
    def photometric(self) -> int:
        code = TagCode.PhotometricInterpretation
        if self.is_ojpeg and read_int(self, code, Photometric.RGB) == Photometric.RGB:
            # libtiff reads old-style JPEG as YCbCr where the tag is missing or says RGB
            return Photometric.YCBCR
        spp = read_int(self, TagCode.SamplesPerPixel, 1)
        default = Photometric.RGB if spp >= 3 else Photometric.MINISBLACK
        return enum_or_int(Photometric, read_int(self, code, default))

    @property
    def is_reduced(self) -> bool:
        return bool(self.newsubfiletype & 1)

    @property
    def is_tiled(self) -> bool:
        return TagCode.TileWidth in self.ifd and TagCode.TileLength in self.ifd

    @property
    def storage(self) -> str:
        """What the page's segments are, as people name them: tiles or strips."""
        return "tiles" if self.is_tiled else "strips"

    @property
    def jpegheader(self) -> bytes | None:
        """A JPEG header to decode every segment with; only NDPI's pages have one."""
        return None

    @property
    def ojpeg(self) -> OjpegCoding | None:
        """How old-style JPEG segments decode; only old-style JPEG pages have it."""
        return None

    @cached_property
    def rowsperstrip(self) -> int:
        rows = read_int(self, TagCode.RowsPerStrip, 2**32 - 1)
        if rows <= 0:
            return 0
        return max(1, min(rows, self.imagelength))

    @cached_property
    def extrasamples(self) -> tuple[int, ...]:
        value = self.ifd.value(TagCode.ExtraSamples, ())
        return value if isinstance(value, tuple) else (value,)

    @cached_property
    def subsampling(self) -> tuple[int, int] | None:
        if self.photometric != Photometric.YCBCR:
            return None
        value = self.ifd.value(TagCode.YCbCrSubSampling, (2, 2))
        if not isinstance(value, tuple) or len(value) != 2:
            return (2, 2)
        return (int(value[0]), int(value[1]))

    @cached_property
    def ycbcr_colours(self) -> YCbCrColours | None:
        """A YCbCr page's colour tags, for converting its samples as libtiff does."""
        if self.photometric != Photometric.YCBCR:
            return None
        coefficients = read_floats(self, TagCode.YCbCrCoefficients, DEFAULT_COEFFICIENTS)
        return YCbCrColours(
            read_floats(self, TagCode.ReferenceBlackWhite, DEFAULT_REFERENCE),
            (coefficients[0], coefficients[1], coefficients[2]),
            self.subsampling or (1, 1),
        )

    @property
    def is_subsampled(self) -> bool:
        return self.subsampling is not None and self.subsampling != (1, 1)

    @cached_property
    def jpegtables(self) -> bytes | None:
        tag = self.ifd.get(TagCode.JPEGTables)
        return None if tag is None else tag.raw()

    @cached_property
    def description(self) -> str:
        value = self.ifd.value(TagCode.ImageDescription, "")
        return value if isinstance(value, str) else ""

    @cached_property
    def software(self) -> str:
        value = self.ifd.value(TagCode.Software, "")
        return value if isinstance(value, str) else ""

    @cached_property
    def nodata(self) -> int | float:
        """GDAL_NODATA as the page's type, else 0: what sparse segments read as."""
        text = self.ifd.value(TagCode.GDAL_NODATA)
        if not isinstance(text, str) or not text.strip():
            return 0
        try:
            value = float(text.strip())
        except ValueError:
            return 0
        kind = self.dtype.kind
        if kind in "fc":
            return value
        if not value.is_integer():
            return 0
        info = np.iinfo(self.dtype) if kind in "iu" else None
        if info is not None and not info.min <= value <= info.max:
            return 0
        return int(value)

    @cached_property
    def subifds(self) -> tuple[int, ...]:
        tag = self.ifd.get(TagCode.SubIFDs)
        if tag is None:
            return ()
        values = tag.array()
        if values.dtype.kind not in "iu":
            log.warning(
                "%s: SubIFDs tag holds %s values, not offsets; ignored", self.name, values.dtype
            )
            return ()
        return tuple(int(v) for v in values.tolist())

    # -- image geometry ---------------------------------------------------------------
    @cached_property
    def dtype(self) -> np.dtype:
        dtype = sample_dtype(self.sampleformat, self.bitspersample)
        if dtype is None:
            raise TiffFileError(
                f"{self.name}: {self.bitspersample}-bit samples of format "
                f"{describe_value(SampleFormat, self.sampleformat)} are not supported"
            )
        return dtype

    @cached_property
    def shaped(self) -> tuple[int, int, int, int, int]:
        """(separate samples, depth, length, width, contiguous samples)."""
        if not self.ifd:
            raise TiffFileError(f"{self.name}: the IFD has no entries: no image")
        width, length, depth = self.imagewidth, self.imagelength, self.imagedepth
        samples = self.samplesperpixel
        # a width or length of 0 is an empty image, read as an empty array of its shape
        if depth < 1 or samples < 1:
            raise TiffFileError(
                f"{self.name}: invalid image size: width {width}, length {length}, "
                f"depth {depth}, samples {samples}"
            )
        if self.planarconfig == PlanarConfig.SEPARATE:
            return (samples, depth, length, width, 1)
        return (1, depth, length, width, samples)

    @property
    def shape(self) -> tuple[int, ...]:
        planes, depth, length, width, samples = self.shaped
        shape: list[int] = []
        if planes > 1:
            shape.append(planes)
        if depth > 1:
            shape.append(depth)
        shape += [length, width]
        if samples > 1:
            shape.append(samples)
        return tuple(shape)

    @property
    def axes(self) -> str:
        planes, depth, _, _, samples = self.shaped
        return (
            ("S" if planes > 1 else "")
            + ("Z" if depth > 1 else "")
            + "YX"
            + ("S" if samples > 1 else "")
        )

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    @cached_property
    def layout(self) -> SegmentLayout:
        shaped = self.shaped
        width, samples = shaped[3], shaped[4]
        if self.is_tiled:
            segment = (self.tiledepth, self.tilelength, self.tilewidth, samples)
            if min(segment) < 1:
                raise TiffFileError(f"{self.name}: invalid tile size {segment[:3]}")
            layout = SegmentLayout(shaped, segment, tiled=True)
        else:
            rows = self.rowsperstrip
            if rows < 1 and shaped[2] and width:
                raise TiffFileError(f"{self.name}: RowsPerStrip is 0")
            # an empty image has no strips; its strip stays 1 x 1 for the grid's sake
            segment = (1, max(rows, 1), max(width, 1), samples)
            layout = SegmentLayout(shaped, segment, tiled=False)
        return layout

    @property
    def chunks(self) -> tuple[int, ...]:
        """The shape of one strip or tile, as tifffile gives it: without separate planes."""
        depth, length, width, samples = self.layout.segment
        shape: list[int] = []
        if self.shaped[1] > 1:
            shape.append(depth)
        shape += [length, width]
        if samples > 1:
            shape.append(samples)
        return tuple(shape)

    # -- segments -------------------------------------------------------------------
    def _first_tag(self, *codes: int) -> np.ndarray | None:
        for code in codes:
            tag = self.ifd.get(code)
            if tag is None:
                continue
            values = tag.array()
            kind = values.dtype.kind
            # only signed values can be negative: the usual unsigned ones need no scan
            if kind != "u" and (kind != "i" or (values.size and values.min() < 0)):
                raise TiffFileError(
                    f"{self.name}: tag {tag.name} holds {values.dtype} values, not offsets"
                )
            return values.astype(np.uint64)
        return None

    @cached_property
    def dataoffsets(self) -> np.ndarray:
        offsets = self._first_tag(*OFFSET_TAGS)
        if offsets is None:
            raise TiffFileError(f"{self.name}: the image has no strip or tile offsets")
        if len(offsets) > self.layout.count:
            # more offsets than segments (a RowsPerStrip that overflowed): libtiff and
            # GDAL use the first ones
            return offsets[: self.layout.count]
        return offsets

    @cached_property
    def databytecounts(self) -> np.ndarray:
        counts = self._first_tag(*BYTECOUNT_TAGS)
        offsets = self.dataoffsets
        single = len(offsets) == 1 and int(offsets[0]) > 0
        if single and (counts is None or not len(counts) or int(counts[0]) == 0):
            # old writers omit the byte count of a single strip: it runs to the next IFD
            # or to the end of the file
            role = None if self.codec is None else self.codec.role
            if role is Role.RAW:
                return np.array([self.nbytes_stored], np.uint64)
            if role is Role.BILEVEL:
                start, size = int(offsets[0]), self.source.size
                if start >= size:  # nothing to run to: the length would be negative
                    raise TiffFileError(
                        f"{self.name}: segment 0 at offset {start} lies past the end of "
                        f"the file ({size} bytes)"
                    )
                end = self.ifd.next_offset
                if end <= start:
                    end = size
                return np.array([end - start], np.uint64)
        if counts is None:
            raise TiffFileError(f"{self.name}: the image has no segment byte counts")
        if len(counts) > len(offsets):
            return self._trimmed_counts(counts[: len(offsets)])
        return counts

    def _trimmed_counts(self, counts: np.ndarray) -> np.ndarray:
        """Byte counts of a page listing more segments than it has: uncompressed ones are
        read whole where the file holds them, as GDAL reads them."""
        if self.codec is None or self.codec.role is not Role.RAW or self.layout.tiled:
            return counts
        need = np.array(
            [self.layout.valid_shape(i)[1] for i in range(len(counts))], np.uint64
        ) * np.uint64(self.nbytes_stored // max(1, self.imagelength * self.shaped[0]))
        room = np.uint64(self.source.size) - np.minimum(self.dataoffsets, self.source.size)
        whole: np.ndarray = np.maximum(counts, np.minimum(need, room))
        return whole

    @property
    def nbytes_stored(self) -> int:
        bits = self.bitspersample * self.shaped[4]
        rowbytes = (self.imagewidth * bits + 7) // 8
        return rowbytes * self.imagelength * self.imagedepth * self.shaped[0]

    def segment_range(self, index: int) -> tuple[int, int] | None:
        """(offset, length) of segment index in the file, or None where it is sparse."""
        offsets = self.dataoffsets
        counts = self.databytecounts
        if index >= len(offsets) or index >= len(counts):
            raise TiffFileError(
                f"{self.name}: segment {index} has no offset: the page lists "
                f"{min(len(offsets), len(counts))} of {self.layout.count} segments"
            )
        offset, length = int(offsets[index]), int(counts[index])
        if offset == 0 or length == 0:
            return None
        size = self.source.size
        if offset >= size:
            raise TiffFileError(
                f"{self.name}: segment {index} at offset {offset} lies past the end of "
                f"the file ({size} bytes)"
            )
        # a truncated last segment still decodes what it holds, as libtiff's does
        return (offset, min(length, size - offset))

    def segment_ranges(self) -> list[tuple[int, int] | None]:
        return [self.segment_range(index) for index in range(self.layout.count)]

    @property
    def fillvalue(self) -> int | float:
        return self.nodata

    def coding(self, fillvalue: Any = None) -> CodingParameters:
        return CodingParameters(
            layout=self.layout,
            byteorder=self.header.byteorder,
            compression=int(self.compression),
            predictor=int(self.predictor),
            fillorder=self.fillorder,
            photometric=int(self.photometric),
            planarconfig=int(self.planarconfig),
            bitspersample=self.bitspersample,
            sampleformat=self.sampleformat,
            extrasamples=self.extrasamples,
            subsampled=self.is_subsampled,
            jpegtables=self.jpegtables,
            jpegheader=self.jpegheader,
            t4options=self.t4options,
            fillvalue=self.nodata if fillvalue is None else fillvalue,
            name=self.name,
            ojpeg=self.ojpeg,
            ycbcr=self.ycbcr_colours,
        )

    @property
    def coded_like(self) -> TiffPage:
        """The page whose coding parameters this page's equal (names aside): itself, or
        the page it borrows them from.  Decoders shared by pages are found from it."""
        return self

    @property
    def codec(self) -> Codec | None:
        """The codec table's row for the page's compression; None where it is unsupported."""
        return codec(self.compression)

    @cached_property
    def decoder(self) -> SegmentDecoder:
        return SegmentDecoder(self.coding(), self.dtype)

    def check_allocation(self, ranges: Sequence[tuple[int, int] | None]) -> None:
        """Refuse an image far larger than its stored bytes could decode to."""
        stored = sum(r[1] for r in ranges if r is not None)
        sparse = sum(1 for r in ranges if r is None)
        segment_bytes = math.prod(self.layout.segment) * self.dtype.itemsize
        expansion = DEFAULT_MAX_EXPANSION if self.codec is None else self.codec.max_expansion
        limit = stored * max(expansion, 8) + sparse * segment_bytes + 2**20
        needed = self.layout.count * segment_bytes
        if needed > limit:
            raise TiffFileError(
                f"{self.name}: declared image of {needed} bytes cannot be held by "
                f"{stored} stored bytes: the size tags are corrupt"
            )

    def asarray(
        self,
        *,
        out: np.ndarray | None = None,
        maxworkers: int | None = None,
        buffersize: int | None = None,
        fillvalue: int | float | None = None,
    ) -> np.ndarray:
        """Decode the whole page, as tifffile's ``page.asarray()``; sparse strips or tiles
        read as fillvalue, by default the file's GDAL_NODATA or 0."""
        layout = self.layout
        dtype = self.dtype
        ranges = self.segment_ranges()
        self.check_allocation(ranges)
        shaped = layout.shaped
        fill = self.nodata if fillvalue is None else fillvalue
        if out is None:
            result = allocate(shaped, dtype, fill, self.name)
        else:
            if out.shape != self.shape or out.dtype != dtype:
                raise ValueError(f"out must be {self.shape} {dtype}, not {out.shape} {out.dtype}")
            result = out.reshape(shaped)
            result[...] = fill

        decoder = self.decoder

        def place(index: int, data: bytes | None) -> None:
            if data is None:
                return
            array = decoder.decode_valid(data, index)
            plane, z, y, x = layout.origin(index)
            depth, length, width, _ = layout.valid_shape(index)
            result[plane, z : z + depth, y : y + length, x : x + width] = array[
                :depth, :length, :width
            ]

        read_segments(self.source, ranges, place, maxworkers, buffersize)
        return result.reshape(self.shape)

    def aszarr(self, **kwargs: Any) -> ZarrTiffStore:
        from ..store.store import ZarrTiffStore

        return ZarrTiffStore(self, **kwargs)

    def __repr__(self) -> str:
        compression = enum_or_int(Compression, int(self.compression))
        try:
            shape = self.shape
            dtype = str(self.dtype)
        except TiffFileError:
            shape, dtype = (), "?"
        return (
            f"<TiffPage {self.index} @{self.offset} {shape} {dtype} "
            f"{'tiled' if self.is_tiled else 'strips'} {compression!s}>"
        )


def allocate(shape: tuple[int, ...], dtype: np.dtype, fill: Any, name: str) -> np.ndarray:
    """An array filled with fill; a declared size the machine cannot hold is the file's
    fault, so it is a TiffFileError, not a MemoryError."""
    try:
        return np.zeros(shape, dtype) if fill == 0 else np.full(shape, fill, dtype)
    except MemoryError as exc:
        nbytes = math.prod(shape) * dtype.itemsize
        raise TiffFileError(
            f"{name}: the declared image of {nbytes} bytes cannot be allocated"
        ) from exc


def default_workers(maxworkers: int | None, jobs: int) -> int:
    if maxworkers is None or maxworkers < 1:
        import os

        maxworkers = os.cpu_count() or 1
    return max(1, min(maxworkers, jobs))


def read_segments(
    source: ByteSource,
    ranges: Sequence[tuple[int, int] | None],
    handle: Any,
    maxworkers: int | None = None,
    buffersize: int | None = None,
) -> None:
    """Read segments in passes of about buffersize bytes and call handle(index, data).

    Sparse segments are handed over as None.  Decoding runs in a thread pool: imagecodecs
    releases the GIL, so segments decode on every core.
    """
    buffersize = buffersize or DEFAULT_BUFFERSIZE
    indices = [i for i, r in enumerate(ranges) if r is not None]
    for i, r in enumerate(ranges):
        if r is None:
            handle(i, None)
    workers = default_workers(maxworkers, len(indices))
    executor = ThreadPoolExecutor(workers) if workers > 1 else None
    try:
        start = 0
        while start < len(indices):
            batch: list[int] = []
            total = 0
            while start < len(indices) and (not batch or total < buffersize):
                index = indices[start]
                batch.append(index)
                total += ranges[index][1]  # type: ignore[index]
                start += 1
            blobs = source.read_ranges([ranges[i] for i in batch])  # type: ignore[misc]
            if executor is None:
                for index, blob in zip(batch, blobs, strict=True):
                    handle(index, blob)
            else:
                for future in [
                    executor.submit(handle, index, blob)
                    for index, blob in zip(batch, blobs, strict=True)
                ]:
                    future.result()
    finally:
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
