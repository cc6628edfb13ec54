"""HTTP as a device sees it, sans-I/O: the requests it answers and the fetches it asks for.

The runtime owns the sockets (an HTTP server per device address, an HTTP client for
the update server). Between it and the firmware only these plain values pass:

- :class:`HttpRequest` → ``Firmware.http(request, now)`` → :class:`HttpResponse`: the
  admin web server (``http://<ip>/!<command>``, ``/cfg.txt``, ...). The runtime has
  parsed the request already; ``credentials`` are the decoded HTTP Basic credentials.
- :class:`Fetch` (inside a ``FetchRequested`` event) → the runtime makes the request →
  :class:`FetchResult` → ``Device.fetch_done(result, now)``: the update client's script,
  firmware and config downloads and ``scfg`` uploads.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = ["Fetch", "FetchResult", "HttpRequest", "HttpResponse"]

TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class Fetch:
    """One HTTP request the firmware asks the runtime to make."""

    #: Chosen by the firmware; the result carries it back.
    request_id: int
    #: ``GET`` or ``PUT``.
    method: str
    url: str
    body: bytes | None = None
    #: What it is for, in a few words (``update script``, ``firmware``): for logs.
    purpose: str = ""


@dataclass(frozen=True)
class FetchResult:
    """What came of a :class:`Fetch`: a response (any status), or an error without one."""

    request_id: int
    #: The HTTP status, ``None`` when no response came (``error`` says why).
    status: int | None
    body: bytes = b""
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def describe(self) -> str:
        """``HTTP 404`` or the error, for a log line."""
        if self.status is None:
            return self.error or "no response"
        return f"HTTP {self.status}"


@dataclass(frozen=True)
class HttpRequest:
    """One request to a device's web server, as the runtime parsed it."""

    method: str
    #: The request target as sent (path and query, percent-encoded).
    target: str
    #: HTTP Basic credentials ``(user, password)``, or None when the request had none.
    credentials: tuple[str, str] | None = None
    body: bytes = b""
    content_type: str = ""
    #: The client's address as the server saw it ("" when unknown): whose logins count.
    client: str = ""

    @property
    def path(self) -> str:
        """The path, percent-decoded (``/!mod cmd FLASHMAN0 info state``)."""
        return unquote(urlsplit(self.target).path)

    @property
    def query(self) -> dict[str, str]:
        """The query arguments (the last value of each name)."""
        return dict(parse_qsl(urlsplit(self.target).query, keep_blank_values=True))


@dataclass(frozen=True)
class HttpResponse:
    """What the device answers."""

    status: int
    body: bytes = b""
    content_type: str = TEXT
    #: Extra headers (``WWW-Authenticate`` with a 401).
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def text(
        cls, status: int, text: str, *, headers: tuple[tuple[str, str], ...] = ()
    ) -> HttpResponse:
        return cls(status, text.encode("utf-8"), TEXT, headers)
