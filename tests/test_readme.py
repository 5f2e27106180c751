"""Every ```python snippet of README.md runs, as a reader would run it.

The convention the README's snippets follow, so that they run here unchanged but for one
substitution:

- Each snippet runs in a fresh Python process, in the order of the README, all in one
  folder, where ``slide.svs`` is the sample slide (4096 x 4096 RGB, five JPEG pyramid
  levels). A snippet may use what an earlier one wrote there (``refs.json``).
- ``https://host`` is a local HTTP server: it becomes ``http://127.0.0.1:PORT`` and the
  protocol ``"https"`` becomes ``"http"``. The server holds ``slide.svs`` and
  ``refs.json``, references to it written by ``napari-tiffzarr refs URL -o refs.json``.
- Snippets that start napari run on the test's virtual display (pytest-xvfb).

No snippet is skipped: the test fails if any exits with an error, and it counts them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from napari_tiffzarr.cli import main
from napari_tiffzarr.tiff.sample import sample_path
from remote.remote_server import RangeServer, serving

README = Path(__file__).resolve().parents[1] / "README.md"
SNIPPET = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)
# what a snippet must print, by a line of it: the README's claims that output shows
PRINTS = {
    "print(type(group).__name__, sorted(group.array_keys()))": "Group ['0', '1', '2', '3', '4']",
    'print(group["0"].shape)  # a pyramid\'s references': "(4096, 4096, 3)",
    'print(group["0"].shape)  # (3, height, width): c, y, x': "(3, 4096, 4096)",
    "print(store.index.ngff_problems)": "[]",
}


def snippets() -> list[str]:
    return SNIPPET.findall(README.read_text(encoding="utf-8"))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RangeServer]:
    root = tmp_path / "www"
    root.mkdir()
    with serving(root) as httpd:
        yield httpd


def _localised(code: str, server: RangeServer) -> str:
    host = server.url("").rstrip("/")
    return code.replace("https://host", host).replace('"https"', '"http"')


@pytest.mark.viewer
def test_every_python_snippet_of_the_readme_runs(tmp_path: Path, server: RangeServer) -> None:
    found = snippets()
    assert len(found) >= 7  # the README's own count when this test was written
    work = tmp_path / "work"
    work.mkdir()
    shutil.copyfile(sample_path(), work / "slide.svs")
    os.link(work / "slide.svs", server.root / "slide.svs")
    assert main(["refs", server.url("slide.svs"), "-o", str(server.root / "refs.json")]) == 0
    ran = 0
    for number, code in enumerate(found, 1):
        done = subprocess.run(
            [sys.executable, "-c", _localised(code, server)],
            check=False,
            cwd=work,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, f"snippet {number}:\n{code}\n{done.stderr}"
        for line, printed in PRINTS.items():
            if line in code:
                assert printed in done.stdout, f"snippet {number} printed {done.stdout!r}"
        ran += 1
    assert ran == len(found)
    assert all(any(line in code for code in found) for line in PRINTS)
