"""A numcodecs codec that decodes one stored TIFF strip or tile exactly as our reader does.

References point zarr at the file's own segments, and imagecodecs' numcodecs decode only
what a chain of generic codecs can: whole bytes, one predictor, no bit unpacking.  This codec
carries a page's coding parameters in its configuration and hands each segment to the
reader's :class:`~napari_tiffzarr.tiff.codecs.SegmentDecoder`, so packed integers, FillOrder
2, CCITT, old-style JPEG, subsampled YCbCr, float24 and short last strips decode as the store
decodes them.  It is registered through the ``numcodecs.codecs`` entry point; zarr 3 finds
its format-3 wrapper through ``zarr.codecs`` (see :mod:`napari_tiffzarr.references.codecs`).

A codec sees a segment's bytes but not its index, which only a strip's length depends on:
every strip but the last of a plane is full, so a strip is decoded as a full one first and,
if its bytes hold fewer rows, as the last one.  Rows past the image are outside the array.
"""

from __future__ import annotations

import base64
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
from numcodecs.abc import Codec

if TYPE_CHECKING:
    from .tiff.codecs import CodingParameters, SegmentDecoder
    from .tiff.ojpegstream import OjpegCoding
    from .tiff.page import TiffPage
    from .tiff.ycbcr import YCbCrColours

__all__ = ["SEGMENT_CODEC_ID", "TiffSegmentCodec", "segment_config"]

SEGMENT_CODEC_ID = "napari_tiffzarr_segment"


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def _bytes(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


def _json_fill(value: Any) -> Any:
    """The fill value as JSON allows it: NaN and infinities as strings, as zarr writes them."""
    if isinstance(value, float) and not np.isfinite(value):
        return "NaN" if np.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value.item() if isinstance(value, np.generic) else value


def segment_config(page: TiffPage, fillvalue: Any) -> dict[str, Any]:
    """The codec configuration that decodes page's segments as the store does."""
    params = page.coding(fillvalue)
    layout = params.layout
    return {
        "id": SEGMENT_CODEC_ID,
        "dtype": page.dtype.str,
        "shaped": list(layout.shaped),
        "segment": list(layout.segment),
        "tiled": layout.tiled,
        "byteorder": params.byteorder,
        "compression": params.compression,
        "predictor": params.predictor,
        "fillorder": params.fillorder,
        "photometric": params.photometric,
        "planarconfig": params.planarconfig,
        "bitspersample": params.bitspersample,
        "sampleformat": params.sampleformat,
        "extrasamples": list(params.extrasamples),
        "subsampled": params.subsampled,
        "jpegtables": _b64(params.jpegtables),
        "jpegheader": _b64(params.jpegheader),
        "t4options": params.t4options,
        "fillvalue": _json_fill(params.fillvalue),
        "name": params.name,
        "ycbcr": _colours_config(params.ycbcr),
        "ojpeg": None
        if params.ojpeg is None
        else {
            "header": _b64(params.ojpeg.header),
            "joined": params.ojpeg.joined,
            "colours": _colours_config(params.ojpeg.colours),
        },
    }


def _colours_config(colours: YCbCrColours | None) -> dict[str, Any] | None:
    if colours is None:
        return None
    return {
        "reference": list(colours.reference),
        "coefficients": list(colours.coefficients),
        "subsampling": list(colours.subsampling),
    }


def _colours(config: dict[str, Any] | None) -> YCbCrColours | None:
    from .tiff.ycbcr import YCbCrColours

    if config is None:
        return None
    a, b, c = (float(v) for v in config["coefficients"])
    horizontal, vertical = (int(v) for v in config["subsampling"])
    return YCbCrColours(
        tuple(float(v) for v in config["reference"]), (a, b, c), (horizontal, vertical)
    )


def _ojpeg(config: dict[str, Any] | None) -> OjpegCoding | None:
    from .tiff.ojpegstream import OjpegCoding

    if config is None:
        return None
    return OjpegCoding(
        _bytes(config["header"]), bool(config["joined"]), _colours(config["colours"])
    )


class TiffSegmentCodec(Codec):  # type: ignore[misc]  # numcodecs is untyped
    """Decode one TIFF strip or tile to its full segment, padded with the fill value."""

    codec_id = SEGMENT_CODEC_ID

    def __init__(self, **config: Any) -> None:
        config.pop("id", None)
        self.config = config

    def get_config(self) -> dict[str, Any]:
        return {"id": self.codec_id, **self.config}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.config.get('name')!r})"

    @cached_property
    def _decoder(self) -> SegmentDecoder:
        from .tiff.codecs import SegmentDecoder

        return SegmentDecoder(self._parameters(), np.dtype(self.config["dtype"]))

    def _parameters(self) -> CodingParameters:
        from .tiff.codecs import CodingParameters
        from .tiff.layout import SegmentLayout

        c = self.config
        shaped = tuple(int(n) for n in c["shaped"])
        segment = tuple(int(n) for n in c["segment"])
        fill = c["fillvalue"]
        return CodingParameters(
            layout=SegmentLayout(shaped, segment, bool(c["tiled"])),  # type: ignore[arg-type]
            byteorder=c["byteorder"],
            compression=int(c["compression"]),
            predictor=int(c["predictor"]),
            fillorder=int(c["fillorder"]),
            photometric=int(c["photometric"]),
            planarconfig=int(c["planarconfig"]),
            bitspersample=int(c["bitspersample"]),
            sampleformat=int(c["sampleformat"]),
            extrasamples=tuple(int(n) for n in c["extrasamples"]),
            subsampled=bool(c["subsampled"]),
            jpegtables=_bytes(c["jpegtables"]),
            jpegheader=_bytes(c["jpegheader"]),
            t4options=int(c["t4options"]),
            fillvalue=float(fill) if isinstance(fill, str) else fill,
            name=str(c["name"]),
            ojpeg=_ojpeg(c.get("ojpeg")),
            ycbcr=_colours(c.get("ycbcr")),
        )

    def _last_strip(self) -> int | None:
        """The index of a plane's last strip where it is shorter than the others."""
        layout = self._decoder.params.layout
        if layout.tiled:
            return None
        last = layout.grid[2] - 1
        if layout.valid_shape(last)[1] == layout.valid_shape(0)[1]:
            return None
        return last

    def decode(self, buf: Any, out: Any = None) -> Any:
        from .errors import TiffFileError

        data = bytes(memoryview(buf).cast("B")) if not isinstance(buf, bytes) else buf
        decoder = self._decoder
        index = 0
        try:
            try:
                array = decoder.decode(data, index)
            except TiffFileError:
                last = self._last_strip()
                if last is None:
                    raise
                index = last
                array = decoder.decode(data, index)
        except TiffFileError as exc:
            # the index was our guess: name no segment the reference may not be
            message = str(exc).replace(f": segment {index}: ", ": a stored segment: ", 1)
            raise TiffFileError(message) from exc
        if out is not None:
            target = np.asarray(out).reshape(-1).view(array.dtype)
            target[...] = array.reshape(-1)
            return out
        return array

    def encode(self, buf: Any) -> Any:
        raise NotImplementedError("TIFF segment references are read-only: nothing encodes them")
