"""Errors raised for problems in a file's content or in the use of a closed file.

Both are ValueErrors, as Python's own "I/O operation on closed file" is, but siblings:
``except TiffFileError`` is meant for corrupt or unsupported content and must not swallow a
close that happened meanwhile (a closed store would then show the fill value instead of
saying it is closed).
"""

from __future__ import annotations

__all__ = [
    "TiffClosedError",
    "TiffError",
    "TiffFileError",
    "TiffNoPagesError",
    "TiffTruncatedError",
]


class TiffError(ValueError):
    """Anything this package raises about a TIFF: bad content or a closed file."""


class TiffFileError(TiffError):
    """A file's content is not a TIFF we can read: says what is wrong and where."""


class TiffTruncatedError(TiffFileError):
    """A read reached past the end of the file."""


class TiffNoPagesError(TiffFileError, IndexError):
    """A page was asked of a file whose IFD chain reaches no page: an IndexError, as for
    any sequence, that says why the file has none."""


class TiffClosedError(TiffError):
    """The file or store was closed before or during a read."""
