"""write_fsspec: reference JSON that zarr 3 opens through fsspec, pixel-identical to tifffile.

Every file is written by tifffile (or libtiff's tiffcp) into tmp_path, exported by our store,
opened with zarr 3 over fsspec's ReferenceFileSystem and compared with tifffile's pixels;
chunk keys and byte ranges are compared with tifffile's own write_fsspec.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pytest
import tifffile
import zarr

from napari_tiffzarr import TiffFile, TiffFileError
from napari_tiffzarr.cli import main
from napari_tiffzarr.plugin._layers import LayerSource
from napari_tiffzarr.plugin._writer import write_layer_references
from napari_tiffzarr.references import register_codecs, write_sequence
from napari_tiffzarr.store import ZarrTiffStore
from rowcodec_files import LOGLUV, thunderscan_image, write_logluv, write_thunderscan
from sparse_segments import make_sparse

pytestmark = pytest.mark.filterwarnings("ignore::zarr.errors.ZarrUserWarning")

RNG = np.random.default_rng(42)


@pytest.fixture(autouse=True, scope="module")
def _codecs() -> None:
    register_codecs()


def open_refs(refs: str | Path | dict[str, Any], protocol: str = "file") -> Any:
    """A zarr array or group over references, as a user of the JSON opens it."""
    fo = str(refs) if isinstance(refs, Path) else refs
    fs = fsspec.filesystem(
        "reference",
        fo=fo,
        remote_protocol=protocol,
        remote_options={"asynchronous": True} if protocol != "file" else None,
        asynchronous=True,
    )
    return zarr.open(store=zarr.storage.FsspecStore(fs, read_only=True, path=""), mode="r")


def export(
    path: Path, out: Path, *, series: int = 0, url: str | None = None, **kwargs: Any
) -> Path:
    store_args = {k: kwargs.pop(k) for k in ("chunkmode", "level", "multiscales") if k in kwargs}
    zarr_format = kwargs.pop("zarr_format", 3)
    with TiffFile(path) as tif:
        store = ZarrTiffStore(tif.series[series], zarr_format=zarr_format, **store_args)
        store.write_fsspec(out, url or path.parent.as_uri() + "/", **kwargs)
    return out


def resolved(refs: dict[str, Any]) -> dict[str, Any]:
    """The flat key -> value mapping of version 0 or 1 references, templates filled in."""
    if refs.get("version") != 1:
        return refs
    templates = refs["templates"]
    out: dict[str, Any] = {}
    for key, value in refs["refs"].items():
        if isinstance(value, list):
            url = value[0]
            for name, text in templates.items():
                url = url.replace("{{" + name + "}}", text)
            out[key] = [url, *value[1:]]
        else:
            out[key] = value
    return out


def gradient(shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """Smooth data with noise: compressible, and lossy codecs keep it recognisable."""
    values = np.indices(shape).sum(axis=0).astype("f8") + RNG.random(shape) * 4
    kind = np.dtype(dtype).kind
    if kind in "ui":
        top = 250 if np.dtype(dtype).itemsize == 1 else 4000
        values = values % top
    return values.astype(dtype)


# name -> (data, tifffile.imwrite arguments)
CASES: dict[str, tuple[np.ndarray, dict[str, Any]]] = {
    "raw-strips": (gradient((64, 80), "u2"), {"rowsperstrip": 16}),
    "raw-tiles-edge": (gradient((70, 90), "u1"), {"tile": (32, 32)}),
    "raw-bigendian-i4": (gradient((64, 48), ">i4"), {"byteorder": ">", "rowsperstrip": 8}),
    "raw-f2": (gradient((32, 32), "f2"), {"tile": (16, 16)}),
    "raw-c8": (gradient((32, 32), "f4").astype("c8") * 1j, {"rowsperstrip": 8}),
    "lzw-pred2": (
        gradient((64, 80), "u2"),
        {"tile": (32, 32), "compression": "lzw", "predictor": 2},
    ),
    "zlib-pred2-be": (
        gradient((64, 64), ">u2"),
        {"byteorder": ">", "tile": (32, 32), "compression": "zlib", "predictor": 2},
    ),
    "adobe-deflate-i2": (gradient((64, 64), "i2"), {"rowsperstrip": 16, "compression": 8}),
    "deflate": (gradient((64, 64), "u1"), {"rowsperstrip": 16, "compression": 32946}),
    "zlib-pred3-f4": (
        gradient((64, 64), "f4"),
        {"tile": (32, 32), "compression": "zlib", "predictor": 3},
    ),
    "zlib-pred3-f8-be": (
        gradient((64, 64), ">f8"),
        {"byteorder": ">", "tile": (32, 32), "compression": "zlib", "predictor": 3},
    ),
    "lzw-pred2-rgb": (
        gradient((64, 64, 3), "u2"),
        {"tile": (32, 32), "compression": "lzw", "predictor": 2, "photometric": "rgb"},
    ),
    "zlib-planar": (
        gradient((3, 64, 64), "u1"),
        {
            "tile": (32, 32),
            "compression": "zlib",
            "planarconfig": "separate",
            "photometric": "rgb",
        },
    ),
    "zlib-pred2-planar-strips": (
        gradient((3, 64, 64), "u2"),
        {
            "rowsperstrip": 16,
            "compression": "zlib",
            "predictor": 2,
            "planarconfig": "separate",
            "photometric": "rgb",
        },
    ),
    "zlib-volume": (
        gradient((8, 32, 32), "u1"),
        {"tile": (4, 16, 16), "compression": "zlib", "volumetric": True},
    ),
    "zlib-stack": (gradient((3, 32, 48), "u1"), {"tile": (16, 16), "compression": "zlib"}),
    "packbits": (gradient((64, 64), "u1"), {"rowsperstrip": 16, "compression": "packbits"}),
    "lzma": (gradient((64, 64), "u2"), {"rowsperstrip": 16, "compression": "lzma"}),
    "zstd-pred2": (
        gradient((64, 64), "u2"),
        {"tile": (32, 32), "compression": "zstd", "predictor": 2},
    ),
    "jpeg-gray": (gradient((64, 64), "u1"), {"tile": (32, 32), "compression": "jpeg"}),
    "jpeg-ycbcr": (
        gradient((64, 64, 3), "u1"),
        {"tile": (32, 32), "compression": "jpeg", "photometric": "ycbcr"},
    ),
    "jpeg-rgb": (
        gradient((64, 64, 3), "u1"),
        {"tile": (32, 32), "compression": "jpeg", "photometric": "rgb"},
    ),
    "jpeg2k-u2": (gradient((64, 64), "u2"), {"tile": (32, 32), "compression": "jpeg2000"}),
    "webp-rgba": (
        gradient((64, 64, 4), "u1"),
        {
            "tile": (32, 32),
            "compression": "webp",
            "compressionargs": {"lossless": True},
            "photometric": "rgb",
            "extrasamples": "unassalpha",
        },
    ),
    "png-u2-strips": (gradient((64, 64), "u2"), {"rowsperstrip": 16, "compression": "png"}),
    "jpegxl": (
        gradient((64, 64, 3), "u1"),
        {"tile": (32, 32), "compression": "jpegxl", "photometric": "rgb"},
    ),
    "jpegxr": (
        gradient((64, 64, 3), "u1"),
        {"tile": (32, 32), "compression": "jpegxr", "photometric": "rgb"},
    ),
    "lerc-f4": (gradient((64, 64), "f4"), {"tile": (32, 32), "compression": "lerc"}),
}


def write_case(tmp_path: Path, name: str) -> Path:
    data, kwargs = CASES[name]
    path = tmp_path / f"{name}.tif"
    tifffile.imwrite(path, data, **kwargs)
    return path


@pytest.mark.parametrize("version", [0, 1])
@pytest.mark.parametrize("zarr_format", [2, 3])
@pytest.mark.parametrize("name", list(CASES))
def test_round_trip_identical_to_tifffile(
    tmp_path: Path, name: str, zarr_format: int, version: int
) -> None:
    path = write_case(tmp_path, name)
    out = export(path, tmp_path / "refs.json", zarr_format=zarr_format, version=version)
    array = open_refs(out)
    assert array.metadata.zarr_format == zarr_format
    expected = tifffile.imread(path)
    assert array.shape == expected.shape
    # zarr 2 keeps a big-endian file's byte order in the dtype, as tifffile's references do
    assert array.dtype.newbyteorder("=") == expected.dtype.newbyteorder("=")
    np.testing.assert_array_equal(array[:], expected)


@pytest.mark.parametrize("version", [0, 1])
@pytest.mark.parametrize("name", list(CASES))
def test_keys_and_references_equal_tifffiles(tmp_path: Path, name: str, version: int) -> None:
    """Chunk keys and [url, offset, length] agree with tifffile's write_fsspec (zarr 2, the
    only format it writes); metadata documents legitimately differ (we add dimension names
    and take the fill value from GDAL_NODATA), so of them only the codec ids are compared."""
    path = write_case(tmp_path, name)
    url = "https://example.org/data/"
    ours = json.loads(
        export(path, tmp_path / "ours.json", zarr_format=2, version=version, url=url).read_text()
    )
    with tifffile.TiffFile(path) as tif, tif.series[0].aszarr() as store:
        store.write_fsspec(tmp_path / "theirs.json", url, version=version)
    theirs = json.loads((tmp_path / "theirs.json").read_text())
    ours, theirs = resolved(ours), resolved(theirs)
    chunks = {k: v for k, v in theirs.items() if isinstance(v, list)}
    assert {k: v for k, v in ours.items() if isinstance(v, list)} == chunks
    assert chunks  # the comparison is not vacuous
    assert set(ours) == set(theirs)
    ours_zarray, theirs_zarray = json.loads(ours[".zarray"]), json.loads(theirs[".zarray"])
    assert ours_zarray["compressor"] == theirs_zarray["compressor"] or (
        ours_zarray["compressor"]["id"] == theirs_zarray["compressor"]["id"] == "imagecodecs_jpeg"
    )
    assert ours_zarray["filters"] == theirs_zarray["filters"]
    assert ours_zarray["dtype"] == theirs_zarray["dtype"]


def write_pyramid(path: Path, zarr_kwargs: dict[str, Any] | None = None) -> np.ndarray:
    data = gradient((128, 96, 3), "u1")
    options: dict[str, Any] = {"compression": "zlib", "photometric": "rgb", "predictor": 2}
    with tifffile.TiffWriter(path) as writer:
        writer.write(data, subifds=2, tile=(32, 32), **options)
        writer.write(data[::2, ::2], subfiletype=1, tile=(32, 32), **options)
        writer.write(data[::4, ::4], subfiletype=1, tile=(16, 16), **options)
    return data


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_pyramid_writes_every_level(tmp_path: Path, zarr_format: int) -> None:
    path = tmp_path / "pyramid.tif"
    write_pyramid(path)
    out = export(path, tmp_path / "refs.json", zarr_format=zarr_format, version=1)
    group = open_refs(out)
    with tifffile.TiffFile(path) as tif:
        levels = [level.asarray() for level in tif.series[0].levels]
    assert len(levels) == 3
    assert sorted(group.array_keys()) == ["0", "1", "2"]
    for index, expected in enumerate(levels):
        np.testing.assert_array_equal(group[str(index)][:], expected)
    attributes = group.attrs.asdict()
    multiscales = (
        attributes["ome"]["multiscales"] if zarr_format == 3 else attributes["multiscales"]
    )
    assert [d["path"] for d in multiscales[0]["datasets"]] == ["0", "1", "2"]


def test_pyramid_keys_equal_tifffiles(tmp_path: Path) -> None:
    path = tmp_path / "pyramid.tif"
    write_pyramid(path)
    url = "file:///data/"
    ours = json.loads(export(path, tmp_path / "o.json", zarr_format=2, url=url).read_text())
    with tifffile.TiffFile(path) as tif, tif.series[0].aszarr() as store:
        store.write_fsspec(tmp_path / "t.json", url)
    theirs = json.loads((tmp_path / "t.json").read_text())
    assert {k: v for k, v in ours.items() if isinstance(v, list)} == {
        k: v for k, v in theirs.items() if isinstance(v, list)
    }
    assert {k for k in ours if k.startswith("2/")} == {k for k in theirs if k.startswith("2/")}


def _overwrite(path: Path, code: int, value: Any, page: int = 0) -> None:
    with tifffile.TiffFile(path, mode="r+") as tif:
        tif.pages[page].tags[code].overwrite(value)


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_sparse_tiles_are_left_out_and_read_as_fill(tmp_path: Path, zarr_format: int) -> None:
    path = tmp_path / "sparse.tif"
    data = gradient((64, 64), "u2") + 10
    tifffile.imwrite(
        path, data, tile=(32, 32), compression="zlib", extratags=[(42113, "s", 0, "7", True)]
    )
    make_sparse(path, [1])
    out = export(path, tmp_path / "refs.json", zarr_format=zarr_format)
    refs = json.loads(out.read_text())
    key = "c/0/1" if zarr_format == 3 else "0.1"
    other = "c/1/1" if zarr_format == 3 else "1.1"
    assert key not in refs
    assert other in refs
    with tifffile.TiffFile(path) as tif, tif.series[0].aszarr() as store:
        expected = zarr.open(store, mode="r")[:]
    result = open_refs(out)[:]
    assert (result[:32, 32:] == 7).all()  # GDAL_NODATA fills the sparse tile
    np.testing.assert_array_equal(result, expected)


def test_jpeg_tables_and_colour_space_from_libtiff(tmp_path: Path) -> None:
    """libtiff's JPEG keeps the tables in JPEGTables and writes YCbCr without JFIF."""
    if shutil.which("tiffcp") is None:
        pytest.skip("libtiff's tiffcp is not installed (.ci/run installs libtiff-tools)")
    source = tmp_path / "rgb.tif"
    tifffile.imwrite(source, gradient((64, 64, 3), "u1"), photometric="rgb")
    path = tmp_path / "jpeg.tif"
    subprocess.run(
        ["tiffcp", "-c", "jpeg:r", "-t", "-w", "32", "-l", "32", source, path], check=True
    )
    with TiffFile(path) as tif:
        assert tif.pages[0].jpegtables is not None
    for zarr_format in (2, 3):
        out = export(path, tmp_path / f"refs{zarr_format}.json", zarr_format=zarr_format)
        np.testing.assert_array_equal(open_refs(out)[:], tifffile.imread(path))


def write_refused(tmp_path: Path, feature: str) -> tuple[Path, dict[str, Any]]:
    """A file with feature, and the store arguments that refuse it."""
    path = tmp_path / f"{feature}.tif"
    data8 = gradient((64, 64), "u1")
    if feature == "CCITT":
        tifffile.imwrite(path, data8 > 100, rowsperstrip=64)
        _overwrite(path, 259, 4)  # what the data is does not matter: the tag is refused
    elif feature == "FillOrder 2":
        # tifffile will not write FillOrder: write Threshholding (263) and rename it 266,
        # which keeps the tags sorted
        tifffile.imwrite(path, data8, extratags=[(263, "H", 1, 2, True)])
        entry = (263).to_bytes(2, "little") + b"\x03\x00\x01\x00\x00\x00\x02\x00"
        raw = path.read_bytes()
        assert raw.count(entry) == 1
        path.write_bytes(raw.replace(entry, (266).to_bytes(2, "little") + entry[2:]))
    elif feature == "packed 12-bit integers":
        tifffile.imwrite(path, gradient((64, 64), "u2"), bitspersample=12)
    elif feature == "packed 1-bit integers":
        tifffile.imwrite(path, data8 > 100)
    elif feature == "float24":
        tifffile.imwrite(path, gradient((64, 64), "f4"))
        _overwrite(path, 258, 24)
    elif feature == "complex integer":
        tifffile.imwrite(path, gradient((64, 64), "i4"))
        _overwrite(path, 339, 5)
    elif feature == "JPEGTables in a multi-page series":
        tables = b"\xff\xd8\xff\xd9"  # refused before any segment is decoded
        tifffile.imwrite(
            path,
            np.stack([data8, data8]),
            tile=(32, 32),
            compression="jpeg",
            extratags=[(347, "B", len(tables), tables, True)],
        )
    elif feature == "incomplete chunk":
        tifffile.imwrite(path, data8, rowsperstrip=10, compression="zlib")
    elif feature == "chunkmode 2":
        tifffile.imwrite(path, data8, rowsperstrip=16, compression="zlib")
        return path, {"chunkmode": 2}
    elif feature == "not stored contiguously":
        tifffile.imwrite(path, data8, rowsperstrip=16)
        with tifffile.TiffFile(path) as tif:
            offsets = list(tif.pages[0].dataoffsets)
        offsets[1], offsets[2] = offsets[2], offsets[1]
        _overwrite(path, 273, offsets)
        return path, {"chunkmode": 2}
    elif feature == "tiles narrower than the image":
        tifffile.imwrite(path, data8, tile=(16, 16))
        return path, {"chunkmode": 2}
    else:  # pragma: no cover - the parametrization names every feature
        raise AssertionError(feature)
    return path, {}


REFUSED = [
    ("CCITT", "compression CCITT_T6"),
    ("FillOrder 2", "FillOrder 2"),
    ("packed 12-bit integers", "packed 12-bit integers"),
    ("packed 1-bit integers", "packed 1-bit integers"),
    ("float24", "float24"),
    ("complex integer", "complex integer"),
    ("JPEGTables in a multi-page series", "JPEGTables in a multi-page series"),
    (
        "incomplete chunk",
        r"incomplete chunk \(image length 64 is not a multiple of rows per strip",
    ),
    ("chunkmode 2", r"chunkmode 2 \(whole pages\) over ADOBE_DEFLATE \(8\) data"),
    ("not stored contiguously", r"chunkmode 2 \(whole pages\) over data not stored contiguously"),
    ("tiles narrower than the image", "tiles narrower than the image"),
]


@pytest.mark.parametrize(("feature", "message"), REFUSED)
def test_refused_with_the_feature_named(tmp_path: Path, feature: str, message: str) -> None:
    path, store_args = write_refused(tmp_path, feature)
    out = tmp_path / "refs.json"
    out.write_text("previous")
    before = path.read_bytes()
    with pytest.raises(ValueError, match=message):
        export(path, out, portable=True, **store_args)
    # nothing half-written: the previous file stands, no temporary file is left behind
    assert out.read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, "refs.json"])
    assert path.read_bytes() == before


# what our TIFF segment codec decodes where imagecodecs' codecs cannot: not whole pages
# (chunkmode 2), nor pages whose tables differ (tifffile writes JPEGTables on the first
# only), nor the made-up CCITT stream
OURS = [
    "FillOrder 2",
    "packed 12-bit integers",
    "packed 1-bit integers",
    "float24",
    "complex integer",
    "incomplete chunk",
]


@pytest.mark.parametrize("zarr_format", [2, 3])
@pytest.mark.parametrize("feature", OURS)
def test_not_portable_decodes_what_portable_refuses(
    tmp_path: Path, feature: str, zarr_format: int
) -> None:
    path, store_args = write_refused(tmp_path, feature)
    out = export(path, tmp_path / "refs.json", zarr_format=zarr_format, version=1)
    assert "napari_tiffzarr_segment" in json.dumps(json.loads(out.read_text())["codecs"])
    array = open_refs(out)
    with TiffFile(path) as tif:
        ours = zarr.open_array(ZarrTiffStore(tif.series[0], **store_args), mode="r")
        try:
            expected = ours[:]
        except TiffFileError:
            # the store cannot decode it (made-up tables): neither can the references
            with pytest.raises(TiffFileError):
                array[:]
            return
    np.testing.assert_array_equal(array[:], expected)
    try:
        with tifffile.TiffFile(path) as tif:
            reference = tif.series[0].asarray()
    except Exception:  # tifffile cannot decode it: our store is the reference
        return
    np.testing.assert_array_equal(array[:], reference)


def write_row_codec(tmp_path: Path, name: str) -> tuple[Path, np.ndarray | None]:
    """A file in a compression no numcodecs codec decodes, and its image where the test
    knows it (ThunderScan); LogLuv's decoding is the reader's, tested on its own."""
    path = tmp_path / f"{name}.tif"
    if name == "THUNDERSCAN":
        image = thunderscan_image(32, 48, seed=1)
        write_thunderscan(path, image, 8)
        return path, image
    codes = RNG.integers(0, 2**32, (16, 24), dtype=np.uint32)
    write_logluv(path, codes, LOGLUV, 8)
    return path, None


@pytest.mark.parametrize(("name", "code"), [("THUNDERSCAN", 32809), ("SGILOG", 34676)])
def test_row_codecs_portable_refused_else_our_segment_codec(
    tmp_path: Path, name: str, code: int
) -> None:
    """References cannot express ThunderScan or LogLuv with imagecodecs' codecs: portable
    output refuses them by name; otherwise our segment codec decodes them as the store."""
    path, image = write_row_codec(tmp_path, name)
    with pytest.raises(ValueError, match=rf"compression {name} \({code}\) cannot be represented"):
        export(path, tmp_path / "portable.json", portable=True)
    assert not (tmp_path / "portable.json").exists()
    out = export(path, tmp_path / "refs.json", version=1)
    assert "napari_tiffzarr_segment" in json.dumps(json.loads(out.read_text())["codecs"])
    with TiffFile(path) as tif:
        expected = tif.pages[0].asarray()
    if image is not None:
        np.testing.assert_array_equal(expected, image)
    np.testing.assert_array_equal(open_refs(out)[:], expected)


def test_row_codec_short_last_strip_through_our_segment_codec(tmp_path: Path) -> None:
    """A short last strip fails as a full one (its rows run out) and decodes as the last."""
    path = tmp_path / "short.tif"
    image = thunderscan_image(30, 40, seed=2)
    write_thunderscan(path, image, 8)
    out = export(path, tmp_path / "refs.json")
    np.testing.assert_array_equal(open_refs(out)[:], image)


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_chunkmode_2_over_raw_contiguous_pages(tmp_path: Path, zarr_format: int) -> None:
    path = tmp_path / "stack.tif"
    data = gradient((4, 40, 48), ">u2")
    tifffile.imwrite(path, data, byteorder=">", rowsperstrip=7)
    out = export(path, tmp_path / "refs.json", zarr_format=zarr_format, chunkmode=2)
    array = open_refs(out)
    np.testing.assert_array_equal(array[:], data)
    refs = [v for v in json.loads(out.read_text()).values() if isinstance(v, list)]
    # one reference per chunk (the contiguous stack may be one page), each a whole chunk
    assert len(refs) == int(np.prod(array.cdata_shape))
    assert all(length == int(np.prod(array.chunks)) * 2 for _, _, length in refs)


def test_the_tiff_is_untouched_and_a_path_written_atomically(tmp_path: Path) -> None:
    path = write_case(tmp_path, "lzw-pred2")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    stat = path.stat()
    out = tmp_path / "refs.json"
    out.write_text("old")
    export(path, out)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert path.stat().st_mtime_ns == stat.st_mtime_ns
    assert json.loads(out.read_text())["zarr.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, "refs.json"])


@pytest.mark.parametrize("version", [0, 1])
def test_open_text_file_and_group_name(tmp_path: Path, version: int) -> None:
    path = write_case(tmp_path, "zlib-stack")
    buffer = io.StringIO()
    with TiffFile(path) as tif:
        store = ZarrTiffStore(tif.series[0])
        store.write_fsspec(
            buffer, tmp_path.as_uri(), groupname="a/b", templatename="tif", version=version
        )
    refs = json.loads(buffer.getvalue())
    if version == 1:
        assert refs["templates"] == {"tif": tmp_path.as_uri() + "/"}
        assert refs["refs"]["a/b/c/0/0/0"] == [
            "{{tif}}zlib-stack.tif",
            *refs["refs"]["a/b/c/0/0/0"][1:],
        ]
    root = open_refs(refs)
    np.testing.assert_array_equal(root["a"]["b"][:], tifffile.imread(path))


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_compressors_map_codes_to_other_codec_ids(tmp_path: Path, zarr_format: int) -> None:
    path = write_case(tmp_path, "adobe-deflate-i2")
    out = export(
        path,
        tmp_path / "refs.json",
        zarr_format=zarr_format,
        compressors={8: "imagecodecs_zlib"},
    )
    assert "imagecodecs_zlib" in out.read_text()
    np.testing.assert_array_equal(open_refs(out)[:], tifffile.imread(path))


def write_sequence_files(tmp_path: Path, count: int = 3) -> list[Path]:
    paths = []
    for index in range(count):
        path = tmp_path / f"frame{index}.tif"
        tifffile.imwrite(
            path, gradient((48, 40), "u2") + index * 100, tile=(16, 16), compression="zlib"
        )
        paths.append(path)
    return paths


@pytest.mark.parametrize("version", [0, 1])
@pytest.mark.parametrize("zarr_format", [2, 3])
def test_multi_file_api_joins_a_sequence(tmp_path: Path, zarr_format: int, version: int) -> None:
    """Each file's chunks go to keys of its own index: tifffile drops _index since 2025."""
    paths = write_sequence_files(tmp_path)
    expected = np.stack([tifffile.imread(p) for p in paths])
    out = tmp_path / "seq.json"
    with out.open("w") as handle:
        for index, path in enumerate(paths):
            with TiffFile(path) as tif:
                store = ZarrTiffStore(tif.series[0], zarr_format=zarr_format)
                store.write_fsspec(
                    handle,
                    tmp_path.as_uri(),
                    version=version,
                    _shape=[len(paths)],
                    _axes=["T"],
                    _index=[index],
                    _append=index > 0,
                    _close=index == len(paths) - 1,
                )
    array = open_refs(out)
    assert array.shape == (3, 48, 40)
    np.testing.assert_array_equal(array[:], expected)
    if zarr_format == 3:
        assert array.metadata.dimension_names == ("T", "Y", "X")


def test_tifffiles_multi_file_api_loses_all_but_the_last_file(tmp_path: Path) -> None:
    """Why ours exists: tifffile writes every file of the sequence to the same keys."""
    paths = write_sequence_files(tmp_path)
    out = tmp_path / "theirs.json"
    with out.open("w") as handle:
        for index, path in enumerate(paths):
            with tifffile.TiffFile(path) as tif, tif.series[0].aszarr() as store:
                store.write_fsspec(
                    handle,
                    tmp_path.as_uri() + "/",
                    _shape=[3],
                    _axes=["T"],
                    _index=[index],
                    _append=index > 0,
                    _close=index == 2,
                )
    theirs = json.loads(out.read_text())
    chunks = [v for v in theirs.values() if isinstance(v, list)]
    assert len(chunks) == 9  # the 3 x 3 tiles of one file, not of three
    assert all(url.endswith("frame2.tif") for url, _, _ in chunks)  # the others are gone


def test_sequence_through_a_path_renames_when_closed(tmp_path: Path) -> None:
    paths = write_sequence_files(tmp_path, 2)
    out = tmp_path / "seq.json"
    for index, path in enumerate(paths):
        with TiffFile(path) as tif:
            ZarrTiffStore(tif.series[0]).write_fsspec(
                out,
                tmp_path.as_uri(),
                version=1,
                _shape=[2],
                _axes=["T"],
                _index=[index],
                _append=index > 0,
                _close=index == 1,
            )
        assert out.exists() == (index == 1)  # readers never see half a sequence
    assert not (tmp_path / "seq.json.partial").exists()
    np.testing.assert_array_equal(open_refs(out)[1], tifffile.imread(paths[1]))


def test_multi_file_api_checks_its_arguments(tmp_path: Path) -> None:
    path = write_case(tmp_path, "deflate")
    with TiffFile(path) as tif:
        store = ZarrTiffStore(tif.series[0])
        with pytest.raises(ValueError, match="_index is required"):
            store.write_fsspec(io.StringIO(), "", _shape=[2], _axes=["T"])
        with pytest.raises(ValueError, match="outside _shape"):
            store.write_fsspec(io.StringIO(), "", _shape=[2], _axes=["T"], _index=[2])
        with pytest.raises(ValueError, match="nothing to append to"):
            store.write_fsspec(tmp_path / "x.json", "", _append=True)
        with pytest.raises(ValueError, match="version must be 0 or 1"):
            store.write_fsspec(io.StringIO(), "", version=2)


def test_write_sequence_refuses_files_that_differ(tmp_path: Path) -> None:
    paths = write_sequence_files(tmp_path, 2)
    odd = tmp_path / "odd.tif"
    tifffile.imwrite(odd, gradient((48, 40), "u1"), tile=(16, 16), compression="zlib")
    with TiffFile(paths[0]) as first, TiffFile(odd) as second:
        stores = [ZarrTiffStore(first.series[0]), ZarrTiffStore(second.series[0])]
        with pytest.raises(ValueError, match=r"odd\.tif: its array differs"):
            write_sequence(tmp_path / "seq.json", stores, tmp_path.as_uri())
    assert not (tmp_path / "seq.json").exists()
    assert not (tmp_path / "seq.json.partial").exists()


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a directory with the Range requests fsspec sends for references."""

    def do_GET(self) -> None:
        path = Path(self.translate_path(self.path))
        header = self.headers.get("Range")
        if header is None or not path.is_file():
            super().do_GET()
            return
        data = path.read_bytes()
        start_text, end_text = header.removeprefix("bytes=").split("-")
        start = int(start_text)
        end = min(int(end_text) if end_text else len(data) - 1, len(data) - 1)
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        self.wfile.write(data[start : end + 1])

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    def handler(*args: Any) -> RangeHandler:
        return RangeHandler(*args, directory=str(tmp_path))

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_references_over_http(http_root: tuple[Path, str], zarr_format: int) -> None:
    root, url = http_root
    path = root / "pyramid.tif"
    write_pyramid(path)
    out = export(path, root / "refs.json", url=url, zarr_format=zarr_format, version=1)
    group = open_refs(out, protocol="http")
    with tifffile.TiffFile(path) as tif:
        for index, level in enumerate(tif.series[0].levels):
            np.testing.assert_array_equal(group[str(index)][:], level.asarray())


def test_cli_refs_one_file_and_a_sequence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = write_sequence_files(tmp_path)
    single = tmp_path / "one.json"
    assert main(["refs", str(paths[0]), "-o", str(single), "--url", tmp_path.as_uri()]) == 0
    single_array = open_refs(single)
    assert single_array.metadata.zarr_format == 2  # the default: kerchunk's format
    assert "templates" in json.loads(single.read_text())  # version 1 by default
    np.testing.assert_array_equal(single_array[:], tifffile.imread(paths[0]))
    joined = tmp_path / "all.json"
    arguments = ["refs", *map(str, paths), "-o", str(joined), "--url", tmp_path.as_uri()]
    assert main([*arguments, "--version", "0", "--zarr-format", "3"]) == 0
    assert "templates" not in json.loads(joined.read_text())
    array = open_refs(joined)
    assert array.metadata.zarr_format == 3
    np.testing.assert_array_equal(array[:], np.stack([tifffile.imread(p) for p in paths]))
    out = capsys.readouterr().out
    assert "references to 1 file\n" in out  # grammar: one file, three files
    assert "references to 3 files\n" in out


def test_cli_refs_reports_a_refusal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = write_refused(tmp_path, "incomplete chunk")
    out = tmp_path / "refs.json"
    assert main(["refs", str(path), "-o", str(out), "--url", "file:///x/", "--portable"]) == 1
    assert "incomplete chunk" in capsys.readouterr().err
    assert not out.exists()
    assert main(["refs", str(path), "-o", str(out), "--url", "/x", "--series", "5"]) == 1
    assert "no series 5" in capsys.readouterr().err


def test_napari_writer_references_the_layers_file(tmp_path: Path) -> None:
    path = tmp_path / "pyramid.tif"
    write_pyramid(path)
    out = write_layer_references(str(tmp_path / "layer.json"), LayerSource(str(path), level=1))
    array = open_refs(Path(out))
    with tifffile.TiffFile(path) as tif:
        np.testing.assert_array_equal(array[:], tif.series[0].levels[1].asarray())
    assert json.loads(Path(out).read_text())["templates"] == {"u": tmp_path.as_uri() + "/"}


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_sequence_of_pyramids_keeps_every_level(tmp_path: Path, zarr_format: int) -> None:
    paths = [tmp_path / "a.tif", tmp_path / "b.tif"]
    for path in paths:
        write_pyramid(path)
    out = tmp_path / "seq.json"
    with TiffFile(paths[0]) as first, TiffFile(paths[1]) as second:
        # the stores serve zarr 3; the references are written in the format asked for
        stores = [ZarrTiffStore(first.series[0]), ZarrTiffStore(second.series[0])]
        write_sequence(out, stores, tmp_path.as_uri(), zarr_format=zarr_format, version=1)
    group = open_refs(out)
    assert group.metadata.zarr_format == zarr_format
    with tifffile.TiffFile(paths[1]) as tif:
        levels = [level.asarray() for level in tif.series[0].levels]
    for index, expected in enumerate(levels):
        array = group[str(index)]
        assert array.shape == (2, *expected.shape)
        np.testing.assert_array_equal(array[1], expected)
    attributes = group.attrs.asdict()
    ngff = attributes["ome"] if zarr_format == 3 else attributes
    multiscale = ngff["multiscales"][0]
    # the sequence's axis leads, named as tifffile's layout names axes: the arrays' names
    assert multiscale["axes"] == [
        {"name": "I"},
        {"name": "Y", "type": "space"},
        {"name": "X", "type": "space"},
        {"name": "S", "type": "channel"},
    ]
    for index, names in enumerate([["I", "Y", "X", "S"], ["I", "Y_1", "X_1", "S"]]):
        array = group[str(index)]
        found = (
            array.metadata.dimension_names
            if zarr_format == 3
            else array.attrs["_ARRAY_DIMENSIONS"]
        )
        assert list(found) == names
    scale = multiscale["datasets"][2]["coordinateTransformations"][0]["scale"]
    assert scale == [1.0, 4.0, 4.0, 1.0]


def test_a_truncated_segment_is_refused_before_any_output(tmp_path: Path) -> None:
    path = tmp_path / "truncated.tif"
    data = gradient((64, 64), "u2")
    tifffile.imwrite(path, data, rowsperstrip=16)  # pixels last
    path.write_bytes(path.read_bytes()[:-100])
    buffer = io.StringIO()
    with TiffFile(path) as tif:
        store = ZarrTiffStore(tif.series[0])
        with pytest.raises(ValueError, match=r"incomplete chunk \(segment 3 truncated\)"):
            store.write_fsspec(buffer, tmp_path.as_uri(), portable=True)
        assert buffer.getvalue() == ""
        # our codec decodes it as the store does: the whole strips, and the cut one fails
        store.write_fsspec(buffer, tmp_path.as_uri())
        ours = zarr.open_array(store, mode="r")
        array = open_refs(json.loads(buffer.getvalue()))
        np.testing.assert_array_equal(array[:48], ours[:48])
        np.testing.assert_array_equal(array[:48], data[:48])
        for reader in (ours, array):
            with pytest.raises(TiffFileError, match="corrupted strip"):
                reader[48:]


@pytest.mark.parametrize("missing", ["folder", "file"])
def test_references_into_a_missing_folder_name_the_folder(tmp_path: Path, missing: str) -> None:
    path = tmp_path / "image.tif"
    tifffile.imwrite(path, gradient((32, 32), "u1"))
    parent = tmp_path / "nowhere"
    if missing == "file":  # a file stands where the folder should be
        parent.write_text("")
    target = parent / "image.json"
    with TiffFile(path) as tif:
        store = ZarrTiffStore(tif.series[0])
        expected = "does not exist" if missing == "folder" else "is not a folder"
        with pytest.raises(FileNotFoundError, match=f"the folder {parent} {expected}"):
            store.write_fsspec(target, tmp_path.as_uri())
        with pytest.raises(FileNotFoundError, match=f"the folder {parent} {expected}"):
            write_sequence(target, [store, store], tmp_path.as_uri(), axis="T")
    # nothing written anywhere: no temporary file, no partial sequence
    left = {p.name for p in tmp_path.iterdir()}
    assert left == ({"image.tif", "nowhere"} if missing == "file" else {"image.tif"})
