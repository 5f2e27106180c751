"""The napari plugin: reader, widget, writer and sample data.

The only package that imports napari, magicgui or qtpy, and each module does so lazily
or on its own, so importing napari_tiffzarr never starts Qt.
"""
