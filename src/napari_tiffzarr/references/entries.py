"""What the references hold: the store's metadata documents with the codecs put in, and
``[url, offset, length]`` for every stored chunk.

The metadata documents are the store's own, so the references open exactly as the store
does; a sequence's file gets the sequence's leading axes and index in front.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..sources import ByteSource
from ..store.location import home_source
from ..store.names import lead_axes
from ..tiff.codecs import Role
from ..tiff.page import TiffPage
from .coding import (
    ChunkCoding,
    is_segment_coding,
    level_codings,
    refuse,
    required_codecs,
    segment_coding,
)
from .sequences import Placement, lead_multiscales

if TYPE_CHECKING:
    from ..store.config import Layout, ZarrFormat
    from ..store.store import ZarrTiffStore

__all__ = ["format_store", "metadata_documents", "reference_entries"]


def _page_range(page: TiffPage) -> tuple[int, int]:
    """The byte range of a whole raw page stored contiguously, for chunkmode 2."""
    ranges = page.segment_ranges()
    if any(r is None for r in ranges):
        raise refuse(page, "chunkmode 2 (whole pages) over sparse strips or tiles")
    spans = [r for r in ranges if r is not None]
    start = spans[0][0]
    end = start
    for offset, length in spans:
        if offset != end:
            raise refuse(page, "chunkmode 2 (whole pages) over data not stored contiguously")
        end += length
    layout = page.layout
    whole_rows = layout.shaped[3] == layout.segment[2] and layout.shaped[1] == 1
    if layout.tiled and not whole_rows:
        raise refuse(page, "chunkmode 2 (whole pages) over tiles narrower than the image")
    needed = page.nbytes_stored
    if end - start < needed:
        raise refuse(page, "chunkmode 2 (whole pages) over a truncated page")
    return (start, needed)


def metadata_documents(
    store: ZarrTiffStore,
    seq: Placement,
    codings: Sequence[ChunkCoding],
) -> dict[str, dict[str, Any]]:
    """The store's metadata documents with codecs, and the sequence's leading axes."""
    index = store.index
    documents = {key: json.loads(value) for key, value in index.metadata.items()}
    fmt = store.zarr_format
    lead = list(seq.shape)
    # the leading axes, named once as the layout names the served axes: every array's
    # dimension names and the multiscales axes get the same
    lead_named = lead_axes(seq.axes, [axis.name for axis in index.named_axes], store.config.layout)
    lead_names = [axis.name for axis in lead_named]
    for key, document in documents.items():
        head, _, name = key.rpartition("/")
        level = int(head) if head else 0
        if name == ".zattrs" and "_ARRAY_DIMENSIONS" in document:
            document["_ARRAY_DIMENSIONS"] = lead_names + document["_ARRAY_DIMENSIONS"]
        elif name == ".zarray":
            document.update(codings[level].zarr2())
            document["shape"] = lead + document["shape"]
            document["chunks"] = [1] * len(lead) + document["chunks"]
        elif fmt == 3 and document.get("node_type") == "array":
            # the served order's transpose stays first: the chunks' bytes are the TIFF's
            transpose = [
                _lead_transpose(codec, len(lead))
                for codec in document["codecs"]
                if codec["name"] == "transpose"
            ]
            document["codecs"] = transpose + codings[level].zarr3()
            document["shape"] = lead + document["shape"]
            grid = document["chunk_grid"]["configuration"]
            grid["chunk_shape"] = [1] * len(lead) + grid["chunk_shape"]
            document["dimension_names"] = lead_names + (document.get("dimension_names") or [])
        if seq.shape and name in ("zarr.json", ".zattrs"):
            lead_multiscales(document.get("attributes", document), lead_named)
    return documents


def _lead_transpose(codec: Mapping[str, Any], count: int) -> dict[str, Any]:
    """A transpose codec with count leading dimensions in front, left where they are."""
    order = list(range(count)) + [count + i for i in codec["configuration"]["order"]]
    return {"name": "transpose", "configuration": {"order": order}}


def _chunk_refs(
    store: ZarrTiffStore,
    seq: Placement,
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
        if raw and not is_segment_coding(codings[ref.level]):
            expected = index.chunk_nbytes(ref.level)
            if length >= expected:
                length = expected
            elif portable:
                raise refuse(page, f"an incomplete chunk (segment {ref.segment} truncated)")
            else:
                codings[ref.level] = segment_coding(  # earlier chunks decode alike through it
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


def format_store(
    store: ZarrTiffStore, zarr_format: ZarrFormat | None, layout: Layout | None = None
) -> ZarrTiffStore:
    """The store, or a twin serving the other zarr format or layout over the same series."""
    if zarr_format is not None and zarr_format != store.zarr_format:
        store = store.with_zarr_format(zarr_format)
    if layout is not None and layout != store.config.layout:
        store = store.with_layout(layout)
    return store


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


def reference_entries(
    store: ZarrTiffStore,
    url: str | None,
    *,
    groupname: str | None = None,
    templatename: str | None = None,
    compressors: Mapping[int, str | None] | None = None,
    version: int = 0,
    zarr_format: ZarrFormat | None = None,
    layout: Layout | None = None,
    sequence: Placement | None = None,
    metadata: bool = True,
    portable: bool = False,
) -> tuple[dict[str, str], dict[str, str], Iterator[str]]:
    """(templates, codecs needed, entries) of the references: metadata (if asked for),
    then chunks."""
    store = format_store(store, zarr_format, layout)
    seq = sequence or Placement((), (), ())
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

    codings = level_codings(store, compressors, portable)
    # chunks first: a truncated segment may change a level's codecs in the metadata
    chunks = list(_chunk_refs(store, seq, where, codings, portable))
    prefix = groupname.strip("/") + "/" if groupname and groupname.strip("/") else ""
    documents: dict[str, str] = {}
    if metadata:
        if prefix:
            documents.update(_groups(prefix, store.zarr_format))
        for key, doc in metadata_documents(store, seq, codings).items():
            documents[prefix + key] = json.dumps(doc, indent=1, allow_nan=False)

    def entries() -> Iterator[str]:
        for key, value in documents.items():
            yield _entry(key, value)
        for key, ref in chunks:
            yield _entry(prefix + key, ref)

    return templates, required_codecs(codings, store.zarr_format), entries()
