"""The store opened as zarr arrays, so that callers above the store need not import zarr."""

from __future__ import annotations

import zarr

from .store import ZarrTiffStore

__all__ = ["open_arrays"]


def open_arrays(store: ZarrTiffStore) -> list[zarr.Array]:
    """The store's arrays, read-only: every level of a multiscale group, or its one array."""
    if not store.is_multiscales:
        return [zarr.open_array(store, mode="r")]
    group = zarr.open_group(store, mode="r")
    arrays = []
    for index in range(len(store.series.levels)):
        array = group[str(index)]
        if not isinstance(array, zarr.Array):  # the store writes arrays only, never groups
            raise TypeError(f"level {index} of {store!r} is not an array")
        arrays.append(array)
    return arrays
