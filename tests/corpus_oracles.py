"""What the trusted readers make of a corpus file: tifffile first, then libtiff's
``tiff2rgba`` and GDAL's ``gdal_translate`` where tifffile gives no image.

A reader *reads* a page when it returns an array holding the page's declared number of
samples; tifffile's empty placeholders for pages it cannot decode (an 83-bit sample, an
IFD without entries) are not reads.  A tool reads a file when it exits cleanly: libtiff's
diagnostics on the way all warnings, GDAL's no ERROR.
"""

from __future__ import annotations

import logging
import math
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import tifffile

__all__ = [
    "CORPUS",
    "LIBTIFF_SAMPLE_CODECS",
    "PageFacts",
    "ToolImage",
    "corpus_files",
    "libtiff_samples",
    "tifffile_pages",
    "tool_image",
]

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


class PageFacts(NamedTuple):
    shape: tuple[int, ...]
    axes: str
    array: np.ndarray


class ToolImage(NamedTuple):
    tool: str  # "tiffcp", "tiff2rgba" or "gdal_translate"
    # libtiff's samples as the page declares them (tiffcp), RGBA from libtiff (tiff2rgba),
    # GDAL's bands as its GeoTIFF output stores them
    array: np.ndarray


# Compressions whose pixels libtiff decodes to the samples the page declares, where
# tiff2rgba would convert them for display (SGI LogLuv to tone-mapped 8-bit RGB): for
# these the oracle is libtiff's ``tiffcp -c none``, read back by tifffile
LIBTIFF_SAMPLE_CODECS = (32809, 34676, 34677)  # ThunderScan, SGILOG, SGILOG24


def corpus_files() -> list[str]:
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.is_file():
        return []
    return [line.split("\t", 1)[0] for line in manifest.read_text().splitlines()[1:] if line]


def tifffile_pages(path: Path) -> tuple[list[PageFacts | Exception], Exception | None]:
    """tifffile's reading of every page (or why it gives no image of it), and why it
    cannot open the file, if it cannot."""
    pages: list[PageFacts | Exception] = []
    logging.getLogger("tifffile").setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings(), tifffile.TiffFile(path) as tif:
            warnings.simplefilter("ignore")
            for index in range(len(tif.pages)):  # counted first: iterating a loop never ends
                try:
                    page = tif.pages[index]
                    page = page.aspage() if not isinstance(page, tifffile.TiffPage) else page
                    array = page.asarray()
                except Exception as exc:  # tifffile fails on this page in its own way
                    pages.append(exc)
                    continue
                if array.size != math.prod(page.shape):
                    pages.append(ValueError(f"no image: {array.shape} for {page.shape}"))
                else:
                    pages.append(PageFacts(page.shape, page.axes, array))
    except Exception as exc:  # tifffile cannot open it
        return pages, exc
    return pages, None


def _run(command: list[str]) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(command, check=False, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return None


def _clean(done: subprocess.CompletedProcess[str] | None, tool: str) -> bool:
    if done is None or done.returncode != 0:
        return False
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    if tool == "gdal_translate":
        return not any("ERROR" in line for line in lines)
    return all("Warning" in line for line in lines)


def libtiff_samples(path: Path, out: Path, *options: str) -> np.ndarray | None:
    """The first page's samples as libtiff decodes them (``tiffcp -c none``, read back by
    tifffile), or None where tiffcp is missing or fails (options such as ``-i``, which
    writes the strips it reads despite errors, may make it go on)."""
    program = shutil.which("tiffcp")
    if program is None:
        return None
    done = _run([program, *options, "-c", "none", f"{path},0", str(out)])
    if done is None or done.returncode != 0 or not out.is_file():
        return None
    return np.asarray(tifffile.imread(out, key=0))


def _compression(path: Path) -> int | None:
    try:
        with tifffile.TiffFile(path) as tif:
            return int(tif.pages.first.compression)
    except Exception:  # tifffile cannot open it: no page to choose an oracle for
        return None


def tool_image(path: Path) -> ToolImage | None:
    """The first page as libtiff's tiffcp (for LIBTIFF_SAMPLE_CODECS), else tiff2rgba, else
    GDAL reads it cleanly, or None."""
    with tempfile.TemporaryDirectory() as tmp:
        tools: list[tuple[str, list[str]]] = [
            ("tiff2rgba", []),
            ("gdal_translate", ["-q", "-of", "GTiff"]),
        ]
        if _compression(path) in LIBTIFF_SAMPLE_CODECS:
            tools.insert(0, ("tiffcp", ["-c", "none"]))
        for tool, extra in tools:
            program = shutil.which(tool)
            if program is None:
                continue
            out = Path(tmp) / f"{tool}.tif"
            # tiffcp copies every page unless told which: the first
            source = f"{path},0" if tool == "tiffcp" else str(path)
            done = _run([program, *extra, source, str(out)])
            if not _clean(done, tool) or not out.is_file():
                continue
            try:
                with tifffile.TiffFile(out) as tif:
                    array: Any = tif.pages[0].asarray()  # type: ignore[union-attr]
            except Exception:  # the tool wrote no image: it did not read the file
                continue
            return ToolImage(tool, np.asarray(array))
    return None


def tools_installed() -> bool:
    return shutil.which("tiff2rgba") is not None and shutil.which("gdal_translate") is not None
