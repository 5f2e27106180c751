"""Byte sources: exact ranges, bounds, batching, threads, closing."""

from __future__ import annotations

import io
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from napari_tiffzarr.errors import TiffClosedError, TiffFileError, TiffTruncatedError
from napari_tiffzarr.sources import BytesSource, FileLikeSource, PathSource, coalesce_ranges

CONTENT = bytes(range(256)) * 64


@pytest.fixture(params=["path", "file", "bytes"])
def source(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    path = tmp_path / "data.bin"
    path.write_bytes(CONTENT)
    if request.param == "path":
        made = PathSource(path)
    elif request.param == "file":
        made = FileLikeSource(io.BytesIO(CONTENT))
    else:
        made = BytesSource(CONTENT)
    yield made
    made.close()


def test_reads_exact_ranges(source) -> None:  # type: ignore[no-untyped-def]
    assert source.size == len(CONTENT)
    assert source.read(0, 10) == CONTENT[:10]
    assert source.read(1000, 300) == CONTENT[1000:1300]
    assert source.read(len(CONTENT) - 1, 1) == CONTENT[-1:]
    assert source.read(5, 0) == b""


def test_batch_reads_equal_single_reads(source) -> None:  # type: ignore[no-untyped-def]
    ranges = [(5000, 10), (0, 3), (4, 5), (100, 0), (8000, 192), (4095, 2)]
    assert source.read_ranges(ranges) == [CONTENT[o : o + n] for o, n in ranges]


@pytest.mark.parametrize("bad", [(-1, 4), (len(CONTENT) - 2, 4), (len(CONTENT) + 10, 1)])
def test_out_of_bounds_is_a_tifffileerror(source, bad: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TiffTruncatedError) as raised:
        source.read(*bad)
    assert isinstance(raised.value, TiffFileError)
    assert str(bad[0]) in str(raised.value)


def test_closed_source_raises(source) -> None:  # type: ignore[no-untyped-def]
    source.close()
    assert source.closed
    with pytest.raises(TiffClosedError):
        source.read(0, 4)


def test_concurrent_preads(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(CONTENT)
    source = PathSource(path)
    ranges = [((i * 37) % 16000, 100 + i % 50) for i in range(2000)]
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda r: source.read(*r), ranges))
    assert results == [CONTENT[o : o + n] for o, n in ranges]
    source.close()


def test_coalescing_groups_close_ranges() -> None:
    runs = coalesce_ranges([(0, 10), (12, 10), (100_000, 5), (30, 10)], gap=16)
    assert [(start, length) for start, length, _ in runs] == [(0, 40), (100_000, 5)]
    assert [sorted(members) for _, _, members in runs] == [[0, 1, 3], [2]]


def test_writable_path_source_writes_in_place_only(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(CONTENT)
    with pytest.raises(PermissionError):
        PathSource(path).write(0, b"x")
    source = PathSource(path, writable=True)
    source.write(10, b"abc")
    with pytest.raises(TiffTruncatedError):
        source.write(len(CONTENT) - 1, b"toolong")
    source.close()
    assert path.read_bytes() == CONTENT[:10] + b"abc" + CONTENT[13:]
    assert os.path.getsize(path) == len(CONTENT)
