"""SIP messages (RFC 3261) for a UDP user agent.

Pure functions and frozen records: :func:`parse_message` turns one datagram into a
:class:`SipRequest` or :class:`SipResponse`, ``render()`` turns one back into bytes,
:func:`make_response` answers a request. The header grammar (URIs, name-addrs, Via, CSeq)
is :mod:`ipgwsim.proto.sipheaders`, digest authentication :mod:`ipgwsim.proto.sipdigest`.
Nothing here keeps state, reads a clock or touches a socket; the transactions and timers
are the caller's (:mod:`ipgwsim.firmware.conftransactions`).

DECISION, written here rather than taken from PyPI: the one well-kept pure-Python SIP
message library (``sipmessage`` 0.7.1, BSD, released 2026-02) parses without I/O, but it
takes the body as everything after the blank line (Content-Length is not respected), does
not unfold continuation lines, needs CRLF, raises bare ``ValueError``/``KeyError``/
``UnicodeDecodeError``, computes no digest and builds no response; wrapping all of that
would be most of this module, and a new runtime dependency. The other candidates are whole
stacks with their own sockets, threads or asyncio loops (``sippy``, ``pyVoIP`` and its fork
``rfcvoip``, ``aiosip``, ``opensip``) and do not fit a sans-I/O core.

Parsing (RFC 3261 section 7):

- CRLFs before the start line are skipped (7.5); lines may end in CRLF or a bare LF;
  a line that starts with a blank continues the header before it (folding, joined with one
  blank); header names are case-insensitive and the compact forms ``v f t i m l c k s e``
  are read as their long names (known names are spelled canonically, ``call-id`` →
  ``Call-ID``).
- The body is ``Content-Length`` bytes; more bytes in the datagram are ignored, fewer are
  malformed; without ``Content-Length`` the body runs to the end of the datagram (18.3).
- Every message needs Via, From, To, Call-ID and CSeq, all of which must parse; a
  request's CSeq method must be its method. Anything else wrong is :class:`MalformedSip`,
  whose ``reason`` says what.
- ``render()`` writes long names in the order kept and sets ``Content-Length`` to the
  body's length (in place, or appended), so ``parse_message(m.render())`` gives ``m`` back
  with a right ``Content-Length``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Self

from ipgwsim.proto.sipheaders import (
    CONTROL,
    LIST_HEADERS,
    NUMBER,
    TOKEN,
    CSeq,
    MalformedSip,
    NameAddr,
    SipUri,
    Via,
    canonical_name,
    parse_cseq,
    parse_name_addr,
    parse_number,
    parse_uri,
    parse_via,
    split_list,
)

__all__ = [
    "BRANCH_MAGIC",
    "REASONS",
    "T1",
    "T2",
    "T4",
    "CSeq",
    "MalformedSip",
    "NameAddr",
    "SipMessage",
    "SipRequest",
    "SipResponse",
    "SipUri",
    "Via",
    "make_response",
    "parse_message",
    "parse_name_addr",
    "parse_number",
    "parse_uri",
    "parse_via",
    "split_list",
]

#: RFC 3261 timer values (17.1.1.1): round-trip estimate, the longest retransmit interval,
#: and how long the network may hold a message.
T1 = 0.5
T2 = 4.0
T4 = 5.0
#: Branches of RFC 3261 clients start with this (8.1.1.7).
BRANCH_MAGIC = "z9hG4bK"
SIP_VERSION = "SIP/2.0"

#: Reason phrases of the status codes the simulator sends (RFC 3261 section 21).
REASONS = {
    100: "Trying",
    180: "Ringing",
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    423: "Interval Too Brief",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    500: "Server Internal Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    603: "Decline",
}

# -- messages ---------------------------------------------------------------------------------

Headers = tuple[tuple[str, str], ...]


class SipMessage:
    """What requests and responses share: their headers and body, and accessors."""

    headers: Headers
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case, compact forms too), or None."""
        wanted = canonical_name(name).lower()
        return next((v for n, v in self.headers if n.lower() == wanted), None)

    def header_values(self, name: str) -> list[str]:
        """Every value of ``name``, list headers split at their commas."""
        wanted = canonical_name(name).lower()
        out: list[str] = []
        for n, v in self.headers:
            if n.lower() == wanted:
                out.extend(split_list(v) if wanted in LIST_HEADERS else [v])
        return [v for v in out if v]

    def _with_headers(self, headers: Headers) -> Self:
        raise NotImplementedError

    def with_header(self, name: str, value: str) -> Self:
        """A copy with ``name: value`` appended."""
        return self._with_headers((*self.headers, (canonical_name(name), value)))

    def without_header(self, name: str) -> Self:
        wanted = canonical_name(name).lower()
        return self._with_headers(tuple((n, v) for n, v in self.headers if n.lower() != wanted))

    def replacing_header(self, name: str, value: str) -> Self:
        """Header ``name`` set to ``value``: in place of the first, the others removed."""
        wanted = canonical_name(name).lower()
        out: list[tuple[str, str]] = []
        done = False
        for n, v in self.headers:
            if n.lower() != wanted:
                out.append((n, v))
            elif not done:
                out.append((n, value))
                done = True
        if not done:
            out.append((canonical_name(name), value))
        return self._with_headers(tuple(out))

    # Headers every message has (checked by parse_message).

    def _required(self, name: str) -> str:
        value = self.header(name)
        if value is None:
            raise MalformedSip(f"no {name}")
        return value

    @property
    def call_id(self) -> str:
        return self._required("Call-ID").strip()

    @property
    def cseq(self) -> CSeq:
        return parse_cseq(self._required("CSeq"))

    @property
    def from_(self) -> NameAddr:
        return parse_name_addr(self._required("From"))

    @property
    def to(self) -> NameAddr:
        return parse_name_addr(self._required("To"))

    @property
    def vias(self) -> list[Via]:
        return [parse_via(v) for v in self.header_values("Via")]

    @property
    def via(self) -> Via:
        """The top Via."""
        vias = self.vias
        if not vias:
            raise MalformedSip("no Via")
        return vias[0]

    @property
    def branch(self) -> str | None:
        return self.via.branch

    @property
    def contacts(self) -> list[NameAddr]:
        """The Contact values (``*`` is left out)."""
        return [parse_name_addr(v) for v in self.header_values("Contact") if v != "*"]

    @property
    def expires(self) -> int | None:
        return self.int_header("Expires")

    @property
    def content_type(self) -> str | None:
        value = self.header("Content-Type")
        return None if value is None else value.split(";", 1)[0].strip().lower()

    def int_header(self, name: str) -> int | None:
        """Header ``name`` as a whole number (Expires, Min-Expires, Max-Forwards), or None."""
        value = self.header(name)
        if value is None:
            return None
        number = parse_number(value.strip())
        if number is None:
            raise MalformedSip(f"{name} {value.strip()!r}: not a number")
        return number

    def _render(self, start: str) -> bytes:
        message = self.replacing_header("Content-Length", str(len(self.body)))
        lines = [start, *(f"{n}: {v}" for n, v in message.headers)]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body


@dataclass(frozen=True)
class SipRequest(SipMessage):
    method: str
    uri: str
    headers: Headers = ()
    body: bytes = b""

    def _with_headers(self, headers: Headers) -> Self:
        return replace(self, headers=headers)

    def render(self) -> bytes:
        return self._render(f"{self.method} {self.uri} {SIP_VERSION}")

    @property
    def request_uri(self) -> SipUri:
        return parse_uri(self.uri)


@dataclass(frozen=True)
class SipResponse(SipMessage):
    status: int
    reason: str = ""
    headers: Headers = ()
    body: bytes = b""

    def _with_headers(self, headers: Headers) -> Self:
        return replace(self, headers=headers)

    def render(self) -> bytes:
        return self._render(f"{SIP_VERSION} {self.status} {self.reason}".rstrip())


def _lines(data: bytes) -> tuple[list[str], bytes]:
    """The header lines (start line first, folding undone) and the rest of the datagram."""
    pos = 0
    while data.startswith(b"\r\n", pos) or data.startswith(b"\n", pos):
        pos += 2 if data.startswith(b"\r\n", pos) else 1
    raw: list[bytes] = []
    while True:
        end = data.find(b"\n", pos)
        if end < 0:
            raise MalformedSip("no empty line after the headers")
        line = data[pos:end].removesuffix(b"\r")
        pos = end + 1
        if not line:
            break
        raw.append(line)
    if not raw:
        raise MalformedSip("empty message")
    try:
        text = [line.decode("utf-8") for line in raw]
    except UnicodeDecodeError:
        raise MalformedSip("header bytes are not UTF-8") from None
    lines: list[str] = []
    for item in text:
        if item[:1] in (" ", "\t"):
            if len(lines) < 2:
                raise MalformedSip("a continuation line without a header before it")
            lines[-1] = lines[-1].rstrip() + " " + item.strip()
        else:
            lines.append(item)
    return lines, data[pos:]


def parse_message(data: bytes) -> SipRequest | SipResponse:
    """One SIP message from one datagram; :class:`MalformedSip` if it is none."""
    lines, rest = _lines(data)
    start, header_lines = lines[0], lines[1:]
    headers: list[tuple[str, str]] = []
    for line in header_lines:
        name, colon, value = line.partition(":")
        name = name.rstrip(" \t")
        if not colon or not TOKEN.fullmatch(name):
            raise MalformedSip(f"bad header line {line!r}")
        if CONTROL.search(value):
            raise MalformedSip(f"control character in header {name}")
        headers.append((canonical_name(name), value.strip()))
    message: SipRequest | SipResponse
    if start.upper().startswith("SIP/"):
        version, _, tail = start.partition(" ")
        code, _, reason = tail.partition(" ")
        if version.upper() != SIP_VERSION:
            raise MalformedSip(f"not SIP/2.0: {start!r}")
        if not (len(code) == 3 and NUMBER.fullmatch(code) and 100 <= int(code) < 700):
            raise MalformedSip(f"bad status line {start!r}")
        message = SipResponse(int(code), reason.strip(), tuple(headers))
    else:
        parts = start.split()
        if len(parts) != 3 or parts[2].upper() != SIP_VERSION:
            raise MalformedSip(f"bad request line {start!r}")
        method, uri, _ = parts
        if not TOKEN.fullmatch(method) or ":" not in uri:
            raise MalformedSip(f"bad request line {start!r}")
        message = SipRequest(method, uri, tuple(headers))
    lengths = {v.strip() for n, v in headers if n == "Content-Length"}
    if len(lengths) > 1:
        raise MalformedSip("Content-Length given twice, with different values")
    if lengths:
        (length,) = lengths
        size = parse_number(length)
        if size is None:
            raise MalformedSip(f"bad Content-Length {length!r}")
        if size > len(rest):
            raise MalformedSip(f"Content-Length {length}, but only {len(rest)} bytes follow")
        rest = rest[:size]
    message = replace(message, body=rest)
    _check(message)
    return message


#: Headers a message may have only once (RFC 3261 7.3.1: only list headers repeat); a
#: second one is malformed, so every reader sees the one value :func:`_check` validated.
_SINGLE = ("From", "To", "Call-ID", "CSeq", "Max-Forwards", "Expires", "Min-Expires",
           "Content-Type")  # fmt: skip


def _check(message: SipRequest | SipResponse) -> None:
    """The headers a transaction needs are there, once, and parse."""
    for name in ("Via", "From", "To", "Call-ID", "CSeq"):
        if message.header(name) is None:
            raise MalformedSip(f"no {name}")
    for name in _SINGLE:
        if sum(1 for n, _ in message.headers if n == name) > 1:
            raise MalformedSip(f"{name} given more than once")
    for name in ("Max-Forwards", "Expires", "Min-Expires"):
        message.int_header(name)
    if not message.call_id:
        raise MalformedSip("empty Call-ID")
    _ = (message.vias, message.from_, message.to)
    cseq = message.cseq
    if isinstance(message, SipRequest) and cseq.method != message.method:
        raise MalformedSip(f"CSeq method {cseq.method} in a {message.method} request")


def make_response(
    request: SipRequest,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
) -> SipResponse:
    """The response to ``request`` (RFC 3261 8.2.6.2): its Vias (in order), From, To with
    ``to_tag`` added unless it has a tag, Call-ID and CSeq; then ``headers``."""
    copied: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name, value in request.headers:
        if name in seen and name != "Via":  # parse_message refuses these twice
            continue
        seen.add(name)
        if name in ("Via", "From", "Call-ID", "CSeq"):
            copied.append((name, value))
        elif name == "To":
            to = request.to
            tagged = to_tag is not None and to.tag is None and status != 100
            copied.append((name, f"{value};tag={to_tag}" if tagged else value))
    extra = tuple((canonical_name(n), v) for n, v in headers)
    phrase = REASONS.get(status, "") if reason is None else reason
    return SipResponse(status, phrase, (*copied, *extra), body)
