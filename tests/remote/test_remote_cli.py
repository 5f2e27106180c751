"""The command line on URLs: refs takes the URL's folder, HTTP failures are named."""

from __future__ import annotations

import json
from pathlib import Path

import fsspec
import numpy as np
import pytest
import tifffile
import zarr
from remote_server import RangeServer

from napari_tiffzarr.cli import main


def _urls(path: Path) -> set[str]:
    """The file URLs a version-1 reference JSON points at, its templates filled in."""
    refs = json.loads(path.read_text())
    found = set()
    for value in refs["refs"].values():
        if isinstance(value, list):
            url = value[0]
            for name, template in refs["templates"].items():
                url = url.replace("{{" + name + "}}", template)
            found.add(url)
    return found


def _open_remote_refs(path: Path) -> zarr.Group:
    fs = fsspec.filesystem(
        "reference",
        fo=str(path),
        remote_protocol="http",
        remote_options={"asynchronous": True},
        asynchronous=True,
    )
    group = zarr.open(store=zarr.storage.FsspecStore(fs, read_only=True), mode="r")
    assert isinstance(group, zarr.Group)
    return group


def test_refs_of_a_url_point_at_its_folder(
    server: RangeServer, pyramid: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = server.url("pyramid.tif")
    out = tmp_path / "pyramid.json"
    assert main(["refs", url, "-o", str(out)]) == 0
    assert "references to 1 file" in capsys.readouterr().out
    assert _urls(out) == {url}
    group = _open_remote_refs(out)
    with tifffile.TiffFile(pyramid) as tif:
        for level, expected in enumerate(tif.series[0].levels):
            np.testing.assert_array_equal(group[str(level)][:], expected.asarray())


def test_refs_of_a_url_honour_an_explicit_url(
    server: RangeServer, pyramid: Path, tmp_path: Path
) -> None:
    out = tmp_path / "mirror.json"
    mirror = "https://mirror.example/slides"
    assert main(["refs", server.url("pyramid.tif"), "-o", str(out), "--url", mirror]) == 0
    assert _urls(out) == {f"{mirror}/pyramid.tif"}


def test_refs_of_urls_in_two_folders_or_with_a_query_ask_for_url(
    server: RangeServer, pyramid: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "x.json")
    (server.root / "other").mkdir()
    (server.root / "other" / "pyramid.tif").write_bytes(pyramid.read_bytes())
    two = [server.url("pyramid.tif"), server.url("other/pyramid.tif")]
    assert main(["refs", *two, "-o", out]) == 1
    assert "URLs in several folders: give --url" in capsys.readouterr().err
    assert main(["refs", server.url("pyramid.tif") + "?token=1", "-o", out]) == 1
    assert "a URL with a query: give --url" in capsys.readouterr().err
    assert main(["refs", server.url("pyramid.tif"), str(pyramid), "-o", out]) == 1
    assert "local files and URLs together: give --url" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("status", "said"),
    [
        (None, "not found (HTTP 404)"),
        (403, "forbidden (HTTP 403)"),
        (401, "unauthorized (HTTP 401)"),
        (410, "gone (HTTP 410)"),
    ],
)
def test_http_failures_are_named(  # noqa: PLR0917 (fixtures and parameters)
    server: RangeServer,
    pyramid: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    status: int | None,
    said: str,
) -> None:
    name = "missing.tif" if status is None else "pyramid.tif"
    if status is not None:
        server.served.statuses[name] = status
    url = server.url(name)
    assert main(["info", url]) == 1
    assert capsys.readouterr().err == f"napari-tiffzarr: {url}: {said}\n"
    assert main(["refs", url, "-o", str(tmp_path / "x.json")]) == 1
    assert capsys.readouterr().err == f"napari-tiffzarr: {url}: {said}\n"
    assert not (tmp_path / "x.json").exists()


def test_a_failing_server_is_named_after_the_retries(
    server: RangeServer, pyramid: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.served.statuses["pyramid.tif"] = 503
    url = server.url("pyramid.tif")
    assert main(["info", url]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"napari-tiffzarr: {url}: size failed after 5 attempts: service unavailable (HTTP 503)\n"
    )


def test_a_file_gone_while_reading_is_named(
    server: RangeServer, pyramid: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 404 on a range read (the file removed after it was opened) says so too."""
    from napari_tiffzarr import TiffFile

    url = server.url("pyramid.tif")
    with TiffFile(url) as tif:
        array = zarr.open_group(tif.series[0].aszarr(), mode="r")["0"]
        pyramid.unlink()
        with pytest.raises(FileNotFoundError, match=r"not found \(HTTP 404\)") as raised:
            array[:]
        assert url in str(raised.value)
