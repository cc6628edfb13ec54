"""Where a call to CONF leads: the room a called SIP user part names.

Firmware 8 (``/mode legacy``) reads ``<number><room>#``; firmware 9+ (``/mode pbx``) reads
the room the PBX's Conference object hands over. Pure functions; the calls are
:mod:`ipgwsim.firmware.confcalls`'.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ipgwsim.proto.sip import MalformedSip, SipRequest, parse_uri

__all__ = ["Route", "legacy_route", "pbx_route", "request_route"]

#: The digits a room number is made of: ASCII only (``str.isdigit`` takes ``²`` and ``٣``).
_DIGITS = "0123456789"


@dataclass(frozen=True)
class Route:
    """Where a called user part leads: a room, and whether digits may still choose it."""

    room: int
    selecting: bool = False
    pending: str | None = None


def legacy_route(user: str, number: str) -> Route | None:
    """Firmware 8: ``<number><digit>#`` is room 0-9; ``<number>`` and ``<number><digit>``
    start in room 0 and wait for digits; anything else is None (404)."""
    if not user.startswith(number):
        return None
    rest = user[len(number) :]
    if rest == "":
        return Route(0, selecting=True)
    if len(rest) == 1 and rest in _DIGITS:
        return Route(0, selecting=True, pending=rest)
    if len(rest) == 2 and rest[0] in _DIGITS and rest[1] == "#":
        return Route(int(rest[0]))
    return None


def pbx_route(user: str, number: str) -> Route | None:
    """Firmware 9+: the digits after ``<number>`` (or the whole user part, as the Call
    Broadcast object sends the conference id alone) are the room; a final ``#`` is dropped;
    nothing is room 0; non-digits or more than 9 digits are None (404)."""
    rest = user[len(number) :] if user.startswith(number) else user
    rest = rest.removesuffix("#")
    if rest == "":
        return Route(0)
    if re.fullmatch(r"[0-9]{1,9}", rest):
        return Route(int(rest))
    return None


def request_route(request: SipRequest, mode: str, number: str) -> Route | None:
    """The route of an INVITE's Request-URI in ``mode`` (``legacy`` or ``pbx``), or None."""
    try:
        uri = parse_uri(request.uri)
    except MalformedSip:
        return None
    user = uri.user_text or ""
    user = user.split(";", 1)[0]
    if mode == "pbx":
        return pbx_route(user, number)
    return legacy_route(user, number)
