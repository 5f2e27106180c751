"""The package ships its manifest and declares what the napari hub reads."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from importlib.metadata import entry_points, metadata, version
from importlib.resources import files
from pathlib import Path

import pytest

import napari_tiffzarr

ROOT = Path(__file__).resolve().parents[1]
QT_BINDINGS = ("pyqt5", "pyqt6", "pyside2", "pyside6")


def test_manifest_is_shipped_and_equals_the_top_level_file() -> None:
    shipped = files("napari_tiffzarr") / "napari.yaml"
    assert shipped.is_file()
    assert shipped.read_text() == (ROOT / "napari.yaml").read_text()


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


def test_wheel_contains_the_manifest(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("napari_tiffzarr-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert (
            archive.read("napari_tiffzarr/napari.yaml").decode()
            == (ROOT / "napari.yaml").read_text()
        )
        assert "napari_tiffzarr/tiff/series/ome.py" in archive.namelist()


def test_readme_images_show_on_the_hub() -> None:
    """PyPI and the napari hub show the README without the repository beside it: its
    images need absolute URLs, each pointing at a file the repository holds."""
    import re

    readme = (ROOT / "README.md").read_text()
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme)
    assert images
    project_url = "https://raw.githubusercontent.com/napari-tiffzarr/napari-tiffzarr/main/"
    for url in images:
        assert url.startswith(project_url), url
        assert (ROOT / url.removeprefix(project_url)).is_file(), url
