"""The TIFF segment codec, the entry points that find it, and what references ask of readers.

References a reader opens in a fresh Python, with nothing but the installed packages' entry
points: no import of ours, no registration call.  Pixels are compared with tifffile's.
"""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import textwrap
import tomllib
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import numcodecs
import numpy as np
import pytest
import tifffile

from napari_tiffzarr import TiffFile
from napari_tiffzarr.cli import main
from napari_tiffzarr.segment_codec import SEGMENT_CODEC_ID, TiffSegmentCodec, segment_config

pytestmark = pytest.mark.filterwarnings("ignore::zarr.errors.ZarrUserWarning")

ROOT = Path(__file__).resolve().parents[1]
RNG = np.random.default_rng(7)


def _declared() -> dict[str, dict[str, str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    groups: dict[str, dict[str, str]] = project["entry-points"]
    return groups


def _installed(group: str) -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=group)}


def test_entry_points_declare_every_codec_the_references_name() -> None:
    from napari_tiffzarr.references.codecs import SEGMENT_CODEC_ID as V3_SEGMENT_ID
    from napari_tiffzarr.references.codecs import V3_CODECS
    from napari_tiffzarr.tiff.codecs import numcodec_kinds

    assert V3_SEGMENT_ID == SEGMENT_CODEC_ID
    declared = _declared()
    numcodecs_ids = declared["numcodecs.codecs"]
    zarr3_names = declared["zarr.codecs"]
    assert numcodecs_ids[SEGMENT_CODEC_ID] == "napari_tiffzarr.segment_codec:TiffSegmentCodec"
    # every id of the codec table that numcodecs lacks, and nothing else
    builtin = {"zlib", "lzma"}
    assert set(numcodecs_ids) == (set(numcodec_kinds()) - builtin) | {SEGMENT_CODEC_ID}
    # a zarr 3 name for every wrapper, naming the class of that id
    assert set(zarr3_names) == {"numcodecs." + codec_id for codec_id in V3_CODECS}
    for codec_id, cls in V3_CODECS.items():
        module, _, name = zarr3_names["numcodecs." + codec_id].partition(":")
        assert module == "napari_tiffzarr.references.codecs"
        assert cls.__name__ == name
        assert cls.codec_id == codec_id
    for codec_id, value in numcodecs_ids.items():
        module, _, name = value.partition(":")
        cls = getattr(__import__(module, fromlist=[name]), name)
        assert cls.codec_id == codec_id


def _entry_points_installed() -> bool:
    # CI installs the package from pyproject; an editable install made before the entry
    # points existed lacks them until it is reinstalled
    return set(_declared()["zarr.codecs"]) <= set(_installed("zarr.codecs"))


def _require_installed_entry_points() -> None:
    if not _entry_points_installed():
        pytest.skip("the installed metadata predates the codec entry points: pip install -e .")


@pytest.fixture(autouse=True, scope="module")
def _codecs_of_a_stale_install() -> None:
    """Register by hand only where the installed metadata lacks the entry points."""
    if not _entry_points_installed():
        from napari_tiffzarr.references import register_codecs

        register_codecs()


def _write(tmp_path: Path, name: str) -> tuple[Path, np.ndarray]:
    """Files that need our codec and files that imagecodecs' codecs decode."""
    path = tmp_path / f"{name}.tif"
    if name == "packed-12bit-short-strip":
        data = RNG.integers(0, 4096, (3, 45, 37), dtype="u2")
        tifffile.imwrite(path, data, bitspersample=12, rowsperstrip=8, photometric="minisblack")
    elif name == "bilevel":
        data = RNG.integers(0, 2, (50, 70), dtype="u1").astype(bool)
        tifffile.imwrite(path, data, rowsperstrip=10)  # whole strips: only packed bits
    elif name == "lzw-predictor-tiles":
        data = RNG.integers(0, 60000, (64, 80), dtype="u2")
        tifffile.imwrite(path, data, tile=(32, 32), compression="lzw", predictor=2)
    else:  # pragma: no cover - the parametrization names every file
        raise AssertionError(name)
    return path, data


READER = textwrap.dedent(
    """
    import sys, fsspec, numpy, zarr
    for json_path, out in zip(sys.argv[1::2], sys.argv[2::2]):
        fs = fsspec.filesystem("reference", fo=json_path, remote_protocol="file")
        array = zarr.open_array(fs.get_mapper(""), mode="r")
        numpy.save(out, array[:])
    assert "napari_tiffzarr" in sys.modules  # loaded by zarr or numcodecs, not by us
    """
)


@pytest.mark.parametrize("name", ["packed-12bit-short-strip", "bilevel", "lzw-predictor-tiles"])
def test_references_open_in_a_fresh_process_without_registration(
    tmp_path: Path, name: str
) -> None:
    _require_installed_entry_points()
    path, data = _write(tmp_path, name)
    arguments = []
    for zarr_format in (2, 3):
        out = tmp_path / f"refs{zarr_format}.json"
        with TiffFile(path) as tif:
            store = tif.series[0].aszarr(zarr_format=zarr_format)
            store.write_fsspec(out, tmp_path.as_uri(), version=1)
        arguments += [str(out), str(tmp_path / f"read{zarr_format}.npy")]
    subprocess.run([sys.executable, "-c", READER, *arguments], check=True, timeout=300)
    expected = tifffile.imread(path)
    np.testing.assert_array_equal(expected, data)
    for zarr_format in (2, 3):
        read = np.load(tmp_path / f"read{zarr_format}.npy")
        np.testing.assert_array_equal(read, expected)


def _export(path: Path, **kwargs: Any) -> dict[str, Any]:
    buffer = io.StringIO()
    with TiffFile(path) as tif:
        tif.series[0].aszarr().write_fsspec(buffer, path.parent.as_uri(), version=1, **kwargs)
    result: dict[str, Any] = json.loads(buffer.getvalue())
    return result


def test_the_json_names_the_codecs_a_reader_needs(tmp_path: Path) -> None:
    packed, _ = _write(tmp_path, "packed-12bit-short-strip")
    tiles, _ = _write(tmp_path, "lzw-predictor-tiles")
    assert _export(packed, zarr_format=2)["codecs"] == {SEGMENT_CODEC_ID: "napari-tiffzarr"}
    assert _export(tiles, zarr_format=2)["codecs"] == {
        "imagecodecs_delta": "imagecodecs",
        "imagecodecs_lzw": "imagecodecs",
    }
    # zarr 3 finds imagecodecs' numcodecs only through our wrappers
    assert _export(tiles, zarr_format=3)["codecs"] == {
        "numcodecs.imagecodecs_delta": "napari-tiffzarr",
        "numcodecs.imagecodecs_lzw": "napari-tiffzarr",
    }
    # portable output is the same where imagecodecs' codecs suffice, and refuses the rest
    assert _export(tiles, portable=True) == _export(tiles)
    with pytest.raises(ValueError, match="incomplete chunk"):
        _export(packed, portable=True)


def test_the_codec_decodes_segments_as_the_reader_does(tmp_path: Path) -> None:
    path, data = _write(tmp_path, "packed-12bit-short-strip")
    with TiffFile(path) as tif:
        page = tif.pages[1]
        config = segment_config(page, 7)
        codec = numcodecs.get_codec(json.loads(json.dumps(config)))
        assert isinstance(codec, TiffSegmentCodec)
        assert codec.get_config() == config
        layout = page.layout
        for index in range(layout.count):
            found = page.segment_range(index)
            assert found is not None
            segment = page.source.read(*found)
            decoded = codec.decode(segment)
            assert decoded.shape == layout.segment
            rows = layout.valid_shape(index)[1]
            start = index * layout.segment[1]
            np.testing.assert_array_equal(decoded[0, :rows, :, 0], data[1, start : start + rows])
            # rows past the image's last: the fill value, as the store pads them
            assert (decoded[0, rows:] == 7).all()
            out = np.zeros(decoded.size, decoded.dtype)
            assert codec.decode(segment, out=out) is out
            np.testing.assert_array_equal(out, decoded.reshape(-1))


def test_a_corrupt_segment_fails_as_in_the_reader(tmp_path: Path) -> None:
    from napari_tiffzarr import TiffFileError

    path, _ = _write(tmp_path, "packed-12bit-short-strip")
    with TiffFile(path) as tif:
        codec = TiffSegmentCodec(**segment_config(tif.pages[0], 0))
    with pytest.raises(TiffFileError, match="segment"):
        codec.decode(b"\x80" * 5)
    with pytest.raises(NotImplementedError):
        codec.encode(b"")


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_written_files_follow_the_umask(tmp_path: Path, umask: int) -> None:
    path, _ = _write(tmp_path, "lzw-predictor-tiles")
    out = tmp_path / "refs.json"
    previous = os.umask(umask)
    try:
        assert main(["refs", str(path), "-o", str(out)]) == 0
        with open(tmp_path / "plain.txt", "w") as plain:
            plain.write("x")
    finally:
        os.umask(previous)
    mode = stat.S_IMODE(out.stat().st_mode)
    assert mode == 0o666 & ~umask
    assert mode == stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode)
    # an existing file keeps its mode, as open(path, "w") keeps it
    out.chmod(0o640)
    assert main(["refs", str(path), "-o", str(out)]) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [path.name, "plain.txt", "refs.json"]
    )


def test_cli_refs_without_url_points_at_the_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fsspec
    import zarr

    path, data = _write(tmp_path, "packed-12bit-short-strip")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    absolute = out_dir / "abs.json"
    assert main(["refs", str(path), "-o", str(absolute), "--zarr-format", "3"]) == 0
    refs = json.loads(absolute.read_text())
    assert refs["templates"] == {"u": tmp_path.as_uri() + "/"}
    relative = out_dir / "rel.json"
    assert main(["refs", str(path), "-o", str(relative), "--relative"]) == 0
    assert json.loads(relative.read_text())["templates"] == {"u": "../"}
    monkeypatch.chdir(out_dir)  # relative paths resolve against the reader's directory
    for out in (absolute, relative):
        fs = fsspec.filesystem("reference", fo=str(out), remote_protocol="file")
        np.testing.assert_array_equal(zarr.open_array(fs.get_mapper(""), mode="r")[:], data)
    assert main(["refs", str(path), "-o", "x.json", "--relative", "--url", "file:///x"]) == 1
    assert main(["refs", "https://example.org/a.tif", "-o", "x.json"]) == 1


def test_cli_portable_refuses_what_needs_our_codec(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = _write(tmp_path, "bilevel")
    out = tmp_path / "refs.json"
    assert main(["refs", str(path), "-o", str(out), "--portable"]) == 1
    assert "packed 1-bit integers" in capsys.readouterr().err
    assert not out.exists()
    assert main(["refs", str(path), "-o", str(out)]) == 0


def test_napari_writer_passes_the_portable_choice(tmp_path: Path) -> None:
    from napari_tiffzarr.plugin._layers import LayerSource
    from napari_tiffzarr.plugin._writer import write_layer_references

    path, _ = _write(tmp_path, "bilevel")
    out = str(tmp_path / "layer.json")
    with pytest.raises(ValueError, match="packed 1-bit integers"):
        write_layer_references(out, LayerSource(str(path)), portable=True)
    assert write_layer_references(out, LayerSource(str(path))) == out
    assert json.loads(Path(out).read_text())["codecs"] == {SEGMENT_CODEC_ID: "napari-tiffzarr"}


def test_kerchunk_combines_per_file_references(tmp_path: Path) -> None:
    import fsspec
    import zarr
    from kerchunk.combine import MultiZarrToZarr

    # LZW with a predictor in whole strips, and packed 12-bit in short ones: both codecs
    lzw = {"predictor": 2, "compression": "lzw"}
    stacks = {
        "lzw": (RNG.integers(0, 60000, (3, 48, 40), dtype="u2"), lzw),
        "packed": (RNG.integers(0, 4096, (3, 45, 40), dtype="u2"), {"bitspersample": 12}),
    }
    for name, (data, options) in stacks.items():
        references = []
        paths = []
        for index, plane in enumerate(data):
            path = tmp_path / f"{name}{index}.tif"
            tifffile.imwrite(path, plane, rowsperstrip=16, **options)
            paths.append(path)
            buffer = io.StringIO()
            with TiffFile(path) as tif:
                store = tif.series[0].aszarr(zarr_format=2)
                store.write_fsspec(buffer, tmp_path.as_uri(), version=1, groupname="image")
            references.append(json.loads(buffer.getvalue()))
        combined = MultiZarrToZarr(
            references, concat_dims=["T"], coo_map={"T": "INDEX"}, remote_protocol="file"
        ).translate()
        fs = fsspec.filesystem("reference", fo=combined, remote_protocol="file")
        group = zarr.open_group(fs.get_mapper(""), mode="r", zarr_format=2)
        expected = tifffile.TiffSequence(paths).asarray()
        np.testing.assert_array_equal(group["image"][:], expected)
        np.testing.assert_array_equal(group["T"][:], np.arange(len(paths)))
