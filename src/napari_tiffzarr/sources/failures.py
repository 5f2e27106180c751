"""What a failed remote request says to a person: "not found (HTTP 404)", not a bare URL.

fsspec reports most HTTP failures as ``FileNotFoundError(url)``, the answer's status only
in the exception's cause (aiohttp's ``ClientResponseError.status``), and a 404 on a read
with no cause at all.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus

__all__ = ["describe_failure", "status_of"]

# A cause chain is short; the bound only guards against a cycle.
_MAX_CHAIN = 8


def _chain(exc: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(found) < _MAX_CHAIN and current not in found:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def _own_status(exc: BaseException) -> int | None:
    # aiohttp's ClientResponseError has .status; requests' HTTPError has .response
    status = getattr(exc, "status", None)
    if not isinstance(status, int):
        status = getattr(getattr(exc, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of the answer that failed, from the exception or its causes."""
    for item in _chain(exc):
        status = _own_status(item)
        if status is not None:
            return status
    return None


def describe_failure(exc: BaseException, url: str) -> str:
    """A short reason: the HTTP status and its phrase where there was an answer."""
    status = status_of(exc)
    if status is not None:
        try:
            phrase = HTTPStatus(status).phrase.lower()
        except ValueError:
            phrase = "error"
        return f"{phrase} (HTTP {status})"
    is_http = url.startswith(("http://", "https://"))
    if isinstance(exc, FileNotFoundError):
        return "not found (HTTP 404)" if is_http else "not found"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "no answer in time"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
