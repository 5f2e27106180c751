"""zarr 3 codecs for the numcodecs ids that reference JSON in zarr format 3 names.

zarr-python 3 resolves a format-3 codec by its name in its own registry, and imagecodecs
registers its codecs with numcodecs only; zarr 3 itself wraps only numcodecs' built-in
codecs as ``numcodecs.<id>``.  :func:`register_codecs` adds the same kind of wrapper, under
the same naming, for the imagecodecs ids that the references write and for our segment
codec, so that format-3 references open with no call (through the ``zarr.codecs`` entry
points) or after one.  The wrappers only decode: references are read-only.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self, cast

import numpy as np
from zarr.abc.codec import ArrayArrayCodec, ArrayBytesCodec, BytesBytesCodec
from zarr.core.array_spec import ArraySpec
from zarr.core.buffer import Buffer, NDBuffer

from ..segment_codec import SEGMENT_CODEC_ID, TiffSegmentCodec
from ..tiff.codecs import numcodec_kinds

__all__ = ["SEGMENT_CODEC_ID", "V3_CODECS", "V3_PREFIX", "register_codecs"]

V3_PREFIX = "numcodecs."

# What a codec turns its input into, as the codec table says (numcodec_kinds): decompressed
# bytes, a decoded image, or an array from an array (predictors).
BYTES = "bytes"
IMAGE = "image"
ARRAY = "array"


@dataclass(frozen=True)
class _Numcodec:
    """A numcodecs codec by id and configuration, as zarr 3 metadata names it."""

    codec_id: ClassVar[str]
    configuration: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        configuration = dict(data.get("configuration") or {})
        configuration.pop("id", None)
        return cls(configuration=configuration)

    def to_dict(self) -> dict[str, Any]:
        return {"name": V3_PREFIX + self.codec_id, "configuration": dict(self.configuration)}

    def _numcodec(self) -> Any:
        # one per codec instance, not per chunk: ours builds its decoder from the
        # configuration once (a frozen dataclass still has a __dict__ to keep it in)
        codec = self.__dict__.get("_cached_numcodec")
        if codec is None:
            from zarr.registry import get_numcodec

            config = {"id": self.codec_id, **self.configuration}
            codec = get_numcodec(config)  # type: ignore[arg-type]
            self.__dict__["_cached_numcodec"] = codec
        return codec

    def compute_encoded_size(self, input_byte_length: int, chunk_spec: ArraySpec) -> int:
        raise NotImplementedError(f"{self.codec_id} has no fixed encoded size")


def _chunk_array(decoded: Any, chunk_spec: ArraySpec) -> np.ndarray:
    array = np.asarray(decoded)
    dtype = chunk_spec.dtype.to_native_dtype()
    if array.dtype.itemsize == dtype.itemsize and array.dtype.kind == dtype.kind:
        return array.reshape(chunk_spec.shape)
    return array.reshape(-1).view(np.uint8).view(dtype).reshape(chunk_spec.shape)


@dataclass(frozen=True)
class _BytesCodec(_Numcodec, BytesBytesCodec):
    async def _decode_single(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> Buffer:
        def decode() -> Buffer:
            decoded = self._numcodec().decode(chunk_bytes.as_numpy_array())
            data = np.frombuffer(np.ascontiguousarray(decoded).reshape(-1), np.uint8)
            return chunk_spec.prototype.buffer.from_array_like(data)

        return await asyncio.to_thread(decode)


@dataclass(frozen=True)
class _ImageCodec(_Numcodec, ArrayBytesCodec):
    async def _decode_single(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> NDBuffer:
        def decode() -> NDBuffer:
            decoded = self._numcodec().decode(chunk_bytes.to_bytes())
            if isinstance(decoded, tuple):  # LERC may return masks beside the image
                decoded = decoded[0]
            array = _chunk_array(decoded, chunk_spec)
            return chunk_spec.prototype.nd_buffer.from_numpy_array(array)

        return await asyncio.to_thread(decode)


@dataclass(frozen=True)
class _ArrayCodec(_Numcodec, ArrayArrayCodec):
    async def _decode_single(self, chunk_array: NDBuffer, chunk_spec: ArraySpec) -> NDBuffer:
        def decode() -> NDBuffer:
            array = np.ascontiguousarray(chunk_array.as_numpy_array())
            decoded = np.asarray(self._numcodec().decode(array)).reshape(chunk_spec.shape)
            return chunk_spec.prototype.nd_buffer.from_numpy_array(decoded)

        return await asyncio.to_thread(decode)


_BASES: dict[str, type[_Numcodec]] = {BYTES: _BytesCodec, IMAGE: _ImageCodec, ARRAY: _ArrayCodec}


def _wrapper(codec_id: str, role: str) -> type[_Numcodec]:
    base = _BASES[role]
    name = f"V3_{codec_id}"
    namespace = {"codec_id": codec_id, "__module__": __name__, "__qualname__": name}
    return type(name, (base,), namespace)


# One class per id at import, named V3_<id> in this module, so that the ``zarr.codecs``
# entry points in pyproject.toml can name them: zarr 3 then opens format-3 references
# with no call at all.
# zarr 3 wraps numcodecs' own codecs (zlib, lzma, ...) itself; imagecodecs' and ours it lacks.
_WRAPPED: dict[str, str] = {
    **{k: v for k, v in numcodec_kinds().items() if k.startswith("imagecodecs_")},
    SEGMENT_CODEC_ID: IMAGE,
}
V3_CODECS: dict[str, type[_Numcodec]] = {
    codec_id: _wrapper(codec_id, role) for codec_id, role in _WRAPPED.items()
}
globals().update({cls.__name__: cls for cls in V3_CODECS.values()})


def register_codecs(extra: dict[str, str] | None = None) -> None:
    """Register our segment codec and imagecodecs' with numcodecs (zarr format 2), and zarr 3
    wrappers as ``numcodecs.<id>`` (format 3).

    With napari-tiffzarr installed the entry points do this already; the call remains for
    ids given to write_fsspec's compressors: extra maps further numcodecs ids to their role
    ('bytes', 'image' or 'array').  Names zarr already knows are left alone, so that zarr
    never has two implementations to choose from.  Calling it again is harmless.
    """
    import imagecodecs.numcodecs
    import numcodecs
    from zarr.registry import get_codec_class, register_codec

    numcodecs.register_codec(TiffSegmentCodec)
    imagecodecs.numcodecs.register_codecs(verbose=False)
    for codec_id, role in {**_WRAPPED, **(extra or {})}.items():
        name = V3_PREFIX + codec_id
        try:
            get_codec_class(name)
            continue
        except KeyError:
            pass
        cls = V3_CODECS.get(codec_id) or _wrapper(codec_id, role)
        register_codec(
            name, cast("type[BytesBytesCodec]", cls), qualname=f"{__name__}.{cls.__name__}"
        )
