"""The command line: ``napari-tiffzarr info FILE``, ``refs FILE ... -o OUT.json [--url URL]``,
``demo`` and ``use-as-default [--undo]``.

It behaves as Unix tools do: quiet when the reader of its output goes away (``| head``)
or on Ctrl-C, with the exit status a shell reports for those (141, 130).
"""

from __future__ import annotations

import argparse
import enum
import json
import os
import signal
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from . import __version__
from .errors import TiffFileError
from .tiff.file import TiffFile
from .tiff.page import TiffPage
from .tiff.sequence import TiffSequence, open_tiff
from .tiff.series import TiffPageSeries
from .tiff.tags import Compression, Photometric, Predictor, enum_or_int

if TYPE_CHECKING:
    from .store.config import Layout, ZarrFormat

__all__ = ["build_parser", "file_info", "main"]

# Pages are listed up to this many; files may have 100,000 of them.
MAX_LISTED_PAGES = 20
# What a shell reports for a process ended by SIGPIPE or SIGINT: 128 + the signal
# (SIGPIPE is 13 where the platform has none to name, as on Windows).
EXIT_PIPE = 128 + int(getattr(signal, "SIGPIPE", 13))
EXIT_INTERRUPT = 128 + int(signal.SIGINT)


def _error(subject: str, exc: BaseException) -> None:
    """``napari-tiffzarr: SUBJECT: problem``, the subject said once where the message
    starts with it already (a URL's errors name it)."""
    text = str(exc)
    if not text.startswith(subject):
        text = f"{subject}: {text}"
    print(f"napari-tiffzarr: {text}", file=sys.stderr)


def _plural(count: int, noun: str) -> str:
    """'1 page', '2 pages'."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _name(kind: Any, value: int) -> str:
    member = enum_or_int(kind, int(value))
    return member.name if isinstance(member, enum.Enum) else str(member)


def page_info(page: TiffPage) -> dict[str, Any]:
    """What a page is, from its tags alone: no pixel is decoded."""
    return {
        "index": page.index,
        "shape": list(page.shape),
        "dtype": str(page.dtype),
        "axes": page.axes,
        "storage": page.storage,
        "chunk": list(page.chunks),
        "compression": _name(Compression, page.compression),
        "predictor": _name(Predictor, page.predictor),
        "photometric": _name(Photometric, page.photometric),
        "reduced": page.is_reduced,
    }


def file_info(tif: TiffFile) -> dict[str, Any]:
    pages = tif.pages
    count = len(pages)
    if not count:
        pages.first()  # a file without pages: raises TiffNoPagesError, saying why
    listed = []
    for page in pages[:MAX_LISTED_PAGES]:
        try:
            listed.append(page_info(page))
        except TiffFileError as exc:
            listed.append({"index": page.index, "error": str(exc)})
    return {
        "file": tif.filename,
        "size": tif.filesize,
        "byteorder": "little" if tif.byteorder == "<" else "big",
        "bigtiff": tif.is_bigtiff,
        "pages": count,
        "listed_pages": listed,
        "series": [series_info(item) for item in tif.series],
    }


def series_info(item: TiffPageSeries) -> dict[str, Any]:
    return {
        "index": item.index,
        "kind": item.kind,
        "name": item.name,
        "shape": list(item.shape),
        "dtype": str(item.dtype),
        "axes": item.axes,
        "levels": [list(level.shape) for level in item.levels],
        "physical_sizes": {ax: list(v) for ax, v in item.physical_sizes.items()},
        "layouts": layouts_info(item),
    }


# what `info` tells of the store's layouts: ZarrTiffStore's default, and NGFF's in each format
_LAYOUTS: tuple[tuple[Layout, ZarrFormat], ...] = (("tifffile", 3), ("ngff", 3), ("ngff", 2))


def layouts_info(item: TiffPageSeries) -> dict[str, Any]:
    """The axes and shape the store serves in each layout, and what stops the metadata
    being valid OME-NGFF (nothing, where they are)."""
    from .store.config import StoreConfig
    from .store.index import ChunkIndex

    layouts: dict[str, Any] = {}
    for layout, fmt in _LAYOUTS:
        name = layout if layout == "tifffile" else f"{layout}, zarr {fmt}"
        try:
            config = StoreConfig.resolve(
                len(item.levels),
                level=None,
                multiscales=None,
                chunkmode=None,
                zattrs=None,
                zarr_format=fmt,
                on_error="raise",
                layout=layout,
            )
            index = ChunkIndex(item, config)
            layouts[name] = {
                "axes": index.axes,
                "shape": list(index.levels[0].grid.shape),
                "ngff_problems": index.ngff_problems,
            }
        except TiffFileError as exc:
            layouts[name] = {"error": str(exc)}
    return layouts


def files_to_check(count: int, every: bool) -> list[int]:
    """Which files to compare with the first: all of them, or the cheap sample (the
    middle and the last), where files written by one acquisition differ if any do."""
    if every:
        return list(range(1, count))
    return sorted({i for i in (count // 2, count - 1) if i > 0})


def sequence_info(sequence: TiffSequence, *, check_all: bool = False) -> dict[str, Any]:
    """A folder or pattern of TIFF files: how many, the first one, the series they make
    together, and which of the files checked differ from the first."""
    checked = files_to_check(len(sequence.files), check_all)
    unlike = sequence.unlike(checked)
    return {
        "sequence": sequence.filename,
        "files": len(sequence.files),
        "first": file_info(sequence.first),
        "series": [series_info(item) for item in sequence.series],
        "checked": [sequence.files[i] for i in checked],
        "differ": [{"file": sequence.files[i], "problem": unlike[i]} for i in sorted(unlike)],
    }


def _print_info(info: dict[str, Any]) -> None:
    kind = "BigTIFF" if info["bigtiff"] else "classic TIFF"
    print(
        f"{info['file']}: {kind}, {info['byteorder']}-endian, {info['size']:,} bytes, "
        f"{_plural(info['pages'], 'page')}"
    )
    for page in info["listed_pages"]:
        if "error" in page:
            print(f"  page {page['index']}: {page['error']}")
            continue
        print(
            f"  page {page['index']}: {tuple(page['shape'])} {page['dtype']} {page['axes']}, "
            f"{page['storage']} {tuple(page['chunk'])}, {page['compression']}, "
            f"predictor {page['predictor']}, {page['photometric']}"
            + (", reduced" if page["reduced"] else "")
        )
    if info["pages"] > len(info["listed_pages"]):
        more = info["pages"] - len(info["listed_pages"])
        print(f"  ... {_plural(more, 'more page')}")
    _print_series(info["series"])


def _print_series(found: list[dict[str, Any]]) -> None:
    for series in found:
        name = f" {series['name']!r}" if series["name"] else ""
        print(
            f"series {series['index']}: {series['kind']}{name} {tuple(series['shape'])} "
            f"{series['dtype']} {series['axes']}"
        )
        for index, shape in enumerate(series["levels"]):
            print(f"  level {index}: {tuple(shape)}")
        for name, served in series["layouts"].items():
            _print_layout(name, served)


def _print_layout(name: str, served: dict[str, Any]) -> None:
    """One line per layout: what the store serves, and whether it is valid NGFF."""
    layout, _, fmt = name.partition(", ")
    title = (
        "tifffile's layout (ZarrTiffStore's default)"
        if layout == "tifffile"
        else f"NGFF's layout, {fmt}"
    )
    if "error" in served:
        print(f"  as {title}: {served['error']}")
        return
    text = f"  as {title}: {served['axes']} {tuple(served['shape'])}"
    if layout != "tifffile":
        version = "0.5" if fmt.endswith("3") else "0.4"
        problems = served["ngff_problems"]
        text += f", valid OME-NGFF {version}" if not problems else f", not OME-NGFF {version}: "
        text += "; ".join(problems)
    print(text)


def _print_checks(info: dict[str, Any], check_all: bool) -> None:
    checked, differ = len(info["checked"]), info["differ"]
    if not checked:
        return
    how = "every file" if check_all else f"{_plural(checked, 'file')} of {info['files']:,}"
    if not differ:
        more = "" if check_all else " (--check compares every file)"
        print(f"checked {how} against the first: alike{more}")
        return
    verb = "differs" if len(differ) == 1 else "differ"
    print(
        f"checked {how} against the first: {_plural(len(differ), 'file')} {verb}, so the "
        "files do not make one series:"
    )
    for item in differ:
        print(f"  {item['problem']}")


def _info(args: argparse.Namespace) -> int:
    try:
        with open_tiff(args.file) as opened:
            if isinstance(opened, TiffSequence):
                info = sequence_info(opened, check_all=args.check)
            else:
                info = file_info(opened)
    except (TiffFileError, OSError) as exc:
        _error(args.file, exc)
        return 1
    if args.json:
        print(json.dumps(info, indent=2))
    elif "sequence" in info:
        print(f"{info['sequence']}: {_plural(info['files'], 'TIFF file')}, the first:")
        _print_info({**info["first"], "series": []})
        _print_series(info["series"])
        _print_checks(info, args.check)
    else:
        _print_info(info)
    return 1 if info.get("differ") else 0


def _files_url(files: Sequence[str], output: str, relative: bool) -> str:
    """Where local files live, for references without --url: their folder as an absolute
    file:// URL, or as a path relative to the output's folder."""
    folders = {os.path.dirname(os.path.abspath(f)) for f in files}
    if len(folders) > 1:
        raise ValueError("files in several folders: give --url, the folder readers find them in")
    folder = folders.pop()
    if not relative:
        return Path(folder).as_uri()
    path = os.path.relpath(folder, os.path.dirname(os.path.abspath(output)))
    return "" if path == "." else Path(path).as_posix()


def _urls_folder(urls: Sequence[str]) -> str:
    """Where files given by URL live: the folder their URLs name, if they share one."""
    folders = set()
    for url in urls:
        parts = urlsplit(url)
        if parts.query or parts.fragment:
            raise ValueError(f"{url}: a URL with a query: give --url, the folder's URL")
        folders.add(url.rsplit("/", 1)[0])
    if len(folders) > 1:
        raise ValueError("URLs in several folders: give --url, the folder readers find them in")
    return folders.pop()


def _refs(args: argparse.Namespace) -> int:
    """Write the references of one file, or of several joined along a new leading axis."""
    from .references import check_output_folder, write_sequence
    from .store import ZarrTiffStore

    try:
        if args.url is not None and args.relative:
            raise ValueError("--relative applies only without --url")
        remote = ["://" in f for f in args.files]
        if args.url is None and any(remote) and not all(remote):
            raise ValueError("local files and URLs together: give --url")
        if args.relative and any(remote):
            raise ValueError("--relative applies only to local files")
        check_output_folder(args.output)
        url = args.url
        if url is None and any(remote):
            url = _urls_folder(args.files)
        with ExitStack() as stack:
            files, stores = args.files, []
            for path in args.files:
                opened = open_tiff(path)
                stack.callback(opened.close)
                if isinstance(opened, TiffSequence):
                    if len(args.files) > 1:
                        raise ValueError(f"{path}: a folder or pattern is referenced alone")
                    files = opened.files  # their folder is where readers find them
                if not -len(opened.series) <= args.series < len(opened.series):
                    raise ValueError(f"{path}: no series {args.series}")
                store = ZarrTiffStore(
                    opened.series[args.series], zarr_format=args.zarr_format, layout=args.layout
                )
                stores.append(store)
            if url is None:
                url = _files_url(files, args.output, args.relative)
            options = {
                "version": args.version,
                "zarr_format": args.zarr_format,
                "portable": args.portable,
            }
            if len(stores) == 1:
                stores[0].write_fsspec(args.output, url, **options)
            else:
                write_sequence(args.output, stores, url, **options)
    except (ValueError, OSError) as exc:  # TiffFileError is a ValueError
        hint = ""
        if args.portable and "cannot be represented" in str(exc):
            hint = " (without --portable, napari-tiffzarr's TIFF segment codec decodes it)"
        print(f"napari-tiffzarr: {exc}{hint}", file=sys.stderr)
        return 1
    print(f"{args.output}: references to {_plural(len(files), 'file')}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    """Open napari with the sample slide (or FILE) and the widget docked; return when the
    window closes, or at once with --screenshot.

    The one place outside plugin/ that imports napari: this command starts a viewer.
    """
    import napari

    from .tiff.sample import sample_path

    path = args.file or sample_path()
    viewer = napari.Viewer()
    try:
        return _show(viewer, path, args)
    except KeyboardInterrupt:
        # Ctrl-C: napari's event loop quits and hands the interrupt on; the window goes
        # with it, and main() ends quietly, as a shell expects
        viewer.close()
        raise


def _show(viewer: Any, path: str, args: argparse.Namespace) -> int:
    import napari

    try:
        viewer.open(path, plugin="napari-tiffzarr")
    except (ValueError, OSError) as exc:  # TiffFileError is a ValueError
        viewer.close()
        _error(path, exc)
        return 1
    # the plugin's one widget, through napari's own Plugins menu action (cli and plugin are
    # sibling layers): the dock takes the menu's title, and the menu item toggles it; the
    # widget keeps the slide fitted while the canvas settles: its dock, the window's size
    from app_model import Application

    Application.get_or_create("napari").commands.execute_command("napari-tiffzarr.make_widget")
    if args.screenshot:
        from napari.qt import get_qapp  # Qt through napari's own handle, not qtpy

        width, height = args.size
        viewer.window.resize(width, height)
        app = get_qapp()
        for _ in range(40):  # let the visible tiles load and draw before the picture
            app.processEvents()
            time.sleep(0.05)
        viewer.window.screenshot(args.screenshot, canvas_only=False, flash=False)
        viewer.close()
        return 0
    print("napari is open; close its window (or press Ctrl-C) to return here", file=sys.stderr)
    napari.run()
    return 0


def _use_as_default(args: argparse.Namespace) -> int:
    """Make napari open TIFFs with this plugin (napari's reader preference), or undo it."""
    # the plugin owns napari's settings; this command only asks it (imported here, so the
    # other commands never import napari)
    from .plugin._default_reader import default_patterns, undo_default, use_as_default

    try:
        changed = undo_default() if args.undo else use_as_default()
    except (ValueError, OSError) as exc:
        _error("napari's settings", exc)
        return 1
    names = " ".join(changed)
    if args.undo:
        if changed:
            print(f"napari's reader choice is back as it was for {names}")
        else:
            print("napari's reader choice for TIFF files did not point at napari-tiffzarr")
    elif changed:
        print(f"napari now opens {names} with napari-tiffzarr (--undo puts back its choice)")
    else:
        print(f"napari already opens {' '.join(default_patterns())} with napari-tiffzarr")
    return 0


def _size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    try:
        return int(width), int(height)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="napari-tiffzarr", description="Browse multiscale TIFFs lazily as Zarr."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    info = commands.add_parser("info", help="print pages, series, levels, chunks, compression")
    info.add_argument("file", help="a TIFF file, a folder of TIFF files or a glob pattern")
    info.add_argument("--json", action="store_true", help="print JSON instead of text")
    info.add_argument(
        "--check",
        action="store_true",
        help="a folder or pattern: compare every file with the first (by default the middle "
        "and the last file are); exits 1 when they differ",
    )
    info.set_defaults(run=_info)
    refs = commands.add_parser(
        "refs",
        help="write fsspec reference (kerchunk) JSON; several files join along a new axis",
    )
    refs.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="TIFF files, or one folder of TIFF files or glob pattern: the series they make",
    )
    refs.add_argument("-o", "--output", required=True, help="the JSON file to write")
    refs.add_argument(
        "--url",
        help="where the files live, without file names (default: local files' folder, "
        "as an absolute file:// URL)",
    )
    refs.add_argument(
        "--relative",
        action="store_true",
        help="without --url: the files' folder relative to the output's; readers resolve "
        "it against their working directory",
    )
    refs.add_argument(
        "--portable",
        action="store_true",
        help="only imagecodecs' codecs: refuse what needs napari-tiffzarr's TIFF segment codec",
    )
    refs.add_argument(
        "--version", type=int, choices=(0, 1), default=1, help="1 (templates, default) or 0"
    )
    # format 2 by default: kerchunk's own; with --portable it opens wherever imagecodecs'
    # numcodecs are registered, while format 3 needs napari-tiffzarr's zarr 3 wrappers
    refs.add_argument(
        "--zarr-format", type=int, choices=(2, 3), default=2, help="2 (default) or 3"
    )
    refs.add_argument("--series", type=int, default=0, help="which series of each file")
    refs.add_argument(
        "--layout",
        choices=("tifffile", "ngff"),
        default="tifffile",
        help="tifffile's shape and axes (default), or OME-NGFF's axis order and names as a "
        "multiscales group (valid OME-Zarr for every file with --zarr-format 3)",
    )
    refs.set_defaults(run=_refs)
    demo = commands.add_parser(
        "demo",
        help="open napari with a sample slide and the widget; returns when the window closes",
    )
    demo.add_argument("file", nargs="?", help="a TIFF to open instead of the sample")
    demo.add_argument(
        "--screenshot", metavar="PNG", help="save a picture of the window there and quit"
    )
    demo.add_argument(
        "--size",
        type=_size,
        default=(1280, 800),
        metavar="WxH",
        help="the window's size for --screenshot (default 1280x800)",
    )
    demo.set_defaults(run=_demo)
    default = commands.add_parser(
        "use-as-default",
        help="make napari open TIFF files with napari-tiffzarr, without asking",
        description="Write napari's own reader preference (Preferences > Plugins) so that "
        "drag and drop, File > Open, `napari FILE` and viewer.open(path, plugin=None) use "
        "napari-tiffzarr for TIFF files; napari's choice before is remembered beside its "
        "settings, and --undo puts it back.",
    )
    default.add_argument("--undo", action="store_true", help="put back what napari chose before")
    default.set_defaults(run=_use_as_default)
    return parser


def _quiet_stdout() -> None:
    """Whatever is still buffered for a reader that has gone is dropped: without this,
    Python's flush at exit reports the closed pipe once more."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.run(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler below
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_PIPE
    except KeyboardInterrupt:
        return EXIT_INTERRUPT
    return result


if __name__ == "__main__":
    sys.exit(main())
