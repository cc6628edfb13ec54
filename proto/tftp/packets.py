"""The six TFTP packets (RFC 1350, RFC 2347), declared once with construct.

Every packet starts with a 2-byte big-endian opcode:

* RRQ (1) and WRQ (2): filename, mode and option pairs (RFC 2347), each a
  NUL-terminated ASCII string;
* DATA (3): block number (2 bytes) and 0 to blksize payload bytes;
* ACK (4): block number;
* ERROR (5): error code (2 bytes) and a NUL-terminated message;
* OACK (6): option pairs, as in a request.

:data:`PacketFormat` is the declaration. :func:`parse_packet` and
:func:`encode_packet` turn bytes into the frozen records below and back.
DATA and ACK, the hot path of a transfer, are encoded and decoded with
:mod:`struct` (:data:`DATA_ACK_HEADER`); the tests prove that this agrees
with :data:`PacketFormat`.

Text fields are strict ASCII (a filename, mode or option that is not ASCII
makes the packet malformed), except the message of an ERROR, which is decoded
leniently (non-ASCII bytes become ``\\xNN`` escapes) so a peer's error is never
lost. Option names keep their spelling; two options whose names differ only in
case are a malformed packet (option names are case-insensitive, RFC 2347).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Final

from construct import Construct as _Construct
from construct import (
    ConstructError,
    GreedyBytes,
    Int16ub,
    Struct,
    Switch,
    Terminated,
    TerminatedError,
    ValidationError,
    this,
)

from ipgwsim.proto.errors import LocalProtocolError, RemoteProtocolError


class Opcode(IntEnum):
    """The first two bytes of every packet."""

    RRQ = 1
    WRQ = 2
    DATA = 3
    ACK = 4
    ERROR = 5
    OACK = 6


class ErrorCode(IntEnum):
    """The error codes of RFC 1350 and RFC 2347."""

    NOT_DEFINED = 0
    FILE_NOT_FOUND = 1
    ACCESS_VIOLATION = 2
    DISK_FULL = 3
    ILLEGAL_OPERATION = 4
    UNKNOWN_TID = 5
    FILE_EXISTS = 6
    NO_SUCH_USER = 7
    OPTION_REFUSED = 8


#: Ends the text of an ERROR a server sends when it could not set up a transfer it would
#: serve (its transfer port cannot be opened): the client may send the same request
#: again at once. A client does not take such an ERROR 0 as a refusal of its options.
SEND_AGAIN = "send the request again"

#: Starts the text of an ERROR 0 a server sends when it serves no new transfer now (it is
#: busy: too many transfers, another upload, flash being programmed). A client does not
#: take it as a refusal of its options: asking again without them would meet the same
#: refusal, or a late answer to the request that was refused only as a repeat.
BUSY = "busy"


class MalformedPacket(RemoteProtocolError):
    """Bytes that are no valid TFTP packet; ``str()`` says what is wrong."""


# -------------------- records --------------------------------------------------


@dataclass(frozen=True)
class ReadRequest:
    """RRQ: the client wants to read ``filename``."""

    filename: str
    mode: str = "octet"
    options: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WriteRequest:
    """WRQ: the client wants to write ``filename``."""

    filename: str
    mode: str = "octet"
    options: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Data:
    """DATA: one block of the file; a short block is the last one."""

    block: int
    payload: bytes


@dataclass(frozen=True)
class Ack:
    """ACK: acknowledges DATA ``block`` (0: the WRQ, or the OACK of an RRQ)."""

    block: int


@dataclass(frozen=True)
class Error:
    """ERROR: ends the transfer. ``code`` is an :class:`ErrorCode` when known."""

    code: int
    message: str


def is_busy(error: Error) -> bool:
    """Whether ``error`` says the server is busy (ERROR 0 starting with :data:`BUSY`)."""
    return error.code == ErrorCode.NOT_DEFINED and error.message.lower().startswith(BUSY)


@dataclass(frozen=True)
class OptionAck:
    """OACK: the options the server grants (RFC 2347)."""

    options: dict[str, str]


Packet = ReadRequest | WriteRequest | Data | Ack | Error | OptionAck

# -------------------- declaration ----------------------------------------------

if TYPE_CHECKING:
    _TextConstruct = _Construct[str, str]
    _OptionsConstruct = _Construct[dict[str, str], dict[str, str]]
else:  # construct's classes are generic only in its type stubs
    _TextConstruct = _Construct
    _OptionsConstruct = _Construct


def _read_text(stream: Any, what: str, *, lenient: bool = False) -> str:
    """One NUL-terminated ASCII string from ``stream``."""
    start = stream.tell()
    rest = stream.read()
    end = rest.find(b"\0")
    if end < 0:
        raise ValidationError(f"{what} is not NUL-terminated")
    stream.seek(start + end + 1)
    raw: bytes = rest[:end]
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        if lenient:
            return raw.decode("ascii", "backslashreplace")
        raise ValidationError(f"{what} {raw!r} is not ASCII") from None


def _text_bytes(text: str, what: str) -> bytes:
    """``text`` NUL-terminated, or ValidationError when it cannot be sent."""
    if "\0" in text:
        raise ValidationError(f"{what} {text!r} contains NUL")
    try:
        return text.encode("ascii") + b"\0"
    except UnicodeEncodeError:
        raise ValidationError(f"{what} {text!r} is not ASCII") from None


class AsciiZ(_TextConstruct):
    """A NUL-terminated ASCII string: filename, mode, error message."""

    def __init__(self, what: str, *, allow_empty: bool = False, lenient: bool = False) -> None:
        super().__init__()
        self.what = what
        self.allow_empty = allow_empty
        self.lenient = lenient

    def _parse(self, stream: Any, context: Any, path: Any) -> str:
        text = _read_text(stream, self.what, lenient=self.lenient)
        if not text and not self.allow_empty:
            raise ValidationError(f"{self.what} is empty")
        return text

    def _build(self, obj: str, stream: Any, context: Any, path: Any) -> Any:
        if not obj and not self.allow_empty:
            raise ValidationError(f"{self.what} is empty")
        stream.write(_text_bytes(obj, self.what))
        return obj

    def _sizeof(self, context: Any, path: Any) -> int:
        raise ValidationError(f"{self.what} has no fixed size")


class OptionList(_OptionsConstruct):
    """RFC 2347 option pairs up to the end of the packet: name NUL value NUL ...

    Names are non-empty; values may be empty. Names that are equal ignoring
    case are refused.
    """

    def _parse(self, stream: Any, context: Any, path: Any) -> dict[str, str]:
        options: dict[str, str] = {}
        seen: set[str] = set()
        start = stream.tell()
        size = len(stream.read())
        stream.seek(start)
        while stream.tell() < start + size:
            name = _read_text(stream, "option name")
            if not name:
                raise ValidationError("empty option name")
            if name.lower() in seen:
                raise ValidationError(f"duplicate option {name!r}")
            seen.add(name.lower())
            if stream.tell() >= start + size:
                raise ValidationError(f"option {name!r} has no value")
            options[name] = _read_text(stream, f"value of option {name!r}")
        return options

    def _build(self, obj: dict[str, str], stream: Any, context: Any, path: Any) -> Any:
        seen: set[str] = set()
        for name, value in obj.items():
            if not name:
                raise ValidationError("empty option name")
            if name.lower() in seen:
                raise ValidationError(f"duplicate option {name!r}")
            seen.add(name.lower())
            stream.write(_text_bytes(name, "option name"))
            stream.write(_text_bytes(value, f"value of option {name!r}"))
        return obj

    def _sizeof(self, context: Any, path: Any) -> int:
        raise ValidationError("an option list has no fixed size")


RequestBody = Struct(
    "filename" / AsciiZ("filename"),
    "mode" / AsciiZ("mode"),
    "options" / OptionList(),
)
DataBody = Struct("block" / Int16ub, "payload" / GreedyBytes)
AckBody = Struct("block" / Int16ub, Terminated)
ErrorBody = Struct(
    "code" / Int16ub,
    "message" / AsciiZ("error message", allow_empty=True, lenient=True),
    Terminated,
)
OackBody = Struct("options" / OptionList())

#: Every TFTP packet: the opcode and the body it selects.
PacketFormat = Struct(
    "opcode" / Int16ub,
    "body"
    / Switch(
        this.opcode,
        {
            Opcode.RRQ: RequestBody,
            Opcode.WRQ: RequestBody,
            Opcode.DATA: DataBody,
            Opcode.ACK: AckBody,
            Opcode.ERROR: ErrorBody,
            Opcode.OACK: OackBody,
        },
    ),
)

#: The 4-byte start of DATA and of ACK (opcode, block): the struct fast path.
DATA_ACK_HEADER: Final = struct.Struct("!HH")
#: Bytes a DATA packet carries besides its payload.
DATA_HEADER_SIZE: Final = 4
#: Highest block number; the next block is 0 (see the package docstring).
MAX_BLOCK: Final = 0xFFFF

_pack_header = DATA_ACK_HEADER.pack

# -------------------- parse and encode -------------------------------------------


def _construct_message(exc: ConstructError) -> str:
    if isinstance(exc, TerminatedError):
        return "unexpected bytes at the end"
    text = str(exc)
    if text.startswith("Error in path"):
        text = text.split("\n", 1)[-1]
    return text


def parse_packet(data: bytes) -> Packet:
    """The packet in ``data``; :class:`MalformedPacket` says what is wrong with it."""
    size = len(data)
    if size < 2:
        raise MalformedPacket(f"packet too short: {size} byte(s), an opcode takes 2")
    opcode = (data[0] << 8) | data[1]
    if opcode == Opcode.DATA:
        if size < 4:
            raise MalformedPacket(f"DATA too short: {size} bytes, at least 4 expected")
        return Data((data[2] << 8) | data[3], bytes(data[4:]))
    if opcode == Opcode.ACK:
        if size != 4:
            raise MalformedPacket(f"ACK must be 4 bytes long, not {size}")
        return Ack((data[2] << 8) | data[3])
    try:
        kind = Opcode(opcode)
    except ValueError:
        raise MalformedPacket(f"unknown opcode {opcode}") from None
    if kind == Opcode.ERROR and size < 4:
        raise MalformedPacket(f"ERROR too short: {size} bytes, at least 4 expected")
    try:
        body = PacketFormat.parse(data).body
    except ConstructError as exc:
        raise MalformedPacket(f"{kind.name}: {_construct_message(exc)}") from None
    if kind == Opcode.RRQ:
        return ReadRequest(body.filename, body.mode, dict(body.options))
    if kind == Opcode.WRQ:
        return WriteRequest(body.filename, body.mode, dict(body.options))
    if kind == Opcode.ERROR:
        code: int = body.code
        if code <= max(ErrorCode):
            code = ErrorCode(code)
        return Error(code, body.message)
    return OptionAck(dict(body.options))


def _check_number(value: int, what: str) -> None:
    if not 0 <= value <= MAX_BLOCK:
        raise LocalProtocolError(f"{what} {value} is out of range 0..65535")


def encode_packet(packet: Packet) -> bytes:
    """The bytes of ``packet``; :class:`LocalProtocolError` when it cannot be sent."""
    if isinstance(packet, Data):
        _check_number(packet.block, "block number")
        return _pack_header(Opcode.DATA, packet.block) + packet.payload
    if isinstance(packet, Ack):
        _check_number(packet.block, "block number")
        return _pack_header(Opcode.ACK, packet.block)
    obj: dict[str, Any]
    if isinstance(packet, ReadRequest | WriteRequest):
        opcode = Opcode.RRQ if isinstance(packet, ReadRequest) else Opcode.WRQ
        obj = {"filename": packet.filename, "mode": packet.mode, "options": packet.options}
    elif isinstance(packet, Error):
        _check_number(packet.code, "error code")
        opcode = Opcode.ERROR
        obj = {"code": int(packet.code), "message": packet.message}
    else:
        opcode = Opcode.OACK
        obj = {"options": packet.options}
    try:
        return PacketFormat.build({"opcode": opcode, "body": obj})
    except ConstructError as exc:
        raise LocalProtocolError(
            f"cannot encode {opcode.name}: {_construct_message(exc)}"
        ) from None


def encode_data(block: int, payload: bytes) -> bytes:
    """A DATA packet, without range checks (the hot path)."""
    return _pack_header(Opcode.DATA, block) + payload


def encode_ack(block: int) -> bytes:
    """An ACK packet, without range checks (the hot path)."""
    return _pack_header(Opcode.ACK, block)


def error_packet(code: int, message: str) -> bytes:
    """An ERROR packet; a message that is not plain ASCII is escaped, never refused."""
    safe = message.replace("\0", " ").encode("ascii", "backslashreplace").decode("ascii")
    return encode_packet(Error(code, safe))
