"""napari's own open path picks our reader after use_as_default, and undo puts back what
napari had: its reader preference, in a settings file of the test's own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import zarr

from napari_tiffzarr.plugin import _default_reader
from napari_tiffzarr.plugin._default_reader import (
    MEMO_NAME,
    default_patterns,
    is_default,
    undo_default,
    use_as_default,
)
from napari_tiffzarr.store import ZarrTiffStore

pytestmark = pytest.mark.viewer

OURS = "napari-tiffzarr"


def _preferred_in_a_new_process(settings_file: Path, path: Path) -> str:
    """The reader a later napari process prefers for ``path``, reading the same file."""
    code = (
        "import sys\n"
        "from napari.plugins.utils import get_preferred_reader\n"
        "print(get_preferred_reader(sys.argv[1]))\n"
    )
    env = {**os.environ, "NAPARI_CONFIG": str(settings_file)}
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return done.stdout.strip()


def _assert_ours_and_lazy(layer, decode_counter, opens: int) -> None:  # type: ignore[no-untyped-def]
    assert layer.source.reader_plugin == OURS
    assert layer.multiscale
    assert len(layer.data) == 4
    assert all(isinstance(level, zarr.Array) for level in layer.data)
    assert all(isinstance(level.store, ZarrTiffStore) for level in layer.data)
    # opening reads no level-0 tile; read-ahead may decode the finer level under the
    # first view: with napari showing level 1 (1024 pixels) whole, a zoom in may go
    # anywhere, so level 0 at most, 4 x 4 chunks of 512, an open
    assert decode_counter[0] == decode_counter.ahead[0], "opening must not read level 0"
    assert decode_counter.ahead[0] <= 16 * opens


def test_napari_opens_tiffs_with_us_after_use_as_default_and_undo_restores_its_choice(
    napari_settings_file: Path,
    make_napari_viewer,
    pyramid_path: Path,
    decode_counter,
) -> None:  # type: ignore[no-untyped-def]
    from napari.settings import get_settings

    viewer = make_napari_viewer()
    settings = get_settings()
    assert settings.config_path == napari_settings_file
    # what the user chose before: napari's builtin reader for *.tif, and another pattern
    before = {"*.tif": "napari", "*.png": "napari"}
    settings.plugins.extension2reader = dict(before)
    (layer,) = viewer.open(pyramid_path, plugin=None)
    assert layer.source.reader_plugin == "napari"
    viewer.layers.clear()

    changed = use_as_default()
    assert set(changed) == set(default_patterns())
    assert is_default()
    assert use_as_default() == []  # again: nothing more to change
    table = settings.plugins.extension2reader
    assert table["*.png"] == "napari"
    assert all(table[p] == OURS for p in default_patterns())
    # persisted: a later napari process reading the same file prefers us
    assert _preferred_in_a_new_process(napari_settings_file, pyramid_path) == OURS

    # napari's open path with no plugin named: what drag and drop, File > Open and
    # `napari FILE` call
    viewer.window._qt_viewer._qt_open([str(pyramid_path)], stack=False)
    (layer,) = viewer.layers
    _assert_ours_and_lazy(layer, decode_counter, opens=1)
    viewer.layers.clear()
    (layer,) = viewer.open(pyramid_path, plugin=None)
    _assert_ours_and_lazy(layer, decode_counter, opens=2)
    viewer.layers.clear()
    # an upper-case extension: napari matches preferences case-sensitively (against the
    # real path, so a hard link, not a symbolic one)
    upper = pyramid_path.with_name("PYRAMID.OME.TIF")
    os.link(pyramid_path, upper)
    (layer,) = viewer.open(upper, plugin=None)
    _assert_ours_and_lazy(layer, decode_counter, opens=3)
    viewer.layers.clear()
    # viewer.open's default names napari's builtin reader, preference or not
    (layer,) = viewer.open(pyramid_path)
    assert layer.source.reader_plugin == "napari"
    viewer.layers.clear()

    restored = undo_default()
    assert set(restored) == set(default_patterns())
    assert settings.plugins.extension2reader == before
    assert not is_default()
    assert not (napari_settings_file.parent / MEMO_NAME).exists()
    assert _preferred_in_a_new_process(napari_settings_file, pyramid_path) == "napari"
    (layer,) = viewer.open(pyramid_path, plugin=None)
    assert layer.source.reader_plugin == "napari"


def test_undo_without_an_earlier_choice_brings_back_napari_asking(
    napari_settings_file: Path, make_napari_viewer, gray_pyramid_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from napari.components.viewer_model import MultipleReaderError
    from napari.settings import get_settings

    viewer = make_napari_viewer()
    settings = get_settings()
    assert settings.plugins.extension2reader == {}
    # two readers and no preference: napari asks (the Choose reader dialog in the GUI)
    with pytest.raises(MultipleReaderError):
        viewer.open(gray_pyramid_path, plugin=None)

    use_as_default()
    (layer,) = viewer.open(gray_pyramid_path, plugin=None)
    assert layer.source.reader_plugin == OURS
    viewer.layers.clear()

    # the record beside the settings says each pattern had nothing before
    memo = json.loads((napari_settings_file.parent / MEMO_NAME).read_text())
    assert memo["previous"] == dict.fromkeys(default_patterns())

    # the user points one pattern elsewhere meanwhile: undo leaves that choice alone
    settings.plugins.extension2reader = {**settings.plugins.extension2reader, "*.svs": "other"}
    restored = undo_default()
    assert "*.svs" not in restored
    assert settings.plugins.extension2reader == {"*.svs": "other"}
    with pytest.raises(MultipleReaderError):
        viewer.open(gray_pyramid_path, plugin=None)


def test_undo_with_no_record_removes_only_what_points_at_us(
    napari_settings_file: Path, make_napari_viewer
) -> None:  # type: ignore[no-untyped-def]
    from napari.settings import get_settings

    make_napari_viewer()
    settings = get_settings()
    settings.plugins.extension2reader = {"*.tif": OURS, "*.tiff": "napari", "*.png": OURS}
    assert undo_default() == ["*.tif"]
    assert settings.plugins.extension2reader == {"*.tiff": "napari", "*.png": OURS}


def test_patterns_are_the_manifests_and_their_upper_case() -> None:
    import yaml

    manifest = yaml.safe_load(
        (Path(_default_reader.__file__).parents[1] / "napari.yaml").read_text()
    )
    (reader,) = manifest["contributions"]["readers"]
    lower = reader["filename_patterns"]
    assert "*.tif" in lower
    assert "*.svs" in lower
    assert default_patterns() == lower + [p.upper() for p in lower]
