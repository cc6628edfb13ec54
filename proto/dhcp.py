"""DHCP messages (RFC 2131, options RFC 2132): one ``construct`` declaration, one dataclass.

A DHCP message is a BOOTP message (RFC 951): a fixed 236-byte header (op, htype, hlen,
hops, xid, secs, flags, ciaddr, yiaddr, siaddr, giaddr, chaddr 16 bytes, sname 64 bytes,
file 128 bytes; big-endian), the magic cookie 99.130.83.99, then options as TLVs (code,
length, value; PAD 0 and END 255 are single bytes). Its DHCP type is option 53.

:func:`encode_message` turns a :class:`DhcpMessage` into bytes and :func:`parse_message`
turns bytes into one. Both are pure: no I/O, no clock. ``parse_message(encode_message(m))
== m`` for every message ``encode_message`` accepts.

Choices where the RFCs leave room:

- **Parsing is lenient where that loses nothing**: PADs are skipped anywhere, an options
  area may end without END (the end of the area ends it), anything after END is ignored,
  and so are the chaddr bytes after ``hlen``. An option that occurs more than once is one
  option whose value is the concatenation (RFC 3396), and option overload (52, RFC 2131
  section 4.1) is followed: options continue in ``file``, then in ``sname``.
- **Malformed** (:class:`MalformedDhcpMessage`, ``str()`` says why): fewer than 240
  bytes, a wrong cookie, an ``op`` other than 1 or 2, ``hlen`` over 16, an option that runs
  past the end of its area, no option 53 (plain BOOTP) or an unknown DHCP type, a type that
  does not suit ``op`` (an OFFER in a BOOTREQUEST), and a known option (the fields of
  :class:`DhcpMessage`) whose length does not fit its type. Unknown options are kept as
  bytes in ``other`` and never make a message malformed.
- **Encoding** writes option 53 first, then the known options in the order of the fields,
  then ``other``; values over 255 bytes are split into several options (RFC 3396); the
  message is padded with zeros to :data:`MIN_SIZE` (300) bytes, the BOOTP minimum that
  relays and old servers expect (RFC 1542 section 2.1). ``encode_message`` never overloads
  ``sname`` or ``file``. :class:`~ipgwsim.proto.errors.LocalProtocolError` names a field
  whose value does not fit.
- Addresses are dotted-quad ``str`` (as ``Firmware.set_address`` takes them). Text options
  (12 hostname, 56 message) are latin-1, so any bytes round-trip (RFC 2132 asks for NVT
  ASCII); ``sname`` and ``file`` are bytes without their trailing NUL padding.
"""

from __future__ import annotations

import dataclasses
import enum
import io
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from construct import (
    Adapter,
    Bytes,
    GreedyBytes,
    Int8ub,
    Int16ub,
    Int32ub,
    Pass,
    Prefixed,
    StreamError,
    Struct,
    Switch,
    this,
)

from ipgwsim.proto.errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "BROADCAST_FLAG",
    "CLIENT_PORT",
    "HEADER_SIZE",
    "HTYPE_ETHERNET",
    "INFINITE_LEASE",
    "MAGIC_COOKIE",
    "MIN_SIZE",
    "SERVER_PORT",
    "DhcpMessage",
    "MalformedDhcpMessage",
    "MessageType",
    "Op",
    "Option",
    "client_id_for",
    "encode_message",
    "parse_message",
]

#: The UDP port of DHCP servers (and relays).
SERVER_PORT = 67
#: The UDP port of DHCP clients.
CLIENT_PORT = 68
#: The four bytes between the BOOTP header and the options (RFC 2131 section 3).
MAGIC_COOKIE = bytes([99, 130, 83, 99])
#: The BOOTP header and the magic cookie: the shortest DHCP message.
HEADER_SIZE = 240
#: Encoded messages are padded to this size (the BOOTP minimum, RFC 1542 section 2.1).
MIN_SIZE = 300
#: ``flags``: the server shall broadcast its reply (the client has no address yet).
BROADCAST_FLAG = 0x8000
#: ``htype`` of Ethernet (10 Mb), ``hlen`` 6.
HTYPE_ETHERNET = 1
#: Option 51 meaning "never expires".
INFINITE_LEASE = 0xFFFFFFFF

_UNSPECIFIED = "0.0.0.0"


class Op(enum.IntEnum):
    """The BOOTP ``op``: who sends the message."""

    BOOTREQUEST = 1
    BOOTREPLY = 2


class MessageType(enum.IntEnum):
    """Option 53, the DHCP message type (RFC 2132 section 9.6)."""

    DISCOVER = 1
    OFFER = 2
    REQUEST = 3
    DECLINE = 4
    ACK = 5
    NAK = 6
    RELEASE = 7
    INFORM = 8

    @property
    def op(self) -> Op:
        """BOOTREPLY for what servers send (OFFER, ACK, NAK), else BOOTREQUEST."""
        if self in (MessageType.OFFER, MessageType.ACK, MessageType.NAK):
            return Op.BOOTREPLY
        return Op.BOOTREQUEST


class Option(enum.IntEnum):
    """Option codes this module names (RFC 2132)."""

    PAD = 0
    SUBNET_MASK = 1
    ROUTER = 3
    DNS = 6
    HOSTNAME = 12
    DOMAIN_NAME = 15
    BROADCAST_ADDRESS = 28
    NTP_SERVERS = 42
    REQUESTED_IP = 50
    LEASE_TIME = 51
    OVERLOAD = 52
    MESSAGE_TYPE = 53
    SERVER_ID = 54
    PARAMETER_REQUEST_LIST = 55
    MESSAGE = 56
    MAX_MESSAGE_SIZE = 57
    RENEWAL_TIME = 58
    REBINDING_TIME = 59
    VENDOR_CLASS_ID = 60
    CLIENT_ID = 61
    END = 255


class MalformedDhcpMessage(RemoteProtocolError):
    """Bytes that are not a valid DHCP message; ``str()`` says what is wrong."""


def client_id_for(mac: bytes) -> bytes:
    """Option 61 of an Ethernet client: hardware type 1, then the MAC (RFC 2132 9.14)."""
    return bytes([HTYPE_ETHERNET]) + mac


# --------------------------------------------------------------------------- the format

if TYPE_CHECKING:  # construct's classes are generic only in construct-typing's stubs
    _IPv4Adapter = Adapter[bytes, bytes, str, str]
else:
    _IPv4Adapter = Adapter


class _IPv4(_IPv4Adapter):
    """Four bytes in network order as a dotted quad."""

    def _decode(self, obj: bytes, context: Any, path: str) -> str:
        return str(ipaddress.IPv4Address(bytes(obj)))

    def _encode(self, obj: str, context: Any, path: str) -> bytes:
        return ipaddress.IPv4Address(obj).packed


_ipv4 = _IPv4(Bytes(4))

#: The BOOTP header (RFC 951, RFC 2131 section 2) and the cookie; the options follow.
_HEADER = Struct(
    "op" / Int8ub,
    "htype" / Int8ub,
    "hlen" / Int8ub,
    "hops" / Int8ub,
    "xid" / Int32ub,
    "secs" / Int16ub,
    "flags" / Int16ub,
    "ciaddr" / _ipv4,
    "yiaddr" / _ipv4,
    "siaddr" / _ipv4,
    "giaddr" / _ipv4,
    "chaddr" / Bytes(16),
    "sname" / Bytes(64),
    "file" / Bytes(128),
    "cookie" / Bytes(4),
)
#: One option: PAD and END are the code alone, every other code has a length and a value.
_OPTION = Struct(
    "code" / Int8ub,
    "value"
    / Switch(
        this.code,
        {Option.PAD: Pass, Option.END: Pass},
        default=Prefixed(Int8ub, GreedyBytes),
    ),
)


def _options(area: bytes, where: str) -> Iterator[tuple[int, bytes]]:
    """The options of one area (``options``, ``file``, ``sname``) up to END, PADs skipped."""
    stream = io.BytesIO(area)
    while (start := stream.tell()) < len(area):
        try:
            option: Any = _OPTION.parse_stream(stream)
        except StreamError:
            raise MalformedDhcpMessage(
                f"{where}: option {area[start]} at byte {start} runs past the end of the area "
                f"({len(area) - start} bytes left)"
            ) from None
        if option.code == Option.END:
            return
        if option.code != Option.PAD:
            yield option.code, bytes(option.value)


# --------------------------------------------------------------------------- option values


class _Kind(enum.Enum):
    IP = "an IPv4 address (4 bytes)"
    IPS = "IPv4 addresses (a multiple of 4 bytes)"
    U32 = "a 32-bit number (4 bytes)"
    U16 = "a 16-bit number (2 bytes)"
    TEXT = "text"
    BYTES = "bytes"
    CODES = "option codes"


#: The fields of :class:`DhcpMessage` that are options, in encoding order.
_OPTION_FIELDS: dict[str, tuple[Option, _Kind]] = {
    "mask": (Option.SUBNET_MASK, _Kind.IP),
    "routers": (Option.ROUTER, _Kind.IPS),
    "dns": (Option.DNS, _Kind.IPS),
    "hostname": (Option.HOSTNAME, _Kind.TEXT),
    "requested_ip": (Option.REQUESTED_IP, _Kind.IP),
    "lease_time": (Option.LEASE_TIME, _Kind.U32),
    "server_id": (Option.SERVER_ID, _Kind.IP),
    "parameters": (Option.PARAMETER_REQUEST_LIST, _Kind.CODES),
    "message": (Option.MESSAGE, _Kind.TEXT),
    "max_size": (Option.MAX_MESSAGE_SIZE, _Kind.U16),
    "t1": (Option.RENEWAL_TIME, _Kind.U32),
    "t2": (Option.REBINDING_TIME, _Kind.U32),
    "vendor_class": (Option.VENDOR_CLASS_ID, _Kind.BYTES),
    "client_id": (Option.CLIENT_ID, _Kind.BYTES),
}
#: Codes that never go into ``other``: they are fields, the type, overload, PAD and END.
_RESERVED = frozenset(
    {code for code, _ in _OPTION_FIELDS.values()}
    | {Option.MESSAGE_TYPE, Option.OVERLOAD, Option.PAD, Option.END}
)


def _decode_value(name: str, kind: _Kind, value: bytes) -> object:
    code = _OPTION_FIELDS[name][0]
    fixed = {_Kind.IP: 4, _Kind.U32: 4, _Kind.U16: 2}.get(kind)
    if (fixed is not None and len(value) != fixed) or (kind is _Kind.IPS and len(value) % 4):
        raise MalformedDhcpMessage(
            f"option {code} ({name}) must be {kind.value}, got {len(value)} bytes"
        )
    if kind is _Kind.IP:
        return _ipv4.parse(value)
    if kind is _Kind.IPS:
        return tuple(_ipv4.parse(value[i : i + 4]) for i in range(0, len(value), 4))
    if kind is _Kind.U32:
        return Int32ub.parse(value)
    if kind is _Kind.U16:
        return Int16ub.parse(value)
    if kind is _Kind.TEXT:
        return value.decode("latin-1")
    if kind is _Kind.CODES:
        return tuple(value)
    return value


def _check_ip(name: str, value: object) -> bytes:
    if not isinstance(value, str):
        raise LocalProtocolError(f"{name} must be a dotted-quad str, got {value!r}")
    try:
        return _ipv4.build(value)
    except ValueError:
        raise LocalProtocolError(f"{name} must be an IPv4 address, got {value!r}") from None


def _check_uint(name: str, value: object, bits: int) -> int:
    top = (1 << bits) - 1
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= top:
        raise LocalProtocolError(f"{name} must be an integer in 0..{top}, got {value!r}")
    return value


def _encode_value(name: str, kind: _Kind, value: object) -> bytes:
    if kind is _Kind.IP:
        return _check_ip(name, value)
    if kind is _Kind.IPS:
        if not isinstance(value, tuple):
            raise LocalProtocolError(f"{name} must be a tuple of addresses, got {value!r}")
        return b"".join(_check_ip(name, item) for item in value)
    if kind is _Kind.U32:
        return Int32ub.build(_check_uint(name, value, 32))
    if kind is _Kind.U16:
        return Int16ub.build(_check_uint(name, value, 16))
    if kind is _Kind.TEXT:
        if not isinstance(value, str):
            raise LocalProtocolError(f"{name} must be a str, got {value!r}")
        try:
            return value.encode("latin-1")
        except UnicodeEncodeError:
            raise LocalProtocolError(f"{name} must be latin-1 text, got {value!r}") from None
    if kind is _Kind.CODES:
        if not isinstance(value, tuple):
            raise LocalProtocolError(f"{name} must be a tuple of option codes, got {value!r}")
        return bytes(_check_uint(name, code, 8) for code in value)
    if not isinstance(value, bytes):
        raise LocalProtocolError(f"{name} must be bytes, got {value!r}")
    return value


# --------------------------------------------------------------------------- the message


@dataclass(frozen=True, kw_only=True)
class DhcpMessage:
    """One DHCP message; ``kind`` is option 53, ``op`` follows from it.

    ``chaddr`` is the client's hardware address (``hlen`` bytes, 6 for Ethernet). Options
    the client uses are fields (None or ``()``: absent); other options are kept in ``other``
    as ``(code, value)`` pairs, in the order they came.
    """

    kind: MessageType
    xid: int
    chaddr: bytes
    htype: int = HTYPE_ETHERNET
    hops: int = 0
    #: Seconds since the client began the exchange.
    secs: int = 0
    #: :data:`BROADCAST_FLAG` and 15 bits that must be zero (kept as received).
    flags: int = 0
    #: The client's address, when it has one and can answer ARP (renewing, rebinding).
    ciaddr: str = _UNSPECIFIED
    #: "Your" address: the one the server offers or acknowledges.
    yiaddr: str = _UNSPECIFIED
    #: The next server of the boot process (not the DHCP server: that is ``server_id``).
    siaddr: str = _UNSPECIFIED
    #: The relay agent's address.
    giaddr: str = _UNSPECIFIED
    #: The server's host name, without NUL padding (empty when it carries options).
    sname: bytes = b""
    #: The boot file name, without NUL padding (empty when it carries options).
    file: bytes = b""
    #: 1: subnet mask.
    mask: str | None = None
    #: 3: routers, the preferred first.
    routers: tuple[str, ...] = ()
    #: 6: DNS servers.
    dns: tuple[str, ...] = ()
    #: 12: the client's host name.
    hostname: str | None = None
    #: 50: the address a client asks for (SELECTING, INIT-REBOOT, DECLINE).
    requested_ip: str | None = None
    #: 51: lease time in seconds (:data:`INFINITE_LEASE`: forever).
    lease_time: int | None = None
    #: 54: the server's identifier (its address).
    server_id: str | None = None
    #: 55: the options the client asks for.
    parameters: tuple[int, ...] = ()
    #: 56: an error message (NAK) or the client's reason (DECLINE, RELEASE).
    message: str | None = None
    #: 57: the largest DHCP message the client takes (at least 576).
    max_size: int | None = None
    #: 58: renewal time T1 in seconds.
    t1: int | None = None
    #: 59: rebinding time T2 in seconds.
    t2: int | None = None
    #: 60: vendor class identifier.
    vendor_class: bytes | None = None
    #: 61: client identifier (for Ethernet :func:`client_id_for`).
    client_id: bytes | None = None
    #: Every other option, ``(code, value)``, codes unique.
    other: tuple[tuple[int, bytes], ...] = ()

    @property
    def op(self) -> Op:
        return self.kind.op

    @property
    def broadcast(self) -> bool:
        """Whether the broadcast bit of ``flags`` is set."""
        return bool(self.flags & BROADCAST_FLAG)

    def option(self, code: int) -> bytes | None:
        """The value of option ``code`` as it goes on the wire (before splitting), or None."""
        for option_code, value in self._options():
            if option_code == code:
                return value
        return None

    def _options(self) -> Iterator[tuple[int, bytes]]:
        yield Option.MESSAGE_TYPE, bytes([self.kind])
        for name, (field_code, value_kind) in _OPTION_FIELDS.items():
            field_value = getattr(self, name)
            if field_value is None or field_value == ():
                continue
            yield field_code, _encode_value(name, value_kind, field_value)
        seen: set[int] = set()
        for item in self.other:
            if not isinstance(item, tuple) or len(item) != 2:
                raise LocalProtocolError(f"other must hold (code, bytes) pairs, got {item!r}")
            code, value = item
            _check_uint("an option code in other", code, 8)
            if code in _RESERVED:
                raise LocalProtocolError(
                    f"option {code} cannot go in other: it is a field, 52, 53, PAD or END"
                )
            if code in seen:
                raise LocalProtocolError(f"option {code} is twice in other")
            if not isinstance(value, bytes):
                raise LocalProtocolError(f"option {code} in other must be bytes, got {value!r}")
            seen.add(code)
            yield code, value


def _fixed(name: str, value: object, size: int) -> bytes:
    if not isinstance(value, bytes) or len(value) > size:
        raise LocalProtocolError(f"{name} must be at most {size} bytes, got {value!r}")
    return value.ljust(size, b"\0")


def encode_message(msg: DhcpMessage) -> bytes:
    """The bytes of ``msg``, padded to :data:`MIN_SIZE`; LocalProtocolError if it does not fit."""
    if not isinstance(msg, DhcpMessage):
        raise LocalProtocolError(f"not a DhcpMessage: {msg!r}")
    if not isinstance(msg.kind, MessageType):
        raise LocalProtocolError(f"kind must be a MessageType, got {msg.kind!r}")
    if not isinstance(msg.chaddr, bytes) or len(msg.chaddr) > 16:
        raise LocalProtocolError(f"chaddr must be at most 16 bytes, got {msg.chaddr!r}")
    header = {
        "op": msg.op,
        "htype": _check_uint("htype", msg.htype, 8),
        "hlen": len(msg.chaddr),
        "hops": _check_uint("hops", msg.hops, 8),
        "xid": _check_uint("xid", msg.xid, 32),
        "secs": _check_uint("secs", msg.secs, 16),
        "flags": _check_uint("flags", msg.flags, 16),
        "chaddr": msg.chaddr.ljust(16, b"\0"),
        "sname": _fixed("sname", msg.sname, 64),
        "file": _fixed("file", msg.file, 128),
        "cookie": MAGIC_COOKIE,
    }
    for name in ("ciaddr", "yiaddr", "siaddr", "giaddr"):
        _check_ip(name, getattr(msg, name))
        header[name] = getattr(msg, name)
    out = bytearray(_HEADER.build(header))
    for code, value in msg._options():
        chunks = [value[i : i + 255] for i in range(0, len(value), 255)] or [b""]
        for chunk in chunks:
            out += _OPTION.build({"code": code, "value": chunk})
    out += _OPTION.build({"code": Option.END, "value": None})
    return bytes(out.ljust(MIN_SIZE, b"\0"))


def parse_message(data: bytes) -> DhcpMessage:
    """The message in ``data``; :class:`MalformedDhcpMessage` says what is wrong with it."""
    data = bytes(data)
    if len(data) < HEADER_SIZE:
        raise MalformedDhcpMessage(
            f"too short: {len(data)} bytes, a DHCP message has at least {HEADER_SIZE} "
            "(the BOOTP header and the magic cookie)"
        )
    header: Any = _HEADER.parse(data)
    if header.cookie != MAGIC_COOKIE:
        raise MalformedDhcpMessage(
            f"magic cookie {'.'.join(map(str, header.cookie))}, expected 99.130.83.99"
        )
    if header.op not in (Op.BOOTREQUEST, Op.BOOTREPLY):
        raise MalformedDhcpMessage(f"op {header.op} is neither BOOTREQUEST (1) nor BOOTREPLY (2)")
    if header.hlen > 16:
        raise MalformedDhcpMessage(f"hlen {header.hlen} is longer than chaddr (16 bytes)")
    options: dict[int, bytes] = {}
    areas = [("options", data[HEADER_SIZE:])]
    overload = 0
    for where, area in areas:  # areas grows by file and sname when 52 says so
        for code, value in _options(area, where):
            options[code] = options.get(code, b"") + value
        if where == "options" and Option.OVERLOAD in options:
            value = options.pop(Option.OVERLOAD)
            if len(value) != 1 or value[0] not in (1, 2, 3):
                raise MalformedDhcpMessage(
                    f"option 52 (overload) must be one byte 1, 2 or 3, got {value.hex() or 'none'}"
                )
            overload = value[0]
            if overload & 1:
                areas.append(("file", bytes(header.file)))
            if overload & 2:
                areas.append(("sname", bytes(header.sname)))
    options.pop(Option.OVERLOAD, None)  # a 52 inside file or sname means nothing
    type_value = options.pop(Option.MESSAGE_TYPE, None)
    if type_value is None:
        raise MalformedDhcpMessage("no option 53 (DHCP message type): a plain BOOTP message")
    if len(type_value) != 1:
        raise MalformedDhcpMessage(f"option 53 (message type) is {len(type_value)} bytes, not 1")
    try:
        kind = MessageType(type_value[0])
    except ValueError:
        raise MalformedDhcpMessage(f"unknown DHCP message type {type_value[0]}") from None
    if kind.op != header.op:
        raise MalformedDhcpMessage(f"a {kind.name} in a {Op(header.op).name}")
    fields: dict[str, Any] = {
        name: _decode_value(name, value_kind, options.pop(code))
        for name, (code, value_kind) in _OPTION_FIELDS.items()
        if code in options
    }
    return DhcpMessage(
        kind=kind,
        xid=header.xid,
        chaddr=bytes(header.chaddr[: header.hlen]),
        htype=header.htype,
        hops=header.hops,
        secs=header.secs,
        flags=header.flags,
        ciaddr=header.ciaddr,
        yiaddr=header.yiaddr,
        siaddr=header.siaddr,
        giaddr=header.giaddr,
        sname=b"" if overload & 2 else bytes(header.sname).rstrip(b"\0"),
        file=b"" if overload & 1 else bytes(header.file).rstrip(b"\0"),
        other=tuple(options.items()),
        **fields,
    )


def _check_declaration() -> None:
    """Every option field of :class:`DhcpMessage` is declared in ``_OPTION_FIELDS``."""
    names = {f.name for f in dataclasses.fields(DhcpMessage)}
    missing = set(_OPTION_FIELDS) - names
    if missing:  # pragma: no cover - caught by importing the module
        raise TypeError(f"DhcpMessage has no field for {missing}")


_check_declaration()
