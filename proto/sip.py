"""SIP messages (RFC 3261) and digest authentication (RFC 2617) for a UDP user agent.

Pure functions and frozen records: :func:`parse_message` turns one datagram into a
:class:`SipRequest` or :class:`SipResponse`, ``render()`` turns one back into bytes,
:func:`make_response` answers a request, :func:`authorization` answers a digest challenge.
Nothing here keeps state, reads a clock or touches a socket; the transactions and timers
are the caller's (:mod:`ipgwsim.firmware.conf`).

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

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Self
from urllib.parse import unquote

__all__ = [
    "BRANCH_MAGIC",
    "REASONS",
    "T1",
    "T2",
    "T4",
    "CSeq",
    "DigestChallenge",
    "MalformedSip",
    "NameAddr",
    "SipMessage",
    "SipRequest",
    "SipResponse",
    "SipUri",
    "Via",
    "authorization",
    "digest_response",
    "make_response",
    "parse_auth_params",
    "parse_challenge",
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

#: Compact forms (RFC 3261 section 7.3.3 and 20).
COMPACT = {
    "v": "Via",
    "f": "From",
    "t": "To",
    "i": "Call-ID",
    "m": "Contact",
    "l": "Content-Length",
    "c": "Content-Type",
    "k": "Supported",
    "s": "Subject",
    "e": "Content-Encoding",
}
_CANONICAL = {
    name.lower(): name
    for name in (
        "Accept", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow", "Authorization",
        "Call-ID", "Call-Info", "Contact", "Content-Disposition", "Content-Encoding",
        "Content-Language", "Content-Length", "Content-Type", "CSeq", "Date", "Error-Info",
        "Expires", "From", "In-Reply-To", "Max-Forwards", "Min-Expires", "MIME-Version",
        "Organization", "Priority", "Proxy-Authenticate", "Proxy-Authorization",
        "Proxy-Require", "Record-Route", "Reply-To", "Require", "Retry-After", "Route",
        "Server", "Subject", "Supported", "Timestamp", "To", "Unsupported", "User-Agent",
        "Via", "Warning", "WWW-Authenticate", "Allow-Events", "Event", "Session-Expires",
    )
}  # fmt: skip
#: Headers whose values are comma-separated lists (RFC 3261 7.3.1); others are never split.
_LIST_HEADERS = frozenset(
    ("via", "contact", "route", "record-route", "allow", "supported", "require",
     "proxy-require", "unsupported", "accept", "accept-encoding", "accept-language")
)  # fmt: skip

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

_TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

Params = tuple[tuple[str, str | None], ...]


class MalformedSip(ValueError):
    """Bytes that are no SIP message, or a header that does not parse; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# -- small grammar helpers ------------------------------------------------------------------


def canonical_name(name: str) -> str:
    """``v`` → ``Via``, ``call-id`` → ``Call-ID``; unknown names as given."""
    low = name.lower()
    return COMPACT.get(low) or _CANONICAL.get(low, name)


def split_list(value: str, sep: str = ",") -> list[str]:
    """``value`` split at ``sep`` outside quoted strings and ``<...>``; parts stripped."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    angle = 0
    for ch in value:
        if quoted:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "<":
            angle += 1
        elif ch == ">":
            angle = max(0, angle - 1)
        elif ch == sep and angle == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    if quoted:
        raise MalformedSip(f"unterminated quoted string in {value!r}")
    parts.append("".join(current).strip())
    return parts


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def _parse_params(parts: Iterable[str], what: str) -> Params:
    params: list[tuple[str, str | None]] = []
    for part in parts:
        name, eq, value = part.partition("=")
        name = name.strip()
        if not _TOKEN.fullmatch(name):
            raise MalformedSip(f"{what}: bad parameter {part!r}")
        params.append((name.lower(), _unquote(value) if eq else None))
    return tuple(params)


def _render_params(params: Params) -> str:
    return "".join(f";{n}" if v is None else f";{n}={v}" for n, v in params)


def _param(params: Params, name: str) -> str | None:
    return next((v for n, v in params if n == name.lower()), None)


def _has_param(params: Params, name: str) -> bool:
    return any(n == name.lower() for n, _ in params)


_NUMBER = re.compile(r"[0-9]{1,10}")


def parse_number(text: str) -> int | None:
    """``text`` as a whole number of 1 to 10 ASCII digits, or None (no ``²``, no Arabic
    digits, no 5,000-digit strings that make ``int()`` raise)."""
    return int(text) if _NUMBER.fullmatch(text) else None


def _port(text: str, what: str) -> int:
    number = parse_number(text)
    if number is None or not 0 < number < 65536:
        raise MalformedSip(f"{what}: bad port {text!r}")
    return number


def _host_port(text: str, what: str) -> tuple[str, int | None]:
    text = text.strip()
    if text.startswith("["):  # IPv6 reference
        host, bracket, rest = text.partition("]")
        if not bracket:
            raise MalformedSip(f"{what}: bad host {text!r}")
        host += "]"
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise MalformedSip(f"{what}: bad host {text!r}")
        return host, _port(rest[1:], what)
    host, colon, port = text.partition(":")
    if not host or not re.fullmatch(r"[A-Za-z0-9.\-_]+", host):
        raise MalformedSip(f"{what}: bad host {text!r}")
    return host, _port(port, what) if colon else None


# -- URIs, addresses, Via, CSeq ---------------------------------------------------------------


@dataclass(frozen=True)
class SipUri:
    """``sip:user:password@host:port;params?headers``; ``user`` as written (escapes kept)."""

    host: str
    user: str | None = None
    port: int | None = None
    params: Params = ()
    scheme: str = "sip"
    password: str | None = None
    headers: str = ""

    @property
    def user_text(self) -> str | None:
        """The user part with escapes decoded (``870%23`` → ``870#``)."""
        return None if self.user is None else unquote(self.user)

    def param(self, name: str) -> str | None:
        return _param(self.params, name)

    def render(self) -> str:
        userinfo = ""
        if self.user is not None:
            userinfo = self.user + ("" if self.password is None else ":" + self.password) + "@"
        port = "" if self.port is None else f":{self.port}"
        headers = f"?{self.headers}" if self.headers else ""
        return f"{self.scheme}:{userinfo}{self.host}{port}{_render_params(self.params)}{headers}"

    def __str__(self) -> str:
        return self.render()


def parse_uri(text: str) -> SipUri:
    """A ``sip:`` or ``sips:`` URI (RFC 3261 19.1); a raw ``#`` in the user part is taken."""
    text = text.strip()
    scheme, colon, rest = text.partition(":")
    if not colon or scheme.lower() not in ("sip", "sips"):
        raise MalformedSip(f"not a sip: URI: {text!r}")
    if not rest or any(ch in rest for ch in ' \t<>"') or _CONTROL.search(rest):
        raise MalformedSip(f"bad URI {text!r}")
    rest, _, headers = rest.partition("?")
    user: str | None = None
    password: str | None = None
    if "@" in rest:
        userinfo, _, rest = rest.rpartition("@")
        user, pcolon, pw = userinfo.partition(":")
        password = pw if pcolon else None
        if not user:
            raise MalformedSip(f"empty user part in {text!r}")
    hostport, *params = rest.split(";")
    host, port = _host_port(hostport, f"URI {text!r}")
    return SipUri(
        host.lower(),
        user,
        port,
        _parse_params(params, f"URI {text!r}"),
        scheme.lower(),
        password,
        headers,
    )


@dataclass(frozen=True)
class NameAddr:
    """A From, To, Contact, Route value: ``"display" <uri>;params`` (params: the header's)."""

    uri: str
    display: str | None = None
    params: Params = ()

    @property
    def tag(self) -> str | None:
        return _param(self.params, "tag")

    def param(self, name: str) -> str | None:
        return _param(self.params, name)

    def with_param(self, name: str, value: str | None) -> NameAddr:
        kept = tuple((n, v) for n, v in self.params if n != name.lower())
        return replace(self, params=(*kept, (name.lower(), value)))

    def sip_uri(self) -> SipUri:
        return parse_uri(self.uri)

    def render(self) -> str:
        display = ""
        if self.display:
            escaped = self.display.replace("\\", "\\\\").replace('"', '\\"')
            display = f'"{escaped}" '
        return f"{display}<{self.uri}>{_render_params(self.params)}"

    def __str__(self) -> str:
        return self.render()


def parse_name_addr(text: str) -> NameAddr:
    """``name-addr`` or ``addr-spec`` with header parameters (RFC 3261 20.10, 20.20, 20.39).

    Without ``<...>`` the parameters after the URI are the header's, not the URI's.
    """
    text = text.strip()
    if "<" in text:
        head, _, tail = text.partition("<")
        uri, closed, after = tail.partition(">")
        if not closed:
            raise MalformedSip(f"missing '>' in {text!r}")
        head = head.strip()
        if head.startswith('"') and (len(head) < 2 or not head.endswith('"')):
            raise MalformedSip(f"bad display name in {text!r}")
        display = _unquote(head) if head.startswith('"') else " ".join(head.split())
        params_text = after.strip()
        if params_text and not params_text.startswith(";"):
            raise MalformedSip(f"junk after '>' in {text!r}")
        params = split_list(params_text[1:], ";") if params_text else []
    else:
        uri, *params = split_list(text, ";")
        display = None
    if ":" not in uri or not uri.strip() or any(ch in uri.strip() for ch in ' \t<>"'):
        raise MalformedSip(f"bad URI in {text!r}")
    return NameAddr(uri.strip(), display or None, _parse_params(params, repr(text)))


@dataclass(frozen=True)
class Via:
    """One Via value: ``SIP/2.0/UDP host:port;branch=...;rport``."""

    host: str
    port: int | None = None
    params: Params = ()
    transport: str = "UDP"

    @property
    def branch(self) -> str | None:
        return _param(self.params, "branch")

    def param(self, name: str) -> str | None:
        return _param(self.params, name)

    def has_param(self, name: str) -> bool:
        return _has_param(self.params, name)

    def render(self) -> str:
        port = "" if self.port is None else f":{self.port}"
        return f"SIP/2.0/{self.transport} {self.host}{port}{_render_params(self.params)}"


def parse_via(text: str) -> Via:
    match = re.fullmatch(
        r"\s*SIP\s*/\s*2\.0\s*/\s*([A-Za-z0-9\-.!%*_+`'~]+)\s+([^;]+?)\s*(;.*)?", text, re.I
    )
    if match is None:
        raise MalformedSip(f"bad Via {text!r}")
    host, port = _host_port(match.group(2), f"Via {text!r}")
    params = split_list(match.group(3)[1:], ";") if match.group(3) else []
    return Via(host, port, _parse_params(params, f"Via {text!r}"), match.group(1).upper())


@dataclass(frozen=True)
class CSeq:
    number: int
    method: str

    def render(self) -> str:
        return f"{self.number} {self.method}"


def _parse_cseq(text: str) -> CSeq:
    parts = text.split()
    number = parse_number(parts[0]) if len(parts) == 2 else None
    if number is None or number >= 2**31 or not _TOKEN.fullmatch(parts[1]):
        raise MalformedSip(f"bad CSeq {text!r}")
    return CSeq(number, parts[1])


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
                out.extend(split_list(v) if wanted in _LIST_HEADERS else [v])
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
        return _parse_cseq(self._required("CSeq"))

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
        if not colon or not _TOKEN.fullmatch(name):
            raise MalformedSip(f"bad header line {line!r}")
        if _CONTROL.search(value):
            raise MalformedSip(f"control character in header {name}")
        headers.append((canonical_name(name), value.strip()))
    message: SipRequest | SipResponse
    if start.upper().startswith("SIP/"):
        version, _, tail = start.partition(" ")
        code, _, reason = tail.partition(" ")
        if version.upper() != SIP_VERSION:
            raise MalformedSip(f"not SIP/2.0: {start!r}")
        if not (len(code) == 3 and _NUMBER.fullmatch(code) and 100 <= int(code) < 700):
            raise MalformedSip(f"bad status line {start!r}")
        message = SipResponse(int(code), reason.strip(), tuple(headers))
    else:
        parts = start.split()
        if len(parts) != 3 or parts[2].upper() != SIP_VERSION:
            raise MalformedSip(f"bad request line {start!r}")
        method, uri, _ = parts
        if not _TOKEN.fullmatch(method) or ":" not in uri:
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


# -- digest authentication (RFC 2617) -------------------------------------------------------


def parse_auth_params(value: str) -> tuple[str, dict[str, str]]:
    """``Digest realm="x", nonce="y"`` → ``("Digest", {"realm": "x", "nonce": "y"})``."""
    scheme, _, rest = value.strip().partition(" ")
    if not _TOKEN.fullmatch(scheme):
        raise MalformedSip(f"bad authentication header {value!r}")
    params: dict[str, str] = {}
    for part in split_list(rest):
        if not part:
            continue
        name, eq, val = part.partition("=")
        if not eq or not _TOKEN.fullmatch(name.strip()):
            raise MalformedSip(f"bad authentication parameter {part!r}")
        params[name.strip().lower()] = _unquote(val)
    return scheme, params


@dataclass(frozen=True)
class DigestChallenge:
    """A ``WWW-Authenticate`` or ``Proxy-Authenticate`` digest challenge."""

    realm: str
    nonce: str
    opaque: str | None = None
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    stale: bool = False

    @property
    def supported(self) -> bool:
        """Whether :func:`authorization` can answer it (MD5 or MD5-sess)."""
        return self.algorithm.upper() in ("MD5", "MD5-SESS")


def parse_challenge(value: str) -> DigestChallenge:
    scheme, params = parse_auth_params(value)
    if scheme.lower() != "digest":
        raise MalformedSip(f"not a digest challenge: {value!r}")
    if "realm" not in params or "nonce" not in params:
        raise MalformedSip(f"digest challenge without realm or nonce: {value!r}")
    qop = tuple(q.strip().lower() for q in params.get("qop", "").split(",") if q.strip())
    return DigestChallenge(
        params["realm"],
        params["nonce"],
        params.get("opaque"),
        params.get("algorithm", "MD5"),
        qop,
        params.get("stale", "").lower() == "true",
    )


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def digest_response(
    *,
    username: str,
    password: str,
    realm: str,
    nonce: str,
    method: str,
    uri: str,
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
    algorithm: str = "MD5",
    body: bytes = b"",
) -> str:
    """The ``response`` value (RFC 2617 3.2.2.1): with ``qop`` (``auth``, ``auth-int``) it
    covers ``nc`` and ``cnonce``; without, it is RFC 2069's ``MD5(HA1:nonce:HA2)``."""
    ha1 = _md5(f"{username}:{realm}:{password}")
    if algorithm.upper() == "MD5-SESS":
        ha1 = _md5(f"{ha1}:{nonce}:{cnonce}")
    elif algorithm.upper() != "MD5":
        raise ValueError(f"digest algorithm {algorithm} is not supported")
    a2 = f"{method}:{uri}"
    if qop == "auth-int":
        a2 += ":" + hashlib.md5(body, usedforsecurity=False).hexdigest()
    ha2 = _md5(a2)
    if qop is None:
        return _md5(f"{ha1}:{nonce}:{ha2}")
    return _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


def authorization(
    challenge: DigestChallenge,
    *,
    username: str,
    password: str,
    method: str,
    uri: str,
    cnonce: str,
    nc: int = 1,
) -> str:
    """The ``Authorization`` (or ``Proxy-Authorization``) value answering ``challenge``.

    ``qop=auth`` when the challenge offers it, no qop when it offers none (RFC 2069
    compatibility); a challenge offering only ``auth-int`` is answered with it (an empty
    body: REGISTER carries none).
    """
    qop: str | None = None
    if "auth" in challenge.qop:
        qop = "auth"
    elif "auth-int" in challenge.qop:
        qop = "auth-int"
    count = f"{nc:08x}"
    response = digest_response(
        username=username,
        password=password,
        realm=challenge.realm,
        nonce=challenge.nonce,
        method=method,
        uri=uri,
        qop=qop,
        nc=count,
        cnonce=cnonce,
        algorithm=challenge.algorithm,
    )
    fields = [
        f'username="{username}"',
        f'realm="{challenge.realm}"',
        f'nonce="{challenge.nonce}"',
        f'uri="{uri}"',
        f'response="{response}"',
        f"algorithm={challenge.algorithm}",
    ]
    if challenge.opaque is not None:
        fields.append(f'opaque="{challenge.opaque}"')
    if qop is not None:
        fields += [f"qop={qop}", f"nc={count}", f'cnonce="{cnonce}"']
    return "Digest " + ", ".join(fields)
