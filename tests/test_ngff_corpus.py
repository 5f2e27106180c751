"""Series 0 of every file of ../shared/corpus served in both layouts, validated with
ome-zarr-models: OME-NGFF 0.5 over zarr 3, 0.4 over zarr 2.  In both, every level's
dimension names are the multiscales axes' names (tifffile's layout: its letters, a smaller
level's shrunk dimensions suffixed as tifffile's are).

In the NGFF layout zarr 3 reorders axes with its transpose codec, so every series must
validate.  zarr 2 has no codec to reorder, so a series validates where the TIFF's own axis
order is NGFF's; in tifffile's layout, where that order is NGFF's and (zarr 3) the levels
keep the axes' names.  In each, the others must be exactly those for which the store names
a reason (``ngff_problems``, worked out from the axes, which the validator's verdict
checks).  The first chunk of each served
array equals our tifffile layout's, transposed, so the reordering is the pixels' too.  The
counts, and the invalid series by reason, are printed at the end of the module.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import zarr
from ome_zarr_models.v04.image import Image as ImageV04
from ome_zarr_models.v05.image import Image as ImageV05

from napari_tiffzarr import TiffFile, TiffFileError
from napari_tiffzarr.store import ZarrTiffStore
from napari_tiffzarr.store.ngff import ngff_order
from ngff_files import check_dimension_names

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
CHUNK_LIMIT = 64 * 2**20  # bytes of a first chunk read back

pytestmark = [
    pytest.mark.corpus,
    pytest.mark.filterwarnings("ignore::zarr.errors.ZarrUserWarning"),
]

# (layout, zarr format) -> outcome -> files
LAYOUTS = (("ngff", 3), ("ngff", 2), ("tifffile", 3), ("tifffile", 2))
OUTCOMES: dict[tuple[str, int], dict[str, list[str]]] = {
    key: collections.defaultdict(list) for key in LAYOUTS
}


def _files() -> list[str]:
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.is_file():
        return []
    return [line.split("\t", 1)[0] for line in manifest.read_text().splitlines()[1:] if line]


@pytest.fixture(scope="module", autouse=True)
def _summary(request: pytest.FixtureRequest) -> Iterator[None]:
    logging.disable(logging.WARNING)
    yield
    logging.disable(logging.NOTSET)
    lines = []
    for (layout, fmt), outcomes in OUTCOMES.items():
        valid = len(outcomes.get("valid", []))
        served = sum(len(v) for k, v in outcomes.items() if k != "not opened")
        version = "0.5" if fmt == 3 else "0.4"
        lines += [
            "",
            f"{layout} layout, zarr {fmt}: {valid} of {served} series valid OME-NGFF {version}",
        ]
        for outcome, names in sorted(outcomes.items(), key=lambda item: -len(item[1])):
            if outcome != "valid":
                lines.append(f"  {len(names):4d}  {outcome}  (e.g. {', '.join(names[:2])})")
    if not any(OUTCOMES.values()):
        return
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print("\n".join(lines))


def _first_chunk(array: zarr.Array) -> np.ndarray:
    return np.asarray(array[tuple(slice(0, c) for c in array.chunks)])


@pytest.mark.skipif(not _files(), reason="the shared corpus is not beside the checkout")
@pytest.mark.parametrize("name", _files())
def test_series_0_is_valid_ngff(name: str) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tif = TiffFile(CORPUS / name)
            series = tif.series[0]
            # tifffile's layout, as a group: what the NGFF layout reorders; a chunk that
            # cannot be read is the fill value in both
            seed = ZarrTiffStore(series, multiscales=True, on_error="fill")
            axes = seed.index.axes
    except (TiffFileError, IndexError):  # corrupt beyond a series: the reader refuses it
        for outcomes in OUTCOMES.values():
            outcomes["not opened"].append(name)
        return
    with tif:
        seed_array = zarr.open_group(seed, mode="r")["0"]
        assert isinstance(seed_array, zarr.Array)
        for layout, fmt in LAYOUTS:
            store = ZarrTiffStore(
                series,
                layout=layout,  # type: ignore[arg-type]
                zarr_format=fmt,  # type: ignore[arg-type]
                multiscales=True,
                on_error="fill",
            )
            problems = store.index.ngff_problems
            group = zarr.open_group(store, mode="r")
            names = check_dimension_names(group, layout)
            if layout == "tifffile":  # named by tifffile's letters
                assert "".join(name[0] for name in names) == axes
            try:
                (ImageV05 if fmt == 3 else ImageV04).from_zarr(group)
                verdict = None
            except ValueError as exc:
                verdict = str(exc)
            # the validator and the reasons the store gives agree
            assert (verdict is None) == (not problems), (problems, verdict)
            OUTCOMES[layout, fmt]["; ".join(problems) or "valid"].append(name)
            if layout == "tifffile":
                continue  # the seed's own order: what the NGFF layout is compared with
            if fmt == 3:
                assert not problems, f"{name}: {problems}"
            array = group["0"]
            assert isinstance(array, zarr.Array)
            order = ngff_order(axes) if fmt == 3 else tuple(range(len(axes)))
            assert array.shape == tuple(seed_array.shape[i] for i in order)
            if store.index.chunk_nbytes(0) > CHUNK_LIMIT:
                continue  # a corrupt file's giant chunk: the metadata are what is checked
            expected = _first_chunk(seed_array).transpose(order)
            got = _first_chunk(array)
            np.testing.assert_array_equal(got, expected[tuple(slice(0, n) for n in got.shape)])
