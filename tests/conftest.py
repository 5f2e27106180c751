"""Fixtures of the whole suite: napari's settings kept away from the user's.

napari reads and writes its settings file (reader preferences among them) wherever
NAPARI_CONFIG says, read once when napari.settings is first imported; the viewer fixture
resets and saves them. Pointing NAPARI_CONFIG at a folder of the run's own, before any
test imports napari, keeps every test and every subprocess a test starts (which inherits
the environment) off the user's real settings.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_CONFIG_DIR = tempfile.mkdtemp(prefix="napari-tiffzarr-tests-")


def pytest_configure(config: pytest.Config) -> None:
    if "napari.settings" in sys.modules:  # too late to redirect: refuse to touch the real one
        raise pytest.UsageError("napari.settings was imported before the tests' conftest")
    os.environ["NAPARI_CONFIG"] = os.path.join(_CONFIG_DIR, "settings.yaml")


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_CONFIG_DIR, ignore_errors=True)


@pytest.fixture
def napari_settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A settings file of this test's own, which napari saves to and reads from: ask for
    it before make_napari_viewer, which resets the settings it finds."""
    from napari import settings
    from napari.settings import NapariSettings

    path = tmp_path / "napari" / "settings.yaml"
    monkeypatch.setattr(NapariSettings.model_fields["config_path"], "default", path)
    monkeypatch.setenv("NAPARI_CONFIG", str(path))  # for the processes the test starts
    settings._SETTINGS = None  # the next get_settings() reads this file
    yield path
    settings._SETTINGS = None
