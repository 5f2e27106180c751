"""dask.distributed: worker processes unpickle our store, reopen the file (local or over
HTTP) and compute the same pixels as tifffile; reference JSON over HTTP does too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import tifffile
import zarr
from remote_server import PYRAMID_LEVELS, RangeServer

from napari_tiffzarr import TiffFile

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client() -> Iterator[distributed.Client]:
    """Two worker processes, one thread each: every chunk crosses a process boundary."""
    with (
        distributed.LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            dashboard_address=None,
            host="127.0.0.1",
        ) as cluster,
        distributed.Client(cluster) as dask_client,
    ):
        yield dask_client


def _pid_count(client: distributed.Client) -> int:
    return len(set(client.run(lambda: __import__("os").getpid()).values()))


@pytest.mark.parametrize("where", ["local", "http"])
def test_from_zarr_on_worker_processes_equals_tifffile(
    client: distributed.Client, server: RangeServer, pyramid: Path, where: str
) -> None:
    assert _pid_count(client) == 2
    target = str(pyramid) if where == "local" else server.url("pyramid.tif")
    with TiffFile(target) as tif, tifffile.TiffFile(pyramid) as ref:
        group = zarr.open_group(tif.series[0].aszarr(), mode="r")
        for level in (0, PYRAMID_LEVELS - 1):
            array = da.from_zarr(group[str(level)])
            assert array.npartitions > 1 or level > 0
            computed = client.compute(array).result()
            np.testing.assert_array_equal(computed, ref.series[0].levels[level].asarray())
    if where == "http":
        # the workers fetched tiles themselves: more requests than the parent's metadata
        assert server.served.gets > PYRAMID_LEVELS + 1


def _register() -> None:
    from napari_tiffzarr.references import register_codecs

    register_codecs()


def test_reference_json_over_http_on_worker_processes(
    client: distributed.Client, server: RangeServer, pyramid: Path, tmp_path: Path
) -> None:
    jsonfile = tmp_path / "pyramid.json"
    with TiffFile(pyramid) as tif:
        tif.series[0].aszarr().write_fsspec(jsonfile, url=server.url(""))
    _register()
    client.run(_register)
    # asynchronous: zarr runs the filesystem on its own event loop
    options = {
        "fo": str(jsonfile),
        "remote_protocol": "http",
        "remote_options": {"asynchronous": True},
        "asynchronous": True,
    }
    group = zarr.open_group("reference://", mode="r", storage_options=options)
    server.served.reset()
    with tifffile.TiffFile(pyramid) as ref:
        for level in range(PYRAMID_LEVELS):
            computed = client.compute(da.from_zarr(group[str(level)])).result()
            np.testing.assert_array_equal(computed, ref.series[0].levels[level].asarray())
    assert server.served.gets > 0  # the chunks came over HTTP, by the references' URLs
