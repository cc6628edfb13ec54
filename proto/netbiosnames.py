"""NetBIOS names (RFC 1001/1002): the first-level encoding with a scope, and its errors.

A name is *first-level encoded* (RFC 1001 14.1): the 15 characters of the NetBIOS name,
padded with blanks, and the suffix byte (``<00>``, ``<20>``, ...) make 16 bytes; each byte
becomes two letters, ``'A' + high nibble`` and ``'A' + low nibble``, so ``FRED`` with the
suffix 0x20 is ``EGFCEFEECACACACACACACACACACACACA``. On the wire that is a label of length
32, then the labels of the scope (``NETBIOS.COM`` → 7 ``NETBIOS`` 3 ``COM``), then a zero
length byte. The wildcard ``*`` is padded with NUL bytes instead of blanks
(``CKAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA``), as Samba and Windows send it.

:func:`encode_name` and :func:`parse_name` turn one encoded name into bytes and back;
:data:`NAME` is its ``construct`` declaration, which :mod:`ipgwsim.proto.netbios` uses in
its packets, with the field checks here. The choices for names (text of latin-1
characters, the scope, no label pointers) are listed in :mod:`ipgwsim.proto.netbios`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from construct import (
    Adapter,
    Construct,
    ConstructError,
    GreedyBytes,
    Int8ub,
    Prefixed,
    RepeatUntil,
    StreamError,
)

from ipgwsim.proto.errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "ENCODED_SIZE",
    "MAX_LABEL",
    "MAX_NAME_SIZE",
    "NAME",
    "NAME_CHARS",
    "WILDCARD",
    "MalformedPacket",
    "NetbiosName",
    "PaddedName",
    "UnsupportedPacket",
    "build",
    "check_bool",
    "check_int",
    "checked_name",
    "encode_name",
    "parse",
    "parse_name",
]

#: Characters of a NetBIOS name; the 16th byte is the suffix.
NAME_CHARS = 15
#: The first label: 16 bytes, two letters each.
ENCODED_SIZE = 32
MAX_LABEL = 63
#: The most bytes one encoded name takes, length bytes and the final zero included.
MAX_NAME_SIZE = 255

_LETTERS = b"ABCDEFGHIJKLMNOP"


class MalformedPacket(RemoteProtocolError):
    """Bytes that are no NBNS packet this module takes; ``str()`` says what is wrong."""


class UnsupportedPacket(MalformedPacket):
    """A well-formed NBNS header of a kind this module does not take (a registration, ...)."""


@dataclass(frozen=True)
class NetbiosName:
    """A NetBIOS name: up to 15 characters, the suffix byte (the 16th) and a scope."""

    #: Without padding; ``*`` is the wildcard.
    name: str
    #: The 16th byte: 0x00 workstation, 0x20 server, ...
    suffix: int = 0x00
    #: Dotted, ``""`` for none.
    scope: str = ""

    def __str__(self) -> str:
        text = f"{self.name}<{self.suffix:02x}>"
        return f"{text}.{self.scope}" if self.scope else text

    @property
    def is_wildcard(self) -> bool:
        return self.name == "*"

    def first_level(self) -> str:
        """The 32 letters of the first-level encoding (``EGFCEFEECACA...`` for FRED<20>)."""
        return _first_level(self, "name").decode("ascii")


#: The name a node status request asks for when it asks any node: ``*<00>``.
WILDCARD = NetbiosName("*", 0x00)


# --------------------------------------------------------------------------- checks (encoding)


def check_int(value: object, field: str, top: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= top:
        raise LocalProtocolError(f"{field} must be an integer in 0..{top}, got {value!r}")
    return int(value)


def check_bool(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise LocalProtocolError(f"{field} must be a bool, got {value!r}")
    return value


def _name_bytes(name: object, field: str) -> bytes:
    """The 15 bytes of a name, padded (``*`` with NULs, anything else with blanks)."""
    if not isinstance(name, str):
        raise LocalProtocolError(f"{field} must be a str, got {name!r}")
    try:
        data = name.encode("latin-1")
    except UnicodeEncodeError as e:
        raise LocalProtocolError(
            f"{field} must be latin-1 text, got {name[e.start]!r} in {name!r}"
        ) from None
    if len(data) > NAME_CHARS:
        raise LocalProtocolError(
            f"{field} is {len(data)} characters long; a NetBIOS name has at most {NAME_CHARS}"
        )
    if b"\x00" in data:
        raise LocalProtocolError(f"{field} must not contain NUL: {name!r}")
    if data.endswith(b" "):
        raise LocalProtocolError(f"{field} must not end with a blank (that is padding): {name!r}")
    pad = b"\x00" if data == b"*" else b" "
    return data.ljust(NAME_CHARS, pad)


def checked_name(name: object, field: str) -> str:
    _name_bytes(name, field)
    assert isinstance(name, str)
    return name


def _first_level(name: object, field: str) -> bytes:
    if not isinstance(name, NetbiosName):
        raise LocalProtocolError(f"{field} must be a NetbiosName, got {name!r}")
    raw = _name_bytes(name.name, field) + bytes([check_int(name.suffix, f"{field} suffix", 0xFF)])
    return bytes(b for byte in raw for b in (_LETTERS[byte >> 4], _LETTERS[byte & 0xF]))


def _scope_labels(scope: object, field: str) -> list[bytes]:
    if not isinstance(scope, str):
        raise LocalProtocolError(f"{field} scope must be a str, got {scope!r}")
    if scope == "":
        return []
    try:
        labels = [label.encode("ascii") for label in scope.split(".")]
    except UnicodeEncodeError:
        raise LocalProtocolError(f"{field} scope must be ASCII, got {scope!r}") from None
    for label in labels:
        if not 1 <= len(label) <= MAX_LABEL:
            raise LocalProtocolError(
                f"{field} scope {scope!r} has a label of {len(label)} bytes (1..{MAX_LABEL})"
            )
    return labels


# --------------------------------------------------------------------------- the format


if TYPE_CHECKING:  # construct's classes are generic only in construct-typing's stubs
    _IntAdapter = Adapter[int, int, int, int]
    _NameAdapter = Adapter[list[bytes], list[bytes], NetbiosName, NetbiosName]
    _TextAdapter = Adapter[bytes, bytes, str, str]
else:
    _IntAdapter = _NameAdapter = _TextAdapter = Adapter


class _LabelLength(_IntAdapter):
    """A label's length byte: 0..63; 0xC0 and up is a pointer, which is refused."""

    def _decode(self, obj: int, context: Any, path: str) -> int:
        if obj >= 0xC0:
            raise MalformedPacket(
                f"label length byte 0x{obj:02x} is a pointer: compressed names are not taken"
            )
        if obj > MAX_LABEL:
            raise MalformedPacket(f"label length {obj} is more than {MAX_LABEL}")
        return obj

    def _encode(self, obj: int, context: Any, path: str) -> int:
        return obj


class _Name(_NameAdapter):
    """An encoded name's labels (the last one empty) as a :class:`NetbiosName`."""

    def _decode(self, obj: list[bytes], context: Any, path: str) -> NetbiosName:
        labels = [bytes(label) for label in obj]
        size = sum(len(label) + 1 for label in labels)
        if size > MAX_NAME_SIZE:
            raise MalformedPacket(f"an encoded name of {size} bytes; at most {MAX_NAME_SIZE}")
        first = labels[0]
        if len(first) != ENCODED_SIZE:
            raise MalformedPacket(
                f"the first label of a NetBIOS name is {ENCODED_SIZE} bytes, got {len(first)}"
            )
        bad = next((i for i, c in enumerate(first) if c not in _LETTERS), None)
        if bad is not None:
            raise MalformedPacket(
                f"first-level encoding uses only the letters A-P, got 0x{first[bad]:02x} at {bad}"
            )
        raw = bytes(
            (_LETTERS.index(first[i]) << 4) | _LETTERS.index(first[i + 1])
            for i in range(0, ENCODED_SIZE, 2)
        )
        scope = []
        for label in labels[1:-1]:
            if not label.isascii() or b"." in label:
                raise MalformedPacket(f"a scope label must be ASCII without dots, got {label!r}")
            scope.append(label.decode("ascii"))
        return NetbiosName(_name_text(raw[:NAME_CHARS]), raw[NAME_CHARS], ".".join(scope))

    def _encode(self, obj: NetbiosName, context: Any, path: str) -> list[bytes]:
        field = path.rsplit(" -> ", 1)[-1]
        labels = [_first_level(obj, field), *_scope_labels(obj.scope, field), b""]
        size = sum(len(label) + 1 for label in labels)
        if size > MAX_NAME_SIZE:
            raise LocalProtocolError(
                f"{field} takes {size} bytes encoded; a name takes at most {MAX_NAME_SIZE}"
            )
        return labels


def _name_text(raw: bytes) -> str:
    """The name in 15 padded bytes: ``*`` and NULs (or blanks) is ``*``; else unpadded."""
    if raw[:1] == b"*" and raw[1:].strip(b"\x00") == b"":
        return "*"
    text = raw.rstrip(b" ")
    if b"\x00" in text:
        raise MalformedPacket(f"a NUL byte inside the NetBIOS name {raw!r}")
    return text.decode("latin-1")


class PaddedName(_TextAdapter):
    """15 bytes of a node name, padded with blanks."""

    def _decode(self, obj: bytes, context: Any, path: str) -> str:
        return _name_text(bytes(obj))

    def _encode(self, obj: str, context: Any, path: str) -> bytes:
        return _name_bytes(obj, "node name")


_LABEL = Prefixed(_LabelLength(Int8ub), GreedyBytes)
NAME = _Name(RepeatUntil(lambda label, labels, ctx: len(label) == 0, _LABEL))


# --------------------------------------------------------------------------- encoding and parsing


def encode_name(name: NetbiosName) -> bytes:
    """The encoded name: the 32-letter label, the scope's labels, a zero byte."""
    return build(NAME, name, "name")


def parse_name(data: bytes) -> NetbiosName:
    """The name ``data`` starts with (bytes after it are ignored)."""
    name: NetbiosName = parse(NAME, bytes(data), "name")
    return name


def build(construct: Construct[Any, Any], value: Any, what: str) -> bytes:
    try:
        return construct.build(value)
    except ConstructError as e:  # pragma: no cover - the checks above catch every field
        raise LocalProtocolError(f"cannot encode {what}: {e}") from None


def parse(construct: Construct[Any, Any], data: bytes, what: str) -> Any:
    try:
        return construct.parse(data)
    except StreamError:
        raise MalformedPacket(f"{what} ends early: the packet is {len(data)} bytes") from None
    except ConstructError as e:  # pragma: no cover - no other construct error is expected
        raise MalformedPacket(f"{what}: {e}") from None
