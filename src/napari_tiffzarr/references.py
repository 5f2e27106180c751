"""fsspec ReferenceFileSystem (kerchunk) JSON from a store's metadata and byte ranges.

Every chunk of the store is one strip or tile of the TIFF (or one raw, contiguous page),
so a chunk key maps to ``[url, offset, length]`` and zarr decodes it with a numcodecs codec
chosen from the page's coding: compression, predictor, byte order and sample type, by
table.  What imagecodecs' codecs cannot decode is, with ``portable=True``, refused with a
ValueError that names the feature; otherwise those levels use our segment codec
(:mod:`napari_tiffzarr.segment_codec`), which decodes a segment as the reader does.  The
metadata documents are the store's own, with the codecs put in, so the references open
exactly as the store does.  The TIFF is only read.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import stat
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from .segment_codec import SEGMENT_CODEC_ID, TiffSegmentCodec, segment_config
from .sources import ByteSource
from .store.location import home_source
from .store.metadata import NGFF_AXES
from .store.refcodecs import V3_CODECS, V3_PREFIX
from .tiff.codecs import (
    CODECS,
    PREDICTORS,
    CodingParameters,
    Role,
    byte_aligned,
    codec,
    jpeg_colorspaces,
)
from .tiff.page import TiffPage
from .tiff.series.base import coding_key
from .tiff.tags import Compression, describe_value

if TYPE_CHECKING:
    from .store.config import ZarrFormat
    from .store.store import ZarrTiffStore

__all__ = [
    "DEFAULT_COMPRESSORS",
    "ChunkCoding",
    "required_codecs",
    "chunk_coding",
    "register_codecs",
    "write_fsspec",
    "write_sequence",
]

# TIFF compression -> numcodecs id of a codec that decodes one of its segments alone
DEFAULT_COMPRESSORS: dict[int, str] = {
    compression: row.numcodec for compression, row in CODECS.items() if row.numcodec
}


def register_codecs(extra: dict[str, str] | None = None) -> None:
    """Make written references open in zarr 3: imagecodecs' codecs for numcodecs (zarr
    format 2), and wrappers named ``numcodecs.<id>`` for zarr format 3."""
    import numcodecs

    from .store.refcodecs import register_codecs as register

    numcodecs.register_codec(TiffSegmentCodec)
    register(extra)


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


def _refuse(page: TiffPage, feature: str) -> ValueError:
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
        raise _refuse(page, "FillOrder 2 (reversed bit order)")
    if whole_page and (role is not Role.RAW or params.predictor != 1):
        raise _refuse(page, f"chunkmode 2 (whole pages) over {name} data")
    codec_id = None if role is Role.RAW else table.get(compression)
    if role is not Role.RAW and codec_id is None:
        raise _refuse(page, f"compression {name}")
    image = role in (Role.IMAGE, Role.JPEG)
    if page.is_subsampled and role is not Role.JPEG:
        raise _refuse(page, "YCbCr subsampling outside JPEG")
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
        raise _refuse(page, "complex integer samples")
    if dtype.kind == "f" and params.bitspersample == 24:
        raise _refuse(page, "float24 samples")
    if not byte_aligned(params.sampleformat, params.bitspersample):
        raise _refuse(page, f"packed {params.bitspersample}-bit integers")
    stored = (
        dtype.newbyteorder(">" if params.byteorder == ">" else "<")
        if dtype.itemsize > 1
        else dtype
    )
    filters: tuple[dict[str, Any], ...] = ()
    if params.predictor != 1:
        predictor = PREDICTORS.get(params.predictor)
        if predictor is None:
            raise _refuse(page, f"predictor {params.predictor}")
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
        raise _refuse(keyframe, "JPEGTables in a multi-page series")
    key = coding_key(keyframe)
    for page in others:
        if coding_key(page) != key or page.jpegtables is not None:
            raise _refuse(page, "pages of differing shape or coding in one series")
    strips = not keyframe.layout.tiled and not whole_pages
    if strips and keyframe.shaped[2] % keyframe.layout.segment[1]:
        raise _refuse(
            keyframe,
            f"an incomplete chunk (image length {keyframe.shaped[2]} is not a multiple of "
            f"rows per strip {keyframe.layout.segment[1]})",
        )


def _page_range(page: TiffPage) -> tuple[int, int]:
    """The byte range of a whole raw page stored contiguously, for chunkmode 2."""
    ranges = page.segment_ranges()
    if any(r is None for r in ranges):
        raise _refuse(page, "chunkmode 2 (whole pages) over sparse strips or tiles")
    spans = [r for r in ranges if r is not None]
    start = spans[0][0]
    end = start
    for offset, length in spans:
        if offset != end:
            raise _refuse(page, "chunkmode 2 (whole pages) over data not stored contiguously")
        end += length
    layout = page.layout
    whole_rows = layout.shaped[3] == layout.segment[2] and layout.shaped[1] == 1
    if layout.tiled and not whole_rows:
        raise _refuse(page, "chunkmode 2 (whole pages) over tiles narrower than the image")
    needed = page.nbytes_stored
    if end - start < needed:
        raise _refuse(page, "chunkmode 2 (whole pages) over a truncated page")
    return (start, needed)


@dataclass(frozen=True)
class _Sequence:
    """The multi-file API: this file's place in a sequence of files joined into one array."""

    shape: tuple[int, ...]
    axes: tuple[str, ...]
    index: tuple[int, ...]

    @classmethod
    def parse(
        cls,
        shape: Sequence[int] | None,
        axes: Sequence[str] | None,
        index: Sequence[int] | None,
    ) -> _Sequence:
        shape = tuple(int(s) for s in shape or ())
        axes = tuple(axes or ())
        if index is None and shape:
            raise ValueError("_index is required with _shape: where this file goes")
        index = tuple(int(i) for i in index or ())
        if len(axes) != len(shape) or len(index) != len(shape):
            raise ValueError(f"_shape {shape}, _axes {axes} and _index {index} differ in length")
        if any(not 0 <= i < n for i, n in zip(index, shape, strict=True)):
            raise ValueError(f"_index {index} is outside _shape {shape}")
        return cls(shape, axes, index)


def _unique(names: Sequence[str], taken: Sequence[str]) -> list[str]:
    result: list[str] = []
    for name in names:
        candidate, count = name, 1
        while candidate in taken or candidate in result:
            candidate, count = f"{name}{count}", count + 1
        result.append(candidate)
    return result


def _lead_multiscales(attributes: dict[str, Any], seq: _Sequence) -> None:
    """Give OME-NGFF multiscales the sequence's leading axes, at scale 1."""
    ome = attributes.get("ome")
    multiscales = (ome if isinstance(ome, dict) else attributes).get("multiscales") or []
    for multiscale in multiscales:
        axes = multiscale["axes"]
        names = [NGFF_AXES.get(ax, (ax.lower(), None)) for ax in seq.axes]
        unique = _unique([n for n, _ in names], [a["name"] for a in axes])
        lead = [
            {"name": n, "type": kind} if kind else {"name": n}
            for n, (_, kind) in zip(unique, names, strict=True)
        ]
        multiscale["axes"] = lead + axes
        for dataset in multiscale["datasets"]:
            for transform in dataset["coordinateTransformations"]:
                if transform.get("type") == "scale":
                    transform["scale"] = [1.0] * len(seq.shape) + transform["scale"]


def _metadata(
    store: ZarrTiffStore,
    seq: _Sequence,
    codings: Sequence[ChunkCoding],
) -> dict[str, dict[str, Any]]:
    """The store's metadata documents with codecs, and the sequence's leading axes."""
    documents = {key: json.loads(value) for key, value in store.index.metadata.items()}
    fmt = store.zarr_format
    lead = list(seq.shape)
    for key, document in documents.items():
        head, _, name = key.rpartition("/")
        level = int(head) if head else 0
        if name == ".zattrs" and "_ARRAY_DIMENSIONS" in document:
            dims = document["_ARRAY_DIMENSIONS"]
            document["_ARRAY_DIMENSIONS"] = _unique(seq.axes, dims) + dims
        elif name == ".zarray":
            document.update(codings[level].zarr2())
            document["shape"] = lead + document["shape"]
            document["chunks"] = [1] * len(lead) + document["chunks"]
        elif fmt == 3 and document.get("node_type") == "array":
            document["codecs"] = codings[level].zarr3()
            document["shape"] = lead + document["shape"]
            grid = document["chunk_grid"]["configuration"]
            grid["chunk_shape"] = [1] * len(lead) + grid["chunk_shape"]
            dims = document.get("dimension_names") or []
            document["dimension_names"] = _unique(seq.axes, dims) + dims
        if seq.shape and name in ("zarr.json", ".zattrs"):
            _lead_multiscales(document.get("attributes", document), seq)
    return documents


def _segment_coding(
    level_pages: Sequence[TiffPage | None], keyframe: TiffPage, whole_pages: bool, fill: Any
) -> ChunkCoding:
    """Our segment codec for a level imagecodecs' codecs cannot decode, or ValueError."""
    if whole_pages:
        raise _refuse(keyframe, "chunkmode 2 (whole pages) with the TIFF segment codec")
    unsupported = keyframe.decoder.unsupported
    if unsupported is not None:
        raise _refuse(keyframe, unsupported)
    # one configuration serves every page: all must decode alike
    key = (coding_key(keyframe), keyframe.jpegtables, keyframe.jpegheader)
    for page in level_pages:
        if page is None or page is keyframe:
            continue
        if (coding_key(page), page.jpegtables, page.jpegheader) != key:
            raise _refuse(page, "pages of differing shape or coding in one series")
    config = segment_config(keyframe, fill)
    return ChunkCoding((), config, image=True, dtype=keyframe.dtype.newbyteorder("="))


def _codings(
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
            raise _refuse(keyframe, "chunks of several strips or tiles (chunkshape)")
        try:
            _check_level(level.series.pages, keyframe, whole_pages)
            coding = chunk_coding(keyframe, whole_page=whole_pages, compressors=compressors)
        except ValueError:
            if portable:
                raise
            coding = _segment_coding(level.series.pages, keyframe, whole_pages, store.fillvalue)
        codings.append(coding)
    return codings


def _ours(coding: ChunkCoding) -> bool:
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


def _chunk_refs(
    store: ZarrTiffStore,
    seq: _Sequence,
    target: Callable[[TiffPage], str],
    codings: list[ChunkCoding],
    portable: bool = True,
) -> Iterator[tuple[str, list[Any]]]:
    """(key, [target, offset, length]) of every stored chunk; sparse ones read as fill.

    The keys are the store's own, with the sequence's index leading.  Unless portable, a
    level with a truncated raw segment switches to our codec in codings, which decodes it
    as the reader does: what it holds, then the fill value."""
    index = store.index
    for location in index.chunks(lead=seq.index):
        ref, page = location.ref, location.page
        level = index.levels[ref.level]
        keyframe = level.keyframe
        found = location.byte_range
        offset, length = _page_range(page) if found is None else found
        raw = keyframe.codec is not None and keyframe.codec.role is Role.RAW
        # our codec reads the stored bytes as they are; imagecodecs' a whole raw chunk
        if raw and not _ours(codings[ref.level]):
            expected = index.chunk_nbytes(ref.level)
            if length >= expected:
                length = expected
            elif portable:
                raise _refuse(page, f"an incomplete chunk (segment {ref.segment} truncated)")
            else:
                codings[ref.level] = _segment_coding(  # earlier chunks decode alike through it
                    level.series.pages, keyframe, level.grid.whole_pages, store.fillvalue
                )
        yield location.key, [target(page), offset, length]


def _file_name(source: ByteSource) -> str:
    return os.path.basename(source.path) if source.path else source.name


def _target(store: ZarrTiffStore, url: str | None) -> tuple[str, str]:
    """(url of the directory, file name) of the TIFF, for references and templates."""
    name = _file_name(home_source(store.series))
    base = "" if url is None else url
    if base and not base.endswith("/"):
        base += "/"
    return base, name


def _format_store(store: ZarrTiffStore, zarr_format: ZarrFormat | None) -> ZarrTiffStore:
    """The store, or a twin serving the other zarr format over the same series."""
    if zarr_format is None or zarr_format == store.zarr_format:
        return store
    return store.with_zarr_format(zarr_format)


def _entry(key: str, value: Any) -> str:
    if isinstance(value, dict):
        value = json.dumps(value, indent=1, allow_nan=False)
    return f" {json.dumps(key)}: {json.dumps(value)}"


def _groups(groupname: str, fmt: int) -> dict[str, str]:
    """Group documents for the root and every level of groupname."""
    parts = [p for p in groupname.strip("/").split("/") if p]
    documents: dict[str, str] = {}
    for depth in range(len(parts)):
        prefix = "".join(p + "/" for p in parts[:depth])
        if fmt == 3:
            doc: dict[str, Any] = {"zarr_format": 3, "node_type": "group", "attributes": {}}
            documents[prefix + "zarr.json"] = json.dumps(doc, indent=1)
        else:
            documents[prefix + ".zgroup"] = json.dumps({"zarr_format": 2}, indent=1)
    return documents


def _reference_entries(
    store: ZarrTiffStore,
    url: str | None,
    *,
    groupname: str | None = None,
    templatename: str | None = None,
    compressors: Mapping[int, str | None] | None = None,
    version: int = 0,
    zarr_format: ZarrFormat | None = None,
    sequence: _Sequence | None = None,
    metadata: bool = True,
    portable: bool = False,
) -> tuple[dict[str, str], dict[str, str], Iterator[str]]:
    """(templates, codecs needed, entries) of the references: metadata (if asked for),
    then chunks."""
    store = _format_store(store, zarr_format)
    seq = sequence or _Sequence((), (), ())
    base, name = _target(store, url)
    templates: dict[str, str] = {}
    if version == 1 and "{" not in name and "}" not in name:
        template = templatename or "u"
        templates[template] = base
        target = "{{" + template + "}}" + name
    else:
        target = base + name
    home = target[: len(target) - len(name)]
    # planes of a multi-file dataset point at their own file, beside the root file
    targets: dict[int, str] = {}

    def where(page: TiffPage) -> str:
        found = targets.get(id(page.source))
        if found is None:
            found = targets[id(page.source)] = home + _file_name(page.source)
        return found

    codings = _codings(store, compressors, portable)
    # chunks first: a truncated segment may change a level's codecs in the metadata
    chunks = list(_chunk_refs(store, seq, where, codings, portable))
    prefix = groupname.strip("/") + "/" if groupname and groupname.strip("/") else ""
    documents: dict[str, str] = {}
    if metadata:
        if prefix:
            documents.update(_groups(prefix, store.zarr_format))
        for key, doc in _metadata(store, seq, codings).items():
            documents[prefix + key] = json.dumps(doc, indent=1, allow_nan=False)

    def entries() -> Iterator[str]:
        for key, value in documents.items():
            yield _entry(key, value)
        for key, ref in chunks:
            yield _entry(prefix + key, ref)

    return templates, required_codecs(codings, store.zarr_format), entries()


def _create_temporary(path: str) -> tuple[int, str]:
    """A new file beside path, with the mode ``open(path, "w")`` would give it: an existing
    file's own, else 0666 less the umask, which the kernel applies (mkstemp's is 0600)."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = None
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        temporary = os.path.join(folder, f".refs-{secrets.token_hex(8)}.tmp")
        try:
            fd = os.open(temporary, flags, 0o666)
        except FileExistsError:
            continue
        if mode is not None:
            os.chmod(temporary, mode)  # os.fchmod is POSIX only
        return fd, temporary
    raise FileExistsError(f"{folder}: no free temporary name for {os.path.basename(path)}")


@contextmanager
def _output(
    jsonfile: str | os.PathLike[str] | TextIO, append: bool, close: bool
) -> Iterator[TextIO]:
    """The text file to write to; a path is written through a temporary file and renamed
    into place when the references are complete, so no reader sees half a file."""
    if not isinstance(jsonfile, (str, os.PathLike)):
        yield jsonfile
        return
    path = os.fspath(jsonfile)
    partial = path + ".partial"  # a sequence written in several calls grows here
    if append:
        if not os.path.exists(partial):
            raise ValueError(f"{path}: nothing to append to: the first file was not written")
        handle = open(partial, "a", encoding="utf-8")  # noqa: SIM115
        temporary = partial
    elif close:
        fd, temporary = _create_temporary(path)
        handle = os.fdopen(fd, "w", encoding="utf-8")
    else:
        handle = open(partial, "w", encoding="utf-8")  # noqa: SIM115
        temporary = partial
    try:
        with handle:
            yield handle
    except BaseException:
        os.unlink(temporary)
        raise
    if close:
        os.replace(temporary, path)


def write_fsspec(
    store: ZarrTiffStore,
    jsonfile: str | os.PathLike[str] | TextIO,
    /,
    url: str | None,
    *,
    groupname: str | None = None,
    templatename: str | None = None,
    compressors: Mapping[int, str | None] | None = None,
    version: int | None = None,
    zarr_format: ZarrFormat | None = None,
    portable: bool = False,
    _shape: Sequence[int] | None = None,
    _axes: Sequence[str] | None = None,
    _index: Sequence[int] | None = None,
    _append: bool = False,
    _close: bool = True,
) -> None:
    """Write the store as fsspec ReferenceFileSystem (kerchunk) JSON that opens as it does.

    url is where the TIFF lives, without its file name; version 0 is a flat mapping,
    1 uses templatename ('u') for the url.  ValueError names what cannot be referenced.
    ``_shape``, ``_axes``, ``_index``, ``_append`` and ``_close`` join the files of a
    sequence into one array (see write_sequence).
    """
    version = 0 if version is None else int(version)
    if version not in (0, 1):
        raise ValueError(f"version must be 0 or 1, not {version}")
    seq = _Sequence.parse(_shape, _axes, _index)
    # everything that may be refused is refused before the first byte is written
    templates, codecs, entries = _reference_entries(
        store,
        url,
        groupname=groupname,
        templatename=templatename,
        compressors=compressors,
        version=version,
        zarr_format=zarr_format,
        sequence=seq,
        metadata=not _append,
        portable=portable,
    )
    lines = list(entries)  # a truncated segment is refused here, before any output
    with _output(jsonfile, _append, _close) as out:
        if not _append:
            if version == 1:
                out.write('{\n "version": 1,\n "templates": ')
                out.write(json.dumps(templates))
                # which codecs a reader needs; fsspec reads only version, templates, gen, refs
                out.write(',\n "codecs": ')
                out.write(json.dumps(codecs))
                out.write(',\n "gen": [],\n "refs": {\n')
            else:
                out.write("{\n")
            separator = ""
        else:
            separator = ",\n"
        if lines:
            out.write(separator + ",\n".join(lines))
        if _close:
            out.write("\n }\n}\n" if version == 1 else "\n}\n")


def write_sequence(
    jsonfile: str | os.PathLike[str] | TextIO,
    stores: Sequence[ZarrTiffStore],
    /,
    url: str | None,
    *,
    axis: str = "I",
    **kwargs: Any,
) -> None:
    """Join the stores of a sequence of files along a new leading axis, refusing files whose
    array differs from the first's (shape, type, chunks or codecs)."""
    if not stores:
        raise ValueError("no files to join")
    zarr_format = kwargs.get("zarr_format")
    compressors = kwargs.get("compressors")
    portable = bool(kwargs.get("portable", False))
    first: dict[str, str] | None = None
    for store in stores:
        twin = _format_store(store, zarr_format)
        codings = _codings(twin, compressors, portable)
        metadata = _metadata(twin, _Sequence((), (), ()), codings)
        arrays = {k: _array_signature(v) for k, v in metadata.items() if _is_array(k, v)}
        if first is None:
            first = arrays
        elif arrays != first:
            name = store.series.keyframe.source.name
            raise ValueError(f"{name}: its array differs from the first file's: cannot join")
    count = len(stores)
    try:
        for index, store in enumerate(stores):
            write_fsspec(
                store,
                jsonfile,
                url,
                _shape=[count],
                _axes=[axis],
                _index=[index],
                _append=index > 0,
                _close=index == count - 1,
                **kwargs,
            )
    except BaseException:
        if isinstance(jsonfile, (str, os.PathLike)):
            with suppress(FileNotFoundError):
                os.unlink(os.fspath(jsonfile) + ".partial")
        raise


def _is_array(key: str, document: Mapping[str, Any]) -> bool:
    return key.endswith(".zarray") or document.get("node_type") == "array"


def _array_signature(document: Mapping[str, Any]) -> str:
    """What must agree for files to join: everything but attributes and names."""
    keep = {
        k: v
        for k, v in document.items()
        if k not in ("attributes", "dimension_names", "_ARRAY_DIMENSIONS")
    }
    return json.dumps(keep, sort_keys=True)
