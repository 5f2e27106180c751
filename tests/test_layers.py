"""What the import contracts cannot see: the package's own __init__ and what third-party
imports pull in at run time.  Importing everything but the plugin must not load napari,
magicgui or Qt (lint-imports checks the package's modules, [tool.importlinter])."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

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


# -- the store's runtime: what the issue of one scheduler per file promised ------------
STORE = Path(__file__).resolve().parents[1] / "src" / "napari_tiffzarr" / "store"
MUTABLE_CALLS = {
    "dict", "list", "set", "deque", "OrderedDict", "defaultdict", "WeakKeyDictionary",
    "WeakValueDictionary", "ThreadPoolExecutor", "Lock", "RLock", "Condition", "Event",
}  # fmt: skip


def _runtime_modules() -> list[Path]:
    return [STORE / "store.py", *sorted((STORE / "scheduler").glob("*.py"))]


def test_the_store_runtime_keeps_no_module_level_mutable_state() -> None:
    """State lives in the scheduler of each open file, never in a module: a module-level
    dict keyed by source or a global pool is what one scheduler per file replaced."""
    found = []
    for path in _runtime_modules():
        for node in ast.parse(path.read_text()).body:
            value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
            targets = node.targets if isinstance(node, ast.Assign) else []
            if value is None or [getattr(t, "id", "") for t in targets] == ["__all__"]:
                continue
            mutable = isinstance(value, ast.Dict | ast.List | ast.Set | ast.DictComp)
            if isinstance(value, ast.Call):
                func = value.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                mutable = name in MUTABLE_CALLS
            if mutable:
                found.append(f"{path.name}:{node.lineno}")
    assert len(_runtime_modules()) > 5  # the scheduler's modules were found
    assert found == []


def test_the_store_never_asks_which_class_a_source_is() -> None:
    """The source's cost model decides batching, not an isinstance on its class."""
    from napari_tiffzarr import sources

    classes = {
        name
        for module in (sources, sources.remote, sources.local, sources.memory, sources.filelike)
        for name, value in vars(module).items()
        if isinstance(value, type) and issubclass(value, sources.base.SourceBase)
    }
    assert "FsspecSource" in classes
    found = []
    for path in sorted(STORE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "isinstance":
                names = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
                names |= {n.attr for n in ast.walk(node.args[1]) if isinstance(n, ast.Attribute)}
                if names & classes:
                    found.append(f"{path.relative_to(STORE)}:{node.lineno}")
    assert found == []
