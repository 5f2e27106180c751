"""File > IO Utilities > Open TIFF from URL…: napari has no menu of its own for a URL.

The command asks for a URL and opens it with this plugin's reader, lazily, as a path given
on the command line would be; what cannot be opened is told in the viewer, not raised.
"""

from __future__ import annotations

import napari  # resolved at run time: napari injects the viewer by this annotation

__all__ = ["open_url"]


def open_url(viewer: napari.viewer.Viewer, url: str | None = None) -> list[object]:
    """Open the TIFF at url (asked for when not given); return the layers added."""
    from napari.utils.notifications import show_error

    if url is None:
        from qtpy.QtWidgets import QInputDialog

        url, accepted = QInputDialog.getText(
            None, "Open TIFF from URL", "URL of a TIFF (http, https, s3, gs):"
        )
        if not accepted:
            return []
    url = url.strip()
    if not url:
        return []
    try:
        return list(viewer.open(url, plugin="napari-tiffzarr"))
    except (ValueError, OSError) as exc:
        # napari says ValueError when the reader declines the URL; a failed read is a
        # TiffFileError (a ValueError) or, for the network, an OSError
        show_error(f"cannot open {url}: {exc}")
        return []
