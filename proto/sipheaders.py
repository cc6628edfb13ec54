"""SIP header grammar (RFC 3261 sections 7.3, 19, 20, 25): names, lists, parameters, URIs,
name-addrs, Via and CSeq, as frozen records with ``parse_*`` and ``render()``.

Pure functions, no state; :mod:`ipgwsim.proto.sip` builds messages from these and
:mod:`ipgwsim.proto.sipdigest` reads authentication headers with them. Anything that does
not parse is :class:`MalformedSip`, whose ``reason`` says what.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from urllib.parse import unquote

__all__ = [
    "COMPACT",
    "CONTROL",
    "LIST_HEADERS",
    "NUMBER",
    "TOKEN",
    "CSeq",
    "MalformedSip",
    "NameAddr",
    "Params",
    "SipUri",
    "Via",
    "canonical_name",
    "parse_cseq",
    "parse_name_addr",
    "parse_number",
    "parse_uri",
    "parse_via",
    "split_list",
    "unquote_string",
]

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
LIST_HEADERS = frozenset(
    ("via", "contact", "route", "record-route", "allow", "supported", "require",
     "proxy-require", "unsupported", "accept", "accept-encoding", "accept-language")
)  # fmt: skip

TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

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


def unquote_string(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def _parse_params(parts: Iterable[str], what: str) -> Params:
    params: list[tuple[str, str | None]] = []
    for part in parts:
        name, eq, value = part.partition("=")
        name = name.strip()
        if not TOKEN.fullmatch(name):
            raise MalformedSip(f"{what}: bad parameter {part!r}")
        params.append((name.lower(), unquote_string(value) if eq else None))
    return tuple(params)


def _render_params(params: Params) -> str:
    return "".join(f";{n}" if v is None else f";{n}={v}" for n, v in params)


def _param(params: Params, name: str) -> str | None:
    return next((v for n, v in params if n == name.lower()), None)


def _has_param(params: Params, name: str) -> bool:
    return any(n == name.lower() for n, _ in params)


NUMBER = re.compile(r"[0-9]{1,10}")


def parse_number(text: str) -> int | None:
    """``text`` as a whole number of 1 to 10 ASCII digits, or None (no ``²``, no Arabic
    digits, no 5,000-digit strings that make ``int()`` raise)."""
    return int(text) if NUMBER.fullmatch(text) else None


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
    if not rest or any(ch in rest for ch in ' \t<>"') or CONTROL.search(rest):
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
        display = unquote_string(head) if head.startswith('"') else " ".join(head.split())
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


def parse_cseq(text: str) -> CSeq:
    parts = text.split()
    number = parse_number(parts[0]) if len(parts) == 2 else None
    if number is None or number >= 2**31 or not TOKEN.fullmatch(parts[1]):
        raise MalformedSip(f"bad CSeq {text!r}")
    return CSeq(number, parts[1])
