"""Writing the references: the JSON written whole or not at all, and the one signature of
``write_fsspec`` (the store's method of that name passes its options through)."""

from __future__ import annotations

import json
import os
import secrets
import stat
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, TextIO, TypedDict, Unpack

from .coding import level_codings
from .entries import format_store, metadata_documents, reference_entries
from .sequences import Placement, array_signature, is_array

if TYPE_CHECKING:
    from ..store.config import Layout, ZarrFormat
    from ..store.store import ZarrTiffStore

__all__ = [
    "FsspecOptions",
    "ReferenceOptions",
    "check_output_folder",
    "write_fsspec",
    "write_sequence",
]


class ReferenceOptions(TypedDict, total=False):
    """The keyword options of :func:`write_fsspec` and :func:`write_sequence`, as tifffile
    names them, and ours."""

    groupname: str | None  # the group the arrays go in; None: the root
    templatename: str | None  # version 1's template name for the url ('u')
    # TIFF compression -> numcodecs id, over DEFAULT_COMPRESSORS; None refuses it
    compressors: Mapping[int, str | None] | None
    version: int | None  # 0: a flat mapping; 1: templates, and the codecs a reader needs
    zarr_format: ZarrFormat | None  # None: the store's own
    # 'tifffile': tifffile's shape and axes; 'ngff': OME-NGFF's order and names, as a
    # multiscales group (zarr 3 reorders through its transpose codec); None: the store's
    layout: Layout | None
    # imagecodecs' codecs only, refusing what they cannot decode; otherwise our TIFF
    # segment codec decodes those levels
    portable: bool


class FsspecOptions(ReferenceOptions, total=False):
    """All of :func:`write_fsspec`'s keyword options: the reference options and the
    multi-file API's."""

    # the multi-file API: this file's place in a sequence joined along new leading axes
    # (see write_sequence), and whether this call starts or ends the JSON
    _shape: Sequence[int] | None
    _axes: Sequence[str] | None
    _index: Sequence[int] | None
    _append: bool
    _close: bool


def check_output_folder(output: str | os.PathLike[str]) -> None:
    """The output's folder must exist. Said before anything is written, and naming the
    folder: otherwise the first error would name the temporary file beside the output."""
    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(folder):
        what = "is not a folder" if os.path.exists(folder) else "does not exist"
        raise FileNotFoundError(f"{os.fspath(output)}: the folder {folder} {what}")


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
    check_output_folder(path)
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
    **options: Unpack[FsspecOptions],
) -> None:
    """Write the store as fsspec ReferenceFileSystem (kerchunk) JSON that opens as it does.

    url is where the TIFF lives, without its file name; the options are FsspecOptions'.
    ValueError names what cannot be referenced, before anything is written.
    """
    version = options.get("version")
    version = 0 if version is None else int(version)
    if version not in (0, 1):
        raise ValueError(f"version must be 0 or 1, not {version}")
    append = options.get("_append", False)
    close = options.get("_close", True)
    seq = Placement.parse(options.get("_shape"), options.get("_axes"), options.get("_index"))
    # everything that may be refused is refused before the first byte is written
    templates, codecs, entries = reference_entries(
        store,
        url,
        groupname=options.get("groupname"),
        templatename=options.get("templatename"),
        compressors=options.get("compressors"),
        version=version,
        zarr_format=options.get("zarr_format"),
        layout=options.get("layout"),
        sequence=seq,
        metadata=not append,
        portable=options.get("portable", False),
    )
    lines = list(entries)  # a truncated segment is refused here, before any output
    with _output(jsonfile, append, close) as out:
        if not append:
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
        if close:
            out.write("\n }\n}\n" if version == 1 else "\n}\n")


def write_sequence(
    jsonfile: str | os.PathLike[str] | TextIO,
    stores: Sequence[ZarrTiffStore],
    /,
    url: str | None,
    *,
    axis: str = "I",
    **options: Unpack[ReferenceOptions],
) -> None:
    """Join the stores of a sequence of files along a new leading axis, refusing files whose
    array differs from the first's (shape, type, chunks or codecs)."""
    if not stores:
        raise ValueError("no files to join")
    if isinstance(jsonfile, (str, os.PathLike)):
        check_output_folder(jsonfile)  # before every file's metadata is built
    zarr_format = options.get("zarr_format")
    compressors = options.get("compressors")
    portable = bool(options.get("portable", False))
    first: dict[str, str] | None = None
    for store in stores:
        twin = format_store(store, zarr_format, options.get("layout"))
        codings = level_codings(twin, compressors, portable)
        metadata = metadata_documents(twin, Placement((), (), ()), codings)
        arrays = {k: array_signature(v) for k, v in metadata.items() if is_array(k, v)}
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
                **options,
                _shape=[count],
                _axes=[axis],
                _index=[index],
                _append=index > 0,
                _close=index == count - 1,
            )
    except BaseException:
        if isinstance(jsonfile, (str, os.PathLike)):
            with suppress(FileNotFoundError):
                os.unlink(os.fspath(jsonfile) + ".partial")
        raise
