"""The TIFF format: structure, pages, decoding and series; knows nothing of zarr or napari."""
