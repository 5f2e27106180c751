"""The package ships its manifest and declares what the napari hub reads."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from importlib.metadata import entry_points, metadata, version
from pathlib import Path

import pytest

import napari_tiffzarr

ROOT = Path(__file__).resolve().parents[1]
QT_BINDINGS = ("pyqt5", "pyqt6", "pyside2", "pyside6")


def test_entry_point_and_version() -> None:
    (point,) = [ep for ep in entry_points(group="napari.manifest") if ep.name == "napari-tiffzarr"]
    assert point.value == "napari_tiffzarr:napari.yaml"
    assert version("napari-tiffzarr") == napari_tiffzarr.__version__


def test_hub_metadata_and_no_qt_binding_in_base_dependencies() -> None:
    meta = metadata("napari-tiffzarr")
    assert "Framework :: napari" in meta.get_all("Classifier")
    assert meta["Summary"]
    assert meta.get_all("Project-URL")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        assert not requirement.lower().startswith(QT_BINDINGS), requirement


def test_manifest_validates() -> None:
    npe2 = pytest.importorskip("npe2")
    manifest = npe2.PluginManifest.from_file(ROOT / "napari.yaml")
    assert manifest.name == "napari-tiffzarr"
    assert {c.id.split(".")[-1] for c in manifest.contributions.commands or []} >= {
        "get_reader",
        "write_references",
        "make_widget",
        "sample_pyramid",
        "open_url",
    }
    menus = manifest.contributions.menus or {}
    assert [item.command for item in menus["napari/file/io_utilities"]] == [
        "napari-tiffzarr.open_url"
    ]


def _build(tmp: Path, *args: str) -> Path:
    """Build with the installed backend, offline: pip wheel or hatchling's sdist."""
    subprocess.run([sys.executable, "-m", *args], check=True, capture_output=True, cwd=ROOT)
    (built,) = [p for p in tmp.iterdir() if p.suffix in (".whl", ".gz")]
    return built


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Wheels built as users get them: from the checkout, and from the sdist (what pip
    builds when PyPI has no wheel).  The package's napari.yaml is a symlink to the
    top-level file, so each build must carry the file itself, not the link."""
    out = {name: tmp_path_factory.mktemp(name) for name in ("tree", "sdist", "from_sdist")}
    pip_wheel = ["pip", "wheel", "--no-deps", "--no-build-isolation", "-w"]
    tree = _build(out["tree"], *pip_wheel, str(out["tree"]), str(ROOT))
    sdist = _build(out["sdist"], "hatchling", "build", "-t", "sdist", "-d", str(out["sdist"]))
    from_sdist = _build(out["from_sdist"], *pip_wheel, str(out["from_sdist"]), str(sdist))
    return {"tree": tree, "from_sdist": from_sdist}


@pytest.mark.parametrize("build", ["tree", "from_sdist"])
def test_wheel_ships_the_top_level_manifest(wheels: dict[str, Path], build: str) -> None:
    """napari reads napari_tiffzarr/napari.yaml from the installed package (the entry
    point says so): in the wheel it must be a file with the top-level manifest's bytes."""
    with zipfile.ZipFile(wheels[build]) as archive:
        shipped = archive.read("napari_tiffzarr/napari.yaml")
        assert "napari_tiffzarr/tiff/series/ome.py" in archive.namelist()
    assert shipped == (ROOT / "napari.yaml").read_bytes()
    assert b"napari_tiffzarr.plugin._reader:get_reader" in shipped


def test_readme_images_are_files_of_docs() -> None:
    """The README's images link relatively to the pictures in docs/, so a clone and the
    repository's page show the pictures the checkout holds, with no host to go stale."""
    import re

    readme = (ROOT / "README.md").read_text()
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme)
    assert images
    for url in images:
        assert url.startswith("docs/"), url
        assert (ROOT / url).is_file(), url
