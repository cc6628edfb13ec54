"""NetBIOS name service packets (RFC 1001/1002): one ``construct`` declaration, one dataclass each.

The packets a NetBIOS node answers on UDP port 137: NAME QUERY REQUEST (RFC 1002 4.2.12),
POSITIVE NAME QUERY RESPONSE (4.2.13), NODE STATUS REQUEST (4.2.17) and NODE STATUS
RESPONSE (4.2.18). Every packet starts with a 12-byte header (transaction id u16; a u16
of R (1 bit), OPCODE (4), NM_FLAGS (7: AA TC RD RA 0 0 B), RCODE (4); then QDCOUNT,
ANCOUNT, NSCOUNT, ARCOUNT, all big-endian). A request carries one question (name,
type u16, class u16); a response one resource record (name, type, class, TTL u32,
RDLENGTH u16, RDATA).

A name is first-level encoded with its scope (RFC 1001 14.1):
:mod:`ipgwsim.proto.netbiosnames` declares that, with :class:`NetbiosName` and the
errors; this module offers them too.

:func:`encode_packet` turns a packet into bytes and :func:`parse_packet` bytes into a
packet; :func:`encode_name` and :func:`parse_name` do the same for one encoded name. All
are pure: no I/O, no clock.

Choices where the RFCs leave room:

- **Names are text of latin-1 characters** (bytes 0x00..0xFF as U+0000..U+00FF, so any
  byte survives a round trip) without padding: ``NetbiosName("FRED", 0x20)``. Case is
  kept as received; comparing names case-insensitively is the caller's business
  (NetBIOS clients upper-case names before they send them). A name cannot end with a
  blank (that is padding) nor contain NUL; ``*`` followed by NULs or by blanks is the
  wildcard ``*``.
- **Scope** is the dotted text of the labels after the name (``""``: no scope), 7-bit
  ASCII, labels of 1..63 bytes; a whole encoded name is at most 255 bytes.
- **Label pointers (name compression) are refused**: queries and the responses this
  module parses carry full names; only registrations, which it does not take, point.
- **Only the four packets above are taken.** Another opcode (registration, release,
  WACK, refresh, ...), a question or record type other than NB and NBSTAT, a class other
  than IN and a negative response (RCODE != 0) raise :class:`UnsupportedPacket`; bytes
  that are no NBNS packet at all raise :class:`MalformedPacket` (its base class, the one
  error to catch). ``str()`` of both says why.
- **Counts must fit the kind**: a request has one question and no records, a response no
  question and one answer record. A positive response carries at least one address, and
  its RDLENGTH is a multiple of 6.
- **Bytes after the packet are ignored** (``parse_packet(encode_packet(p) + extra) == p``).
  RDATA is exactly RDLENGTH bytes; a node status RDATA keeps everything after the MAC as
  ``statistics`` (RFC 1002: 40 bytes of counters after the 6-byte UNIT_ID; scapy's
  layer has 46 after it).
- **Flags**: NM_FLAGS are kept as :class:`NmFlags` (unknown bits too, so a round trip is
  exact). The defaults are what the RFC draws: a broadcast query ``B|RD`` (``0x0110``), a
  node status request none, a positive response ``AA|RD`` (``0x8500``), a node status
  response ``AA`` (``0x8400``). Reserved bits of an address entry's NB_FLAGS are
  ignored; a node name's NAME_FLAGS keep theirs in :class:`NameFlags`.
- Packets are frozen dataclasses and not validated on construction; :func:`encode_packet`
  refuses what does not fit with :class:`~ipgwsim.proto.errors.LocalProtocolError`
  naming the field.
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import KW_ONLY, dataclass
from typing import Any, TypeAlias

from construct import (
    BitsInteger,
    BitStruct,
    Bytes,
    Container,
    Flag,
    GreedyBytes,
    GreedyRange,
    Int8ub,
    Int16ub,
    Int32ub,
    Prefixed,
    PrefixedArray,
    Struct,
)

from ipgwsim.proto.errors import LocalProtocolError
from ipgwsim.proto.netbiosnames import (
    NAME,
    NAME_CHARS,
    WILDCARD,
    MalformedPacket,
    NetbiosName,
    PaddedName,
    UnsupportedPacket,
    build,
    check_bool,
    check_int,
    checked_name,
    encode_name,
    parse,
    parse_name,
)

__all__ = [
    "CLASS_IN",
    "DEFAULT_STATISTICS",
    "HEADER_SIZE",
    "NBNS_PORT",
    "NO_FLAGS",
    "TYPE_NB",
    "TYPE_NBSTAT",
    "WILDCARD",
    "MalformedPacket",
    "NameFlags",
    "NameQueryRequest",
    "NameQueryResponse",
    "NbAddress",
    "NetbiosName",
    "NmFlags",
    "NodeName",
    "NodeStatusRequest",
    "NodeStatusResponse",
    "NodeType",
    "Opcode",
    "Packet",
    "UnsupportedPacket",
    "encode_name",
    "encode_packet",
    "parse_name",
    "parse_packet",
]

#: The UDP port of the NetBIOS name service.
NBNS_PORT = 137
#: Question and record type NB: a name's addresses.
TYPE_NB = 0x0020
#: Question and record type NBSTAT: a node's name table.
TYPE_NBSTAT = 0x0021
#: Class IN, the only class NetBIOS uses.
CLASS_IN = 0x0001
#: The size of the header every packet starts with.
HEADER_SIZE = 12
#: A node status RDATA's statistics after the 6-byte UNIT_ID (the MAC): RFC 1002's
#: counters, all zero (Samba's nmbd sends zeros too).
DEFAULT_STATISTICS = bytes(40)


class Opcode(enum.IntEnum):
    """OPCODE of the header (RFC 1002 4.2.1.1); only QUERY is taken here."""

    QUERY = 0x0
    REGISTRATION = 0x5
    RELEASE = 0x6
    WACK = 0x7
    REFRESH = 0x8
    REFRESH_ALT = 0x9
    MULTIHOMED_REGISTRATION = 0xF


class NmFlags(enum.IntFlag):
    """NM_FLAGS of the header (7 bits: AA TC RD RA 0 0 B)."""

    BROADCAST = 0x01
    RECURSION_AVAILABLE = 0x08
    RECURSION_DESIRED = 0x10
    TRUNCATED = 0x20
    AUTHORITATIVE = 0x40


#: No NM_FLAGS at all (a node status request, a unicast query without recursion).
NO_FLAGS = NmFlags(0)


class NodeType(enum.IntEnum):
    """ONT, the owner node type of an address or a name (2 bits)."""

    B = 0
    P = 1
    M = 2
    H = 3


class NameFlags(enum.IntFlag):
    """NAME_FLAGS of a node name below G and ONT (RFC 1002 4.2.18)."""

    PERMANENT = 0x0200
    ACTIVE = 0x0400
    CONFLICT = 0x0800
    DEREGISTERING = 0x1000


# --------------------------------------------------------------------------- packets


@dataclass(frozen=True)
class NameQueryRequest:
    """NAME QUERY REQUEST: who has ``name``? (question type NB)."""

    transaction_id: int
    name: NetbiosName
    _: KW_ONLY
    flags: NmFlags = NmFlags.BROADCAST | NmFlags.RECURSION_DESIRED

    @property
    def broadcast(self) -> bool:
        return bool(self.flags & NmFlags.BROADCAST)


@dataclass(frozen=True)
class NbAddress:
    """One ADDR_ENTRY of a positive response: NB_FLAGS (G, ONT) and an address."""

    ip: ipaddress.IPv4Address
    _: KW_ONLY
    group: bool = False
    node_type: NodeType = NodeType.B


@dataclass(frozen=True)
class NameQueryResponse:
    """POSITIVE NAME QUERY RESPONSE: ``name`` is at ``addresses`` for ``ttl`` seconds."""

    transaction_id: int
    name: NetbiosName
    addresses: tuple[NbAddress, ...]
    _: KW_ONLY
    ttl: int
    flags: NmFlags = NmFlags.AUTHORITATIVE | NmFlags.RECURSION_DESIRED


@dataclass(frozen=True)
class NodeStatusRequest:
    """NODE STATUS REQUEST: which names does the node hold? (question type NBSTAT)."""

    transaction_id: int
    name: NetbiosName = WILDCARD
    _: KW_ONLY
    flags: NmFlags = NO_FLAGS


@dataclass(frozen=True)
class NodeName:
    """One entry of a node's name table: name, suffix and NAME_FLAGS."""

    name: str
    suffix: int
    _: KW_ONLY
    group: bool = False
    node_type: NodeType = NodeType.B
    flags: NameFlags = NameFlags.ACTIVE


@dataclass(frozen=True)
class NodeStatusResponse:
    """NODE STATUS RESPONSE: the node's name table and its MAC (the statistics' UNIT_ID)."""

    transaction_id: int
    name: NetbiosName
    names: tuple[NodeName, ...]
    mac: bytes
    _: KW_ONLY
    #: The statistics after the MAC (RFC 1002: 40 bytes of counters).
    statistics: bytes = DEFAULT_STATISTICS
    ttl: int = 0
    flags: NmFlags = NmFlags.AUTHORITATIVE


Packet: TypeAlias = NameQueryRequest | NameQueryResponse | NodeStatusRequest | NodeStatusResponse


# --------------------------------------------------------------------------- the format


_HEADER = Struct(
    "transaction_id" / Int16ub,
    "bits"
    / BitStruct(
        "response" / Flag,
        "opcode" / BitsInteger(4),
        "nm_flags" / BitsInteger(7),
        "rcode" / BitsInteger(4),
    ),
    "qdcount" / Int16ub,
    "ancount" / Int16ub,
    "nscount" / Int16ub,
    "arcount" / Int16ub,
)
_QUESTION = Struct("name" / NAME, "type" / Int16ub, "class_" / Int16ub)
_RECORD = Struct(
    "name" / NAME,
    "type" / Int16ub,
    "class_" / Int16ub,
    "ttl" / Int32ub,
    "rdata" / Prefixed(Int16ub, GreedyBytes),
)
_REQUEST = Struct("header" / _HEADER, "question" / _QUESTION)
_RESPONSE = Struct("header" / _HEADER, "answer" / _RECORD)

_NB_FLAGS = BitStruct("group" / Flag, "node_type" / BitsInteger(2), "reserved" / BitsInteger(13))
#: RDATA of an NB record: ADDR_ENTRY (NB_FLAGS, NB_ADDRESS), repeated.
_ADDR_ENTRY = Struct("nb_flags" / _NB_FLAGS, "ip" / Bytes(4))
_ADDR_ENTRIES = GreedyRange(_ADDR_ENTRY)
#: RDATA of an NBSTAT record: NUM_NAMES, NODE_NAME entries, STATISTICS (UNIT_ID first).
_NODE_NAME = Struct(
    "name" / PaddedName(Bytes(NAME_CHARS)),
    "suffix" / Int8ub,
    "name_flags"
    / BitStruct("group" / Flag, "node_type" / BitsInteger(2), "flags" / BitsInteger(13)),
)
_NODE_STATUS = Struct(
    "names" / PrefixedArray(Int8ub, _NODE_NAME),
    "mac" / Bytes(6),
    "statistics" / GreedyBytes,
)
_ADDR_ENTRY_SIZE = 6


# --------------------------------------------------------------------------- encoding


def _header(packet: Packet, *, response: bool, counts: tuple[int, int, int, int]) -> dict[str, Any]:
    qdcount, ancount, nscount, arcount = counts
    return {
        "transaction_id": check_int(packet.transaction_id, "transaction_id", 0xFFFF),
        "bits": {
            "response": response,
            "opcode": Opcode.QUERY,
            "nm_flags": check_int(packet.flags, "flags", 0x7F),
            "rcode": 0,
        },
        "qdcount": qdcount,
        "ancount": ancount,
        "nscount": nscount,
        "arcount": arcount,
    }


def _ipv4(value: object, field: str) -> bytes:
    if not isinstance(value, ipaddress.IPv4Address):
        raise LocalProtocolError(f"{field} must be an ipaddress.IPv4Address, got {value!r}")
    return value.packed


def _nb_rdata(addresses: object) -> bytes:
    if not isinstance(addresses, tuple) or not addresses:
        raise LocalProtocolError(
            f"addresses must be a non-empty tuple of NbAddress, got {addresses!r}"
        )
    entries = []
    for i, entry in enumerate(addresses):
        if not isinstance(entry, NbAddress):
            raise LocalProtocolError(f"addresses[{i}] must be an NbAddress, got {entry!r}")
        entries.append(
            {
                "nb_flags": {
                    "group": check_bool(entry.group, f"addresses[{i}].group"),
                    "node_type": check_int(entry.node_type, f"addresses[{i}].node_type", 3),
                    "reserved": 0,
                },
                "ip": _ipv4(entry.ip, f"addresses[{i}].ip"),
            }
        )
    return build(_ADDR_ENTRIES, entries, "addresses")


def _nbstat_rdata(packet: NodeStatusResponse) -> bytes:
    if not isinstance(packet.names, tuple) or len(packet.names) > 0xFF:
        raise LocalProtocolError(
            f"names must be a tuple of at most 255 NodeName, got {packet.names!r}"
        )
    names = []
    for i, entry in enumerate(packet.names):
        if not isinstance(entry, NodeName):
            raise LocalProtocolError(f"names[{i}] must be a NodeName, got {entry!r}")
        names.append(
            {
                "name": checked_name(entry.name, f"names[{i}].name"),
                "suffix": check_int(entry.suffix, f"names[{i}].suffix", 0xFF),
                "name_flags": {
                    "group": check_bool(entry.group, f"names[{i}].group"),
                    "node_type": check_int(entry.node_type, f"names[{i}].node_type", 3),
                    "flags": check_int(entry.flags, f"names[{i}].flags", 0x1FFF),
                },
            }
        )
    mac = packet.mac
    if not isinstance(mac, bytes | bytearray) or len(mac) != 6:
        raise LocalProtocolError(f"mac must be 6 bytes, got {mac!r}")
    if not isinstance(packet.statistics, bytes | bytearray):
        raise LocalProtocolError(f"statistics must be bytes, got {packet.statistics!r}")
    value = {"names": names, "mac": bytes(mac), "statistics": bytes(packet.statistics)}
    return build(_NODE_STATUS, value, "node status")


def encode_packet(packet: Packet) -> bytes:
    """The bytes of ``packet``; :class:`LocalProtocolError` names a field that does not fit."""
    if isinstance(packet, NameQueryRequest | NodeStatusRequest):
        qtype = TYPE_NB if isinstance(packet, NameQueryRequest) else TYPE_NBSTAT
        value = {
            "header": _header(packet, response=False, counts=(1, 0, 0, 0)),
            "question": {"name": packet.name, "type": qtype, "class_": CLASS_IN},
        }
        return build(_REQUEST, value, type(packet).__name__)
    if isinstance(packet, NameQueryResponse | NodeStatusResponse):
        if isinstance(packet, NameQueryResponse):
            rtype, rdata = TYPE_NB, _nb_rdata(packet.addresses)
        else:
            rtype, rdata = TYPE_NBSTAT, _nbstat_rdata(packet)
        if len(rdata) > 0xFFFF:
            raise LocalProtocolError(f"RDATA of {len(rdata)} bytes does not fit RDLENGTH")
        value = {
            "header": _header(packet, response=True, counts=(0, 1, 0, 0)),
            "answer": {
                "name": packet.name,
                "type": rtype,
                "class_": CLASS_IN,
                "ttl": check_int(packet.ttl, "ttl", 0xFFFFFFFF),
                "rdata": rdata,
            },
        }
        return build(_RESPONSE, value, type(packet).__name__)
    raise LocalProtocolError(f"not a NetBIOS name service packet: {packet!r}")


# --------------------------------------------------------------------------- parsing


def parse_packet(data: bytes) -> Packet:
    """The packet in ``data``; :class:`MalformedPacket` says what is wrong with it."""
    data = bytes(data)
    if len(data) < HEADER_SIZE:
        raise MalformedPacket(f"too short for the header: {len(data)} of {HEADER_SIZE} bytes")
    header: Container[Any] = _HEADER.parse(data)
    bits = header.bits
    if bits.opcode != Opcode.QUERY:
        try:
            what = Opcode(bits.opcode).name
        except ValueError:
            what = "unknown"
        raise UnsupportedPacket(f"opcode {bits.opcode} ({what}) is not a query")
    counts = (header.qdcount, header.ancount, header.nscount, header.arcount)
    kind = "response" if bits.response else "request"
    if bits.rcode:
        if bits.response:
            raise UnsupportedPacket(f"a negative response (RCODE {bits.rcode})")
        raise MalformedPacket(f"a request with RCODE {bits.rcode}")
    expected = (0, 1, 0, 0) if bits.response else (1, 0, 0, 0)
    if counts != expected:
        raise MalformedPacket(
            f"a query {kind} has QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT {expected}, not {counts}"
        )
    flags = NmFlags(bits.nm_flags)
    tid = header.transaction_id
    if not bits.response:
        question = parse(_REQUEST, data, "the question").question
        _check_class(question.class_, "question")
        if question.type == TYPE_NB:
            return NameQueryRequest(tid, question.name, flags=flags)
        if question.type == TYPE_NBSTAT:
            return NodeStatusRequest(tid, question.name, flags=flags)
        raise UnsupportedPacket(f"question type 0x{question.type:04x} is neither NB nor NBSTAT")
    answer = parse(_RESPONSE, data, "the answer record").answer
    _check_class(answer.class_, "answer record")
    rdata = bytes(answer.rdata)
    if answer.type == TYPE_NB:
        return NameQueryResponse(tid, answer.name, _addresses(rdata), ttl=answer.ttl, flags=flags)
    if answer.type == TYPE_NBSTAT:
        status = parse(_NODE_STATUS, rdata, "the NBSTAT data")
        names = tuple(
            NodeName(
                entry.name,
                entry.suffix,
                group=entry.name_flags.group,
                node_type=NodeType(entry.name_flags.node_type),
                flags=NameFlags(entry.name_flags.flags),
            )
            for entry in status.names
        )
        return NodeStatusResponse(
            tid,
            answer.name,
            names,
            bytes(status.mac),
            statistics=bytes(status.statistics),
            ttl=answer.ttl,
            flags=flags,
        )
    raise UnsupportedPacket(f"record type 0x{answer.type:04x} is neither NB nor NBSTAT")


def _check_class(value: int, where: str) -> None:
    if value != CLASS_IN:
        raise UnsupportedPacket(f"{where} class 0x{value:04x} is not IN (0x0001)")


def _addresses(rdata: bytes) -> tuple[NbAddress, ...]:
    if not rdata or len(rdata) % _ADDR_ENTRY_SIZE:
        raise MalformedPacket(
            f"NB data of {len(rdata)} bytes: a positive response has one or more "
            f"{_ADDR_ENTRY_SIZE}-byte address entries"
        )
    entries = _ADDR_ENTRIES.parse(rdata)
    return tuple(
        NbAddress(
            ipaddress.IPv4Address(bytes(entry.ip)),
            group=entry.nb_flags.group,
            node_type=NodeType(entry.nb_flags.node_type),
        )
        for entry in entries
    )
