"""A local HTTP server with range requests that counts what it is asked; test constants.

A module of its own, not conftest: every test folder has a conftest, and a test that
imports 'conftest' gets whichever the suite collected first."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np

_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


@dataclass
class Served:
    """What the server was asked: one (method, Range header) per request."""

    requests: list[tuple[str, str | None]] = field(default_factory=list)
    # the file (URL path) of each request, in the same order
    paths: list[str] = field(default_factory=list)
    # every fail_every-th request fails: "status" answers 500, "drop" closes the connection
    fail_every: int = 0
    failure: str = "status"
    # answer every GET with the whole file, as a server without range support does
    ignore_ranges: bool = False
    # accept the connection and never answer, until release is set
    stall: bool = False
    # seconds every request waits before its answer, as a distant server's round trip
    latency: float = 0.0
    # file name -> the HTTP status every request for it gets (403, 410, ...), no body
    statuses: dict[str, int] = field(default_factory=dict)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, method: str, byte_range: str | None, path: str = "") -> int:
        with self.lock:
            self.requests.append((method, byte_range))
            self.paths.append(path)
            return len(self.requests)

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.paths.clear()

    def of(self, name: str) -> list[tuple[str, str | None]]:
        """The requests for the file name."""
        with self.lock:
            return [
                request
                for request, path in zip(self.requests, self.paths, strict=True)
                if path.rsplit("/", 1)[-1] == name
            ]

    @property
    def gets(self) -> int:
        return sum(1 for method, _ in self.requests if method == "GET")


class RangeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path, served: Served) -> None:
        super().__init__(("127.0.0.1", 0), RangeHandler)
        self.root = root
        self.served = served

    def url(self, name: str) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/{name}"


class RangeHandler(BaseHTTPRequestHandler):
    """Files under the server's root, whole or in one byte range (206, Content-Range).

    http.server's SimpleHTTPRequestHandler ignores Range headers, which is why this exists.
    """

    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    # headers and body go in two writes: without this, Nagle's algorithm and the
    # client's delayed ACK hold every response back 40 ms, which real servers do not
    disable_nagle_algorithm = True
    server: RangeServer

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def _serve(self, *, body: bool) -> None:
        served = self.server.served
        number = served.count(
            self.command, self.headers.get("Range"), unquote(urlsplit(self.path).path)
        )
        if served.latency:
            time.sleep(served.latency)
        if served.stall:
            served.release.wait(60)  # bounded, so a forgotten release cannot hang the suite
            self.close_connection = True
            return
        if served.fail_every and number % served.fail_every == 0:
            if served.failure == "drop":
                self.close_connection = True  # no answer at all: the socket closes
                return
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path = self.server.root / unquote(urlsplit(self.path).path).lstrip("/")
        status = served.statuses.get(path.name)
        if status is not None or not path.is_file():
            self.send_response(404 if status is None else status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = path.read_bytes()
        start, end = 0, len(data)
        match = None if served.ignore_ranges else _RANGE.match(self.headers.get("Range", ""))
        if match:
            start = int(match.group(1))
            end = min(int(match.group(2)) + 1 if match.group(2) else len(data), len(data))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start))
        self.end_headers()
        if body:
            self.wfile.write(data[start:end])

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: the test counts requests instead


@contextmanager
def serving(root: Path) -> Iterator[RangeServer]:
    """A server on 127.0.0.1 for the files in root, on a thread, shut down on exit;
    server.served counts requests."""
    httpd = RangeServer(root, Served())
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def gradient_rgb(size: int) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size]
    rgb = np.stack([x * 255 // size, y * 255 // size, (x * y) % 251], axis=-1)
    return rgb.astype(np.uint8)


PYRAMID_SIZE = 2048
PYRAMID_LEVELS = 4  # 2048, 1024, 512, 256
TILE = 256
