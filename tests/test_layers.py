"""What the import contracts cannot see: the package's own __init__ and what third-party
imports pull in at run time.  Importing everything but the plugin must not load napari,
magicgui or Qt (lint-imports checks the package's modules, [tool.importlinter])."""

from __future__ import annotations

import json
import subprocess
import sys

LIBRARY = [
    "napari_tiffzarr",
    "napari_tiffzarr.sources",
    "napari_tiffzarr.tiff.file",
    "napari_tiffzarr.tiff.sample",
    "napari_tiffzarr.store",
    "napari_tiffzarr.references",
    "napari_tiffzarr.cli",
]
VIEWER = ("napari", "magicgui", "qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6")


def _loaded_after_importing(modules: list[str]) -> list[str]:
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    )
    loaded: list[str] = json.loads(result.stdout)
    return loaded


def test_the_library_never_loads_napari_or_qt() -> None:
    loaded = _loaded_after_importing(LIBRARY)
    assert "napari_tiffzarr.store.store" in loaded  # the imports did happen
    assert [name for name in loaded if name.split(".")[0] in VIEWER] == []


def test_only_the_store_loads_zarr() -> None:
    below_store = ["napari_tiffzarr.sources", "napari_tiffzarr.tiff.file"]
    loaded = _loaded_after_importing(below_store)
    assert "napari_tiffzarr.tiff.series" in loaded
    assert "zarr" not in loaded
