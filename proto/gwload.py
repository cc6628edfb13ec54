"""The gwload control messages: one ``construct`` declaration, one dataclass per opcode.

The wire format is the project's contract, ``gwload-protocol.md`` sections 2 and 3:
a 16-byte header (opcode u16, version u8, flags u8, xid u32, mac 6 bytes, gwtype u16,
all big-endian) followed by a body that depends on the opcode. A *string* is a length
byte and that many ASCII bytes; an *ipv4* is 4 bytes in network order.

:func:`encode_message` turns a message into bytes and :func:`parse_message` turns bytes
into a message. Both are pure: no I/O, no clock.

Choices where the contract is silent:

- **Bytes after the body are ignored** (forward compatibility: a later version may append
  fields). ``parse_message(encode_message(m) + extra) == m``.
- **Unknown flag bits are ignored** as the contract says: they do not make a message
  malformed and do not change its meaning, but ``flags`` keeps the received value so that
  a parse/encode round trip is exact. :func:`encode_message` writes ``flags`` as given.
- **Version**: only version 1 is accepted; any other version is malformed (the layout of
  another version is unknown). Messages are always encoded as version 1.
- **Unknown values inside a known message** (a HELLO ``state``, an ACK's acknowledged
  opcode, a NAK ``code``) are not malformed: they parse to the :class:`DeviceState`,
  :class:`Opcode` or :class:`NakCode` member when there is one and to a plain ``int``
  otherwise, so a newer peer's values reach the caller.
- **Unknown opcodes** in the gwload range raise :class:`UnknownOpcode`, a
  :class:`MalformedMessage` that carries the opcode (a device answers these with TFTP
  ERROR 4). ``0x4700`` is outside the range and is "not a gwload message", like a TFTP
  opcode.
- Strings are 7-bit ASCII (control characters included); a byte >= 0x80 is malformed.
- Messages are frozen dataclasses; the header fields may be given by position, the body
  fields and ``flags`` only by keyword: ``Ack(7, mac, 800, acked=Opcode.GO)``,
  ``Discover(xid=1, mac=ANY_MAC, gwtype=6000)``. They are not validated on construction;
  :func:`encode_message` refuses what does not fit with
  :class:`~ipgwsim.proto.errors.LocalProtocolError` naming the field.
"""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
import re
from dataclasses import KW_ONLY, dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias, cast

from construct import (
    Adapter,
    Bytes,
    Construct,
    ConstructError,
    Container,
    GreedyBytes,
    Int8ub,
    Int16ub,
    Int32ub,
    Prefixed,
    StreamError,
    Struct,
    Switch,
    this,
)

from ipgwsim.proto.errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "ANY_GWTYPE",
    "ANY_MAC",
    "HEADER_SIZE",
    "VERSION",
    "Ack",
    "DeviceState",
    "Discover",
    "Go",
    "Hello",
    "MalformedMessage",
    "Message",
    "Nak",
    "NakCode",
    "Opcode",
    "Reset",
    "SetIp",
    "UnknownOpcode",
    "encode_message",
    "format_mac",
    "is_gwload",
    "parse_mac",
    "parse_message",
]

#: The protocol version this module speaks.
VERSION = 1
#: A request's ``mac`` that addresses any device.
ANY_MAC = bytes(6)
#: A request's ``gwtype`` that addresses any device type.
ANY_GWTYPE = 0


class Opcode(enum.IntEnum):
    """The first two bytes of a control message."""

    DISCOVER = 0x4701
    HELLO = 0x4702
    SETIP = 0x4703
    GO = 0x4704
    RESET = 0x4705
    ACK = 0x4706
    NAK = 0x4707


class NakCode(enum.IntEnum):
    """Why a device refused a request."""

    WRONG_GWTYPE = 1
    BAD_ADDRESS = 2
    NOT_SUPPORTED = 3
    BUSY = 4
    NOTHING_TO_START = 5


class DeviceState(enum.IntEnum):
    """Why the boot code is in TFTP mode (HELLO ``state``)."""

    TFTP_MODE = 1
    AFTER_LONG_RESET = 2
    DEFECTIVE_FIRMWARE = 3


class MalformedMessage(RemoteProtocolError):
    """Bytes that are not a valid gwload control message; ``str()`` says what is wrong."""


class UnknownOpcode(MalformedMessage):
    """A well-formed header with an opcode in the gwload range that this module does not know."""

    def __init__(self, opcode: int) -> None:
        super().__init__(f"unknown opcode 0x{opcode:04x}")
        self.opcode = opcode


# --------------------------------------------------------------------------- the format

_FIRST = 0x4701
_LAST = 0x47FF


if TYPE_CHECKING:  # construct's classes are generic only in construct-typing's stubs
    _IntAdapter = Adapter[int, int, int, int]
    _BytesAdapter = Adapter[bytes, bytes, bytes, bytes]
    _IPv4Adapter = Adapter[bytes, bytes, ipaddress.IPv4Address, ipaddress.IPv4Address]
    _StrAdapter = Adapter[bytes, bytes, str, str]
else:
    _IntAdapter = _BytesAdapter = _IPv4Adapter = _StrAdapter = Adapter


def _field(path: str) -> str:
    """The field name at the end of a construct path (``(building) -> body -> ip``)."""
    return path.rsplit(" -> ", 1)[-1]


class _UInt(_IntAdapter):
    """An unsigned big-endian integer that names its field when a value does not fit."""

    def __init__(self, subcon: Construct[int, int], size: int) -> None:
        super().__init__(subcon)
        self.size = size

    def _decode(self, obj: int, context: Any, path: str) -> int:
        return obj

    def _encode(self, obj: int, context: Any, path: str) -> int:
        top = (1 << (8 * self.size)) - 1
        if not isinstance(obj, int) or isinstance(obj, bool) or not 0 <= obj <= top:
            raise LocalProtocolError(
                f"{_field(path)} must be an integer in 0..{top} ({self.size} bytes), got {obj!r}"
            )
        return int(obj)


class _Enum(_UInt):
    """An integer that parses to a member of ``enum`` when it names one."""

    def __init__(self, subcon: Construct[int, int], size: int, enum_: type[enum.IntEnum]) -> None:
        super().__init__(subcon, size)
        self.enum = enum_

    def _decode(self, obj: int, context: Any, path: str) -> int:
        try:
            return self.enum(obj)
        except ValueError:
            return obj


class _Mac(_BytesAdapter):
    """Six bytes of MAC address."""

    def _decode(self, obj: bytes, context: Any, path: str) -> bytes:
        return bytes(obj)

    def _encode(self, obj: bytes, context: Any, path: str) -> bytes:
        if not isinstance(obj, bytes | bytearray) or len(obj) != 6:
            raise LocalProtocolError(f"{_field(path)} must be 6 bytes, got {obj!r}")
        return bytes(obj)


class _IPv4(_IPv4Adapter):
    """Four bytes in network order as an :class:`ipaddress.IPv4Address`."""

    def _decode(self, obj: bytes, context: Any, path: str) -> ipaddress.IPv4Address:
        return ipaddress.IPv4Address(obj)

    def _encode(self, obj: ipaddress.IPv4Address, context: Any, path: str) -> bytes:
        if not isinstance(obj, ipaddress.IPv4Address):
            raise LocalProtocolError(
                f"{_field(path)} must be an ipaddress.IPv4Address, got {obj!r}"
            )
        return obj.packed


class _String(_StrAdapter):
    """A length byte and that many ASCII bytes."""

    def _decode(self, obj: bytes, context: Any, path: str) -> str:
        try:
            return obj.decode("ascii")
        except UnicodeDecodeError as e:
            raise MalformedMessage(
                f"string {_field(path)} is not ASCII: byte 0x{obj[e.start]:02x} at {e.start}"
            ) from None

    def _encode(self, obj: str, context: Any, path: str) -> bytes:
        if not isinstance(obj, str):
            raise LocalProtocolError(f"{_field(path)} must be a str, got {obj!r}")
        try:
            data = obj.encode("ascii")
        except UnicodeEncodeError as e:
            raise LocalProtocolError(
                f"{_field(path)} must be ASCII, got {obj[e.start]!r} at {e.start} in {obj!r}"
            ) from None
        if len(data) > 255:
            raise LocalProtocolError(
                f"{_field(path)} is {len(data)} bytes long; a string holds at most 255"
            )
        return data


_u8 = _UInt(Int8ub, 1)
_u16 = _UInt(Int16ub, 2)
_u32 = _UInt(Int32ub, 4)
_ipv4 = _IPv4(Bytes(4))
_string = _String(Prefixed(Int8ub, GreedyBytes))

_HEADER = Struct(
    "opcode" / _u16,
    "version" / _u8,
    "flags" / _u8,
    "xid" / _u32,
    "mac" / _Mac(Bytes(6)),
    "gwtype" / _u16,
)
#: The size of the header every control message starts with.
HEADER_SIZE = 16

_EMPTY = Struct()
_BODIES: dict[Opcode, Struct] = {
    Opcode.DISCOVER: _EMPTY,
    Opcode.HELLO: Struct(
        "ip" / _ipv4,
        "mask" / _ipv4,
        "state" / _Enum(Int8ub, 1, DeviceState),
        "boot_build" / _u16,
        "model" / _string,
        "firmware_build" / _string,
        "config_name" / _string,
    ),
    Opcode.SETIP: Struct(
        "ip" / _ipv4,
        "mask" / _ipv4,
        "gateway" / _ipv4,
    ),
    Opcode.GO: _EMPTY,
    Opcode.RESET: _EMPTY,
    Opcode.ACK: Struct(
        "acked" / _Enum(Int16ub, 2, Opcode),
    ),
    Opcode.NAK: Struct(
        "code" / _Enum(Int16ub, 2, NakCode),
        "text" / _string,
    ),
}
#: The whole message: the header, then the body chosen by the opcode.
_MESSAGE = Struct(
    "header" / _HEADER,
    "body" / Switch(this.header.opcode, cast("dict[Any, Construct[Any, Any]]", _BODIES)),
)

_HEADER_FIELDS = ("xid", "mac", "gwtype", "flags")


def _body_fields(opcode: Opcode) -> tuple[str, ...]:
    return tuple(str(sub.name) for sub in _BODIES[opcode].subcons)


# --------------------------------------------------------------------------- messages


@dataclass(frozen=True)
class _Common:
    """The header fields every message carries (opcode and version are implied)."""

    OPCODE: ClassVar[Opcode]

    #: Transaction id chosen by the client; every reply echoes it (0..2**32-1).
    xid: int
    #: Request: the target MAC, :data:`ANY_MAC` for any device. Reply: the device's MAC.
    mac: bytes
    #: Request: the gwtype asked for, :data:`ANY_GWTYPE` for any. Reply: the device's.
    gwtype: int
    _: KW_ONLY
    #: Flag bits; 0 in version 1, unknown bits are kept but have no meaning.
    flags: int = 0


@dataclass(frozen=True, kw_only=True)
class Discover(_Common):
    """DISCOVER (client): which devices in TFTP mode are there?"""

    OPCODE: ClassVar[Opcode] = Opcode.DISCOVER


@dataclass(frozen=True, kw_only=True)
class Hello(_Common):
    """HELLO (device): the answer to DISCOVER and to SETIP."""

    OPCODE: ClassVar[Opcode] = Opcode.HELLO

    #: The device's address, 0.0.0.0 if it has none.
    ip: ipaddress.IPv4Address
    mask: ipaddress.IPv4Address
    #: A :class:`DeviceState` (a plain int if unknown).
    state: int
    boot_build: int
    #: E.g. ``IP6000``.
    model: str
    #: The build of the valid firmware, empty if there is none.
    firmware_build: str
    #: The TFTP name of the config: ``config`` or ``c`` (older boot code).
    config_name: str


@dataclass(frozen=True, kw_only=True)
class SetIp(_Common):
    """SETIP (client): take this address."""

    OPCODE: ClassVar[Opcode] = Opcode.SETIP

    ip: ipaddress.IPv4Address
    mask: ipaddress.IPv4Address
    #: 0.0.0.0 if none.
    gateway: ipaddress.IPv4Address


@dataclass(frozen=True, kw_only=True)
class Go(_Common):
    """GO (client): leave TFTP mode and start the firmware."""

    OPCODE: ClassVar[Opcode] = Opcode.GO


@dataclass(frozen=True, kw_only=True)
class Reset(_Common):
    """RESET (client): restart; the boot code then decides as after power-on."""

    OPCODE: ClassVar[Opcode] = Opcode.RESET


@dataclass(frozen=True, kw_only=True)
class Ack(_Common):
    """ACK (device): the request with opcode ``acked`` is done."""

    OPCODE: ClassVar[Opcode] = Opcode.ACK

    #: An :class:`Opcode` (a plain int if unknown).
    acked: int


@dataclass(frozen=True, kw_only=True)
class Nak(_Common):
    """NAK (device): the request is refused."""

    OPCODE: ClassVar[Opcode] = Opcode.NAK

    #: A :class:`NakCode` (a plain int if unknown).
    code: int
    text: str


Message: TypeAlias = Discover | Hello | SetIp | Go | Reset | Ack | Nak

_CLASSES: dict[Opcode, type[Message]] = {
    cls.OPCODE: cls for cls in (Discover, Hello, SetIp, Go, Reset, Ack, Nak)
}


# --------------------------------------------------------------------------- codec


def is_gwload(data: bytes) -> bool:
    """Whether ``data`` starts with a gwload opcode (0x4701..0x47FF), not a TFTP one (1..6)."""
    return len(data) >= 2 and _FIRST <= int.from_bytes(data[:2], "big") <= _LAST


def encode_message(msg: Message) -> bytes:
    """The bytes of ``msg``; :class:`LocalProtocolError` names a field whose value does not fit."""
    if not isinstance(msg, _Common):
        raise LocalProtocolError(f"not a gwload message: {msg!r}")
    opcode = msg.OPCODE
    header: dict[str, Any] = {"opcode": opcode, "version": VERSION}
    header.update({name: getattr(msg, name) for name in _HEADER_FIELDS})
    body = {name: getattr(msg, name) for name in _body_fields(opcode)}
    try:
        return _MESSAGE.build({"header": header, "body": body})
    except ConstructError as e:  # pragma: no cover - the adapters check every field first
        raise LocalProtocolError(f"cannot encode {opcode.name}: {e}") from None


def parse_message(data: bytes) -> Message:
    """The message in ``data``; :class:`MalformedMessage` says what is wrong with it."""
    data = bytes(data)
    if len(data) >= 2 and not is_gwload(data):
        raise MalformedMessage(
            f"not a gwload message: opcode 0x{int.from_bytes(data[:2], 'big'):04x} "
            f"is outside 0x{_FIRST:04x}..0x{_LAST:04x}"
        )
    if len(data) < HEADER_SIZE:
        raise MalformedMessage(f"too short for the header: {len(data)} of {HEADER_SIZE} bytes")
    header: Container[Any] = _HEADER.parse(data)
    if header.version != VERSION:
        raise MalformedMessage(f"wrong version {header.version}, expected {VERSION}")
    try:
        opcode = Opcode(header.opcode)
    except ValueError:
        raise UnknownOpcode(header.opcode) from None
    try:
        body: Container[Any] = _BODIES[opcode].parse(data[HEADER_SIZE:])
    except StreamError as e:
        raise MalformedMessage(
            f"{opcode.name} body too short for field {_field(e.path or '?')}: "
            f"message is {len(data)} bytes"
        ) from None
    except ConstructError as e:  # pragma: no cover - no other construct error is expected
        raise MalformedMessage(f"{opcode.name}: {e}") from None
    fields = {name: header[name] for name in _HEADER_FIELDS}
    fields.update({name: body[name] for name in _body_fields(opcode)})
    return _CLASSES[opcode](**fields)


# --------------------------------------------------------------------------- MAC text

_MAC_FORMS = (
    re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}", re.IGNORECASE),
    re.compile(r"[0-9a-f]{2}(-[0-9a-f]{2}){5}", re.IGNORECASE),
    re.compile(r"[0-9a-f]{12}", re.IGNORECASE),
)


def parse_mac(text: str) -> bytes:
    """The 6 bytes of ``00:90:33:06:14:b3``, ``00-90-33-06-14-B3`` or ``0090330614b3``."""
    stripped = text.strip()
    if not any(form.fullmatch(stripped) for form in _MAC_FORMS):
        raise ValueError(
            f"not a MAC address: {text!r} (expected 00:90:33:06:14:b3, "
            f"00-90-33-06-14-b3 or 0090330614b3)"
        )
    return bytes.fromhex(stripped.replace(":", "").replace("-", ""))


def format_mac(mac: bytes) -> str:
    """``00:90:33:06:14:b3`` for the 6 bytes of a MAC address."""
    if len(mac) != 6:
        raise ValueError(f"a MAC address is 6 bytes, got {len(mac)}: {mac!r}")
    return ":".join(f"{b:02x}" for b in mac)


def _check_declaration() -> None:
    """The dataclasses and the construct declaration name the same fields."""
    for opcode, cls in _CLASSES.items():
        names = {f.name for f in dataclasses.fields(cls)}
        expected = set(_HEADER_FIELDS) | set(_body_fields(opcode))
        if names != expected:  # pragma: no cover - caught by importing the module
            raise TypeError(f"{cls.__name__} does not match the format: {names ^ expected}")


_check_declaration()
