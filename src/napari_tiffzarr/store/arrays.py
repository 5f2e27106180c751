"""The store opened as zarr arrays, so that callers above the store need not import zarr.

A viewer's arrays read a basic selection (integers and slices, what napari's slicing
asks for) through the store in one call: zarr's indexing says which part of which chunk
goes where, the store hands back the chunks of the whole selection at once, and they
are copied into the output here.  Between the two, zarr's reads of a chunk each (a task,
a buffer and a pass through its codecs per chunk, on its event-loop thread) cost more
than a chunk in the cache and as much as decoding a small tile (benchmarks/RESULTS.md,
napari browsing).  Any other selection, an ``out`` buffer or fields go through zarr.
A selection within one chunk is that chunk, read-only, not a copy: a slider's frame costs
nothing once decoded.  A basic selection is read on the calling thread, its chunks in
the cache taken and the others decoded there, without zarr's event loop (see
_ViewFront).  The arrays stay zarr arrays: napari and dask know them as such.

The one read replaces a private method of zarr's AsyncArray, and the read on the calling
thread two public methods of its Array.  A zarr whose arrays no longer have them, or
build or call them otherwise, gets zarr's own arrays: slower for a viewer, never wrong
(see _zarr_reads_as_views_expect).
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import zarr
from zarr.core.array import AsyncArray
from zarr.core.buffer import BufferPrototype, NDBuffer, default_buffer_prototype
from zarr.core.indexing import BasicIndexer, Indexer, OrthogonalIndexer

from .copying import copy_part
from .outputs import OutputBuffers
from .store import ZarrTiffStore

__all__ = ["open_arrays"]


def open_arrays(store: ZarrTiffStore, *, views: bool = False) -> list[zarr.Array]:
    """The store's arrays, read-only: every level of a multiscale group, or its one array.
    views: each basic selection read as one view of the store (see above)."""
    if not store.is_multiscales:
        arrays = [zarr.open_array(store, mode="r")]
    else:
        group = zarr.open_group(store, mode="r")
        arrays = []
        for index in range(len(store.series.levels)):
            array = group[str(index)]
            if not isinstance(array, zarr.Array):  # the store writes arrays only, never groups
                raise TypeError(f"level {index} of {store!r} is not an array")
            arrays.append(array)
    if views and _zarr_reads_as_views_expect():
        outputs = OutputBuffers()  # one for the levels: a viewer shows one at a time
        arrays = [
            _ViewFront(_ViewArray(array.async_array, store, level, outputs))
            for level, array in enumerate(arrays)
        ]
    return arrays


# What _ViewArray relies on: AsyncArray's constructor's and _get_selection's parameters;
# and _ViewFront: those of the synchronous Array's selections it serves itself.
_BUILT_FROM = frozenset({"metadata", "store_path", "config"})
_READ_WITH = frozenset({"indexer", "prototype", "out", "fields"})
_SELECTED_WITH = frozenset({"selection", "prototype", "out", "fields"})


def _zarr_reads_as_views_expect() -> bool:
    """Whether this zarr builds an AsyncArray from (metadata, store_path, config) and reads
    its selections through _get_selection(indexer, *, prototype, out, fields), which
    _ViewArray replaces, and whether Array's basic and orthogonal selections take
    (selection, *, out, prototype, fields), which _ViewFront replaces.  zarr >= 3.1.3 is
    all the package asks for, and a later one may change any of them: its reads would
    then fail on every frame instead of going slower."""
    try:
        built = inspect.signature(AsyncArray.__init__).parameters
        reads = inspect.signature(AsyncArray._get_selection).parameters  # noqa: SLF001
        selections = [
            inspect.signature(method).parameters
            for method in (zarr.Array.get_basic_selection, zarr.Array.get_orthogonal_selection)
        ]
    except (AttributeError, TypeError, ValueError):
        return False
    return (
        built.keys() >= _BUILT_FROM
        and reads.keys() >= _READ_WITH
        and all(selected.keys() >= _SELECTED_WITH for selected in selections)
    )


class _ViewArray(AsyncArray[Any]):
    """An array of one level of a ZarrTiffStore whose basic selections are read as views."""

    _tiff_store: ZarrTiffStore
    _level: int
    _outputs: OutputBuffers  # a selection of several chunks is copied into one of these

    def __init__(
        self, array: AsyncArray[Any], store: ZarrTiffStore, level: int, outputs: OutputBuffers
    ) -> None:
        super().__init__(array.metadata, array.store_path, array.config)
        # frozen like zarr's own: set once here
        object.__setattr__(self, "_tiff_store", store)
        object.__setattr__(self, "_level", level)
        object.__setattr__(self, "_outputs", outputs)

    async def _get_selection(
        self,
        indexer: Indexer,
        *,
        prototype: BufferPrototype,
        out: NDBuffer | None = None,
        fields: Any = None,
    ) -> Any:
        if out is not None or fields or not _basic(indexer):  # zarr passes no fields as []
            return await super()._get_selection(
                indexer, prototype=prototype, out=out, fields=fields
            )
        projections = list(indexer)
        return await self._tiff_store.read_view(
            self._level,
            [p.chunk_coords for p in projections],
            lambda chunks: self._assemble(indexer, projections, chunks, prototype),
        )

    def read_here(self, indexer: Indexer) -> Any:
        """The basic selection of indexer read on the calling thread; None where the
        selection is not basic (zarr's event loop reads it then)."""
        if not _basic(indexer):
            return None
        projections = list(indexer)
        prototype = default_buffer_prototype()
        return self._tiff_store.read_view_here(
            self._level,
            [p.chunk_coords for p in projections],
            lambda chunks: self._assemble(indexer, projections, chunks, prototype),
        )

    def _assemble(
        self,
        indexer: Indexer,
        projections: list[Any],
        chunks: list[np.ndarray | None],
        prototype: BufferPrototype,
    ) -> Any:
        """The selection of indexer made of its chunks (None: the fill value)."""
        dtype = self.dtype
        only = chunks[0] if len(chunks) == 1 else None
        if only is not None and only.dtype == dtype and indexer.shape != ():
            # within one chunk: the decoded chunk itself, no copy (a frame of a slider,
            # a viewer's thumbnail); read-only, as the cache keeps it for the next reads
            view: np.ndarray = only[projections[0].chunk_selection].view()
            view.flags.writeable = False
            return view
        result = self._outputs.empty(indexer.shape, np.dtype(dtype))
        fill: Any = None
        for projection, chunk in zip(projections, chunks, strict=True):
            if chunk is None:
                if fill is None:
                    fill = self.metadata.get_chunk_spec(
                        projection.chunk_coords, self.config, prototype
                    ).fill_value
                result[projection.out_selection] = fill
            else:
                copy_part(result, projection.out_selection, chunk[projection.chunk_selection])
        # zarr's own answer to one pixel: a scalar for a basic selection, else 0-d
        return result[()] if isinstance(indexer, BasicIndexer) and indexer.shape == () else result


class _ViewFront(zarr.Array):
    """zarr's synchronous array over a _ViewArray.  A basic selection is read on the
    calling thread: through zarr it would go to zarr's event-loop thread and back,
    and so would each chunk decoded for it, each hand-over of the GIL waiting while
    another thread runs Python (napari draws on its main thread while it slices on
    another, under its asynchronous slicing) for up to the interpreter's switch interval.
    Anything else goes through zarr, as before."""

    def __init__(self, views: _ViewArray) -> None:
        super().__init__(views)
        # napari tells a zarr array by its class's module, and splits the channels of one
        # lazily (through dask) where it reads any other array whole: this is zarr's
        # Array, and says so where napari looks
        self.__module__ = zarr.Array.__module__

    def get_basic_selection(
        self,
        selection: Any = Ellipsis,
        *,
        out: NDBuffer | None = None,
        prototype: BufferPrototype | None = None,
        fields: Any = None,
    ) -> Any:
        found = self._here(BasicIndexer, selection, out, fields)
        if found is not None:
            return found
        return super().get_basic_selection(selection, out=out, prototype=prototype, fields=fields)

    def get_orthogonal_selection(
        self,
        selection: Any,
        *,
        out: NDBuffer | None = None,
        fields: Any = None,
        prototype: BufferPrototype | None = None,
    ) -> Any:
        found = self._here(OrthogonalIndexer, selection, out, fields)
        if found is not None:
            return found
        return super().get_orthogonal_selection(
            selection, out=out, fields=fields, prototype=prototype
        )

    def _here(
        self,
        indexing: type[BasicIndexer | OrthogonalIndexer],
        selection: Any,
        out: NDBuffer | None,
        fields: Any,
    ) -> Any:
        """The selection read on this thread, or None (see read_here)."""
        if out is not None or fields:
            return None
        return self._views.read_here(indexing(selection, self.shape, self.metadata.chunk_grid))

    @property
    def _views(self) -> _ViewArray:
        views = self.async_array
        assert isinstance(views, _ViewArray)  # open_arrays builds it over one
        return views


def _basic(indexer: Indexer) -> bool:
    """Whether indexer selects something by integers and slices only (zarr indexes a
    selection of slices as an orthogonal one): each chunk's part is then a numpy basic
    index.  An empty selection is zarr's: it reads no chunk, where iterating the indexer
    would walk every chunk along the other dimensions (a damaged file may declare
    hundreds of millions)."""
    if 0 in indexer.shape:
        return False
    if isinstance(indexer, OrthogonalIndexer):
        return not indexer.is_advanced
    return isinstance(indexer, BasicIndexer)
