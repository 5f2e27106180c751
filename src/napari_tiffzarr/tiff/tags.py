"""TIFF enumerations, field types and tag names, as tables.

Values a file may hold that we do not know stay plain ints: an enum is a convenience for
reading code and messages, never a gate on what a file may contain.
"""

from __future__ import annotations

import enum
from typing import NamedTuple, TypeVar

__all__ = [
    "FIELD_TYPES",
    "TAG_NAMES",
    "describe_value",
    "Compression",
    "ExtraSample",
    "FieldType",
    "FillOrder",
    "Photometric",
    "PlanarConfig",
    "Predictor",
    "ResUnit",
    "SampleFormat",
    "SubfileType",
    "TagCode",
    "enum_or_int",
]


class Compression(enum.IntEnum):
    NONE = 1
    CCITTRLE = 2
    CCITT_T4 = 3
    CCITT_T6 = 4
    LZW = 5
    OJPEG = 6
    JPEG = 7
    ADOBE_DEFLATE = 8
    JBIG_BW = 9
    JBIG_COLOR = 10
    JPEG_99 = 99
    NEXT = 32766
    CCITTRLEW = 32771
    PACKBITS = 32773
    THUNDERSCAN = 32809
    PIXARFILM = 32908
    PIXARLOG = 32909
    DEFLATE = 32946
    DCS = 32947
    APERIO_JP2000_YCBC = 33003
    JPEG_2000_LOSSY = 33004
    APERIO_JP2000_RGB = 33005
    JBIG = 34661
    SGILOG = 34676
    SGILOG24 = 34677
    LURADOC = 34692
    JPEG2000 = 34712
    NIKON_NEF = 34713
    JBIG2 = 34715
    MDI_BINARY = 34718
    MDI_PROGRESSIVE = 34719
    MDI_VECTOR = 34720
    LERC = 34887
    JPEG_LOSSY = 34892
    LZMA = 34925
    ZSTD_DEPRECATED = 34926
    WEBP_DEPRECATED = 34927
    PNG = 34933
    JPEGXR = 34934
    JETRAW = 48124
    ZSTD = 50000
    WEBP = 50001
    JPEGXL = 50002
    PIXTIFF = 50013
    JPEGXL_DNG = 52546
    EER_V0 = 65000
    EER_V1 = 65001
    EER_V2 = 65002


class Photometric(enum.IntEnum):
    MINISWHITE = 0
    MINISBLACK = 1
    RGB = 2
    PALETTE = 3
    MASK = 4
    SEPARATED = 5
    YCBCR = 6
    CIELAB = 8
    ICCLAB = 9
    ITULAB = 10
    CFA = 32803
    LOGL = 32844
    LOGLUV = 32845
    LINEAR_RAW = 34892
    DEPTH_MAP = 51177
    SEMANTIC_MASK = 52527


class Predictor(enum.IntEnum):
    NONE = 1
    HORIZONTAL = 2
    FLOATINGPOINT = 3
    HORIZONTALX2 = 34892
    HORIZONTALX4 = 34893
    FLOATINGPOINTX2 = 34894
    FLOATINGPOINTX4 = 34895


class SampleFormat(enum.IntEnum):
    UINT = 1
    INT = 2
    IEEEFP = 3
    VOID = 4
    COMPLEXINT = 5
    COMPLEXIEEEFP = 6


class PlanarConfig(enum.IntEnum):
    CONTIG = 1
    SEPARATE = 2


class FillOrder(enum.IntEnum):
    MSB2LSB = 1
    LSB2MSB = 2


class ExtraSample(enum.IntEnum):
    UNSPECIFIED = 0
    ASSOCALPHA = 1
    UNASSALPHA = 2


class ResUnit(enum.IntEnum):
    NONE = 1
    INCH = 2
    CENTIMETER = 3
    MILLIMETER = 4
    MICROMETER = 5


class SubfileType(enum.IntFlag):
    UNDEFINED = 0
    REDUCEDIMAGE = 1
    PAGE = 2
    MASK = 4
    MACRO = 8
    ENHANCED = 16
    DNG = 65536


class FieldType(enum.IntEnum):
    BYTE = 1
    ASCII = 2
    SHORT = 3
    LONG = 4
    RATIONAL = 5
    SBYTE = 6
    UNDEFINED = 7
    SSHORT = 8
    SLONG = 9
    SRATIONAL = 10
    FLOAT = 11
    DOUBLE = 12
    IFD = 13
    UNICODE = 14
    COMPLEX = 15
    LONG8 = 16
    SLONG8 = 17
    IFD8 = 18


class FieldFormat(NamedTuple):
    """How one value of a field type is stored: struct code and its size in bytes."""

    code: str
    size: int


# A rational is two 4-byte integers, so 8 bytes a value, and is decoded as a pair.
FIELD_TYPES: dict[int, FieldFormat] = {
    1: FieldFormat("B", 1),
    2: FieldFormat("s", 1),
    3: FieldFormat("H", 2),
    4: FieldFormat("I", 4),
    5: FieldFormat("2I", 8),
    6: FieldFormat("b", 1),
    7: FieldFormat("B", 1),
    8: FieldFormat("h", 2),
    9: FieldFormat("i", 4),
    10: FieldFormat("2i", 8),
    11: FieldFormat("f", 4),
    12: FieldFormat("d", 8),
    13: FieldFormat("I", 4),
    14: FieldFormat("H", 2),
    15: FieldFormat("2f", 8),
    16: FieldFormat("Q", 8),
    17: FieldFormat("q", 8),
    18: FieldFormat("Q", 8),
}


class TagCode(enum.IntEnum):
    """Tags the reader names in code, by their names in the TIFF specification (and in
    GDAL's, ImageJ's, NDPI's), so that a member's name is also the tag's name in messages."""

    NewSubfileType = 254
    SubfileType = 255
    ImageWidth = 256
    ImageLength = 257
    BitsPerSample = 258
    Compression = 259
    PhotometricInterpretation = 262
    Threshholding = 263
    FillOrder = 266
    DocumentName = 269
    ImageDescription = 270
    Make = 271
    Model = 272
    StripOffsets = 273
    Orientation = 274
    SamplesPerPixel = 277
    RowsPerStrip = 278
    StripByteCounts = 279
    MinSampleValue = 280
    MaxSampleValue = 281
    XResolution = 282
    YResolution = 283
    PlanarConfiguration = 284
    PageName = 285
    XPosition = 286
    YPosition = 287
    T4Options = 292
    T6Options = 293
    ResolutionUnit = 296
    PageNumber = 297
    Software = 305
    DateTime = 306
    Artist = 315
    HostComputer = 316
    Predictor = 317
    WhitePoint = 318
    PrimaryChromaticities = 319
    ColorMap = 320
    TileWidth = 322
    TileLength = 323
    TileOffsets = 324
    TileByteCounts = 325
    SubIFDs = 330
    InkSet = 332
    ExtraSamples = 338
    SampleFormat = 339
    SMinSampleValue = 340
    SMaxSampleValue = 341
    JPEGTables = 347
    JPEGProc = 512
    JPEGInterchangeFormat = 513
    JPEGInterchangeFormatLength = 514
    JPEGRestartInterval = 515
    JPEGLosslessPredictors = 517
    JPEGPointTransforms = 518
    JPEGQTables = 519
    JPEGDCTables = 520
    JPEGACTables = 521
    YCbCrCoefficients = 529
    YCbCrSubSampling = 530
    YCbCrPositioning = 531
    ReferenceBlackWhite = 532
    XMP = 700
    ImageDepth = 32997
    TileDepth = 32998
    Copyright = 33432
    ModelPixelScaleTag = 33550
    IPTCNAA = 33723
    ModelTiepointTag = 33922
    ModelTransformationTag = 34264
    Photoshop = 34377
    ExifTag = 34665
    InterColorProfile = 34675
    GeoKeyDirectoryTag = 34735
    GeoDoubleParamsTag = 34736
    GeoAsciiParamsTag = 34737
    GPSTag = 34853
    GDAL_METADATA = 42112
    GDAL_NODATA = 42113
    IJMetadataByteCounts = 50838
    IJMetadata = 50839
    NDPI_FORMAT_FLAG = 65420


# Names of tags for messages; codes we have no name for print as numbers.
TAG_NAMES: dict[int, str] = {tag.value: tag.name for tag in TagCode}


_E = TypeVar("_E", bound=enum.IntEnum)


def enum_or_int(kind: type[_E], value: int) -> _E | int:
    """The enum member for value, or value itself where the enum does not know it."""
    try:
        return kind(value)
    except ValueError:
        return value


def describe_value(kind: type[enum.IntEnum], value: int) -> str:
    """A coded value for messages, as 'SGILOG (34676)': IntEnum's str() since Python 3.11
    is the bare number, which tells a user nothing."""
    member = enum_or_int(kind, value)
    return f"{member.name} ({value})" if isinstance(member, enum.Enum) else str(value)
