"""The command line, checked against tifffile's view of the same files."""

from __future__ import annotations

import json
from pathlib import Path

import fsspec
import numpy as np
import pytest
import tifffile
import zarr

from napari_tiffzarr.cli import MAX_LISTED_PAGES, main


def _info(path: Path, capsys: pytest.CaptureFixture[str]) -> dict:  # type: ignore[type-arg]
    assert main(["info", str(path), "--json"]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("data", "options"),
    [
        (np.zeros((37, 53), np.uint8), {"rowsperstrip": 8}),
        (
            np.zeros((64, 80, 3), np.uint8),
            {"tile": (32, 32), "photometric": "rgb", "compression": "jpeg"},
        ),
        (
            np.zeros((3, 20, 30), np.uint16),
            {
                "compression": "lzw",
                "predictor": True,
                "metadata": None,
                "photometric": "minisblack",
            },
        ),
        (
            np.zeros((3, 20, 30), np.uint8),
            {"photometric": "rgb", "planarconfig": "separate", "tile": (16, 16)},
        ),
        (
            np.zeros((20, 30), np.float32),
            {"bigtiff": True, "compression": "zlib", "byteorder": ">"},
        ),
    ],
    ids=["strips", "jpeg-tiles", "lzw-pages", "planar-tiles", "bigtiff-be"],
)
def test_info_agrees_with_tifffile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: np.ndarray, options: dict
) -> None:  # type: ignore[type-arg]
    path = tmp_path / "file.tif"
    tifffile.imwrite(path, data, **options)
    info = _info(path, capsys)
    with tifffile.TiffFile(path) as tif:
        assert info["pages"] == len(tif.pages)
        assert info["bigtiff"] == tif.is_bigtiff
        assert info["byteorder"] == ("little" if tif.byteorder == "<" else "big")
        for listed, page in zip(info["listed_pages"], tif.pages, strict=True):
            assert tuple(listed["shape"]) == page.shape
            assert listed["dtype"] == str(page.dtype)
            assert listed["axes"] == page.axes
            assert listed["compression"] == tifffile.COMPRESSION(page.compression).name
            assert listed["predictor"] == tifffile.PREDICTOR(page.predictor).name
            assert tuple(listed["chunk"]) == page.chunks
            assert listed["storage"] == ("tiles" if page.is_tiled else "strips")  # not NDPI
        assert [tuple(s["shape"]) for s in info["series"]] == [s.shape for s in tif.series]


def test_info_text_lists_at_most_the_first_pages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "many.tif"
    tifffile.imwrite(path, np.zeros((MAX_LISTED_PAGES + 7, 8, 9), np.uint8), metadata=None)
    assert main(["info", str(path)]) == 0
    text = capsys.readouterr().out
    assert text.count("  page ") == MAX_LISTED_PAGES
    assert "... 7 more pages" in text
    assert f"{MAX_LISTED_PAGES + 7} pages" in text


@pytest.mark.parametrize("content", [b"", b"not a tiff at all", b"II*\x00\xff\xff\xff\x7f"])
def test_info_on_bad_files_says_why_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    path = tmp_path / "bad.tif"
    path.write_bytes(content)
    assert main(["info", str(path)]) == 1
    captured = capsys.readouterr()
    assert "bad.tif" in captured.err
    assert "Traceback" not in captured.err


def test_info_on_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(tmp_path / "missing.tif")]) == 1
    assert "missing.tif" in capsys.readouterr().err


def test_info_text_counts_one_page_in_the_singular(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "one.tif"
    tifffile.imwrite(path, np.zeros((8, 9), np.uint8), metadata=None)
    assert main(["info", str(path)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.endswith(", 1 page")


def _folder(tmp_path: Path) -> tuple[Path, np.ndarray]:
    folder = tmp_path / "frames"
    folder.mkdir()
    frames = np.arange(3 * 20 * 30, dtype=np.uint16).reshape(3, 20, 30)
    for index, frame in enumerate(frames):
        tifffile.imwrite(folder / f"frame_{index:03d}.tif", frame)
    return folder, frames


def test_info_on_a_folder_describes_the_sequence_as_tifffile_reads_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, frames = _folder(tmp_path)
    info = _info(folder, capsys)
    assert info["files"] == 3
    expected = tifffile.TiffSequence(str(folder / "*.tif"))
    with expected.aszarr() as store:
        shape = zarr.open_array(store, mode="r").shape
    assert tuple(info["series"][0]["shape"]) == shape == frames.shape
    assert info["first"]["pages"] == 1
    assert tuple(info["first"]["series"][0]["shape"]) == frames.shape[1:]
    expected.close()
    assert main(["info", str(folder)]) == 0
    text = capsys.readouterr().out
    assert "3 TIFF files" in text
    assert "(3, 20, 30) uint16" in text


def test_info_on_a_folder_without_tiffs_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["info", str(tmp_path / "empty")]) == 1
    assert "no TIFF files" in capsys.readouterr().err


def test_refs_of_a_folder_open_as_the_sequence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import fsspec

    folder, frames = _folder(tmp_path)
    out = tmp_path / "frames.json"
    assert main(["refs", str(folder), "-o", str(out), "--zarr-format", "3"]) == 0
    assert "references to 3 files" in capsys.readouterr().out
    fs = fsspec.filesystem("reference", fo=str(out), remote_protocol="file", asynchronous=True)
    got = zarr.open_array(fs.get_mapper(""), mode="r")[:]
    np.testing.assert_array_equal(got, tifffile.imread(str(folder / "*.tif")))
    np.testing.assert_array_equal(got, frames)
    relative = tmp_path / "rel.json"
    assert main(["refs", str(folder / "*.tif"), "-o", str(relative), "--relative"]) == 0
    monkeypatch.chdir(tmp_path)  # relative paths resolve against the reader's directory
    fs = fsspec.filesystem("reference", fo=str(relative), remote_protocol="file")
    np.testing.assert_array_equal(zarr.open_array(fs.get_mapper(""), mode="r")[:], frames)
    assert main(["refs", str(folder), str(folder), "-o", str(out)]) == 1
    assert "referenced alone" in capsys.readouterr().err


def test_info_shows_the_layouts_served(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "rgb.tif"
    tifffile.imwrite(path, np.zeros((32, 48, 3), np.uint8), photometric="rgb")
    layouts = _info(path, capsys)["series"][0]["layouts"]
    assert layouts["tifffile"]["axes"] == "YXS"
    assert layouts["ngff, zarr 3"] == {"axes": "SYX", "shape": [3, 32, 48], "ngff_problems": []}
    assert layouts["ngff, zarr 2"]["shape"] == [32, 48, 3]
    assert layouts["ngff, zarr 2"]["ngff_problems"][0].startswith("axis order YXS")
    assert main(["info", str(path)]) == 0
    text = capsys.readouterr().out
    assert "as tifffile's layout (ZarrTiffStore's default): YXS (32, 48, 3)" in text
    assert "as NGFF's layout, zarr 3: SYX (3, 32, 48), valid OME-NGFF 0.5" in text
    assert "as NGFF's layout, zarr 2: YXS (32, 48, 3), not OME-NGFF 0.4: axis order" in text


@pytest.mark.parametrize("zarr_format", ["2", "3"])
def test_refs_layout_ngff(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], zarr_format: str
) -> None:
    from ome_zarr_models.v04.image import Image as ImageV04
    from ome_zarr_models.v05.image import Image as ImageV05

    path = tmp_path / "channels.tif"
    data = np.arange(2 * 24 * 16, dtype=np.uint16).reshape(2, 24, 16)
    tifffile.imwrite(path, data, metadata={"axes": "CYX"})
    out = tmp_path / "refs.json"
    args = ["refs", str(path), "-o", str(out), "--zarr-format", zarr_format, "--layout", "ngff"]
    assert main(args) == 0
    fs = fsspec.filesystem("reference", fo=str(out), remote_protocol="file", asynchronous=True)
    group = zarr.open_group(zarr.storage.FsspecStore(fs, read_only=True, path=""), mode="r")
    (ImageV05 if zarr_format == "3" else ImageV04).from_zarr(group)
    np.testing.assert_array_equal(group["0"][:], data)  # type: ignore[index]
    with pytest.raises(SystemExit):
        main(["refs", str(path), "-o", str(out), "--layout", "xyz"])
