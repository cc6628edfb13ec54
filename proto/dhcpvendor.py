"""innovaphone's DHCP option for the update server's URL (sans-I/O).

innovaphone devices read the update server's URL (``UP1 /url``'s value) from DHCP
option **215**, text (docs/update-server.md, *The URL from DHCP*, names the sources). A
server may send it as an option of its own or, for clients of innovaphone's vendor
class ``1.3.6.1.4.1.6666`` (option 60), encapsulated in option 43 (vendor-specific
information, RFC 2132 section 8.4: sub-options as ``code, length, value``), which is
how ``dnsmasq``'s ``--dhcp-option=vendor:1.3.6.1.4.1.6666,215,URL`` sends it.

:func:`encode_suboptions` and :func:`parse_suboptions` are the option-43 format;
:func:`update_url` reads the URL from a message. DECISION: an option 215 of its own is
read first, then sub-option 215 of option 43; the text is ASCII with trailing NULs
dropped (RFC 2132 section 2); anything else (no option, a malformed option 43, an empty
or non-ASCII text) is no URL.
"""

from __future__ import annotations

from ipgwsim.proto.dhcp import DhcpMessage
from ipgwsim.proto.errors import LocalProtocolError

__all__ = [
    "UPDATE_URL",
    "VENDOR_SPECIFIC",
    "encode_suboptions",
    "parse_suboptions",
    "update_url",
]

#: Option 43, vendor-specific information (RFC 2132 section 8.4).
VENDOR_SPECIFIC = 43
#: innovaphone's option (and option-43 sub-option) for the update server's URL.
UPDATE_URL = 215

_PAD = 0
_END = 255


def encode_suboptions(pairs: tuple[tuple[int, bytes], ...]) -> bytes:
    """Option 43's value: each ``(code, value)`` as code, length, value (no END)."""
    out = bytearray()
    for code, value in pairs:
        if not 1 <= code <= 254:
            raise LocalProtocolError(f"sub-option code {code} is not in 1..254")
        if len(value) > 255:
            raise LocalProtocolError(f"sub-option {code}: {len(value)} bytes, at most 255")
        out += bytes([code, len(value)]) + value
    return bytes(out)


def parse_suboptions(data: bytes) -> tuple[tuple[int, bytes], ...] | None:
    """The sub-options of option 43's value, in order; None when one runs past the end.

    PAD (0) is skipped, END (255) ends the list.
    """
    pairs: list[tuple[int, bytes]] = []
    at = 0
    while at < len(data):
        code = data[at]
        if code == _END:
            break
        if code == _PAD:
            at += 1
            continue
        if at + 2 > len(data) or at + 2 + data[at + 1] > len(data):
            return None
        length = data[at + 1]
        pairs.append((code, data[at + 2 : at + 2 + length]))
        at += 2 + length
    return tuple(pairs)


def _text(value: bytes | None) -> str | None:
    if value is None:
        return None
    value = value.rstrip(b"\0")
    if not value or not value.isascii():
        return None
    return value.decode("ascii")


def update_url(msg: DhcpMessage) -> str | None:
    """The update server URL ``msg`` carries (option 215, else option 43's 215), or None."""
    own = _text(msg.option(UPDATE_URL))
    if own is not None:
        return own
    vendor = msg.option(VENDOR_SPECIFIC)
    if vendor is None:
        return None
    for code, value in parse_suboptions(vendor) or ():
        if code == UPDATE_URL:
            return _text(value)
    return None
