"""Every series of the real files in ../shared/corpus exported as fsspec references.

Each series is exported three ways: portable (imagecodecs' codecs only), and with our
TIFF segment codec where those cannot decode, in zarr format 2 and in format 3.  Each export
either opens through fsspec with zarr 3, every level identical to tifffile's pixels (or,
where our series differs from tifffile's or tifffile cannot decode it, to our own store,
itself compared with tifffile by the store tests), or is refused with a ValueError that
names the feature.  A portable export refused for a short last strip is tried again with
chunkmode 2, which references raw contiguous pages whole.  Portable exports must refuse
exactly the series whose other exports need our codec.  The codecs are found through the
package's entry points, with no registration call, as any reader's would be (a stale
editable install without them falls back to register_codecs, and says so).  Of levels
larger than READ_LIMIT only a corner window is read back, to keep the run short.  The
counts are printed at the end of the module, per export.
"""

from __future__ import annotations

import collections
import contextlib
import io
import json
import logging
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pytest
import tifffile
import zarr

from napari_tiffzarr import TiffFile, TiffFileError
from napari_tiffzarr.references import register_codecs
from napari_tiffzarr.segment_codec import SEGMENT_CODEC_ID

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
READ_LIMIT = 32 * 2**20  # bytes of one level read back; larger ones are only exported

pytestmark = pytest.mark.filterwarnings("ignore::zarr.errors.ZarrUserWarning")

# export -> outcome -> file::series names, filled in by the tests and summarised at the end
EXPORTS = ("portable", "format 2", "format 3")
OUTCOMES: dict[str, dict[str, list[str]]] = {
    export: collections.defaultdict(list) for export in EXPORTS
}


def _entry_points_installed() -> bool:
    """Whether the installed metadata declares our codecs (CI installs it from pyproject)."""
    from importlib.metadata import entry_points

    found = entry_points(group="numcodecs.codecs", name=SEGMENT_CODEC_ID)
    found3 = entry_points(group="zarr.codecs", name="numcodecs." + SEGMENT_CODEC_ID)
    return bool(found) and bool(found3)


def _files() -> list[str]:
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.is_file():
        return []
    return [line.split("\t", 1)[0] for line in manifest.read_text().splitlines()[1:] if line]


def _reason(message: str) -> str:
    """The feature a refusal names, without the file, page and numbers."""
    text = message.split(": ", 2)[-1].replace(" cannot be represented as fsspec references", "")
    text = re.sub(r"\(image length \d+ is not a multiple of rows per strip \d+\)", "", text)
    text = re.sub(r"segment \d+", "segment N", text)
    return text.strip()


@pytest.fixture(scope="module", autouse=True)
def _summary(request: pytest.FixtureRequest) -> Iterator[None]:
    lines = []
    if not _entry_points_installed():
        lines.append("the installed metadata lacks our codec entry points: registering them")
        register_codecs()
    logging.disable(logging.WARNING)
    yield
    logging.disable(logging.NOTSET)
    for export, outcomes in OUTCOMES.items():
        if not outcomes:
            continue
        exported = sum(len(v) for k, v in outcomes.items() if k.startswith("exported"))
        refused = sum(len(v) for k, v in outcomes.items() if k.startswith("refused"))
        title = f"fsspec references, {export}: {exported} series exported, {refused} refused"
        lines += ["", title]
        for outcome, names in sorted(outcomes.items(), key=lambda item: -len(item[1])):
            examples = ", ".join(names[:3])
            lines.append(f"  {len(names):4d}  {outcome}  (e.g. {examples})")
    if len(lines) <= 1:
        return
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print("\n".join(lines))


def _open(refs: dict[str, Any]) -> Any:
    fs = fsspec.filesystem("reference", fo=refs, remote_protocol="file", asynchronous=True)
    return zarr.open(store=zarr.storage.FsspecStore(fs, read_only=True, path=""), mode="r")


def _tifffile_levels(path: Path, index: int) -> list[Any] | None:
    """tifffile's levels of series index as (shape, array or None), or None where it fails."""
    try:
        with warnings.catch_warnings(), tifffile.TiffFile(path) as tif:
            warnings.simplefilter("ignore")
            if index >= len(tif.series):
                return None
            levels = []
            for level in tif.series[index].levels:
                nbytes = int(np.prod(level.shape)) * level.dtype.itemsize
                try:
                    array = level.asarray() if nbytes <= READ_LIMIT else None
                except Exception:  # tifffile cannot decode it: compare with our store
                    array = None
                levels.append((tuple(level.shape), array))
            return levels
    except Exception:  # tifffile cannot open it
        return None


def _export(store: Any, path: Path, export: str) -> dict[str, Any]:
    buffer = io.StringIO()
    portable = export == "portable"
    zarr_format = 2 if export == "format 2" else 3
    url = path.parent.resolve().as_uri()
    store.write_fsspec(buffer, url, version=1, portable=portable, zarr_format=zarr_format)
    result: dict[str, Any] = json.loads(buffer.getvalue())
    return result


def _store_reads(store: Any) -> str:
    """Whether our store reads what the references refuse: refusing that is a failure
    unless the file is corrupt, which the summary shows."""
    try:
        group = zarr.open_group(store, mode="r")
        for _, array in group.arrays():
            if int(np.prod(array.shape)) * array.dtype.itemsize <= READ_LIMIT:
                array[:]
            else:  # too large to read whole: its first and last corners
                array[tuple(slice(0, min(n, 512)) for n in array.shape)]
                array[tuple(slice(max(0, n - 512), n) for n in array.shape)]
    except (TiffFileError, ValueError) as exc:
        return f"our store cannot read it either: {_reason(str(exc))}"
    return "OUR STORE READS IT"


def _check_series(path: Path, tif: TiffFile, index: int, export: str) -> tuple[str, bool]:
    """The outcome, and whether the first export tried was refused or needs our codec."""
    series = tif.series[index]
    store = series.aszarr(multiscales=True)
    how = ""
    try:
        refs = _export(store, path, export)
    except ValueError as exc:  # TiffFileError is one too
        refused = f"refused: {_reason(str(exc))}"
        if export != "portable":
            return f"{refused} ({_store_reads(store)})", True
        if "incomplete chunk" not in refused:
            return refused, True
        # whole pages need no padding: raw, contiguous pages can still be referenced
        store = series.aszarr(multiscales=True, chunkmode=2)
        try:
            refs = _export(store, path, export)
        except ValueError as again:
            return f"{refused}; with chunkmode 2: {_reason(str(again))}", True
        how = " with chunkmode 2 (portable refuses the default chunks)"
    needs_ours = SEGMENT_CODEC_ID in json.dumps(refs["codecs"])
    if export == "portable":
        assert not needs_ours, refs["codecs"]
    else:
        how += " with our codec" if needs_ours else ""
    group = _open(refs)
    ours = zarr.open_group(store, mode="r")
    reference = _tifffile_levels(path, index)
    compared: set[str] = set()
    for level, shape in enumerate(lvl.shape for lvl in series.levels):
        array = group[str(level)]
        mine = ours[str(level)]
        assert array.shape == tuple(mine.shape)
        if int(np.prod(array.shape)) * array.dtype.itemsize > READ_LIMIT:
            # too large to read whole: a corner window, compared with our store
            window = tuple(slice(0, min(n, 512)) for n in array.shape)
            np.testing.assert_array_equal(array[window], mine[window])
            compared.add("our store (a window of a large level)")
            continue
        expected = None
        if reference is not None and level < len(reference) and reference[level][0] == shape:
            expected = reference[level][1]
        if expected is None:
            compared.add("our store")
            try:
                expected = mine[:]
            except TiffFileError as exc:
                # a corrupt segment: the references must fail too, not invent data
                with pytest.raises(Exception):  # noqa: B017, PT011 - whatever the codec raises
                    array[:]
                return (
                    f"exported{how}; corrupt data fails in both: {_reason(str(exc))}",
                    bool(how) or needs_ours,
                )
        else:
            compared.add("tifffile")
        result = array[:]
        np.testing.assert_array_equal(result, expected.reshape(result.shape))
    return f"exported{how}, identical to {' and '.join(sorted(compared))}", bool(how) or needs_ours


@pytest.mark.corpus
@pytest.mark.parametrize("name", _files())
def test_series_round_trip_or_refused(name: str) -> None:
    path = CORPUS / name
    try:
        tif = TiffFile(path)
    except TiffFileError:
        OUTCOMES["portable"]["not a TIFF we read"].append(name)
        return
    with tif:
        try:
            count = len(tif.series)
        except TiffFileError:
            OUTCOMES["portable"]["not a TIFF we read"].append(name)
            return
        for index in range(count):
            # whether imagecodecs' codecs fall short, by each export
            short: dict[str, bool] = {}
            for export in EXPORTS:
                try:
                    outcome, short[export] = _check_series(path, tif, index, export)
                except TiffFileError as exc:
                    outcome = f"store refuses the series: {_reason(str(exc))}"
                OUTCOMES[export][outcome].append(f"{name}::{index}")
                if export != "portable" and outcome.startswith("refused"):
                    # our codec decodes whatever our store reads
                    assert "our store cannot read it either" in outcome, outcome
            # portable refuses exactly what needs our codec (or what nothing decodes)
            if len(short) == len(EXPORTS):
                assert short["portable"] == short["format 2"] == short["format 3"], short


def test_corpus_is_present() -> None:
    if not (CORPUS / "MANIFEST.tsv").is_file():
        pytest.skip(f"the shared corpus is not at {CORPUS}")
    assert len(_files()) >= 400
