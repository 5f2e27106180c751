"""Errors raised for problems in a file's content or in the use of a closed file."""

from __future__ import annotations

__all__ = ["TiffFileError", "TiffClosedError", "TiffTruncatedError"]


class TiffFileError(ValueError):
    """A file's content is not a TIFF we can read: says what is wrong and where."""


class TiffTruncatedError(TiffFileError):
    """A read reached past the end of the file."""


class TiffClosedError(TiffFileError):
    """The file or store was closed before or during a read."""
