"""A small HTTP server for tests: serves files from a dict, records every request.

:class:`RecordingServer` runs the standard library's
:class:`~http.server.ThreadingHTTPServer` in a thread, on a loopback address. It stands in
for an update server in end-to-end tests of the firmware's update client:

- ``GET`` (and ``HEAD``) answer from :attr:`RecordingServer.files`, keyed by the path
  without the query: a ``bytes`` value is served with 200, a ``(status, bytes)`` value as
  it is; a path not in it gets 404.
- ``PUT`` and ``POST`` store the body in :attr:`RecordingServer.uploads` (by path without
  the query) and answer :attr:`RecordingServer.upload_status` (201).
- Every request is recorded *before* it is answered (:class:`Recorded`: method, target with
  its query, headers, body, the client's address), so a client that has its answer finds
  its request in :attr:`RecordingServer.requests`.

Use it as a context manager (``with RecordingServer() as server: ...``); leaving it shuts
the server down and closes its socket.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qsl, urlsplit

__all__ = ["Recorded", "RecordingServer"]

#: Seconds between the server loop's checks for a shutdown request.
POLL_INTERVAL = 0.02


@dataclass(frozen=True)
class Recorded:
    """One request the server received."""

    method: str
    #: The request target as sent: the path with its query, percent-encoded.
    target: str
    #: The header fields in order, names as sent.
    headers: tuple[tuple[str, str], ...]
    body: bytes
    #: The peer's ``(address, port)``.
    client: tuple[str, int]

    @property
    def path(self) -> str:
        """The target without its query (still percent-encoded)."""
        return urlsplit(self.target).path

    @property
    def query(self) -> list[tuple[str, str]]:
        """The query arguments in order, decoded (blank values kept)."""
        return parse_qsl(urlsplit(self.target).query, keep_blank_values=True)

    def header(self, name: str) -> str | None:
        """The first header field called ``name`` (any case), or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: RecordingServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the requests are recorded instead."""

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            body = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailer fields
                    return bytes(body)
                body += self.rfile.read(size)
                self.rfile.readline()  # the CRLF after the chunk
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _record(self) -> Recorded:
        host, port = self.client_address[:2]
        request = Recorded(
            method=self.command,
            target=self.path,
            headers=tuple(self.headers.items()),
            body=self._read_body(),
            client=(str(host), int(port)),
        )
        self.server.owner._add(request)
        return request

    def _answer(self, status: int, body: bytes, *, send_body: bool = True) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if send_body and body:
            self.wfile.write(body)

    def _get(self, *, send_body: bool) -> None:
        request = self._record()
        found = self.server.owner.files.get(request.path)
        if found is None:
            self._answer(404, b"not found\n", send_body=send_body)
        elif isinstance(found, bytes):
            self._answer(200, found, send_body=send_body)
        else:
            self._answer(found[0], found[1], send_body=send_body)

    def do_GET(self) -> None:
        self._get(send_body=True)

    def do_HEAD(self) -> None:
        self._get(send_body=False)

    def do_PUT(self) -> None:
        request = self._record()
        owner = self.server.owner
        with owner._lock:
            owner.uploads[request.path] = request.body
        self._answer(owner.upload_status, b"")

    do_POST = do_PUT


class RecordingServer:
    """An HTTP server on ``(host, port)`` in a thread (module docstring); port 0: any free one."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        #: What ``GET`` serves, by path: ``bytes`` (200) or ``(status, bytes)``.
        self.files: dict[str, bytes | tuple[int, bytes]] = {}
        #: The bodies of ``PUT`` and ``POST`` requests, by path (the last one of each path).
        self.uploads: dict[str, bytes] = {}
        #: The status ``PUT`` and ``POST`` are answered with.
        self.upload_status = 201
        self._lock = threading.Lock()
        self._requests: list[Recorded] = []
        self._server = _Server((host, port), _Handler)
        self._server.owner = self
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http://host:port/``."""
        return f"http://{self.host}:{self.port}/"

    @property
    def requests(self) -> list[Recorded]:
        """The requests received so far, in order (a copy)."""
        with self._lock:
            return list(self._requests)

    def requests_for(self, path: str, method: str = "GET") -> list[Recorded]:
        """The requests of ``method`` for ``path`` (without the query)."""
        return [r for r in self.requests if r.path == path and r.method == method]

    def _add(self, request: Recorded) -> None:
        with self._lock:
            self._requests.append(request)

    def start(self) -> RecordingServer:
        """Serve in a background thread."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": POLL_INTERVAL},
                name=f"RecordingServer {self.host}:{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and close the listening socket (safe to call more than once)."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> RecordingServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
