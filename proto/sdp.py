"""Minimal SDP offer/answer (RFC 4566, RFC 3264) for G.711 audio with telephone-event.

:func:`parse_sdp` reads what an offer needs (``o=``, ``c=`` at session and media level,
``m=`` lines, ``a=rtpmap``, ``a=ptime``, the direction attributes); :func:`negotiate`
picks the media the conference bridge can take; :func:`render_answer` writes the answer.
Pure functions, no I/O. Numbers are 1 to 10 ASCII digits (``str.isdigit`` would take
``²`` and Arabic digits); anything else is :class:`SdpError`.

Choices:

- The first ``m=audio`` line with a port other than 0 and the profile ``RTP/AVP`` is used;
  every other ``m=`` line is refused in the answer with port 0 (RFC 3264 6: the answer has
  as many ``m=`` lines as the offer, in its order).
- Codecs: PCMA (static payload type 8) if offered, else PCMU (0): A-law first, as on an
  innovaphone gateway in Europe. Only the static numbers count (an ``a=rtpmap`` that
  maps 0 or 8 to another codec takes it away); a dynamic payload type for G.711 is not
  taken.
- ``telephone-event/8000`` (RFC 4733) is answered when the offer has it as payload type
  101, the number the mixer reads events at; another number is left out of the answer
  (then the caller has no RFC 2833 digits).
- No common codec, no usable audio line, an IPv6 connection or a ``c=`` that is no IPv4
  literal (a host name would need DNS) → :class:`NotAcceptable`
  (the caller answers 488). Text that is no SDP → :class:`SdpError`.
- The answer's direction mirrors the offer's (sendonly → recvonly, recvonly → sendonly,
  inactive → inactive, otherwise sendrecv); ``a=ptime:20`` (the mixer's frames).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, replace

from ipgwsim.proto.net import Address

__all__ = [
    "PT_EVENT",
    "PT_PCMA",
    "PT_PCMU",
    "MediaDescription",
    "Negotiated",
    "NotAcceptable",
    "SdpError",
    "SessionDescription",
    "negotiate",
    "parse_sdp",
    "render_answer",
]

PT_PCMU, PT_PCMA, PT_EVENT = 0, 8, 101
#: Milliseconds of audio per packet the bridge sends.
PTIME = 20
_ENCODINGS = {PT_PCMU: "PCMU/8000", PT_PCMA: "PCMA/8000"}
_DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
_MIRROR = {
    "sendrecv": "sendrecv",
    "sendonly": "recvonly",
    "recvonly": "sendonly",
    "inactive": "inactive",
}


_NUMBER = re.compile(r"[0-9]{1,10}")


def _number(text: str) -> int | None:
    """1 to 10 ASCII digits as a number, else None (``isdigit`` takes ``²`` and ``٣``)."""
    return int(text) if _NUMBER.fullmatch(text) else None


class SdpError(ValueError):
    """A body that is no usable SDP; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotAcceptable(SdpError):
    """A well-formed offer with nothing the bridge can take (SIP 488)."""


@dataclass(frozen=True)
class MediaDescription:
    """One ``m=`` line and its attributes."""

    media: str
    port: int
    proto: str
    formats: tuple[str, ...]
    #: The ``c=`` address of this line, or None (the session's applies).
    connection: str | None = None
    #: ``a=rtpmap``: payload type → ``encoding/rate`` (lower-case encoding name kept as sent).
    rtpmap: tuple[tuple[int, str], ...] = ()
    ptime: int | None = None
    direction: str | None = None

    def encoding(self, payload_type: int) -> str | None:
        """``PCMA/8000`` for 8: the rtpmap's, else the static assignment's."""
        mapped = dict(self.rtpmap).get(payload_type)
        if mapped is not None:
            return mapped
        return _ENCODINGS.get(payload_type)


@dataclass(frozen=True)
class SessionDescription:
    origin: str
    connection: str | None
    media: tuple[MediaDescription, ...]
    direction: str | None = None


def _connection(value: str, line: str) -> str:
    parts = value.split()
    if len(parts) != 3 or parts[0] != "IN":
        raise SdpError(f"bad c= line {line!r}")
    if parts[1] != "IP4":
        raise NotAcceptable(f"only IPv4 connections are taken: {line!r}")
    address = parts[2].split("/", 1)[0]
    try:
        ipaddress.IPv4Address(address)
    except ValueError:
        # a host name would need a DNS lookup for every packet: refused (488)
        raise NotAcceptable(f"c= is no IPv4 address: {line!r}") from None
    return address


def parse_sdp(body: bytes) -> SessionDescription:
    """The parts of an SDP body an answer needs; :class:`SdpError` if it is no SDP."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SdpError("SDP is not UTF-8") from None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != "v=0":
        raise SdpError("no v=0 line first")
    session = SessionDescription("", None, ())
    media: list[MediaDescription] = []
    for line in lines[1:]:
        kind, eq, value = line.partition("=")
        if not eq or len(kind) != 1:
            raise SdpError(f"bad line {line!r}")
        if kind == "o":
            session = replace(session, origin=value)
        elif kind == "m":
            media.append(_m_line(value, line))
        elif kind == "c" and media:
            media[-1] = replace(media[-1], connection=_connection(value, line))
        elif kind == "c":
            session = replace(session, connection=_connection(value, line))
        elif kind == "a":
            name, _, arg = value.partition(":")
            arg = arg.strip()
            if name in _DIRECTIONS and media:
                media[-1] = replace(media[-1], direction=name)
            elif name in _DIRECTIONS:
                session = replace(session, direction=name)
            elif name == "rtpmap" and media:
                pt, _, encoding = arg.partition(" ")
                number = _number(pt)
                if number is None or not encoding.strip():
                    raise SdpError(f"bad rtpmap {line!r}")
                entry = (number, encoding.strip())
                media[-1] = replace(media[-1], rtpmap=(*media[-1].rtpmap, entry))
            elif name == "ptime" and media and (ptime := _number(arg)) is not None:
                media[-1] = replace(media[-1], ptime=ptime)
    if not session.origin:
        raise SdpError("no o= line")
    return replace(session, media=tuple(media))


def _m_line(value: str, line: str) -> MediaDescription:
    parts = value.split()
    port = _number(parts[1].split("/", 1)[0]) if len(parts) >= 4 else None
    if port is None or port > 65535:
        raise SdpError(f"bad m= line {line!r}")
    return MediaDescription(parts[0], port, parts[2], tuple(parts[3:]))


@dataclass(frozen=True)
class Negotiated:
    """What an answer to an offer settles."""

    #: Index of the ``m=`` line taken.
    index: int
    payload_type: int
    #: 101 if telephone-event is answered, else None.
    event_type: int | None
    #: Where the caller wants the RTP.
    remote: Address
    #: The answer's direction attribute.
    direction: str


def negotiate(offer: SessionDescription) -> Negotiated:
    """Pick PCMA or PCMU (and telephone-event 101) from ``offer``; :class:`NotAcceptable`."""
    for index, m in enumerate(offer.media):
        if m.media != "audio" or m.port == 0 or m.proto.upper() != "RTP/AVP":
            continue
        offered = {n for f in m.formats if (n := _number(f)) is not None}
        chosen = next(
            (pt for pt in (PT_PCMA, PT_PCMU) if pt in offered and _is(m, pt, _ENCODINGS[pt])),
            None,
        )
        if chosen is None:
            continue
        address = m.connection or offer.connection
        if address is None:
            raise NotAcceptable("no c= line for the audio")
        has_event = PT_EVENT in offered and _is(m, PT_EVENT, "telephone-event/8000")
        event = PT_EVENT if has_event else None
        direction = m.direction or offer.direction or "sendrecv"
        return Negotiated(index, chosen, event, (address, m.port), _MIRROR[direction])
    raise NotAcceptable("no audio line with PCMA or PCMU over RTP/AVP")


def _is(m: MediaDescription, pt: int, encoding: str) -> bool:
    found = m.encoding(pt)
    return found is not None and found.lower() == encoding.lower()


def render_answer(
    offer: SessionDescription,
    chosen: Negotiated,
    *,
    ip: str,
    port: int,
    session_id: int,
    version: int = 1,
    username: str = "-",
) -> bytes:
    """The answer to ``offer``: ``chosen`` on ``ip:port``, every other ``m=`` line refused."""
    lines = [
        "v=0",
        f"o={username} {session_id} {version} IN IP4 {ip}",
        "s=-",
        f"c=IN IP4 {ip}",
        "t=0 0",
    ]
    for index, m in enumerate(offer.media):
        if index != chosen.index:
            lines.append(f"m={m.media} 0 {m.proto} {m.formats[0]}")
            continue
        formats = [chosen.payload_type]
        if chosen.event_type is not None:
            formats.append(chosen.event_type)
        lines.append(f"m=audio {port} RTP/AVP {' '.join(map(str, formats))}")
        lines.append(f"a=rtpmap:{chosen.payload_type} {_ENCODINGS[chosen.payload_type]}")
        if chosen.event_type is not None:
            lines.append(f"a=rtpmap:{chosen.event_type} telephone-event/8000")
            lines.append(f"a=fmtp:{chosen.event_type} 0-15")
        lines.append(f"a=ptime:{PTIME}")
        lines.append(f"a={chosen.direction}")
    return ("\r\n".join(lines) + "\r\n").encode("ascii")
