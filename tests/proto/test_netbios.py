"""The NetBIOS name service codec: golden bytes, round trips, scapy as an oracle, garbage."""

from __future__ import annotations

import dataclasses
from ipaddress import IPv4Address
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.netbios import (
    NBNS_ADD_ENTRY,
    NBNSHeader,
    NBNSNodeStatusRequest,
    NBNSNodeStatusResponse,
    NBNSNodeStatusResponseService,
    NBNSQueryRequest,
    NBNSQueryResponse,
    NBNSRegistrationRequest,
)

from ipgwsim.proto.errors import LocalProtocolError
from ipgwsim.proto.netbios import (
    DEFAULT_STATISTICS,
    WILDCARD,
    MalformedPacket,
    NameFlags,
    NameQueryRequest,
    NameQueryResponse,
    NbAddress,
    NetbiosName,
    NmFlags,
    NodeName,
    NodeStatusRequest,
    NodeStatusResponse,
    NodeType,
    Packet,
    UnsupportedPacket,
    encode_name,
    encode_packet,
    parse_name,
    parse_packet,
)

MAC = bytes.fromhex("0090330614b3")
IP = IPv4Address("10.0.0.5")
FRED = b"EGFCEFEECACACACACACACACACACACACA"
#: The wildcard ``*<00>`` as Samba and Windows send it: ``*`` and 14 NULs, suffix 0.
STAR = b"CKAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

# ---------------------------------------------------------------- golden bytes, by hand

QUERY = (
    bytes.fromhex(
        "1234"  # NAME_TRN_ID
        "0110"  # R=0, OPCODE=0 (query), NM_FLAGS RD and B, RCODE 0
        "0001"  # QDCOUNT
        "0000"  # ANCOUNT
        "0000"  # NSCOUNT
        "0000"  # ARCOUNT
        "20"  # label of 32 bytes
    )
    + FRED
    + bytes.fromhex(
        "00"  # no scope: the empty label
        "0020"  # QUESTION_TYPE NB
        "0001"  # QUESTION_CLASS IN
    )
)
ANSWER = (
    bytes.fromhex(
        "1234"  # NAME_TRN_ID, echoed
        "8500"  # R=1, OPCODE=0, NM_FLAGS AA and RD, RCODE 0
        "0000"  # QDCOUNT
        "0001"  # ANCOUNT
        "0000"  # NSCOUNT
        "0000"  # ARCOUNT
        "20"
    )
    + FRED
    + bytes.fromhex(
        "00"
        "0020"  # RR_TYPE NB
        "0001"  # RR_CLASS IN
        "000493e0"  # TTL 300000 s
        "0006"  # RDLENGTH: one address entry
        "0000"  # NB_FLAGS: G=0 (unique), ONT=00 (B node)
        "0a000005"  # NB_ADDRESS 10.0.0.5
    )
)
STATUS_REQUEST = (
    bytes.fromhex(
        "abcd"  # NAME_TRN_ID
        "0000"  # a query, no flags (nmblookup -A)
        "0001000000000000"
        "20"
    )
    + STAR
    + bytes.fromhex(
        "00"
        "0021"  # QUESTION_TYPE NBSTAT
        "0001"
    )
)
STATUS_RESPONSE = (
    bytes.fromhex(
        "abcd"
        "8400"  # R=1, AA
        "0000000100000000"
        "20"
    )
    + STAR
    + bytes.fromhex(
        "00"
        "0021"  # NBSTAT
        "0001"  # IN
        "00000000"  # TTL 0
        "0041"  # RDLENGTH: NUM_NAMES 1 + one name 18 + statistics 46 = 65
        "01"  # NUM_NAMES
    )
    + b"0090330614B3   "  # NETBIOS_NAME, 15 bytes padded with blanks
    + bytes.fromhex(
        "20"  # suffix <20>
        "0400"  # NAME_FLAGS: unique, B node, ACTIVE
        "0090330614b3"  # UNIT_ID: the MAC
    )
    + bytes(40)  # the other statistics (46 bytes with the UNIT_ID)
)


def test_first_level_encoding_of_the_rfc_example() -> None:
    """RFC 1001 14.1: ``FRED`` padded with blanks (and a blank, 0x20, as the 16th byte)."""
    assert NetbiosName("FRED", 0x20).first_level() == FRED.decode()
    assert encode_name(NetbiosName("FRED", 0x20)) == b"\x20" + FRED + b"\x00"
    assert parse_name(b"\x20" + FRED + b"\x00") == NetbiosName("FRED", 0x20)


def test_the_rfc_example_with_a_scope() -> None:
    """``EGFCEFEECACACACACACACACACACACACA.NETBIOS.COM``: labels 32, 7, 3, then 0."""
    name = NetbiosName("FRED", 0x20, "NETBIOS.COM")
    data = b"\x20" + FRED + b"\x07NETBIOS\x03COM\x00"
    assert encode_name(name) == data
    assert parse_name(data) == name
    assert str(name) == "FRED<20>.NETBIOS.COM"


def test_the_wildcard_is_padded_with_nul() -> None:
    assert WILDCARD.first_level() == STAR.decode()
    assert WILDCARD.is_wildcard
    assert str(WILDCARD) == "*<00>"


def test_the_wildcard_padded_with_blanks_is_the_wildcard() -> None:
    """Some senders (scapy) pad ``*`` with blanks; it is the same wildcard."""
    raw = b"*" + b" " * 14 + b"\x00"
    letters = bytes(c for b in raw for c in (0x41 + (b >> 4), 0x41 + (b & 0xF)))
    assert parse_name(b"\x20" + letters + b"\x00") == WILDCARD


@pytest.mark.parametrize(
    ("packet", "data"),
    [
        (NameQueryRequest(0x1234, NetbiosName("FRED", 0x20)), QUERY),
        (
            NameQueryResponse(0x1234, NetbiosName("FRED", 0x20), (NbAddress(IP),), ttl=300000),
            ANSWER,
        ),
        (NodeStatusRequest(0xABCD), STATUS_REQUEST),
        (
            NodeStatusResponse(0xABCD, WILDCARD, (NodeName("0090330614B3", 0x20),), MAC),
            STATUS_RESPONSE,
        ),
    ],
    ids=["query", "positive response", "node status request", "node status response"],
)
def test_golden_bytes(packet: Packet, data: bytes) -> None:
    assert encode_packet(packet) == data
    assert parse_packet(data) == packet
    assert parse_packet(data + b"trailing bytes are ignored") == packet


def test_defaults_are_what_rfc_1002_draws() -> None:
    assert NameQueryRequest(1, WILDCARD).broadcast
    assert not NameQueryRequest(1, WILDCARD, flags=NmFlags.RECURSION_DESIRED).broadcast
    assert encode_packet(NodeStatusRequest(1))[2:4] == b"\x00\x00"
    assert len(DEFAULT_STATISTICS) == 40  # 46 bytes of statistics with the MAC


# ---------------------------------------------------------------- round trips


def _round_trip(packet: Packet) -> None:
    data = encode_packet(packet)
    assert parse_packet(data) == packet
    assert encode_packet(parse_packet(data)) == data


def test_round_trips_of_each_kind() -> None:
    name = NetbiosName("IP800-06-14-B3", 0x00)
    _round_trip(NameQueryRequest(0, name, flags=NmFlags(0)))
    _round_trip(NameQueryRequest(0xFFFF, name, flags=NmFlags(0x7F)))
    _round_trip(
        NameQueryResponse(
            7,
            NetbiosName("WORKGROUP", 0x1E, "a.b"),
            (
                NbAddress(IP),
                NbAddress(IPv4Address("192.168.0.1"), group=True, node_type=NodeType.H),
            ),
            ttl=0xFFFFFFFF,
        )
    )
    _round_trip(NodeStatusRequest(9, NetbiosName("0090330614b3", 0x20)))
    _round_trip(
        NodeStatusResponse(
            9,
            name,
            (
                NodeName("\x01\x02__MSBROWSE__\x02", 0x01, group=True),
                NodeName("", 0x00, node_type=NodeType.M, flags=NameFlags(0x1FFF)),
                NodeName("*x", 0x03, flags=NameFlags.PERMANENT | NameFlags.CONFLICT),
            ),
            MAC,
            statistics=b"\xff" * 46,
            ttl=5,
        )
    )
    _round_trip(NodeStatusResponse(1, WILDCARD, (), MAC, statistics=b""))


def _names() -> st.SearchStrategy[str]:
    chars = st.characters(min_codepoint=1, max_codepoint=0xFF)
    return st.text(chars, max_size=15).filter(lambda s: not s.endswith(" "))


def _netbios_names() -> st.SearchStrategy[NetbiosName]:
    label = st.text(
        st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
        min_size=1,
        max_size=63,
    )
    scopes = st.lists(label, max_size=3).map(".".join).filter(lambda s: len(s) < 200)
    return st.builds(NetbiosName, _names(), st.integers(0, 255), scopes)


_tids = st.integers(0, 0xFFFF)
_flags = st.integers(0, 0x7F).map(NmFlags)
_node_types = st.sampled_from(NodeType)
_addresses = st.builds(
    NbAddress,
    st.ip_addresses(v=4),
    group=st.booleans(),
    node_type=_node_types,
)
_node_names = st.builds(
    NodeName,
    _names(),
    st.integers(0, 255),
    group=st.booleans(),
    node_type=_node_types,
    flags=st.integers(0, 0x1FFF).map(NameFlags),
)
_packets: st.SearchStrategy[Packet] = st.one_of(
    st.builds(NameQueryRequest, _tids, _netbios_names(), flags=_flags),
    st.builds(
        NameQueryResponse,
        _tids,
        _netbios_names(),
        st.lists(_addresses, min_size=1, max_size=8).map(tuple),
        ttl=st.integers(0, 0xFFFFFFFF),
        flags=_flags,
    ),
    st.builds(NodeStatusRequest, _tids, _netbios_names(), flags=_flags),
    st.builds(
        NodeStatusResponse,
        _tids,
        _netbios_names(),
        st.lists(_node_names, max_size=20).map(tuple),
        st.binary(min_size=6, max_size=6),
        statistics=st.binary(max_size=64),
        ttl=st.integers(0, 0xFFFFFFFF),
        flags=_flags,
    ),
)


@given(_packets)
def test_round_trip_of_any_packet(packet: Packet) -> None:
    _round_trip(packet)


@given(_packets, st.binary(max_size=16))
def test_trailing_bytes_are_ignored(packet: Packet, extra: bytes) -> None:
    assert parse_packet(encode_packet(packet) + extra) == packet


# ---------------------------------------------------------------- scapy as the oracle


def _scapy_suffix(suffix: int) -> int:
    """scapy's SUFFIX field: the suffix byte's two letters as one 16-bit value."""
    return ((0x41 + (suffix >> 4)) << 8) | (0x41 + (suffix & 0xF))


@pytest.mark.parametrize("suffix", [0x00, 0x20])
@pytest.mark.parametrize("name", ["0090330614B3", "IP6000-10-00-01"])
def test_scapy_query_request_parses(name: str, suffix: int) -> None:
    query = NBNSHeader(NAME_TRN_ID=0x4321) / NBNSQueryRequest(
        QUESTION_NAME=name.encode(), SUFFIX=_scapy_suffix(suffix)
    )
    assert parse_packet(bytes(query)) == NameQueryRequest(
        0x4321,
        NetbiosName(name, suffix),
        flags=NmFlags.BROADCAST | NmFlags.RECURSION_DESIRED,
    )


def test_scapy_unicast_query_without_recursion() -> None:
    query = NBNSHeader(NAME_TRN_ID=5, NM_FLAGS=0) / NBNSQueryRequest(QUESTION_NAME=b"FRED")
    packet = parse_packet(bytes(query))
    assert packet == NameQueryRequest(5, NetbiosName("FRED", 0x00), flags=NmFlags(0))


@pytest.mark.parametrize("suffix", [0x00, 0x20])
def test_our_query_request_dissects_in_scapy(suffix: int) -> None:
    data = encode_packet(NameQueryRequest(0x0102, NetbiosName("0090330614B3", suffix)))
    pkt = NBNSHeader(data)
    assert (pkt.NAME_TRN_ID, pkt.RESPONSE, pkt.OPCODE, int(pkt.NM_FLAGS)) == (0x0102, 0, 0, 0x11)
    assert (pkt.QDCOUNT, pkt.ANCOUNT, pkt.NSCOUNT, pkt.ARCOUNT) == (1, 0, 0, 0)
    question = pkt[NBNSQueryRequest]
    asked = (question.QUESTION_NAME, question.SUFFIX)
    assert asked == (b"0090330614B3", _scapy_suffix(suffix))
    assert (question.QUESTION_TYPE, question.QUESTION_CLASS) == (0x20, 1)


def test_our_positive_response_dissects_in_scapy() -> None:
    response = NameQueryResponse(
        0x0102, NetbiosName("IP800-06-14-B3", 0x20), (NbAddress(IP),), ttl=300000
    )
    pkt = NBNSHeader(encode_packet(response))
    assert (pkt.RESPONSE, pkt.OPCODE, int(pkt.NM_FLAGS), pkt.RCODE) == (1, 0, 0x50, 0)
    answer = pkt[NBNSQueryResponse]
    named = (answer.RR_NAME, answer.SUFFIX)
    assert named == (b"IP800-06-14-B3", _scapy_suffix(0x20))
    assert (answer.QUESTION_TYPE, answer.QUESTION_CLASS, answer.TTL) == (0x20, 1, 300000)
    assert answer.RDLENGTH == 6
    [entry] = answer.ADDR_ENTRY
    assert (entry.G, entry.OWNER_NODE_TYPE, entry.NB_ADDRESS) == (0, 0, "10.0.0.5")


def test_scapy_positive_response_parses() -> None:
    pkt = NBNSHeader(NAME_TRN_ID=77) / NBNSQueryResponse(
        RR_NAME=b"FRED",
        SUFFIX=_scapy_suffix(0x20),
        TTL=1234,
        ADDR_ENTRY=[
            NBNS_ADD_ENTRY(NB_ADDRESS="10.0.0.5"),
            NBNS_ADD_ENTRY(G=1, OWNER_NODE_TYPE=2, NB_ADDRESS="10.0.0.6"),
        ],
    )
    assert parse_packet(bytes(pkt)) == NameQueryResponse(
        77,
        NetbiosName("FRED", 0x20),
        (NbAddress(IP), NbAddress(IPv4Address("10.0.0.6"), group=True, node_type=NodeType.M)),
        ttl=1234,
    )


def test_scapy_node_status_request_parses() -> None:
    """As nmblookup -A sends it: ``*<00>`` padded with NULs, type NBSTAT, no flags."""
    pkt = NBNSHeader(NAME_TRN_ID=0x2222, NM_FLAGS=0) / NBNSNodeStatusRequest(
        QUESTION_NAME=b"*" + b"\x00" * 14, SUFFIX=_scapy_suffix(0), QUESTION_TYPE=0x21
    )
    assert bytes(pkt) == STATUS_REQUEST.replace(b"\xab\xcd", b"\x22\x22", 1)
    assert parse_packet(bytes(pkt)) == NodeStatusRequest(0x2222)


def test_our_node_status_response_dissects_in_scapy() -> None:
    names = (NodeName("0090330614B3", 0x00), NodeName("IP800-06-14-B3", 0x20, group=True))
    pkt = NBNSHeader(encode_packet(NodeStatusResponse(3, WILDCARD, names, MAC)))
    assert (pkt.RESPONSE, int(pkt.NM_FLAGS)) == (1, 0x40)
    status = pkt[NBNSNodeStatusResponse]
    assert (status.RR_TYPE, status.RR_CLASS, status.TTL) == (0x21, 1, 0)
    assert status.RDLENGTH == 1 + 2 * 18 + 46
    assert status.NUM_NAMES == 2
    first, second = status.NODE_NAME
    assert (first.NETBIOS_NAME, first.SUFFIX, first.NAME_FLAGS) == (b"0090330614B3   ", 0, 0x04)
    assert (second.NETBIOS_NAME, second.SUFFIX, second.NAME_FLAGS) == (
        b"IP800-06-14-B3 ",
        0x20,
        0x84,
    )
    assert status.MAC_ADDRESS == "00:90:33:06:14:b3"


def test_scapy_node_status_response_parses() -> None:
    services = [
        NBNSNodeStatusResponseService(NETBIOS_NAME=b"0090330614B3   ", SUFFIX=0x20),
        NBNSNodeStatusResponseService(NETBIOS_NAME=b"WORKGROUP      ", NAME_FLAGS=0x84),
    ]
    pkt = NBNSHeader(NAME_TRN_ID=8) / NBNSNodeStatusResponse(
        RR_NAME=b"*",
        SUFFIX=_scapy_suffix(0),
        RDLENGTH=1 + 2 * 18 + 6 + 46,
        NODE_NAME=services,
        MAC_ADDRESS="00:90:33:06:14:b3",
        STATISTICS=bytes(46),
    )
    assert parse_packet(bytes(pkt)) == NodeStatusResponse(
        8,
        WILDCARD,
        (NodeName("0090330614B3", 0x20), NodeName("WORKGROUP", 0x00, group=True)),
        MAC,
        statistics=bytes(46),
    )


def test_scapy_registration_is_unsupported() -> None:
    pkt = NBNSHeader() / NBNSRegistrationRequest(QUESTION_NAME=b"OTHER", NB_ADDRESS="10.0.0.9")
    with pytest.raises(UnsupportedPacket, match=r"opcode 5 \(REGISTRATION\)"):
        parse_packet(bytes(pkt))


# ---------------------------------------------------------------- garbage


def _with(data: bytes, offset: int, new: bytes) -> bytes:
    return data[:offset] + new + data[offset + len(new) :]


NAME_AT = 12  # the question's or answer's name starts after the header
TYPE_AT = NAME_AT + 34


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "too short for the header: 0 of 12"),
        (QUERY[:11], "too short for the header: 11 of 12"),
        (QUERY[:20], "the question ends early"),
        (QUERY[:-1], "the question ends early"),
        (ANSWER[:-1], "the answer record ends early"),
        (_with(QUERY, 4, b"\x00\x02"), r"QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT \(1, 0, 0, 0\)"),
        (_with(QUERY, 10, b"\x00\x01"), r"not \(1, 0, 0, 1\)"),
        (_with(ANSWER, 4, b"\x00\x01"), r"\(0, 1, 0, 0\), not \(1, 1, 0, 0\)"),
        (_with(QUERY, 3, b"\x13"), "a request with RCODE 3"),
        (_with(QUERY, NAME_AT, b"\xc0\x0c"), "0xc0 is a pointer"),
        (_with(QUERY, NAME_AT, b"\x40"), "label length 64 is more than 63"),
        (
            QUERY[:12] + b"\x1f" + FRED[:31] + b"\x00\x00\x20\x00\x01",
            "first label of a NetBIOS name is 32 bytes, got 31",
        ),
        (_with(QUERY, NAME_AT + 1, b"e"), "only the letters A-P, got 0x65 at 0"),
        (_with(QUERY, NAME_AT + 5, b"Q"), "only the letters A-P, got 0x51 at 4"),
        (_with(QUERY, NAME_AT + 3, b"AA"), "a NUL byte inside the NetBIOS name"),
        (_with(ANSWER, len(ANSWER) - 8, b"\x00\x05"), "NB data of 5 bytes"),
        (_with(ANSWER, len(ANSWER) - 8, b"\x00\x00"), "NB data of 0 bytes"),
        (_with(ANSWER, len(ANSWER) - 8, b"\x00\x07"), "the answer record ends early"),
        (
            _with(STATUS_RESPONSE, TYPE_AT + 8, b"\x00\x05"),
            "the NBSTAT data ends early",
        ),
    ],
)
def test_malformed_packets_say_why(data: bytes, reason: str) -> None:
    with pytest.raises(MalformedPacket, match=reason):
        parse_packet(data)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (_with(QUERY, 2, b"\x28"), r"opcode 5 \(REGISTRATION\) is not a query"),
        (_with(QUERY, 2, b"\x18"), r"opcode 3 \(unknown\)"),
        (_with(ANSWER, 3, b"\x03"), r"a negative response \(RCODE 3\)"),
        (_with(QUERY, TYPE_AT, b"\x00\x01"), "question type 0x0001 is neither NB nor NBSTAT"),
        (_with(QUERY, TYPE_AT + 2, b"\x00\x03"), "question class 0x0003 is not IN"),
        (_with(ANSWER, TYPE_AT, b"\x00\x0a"), "record type 0x000a"),
        (_with(ANSWER, TYPE_AT + 2, b"\x00\x02"), "answer record class 0x0002"),
    ],
)
def test_unsupported_packets_say_why(data: bytes, reason: str) -> None:
    with pytest.raises(UnsupportedPacket, match=reason):
        parse_packet(data)


def test_scope_labels_must_be_ascii_and_names_short() -> None:
    base = b"\x20" + FRED
    with pytest.raises(MalformedPacket, match="ASCII without dots"):
        parse_name(base + b"\x02\xe9t\x00")
    with pytest.raises(MalformedPacket, match="ASCII without dots"):
        parse_name(base + b"\x03a.b\x00")
    too_long = base + (b"\x3f" + b"x" * 63) * 4 + b"\x00"
    with pytest.raises(MalformedPacket, match="at most 255"):
        parse_name(too_long)
    with pytest.raises(MalformedPacket, match="name ends early"):
        parse_name(base)


@given(st.binary(max_size=120))
def test_garbage_is_a_packet_or_malformed(data: bytes) -> None:
    try:
        packet = parse_packet(data)
    except MalformedPacket as e:
        reason = str(e)
    else:
        assert parse_packet(encode_packet(packet)) == packet
        return
    assert reason


@given(_packets, st.data())
def test_damaged_packets_are_packets_or_malformed(packet: Packet, data: st.DataObject) -> None:
    raw = bytearray(encode_packet(packet))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    try:
        parse_packet(bytes(raw[:cut]))
    except MalformedPacket as e:
        reason = str(e)
    else:
        return
    assert reason


# ---------------------------------------------------------------- what cannot be encoded


_GOOD = NameQueryRequest(1, NetbiosName("FRED"))


@pytest.mark.parametrize(
    ("packet", "reason"),
    [
        (dataclasses.replace(_GOOD, transaction_id=0x10000), "transaction_id must be"),
        (dataclasses.replace(_GOOD, transaction_id=-1), "transaction_id must be"),
        (dataclasses.replace(_GOOD, flags=0x80), "flags must be an integer in 0..127"),  # type: ignore[arg-type]
        (dataclasses.replace(_GOOD, name="FRED"), "must be a NetbiosName"),  # type: ignore[arg-type]
        (NameQueryRequest(1, NetbiosName("A" * 16)), "16 characters long; .* at most 15"),
        (NameQueryRequest(1, NetbiosName("FRED ")), "must not end with a blank"),
        (NameQueryRequest(1, NetbiosName("FR\x00ED")), "must not contain NUL"),
        (NameQueryRequest(1, NetbiosName("FR€D")), "latin-1"),
        (NameQueryRequest(1, NetbiosName("FRED", 256)), "suffix must be an integer in 0..255"),
        (NameQueryRequest(1, NetbiosName("FRED", 0, "a..b")), "label of 0 bytes"),
        (NameQueryRequest(1, NetbiosName("FRED", 0, "x" * 64)), "label of 64 bytes"),
        (NameQueryRequest(1, NetbiosName("FRED", 0, "é")), "scope must be ASCII"),
        (NameQueryRequest(1, NetbiosName("FRED", 0, ".".join(["x" * 63] * 4))), "at most 255"),
        (NameQueryResponse(1, WILDCARD, (), ttl=0), "non-empty tuple"),
        (NameQueryResponse(1, WILDCARD, (NbAddress(IP),), ttl=2**32), "ttl must be"),
        (
            NameQueryResponse(1, WILDCARD, (NbAddress("10.0.0.5"),), ttl=0),  # type: ignore[arg-type]
            r"addresses\[0\].ip must be an ipaddress.IPv4Address",
        ),
        (
            NameQueryResponse(1, WILDCARD, (NbAddress(IP, node_type=4),), ttl=0),  # type: ignore[arg-type]
            r"addresses\[0\].node_type",
        ),
        (NodeStatusResponse(1, WILDCARD, (), MAC[:5]), "mac must be 6 bytes"),
        (NodeStatusResponse(1, WILDCARD, (NodeName("A" * 16, 0),), MAC), r"names\[0\].name"),
        (NodeStatusResponse(1, WILDCARD, (NodeName("A", 0),) * 256, MAC), "at most 255"),
        (
            NodeStatusResponse(1, WILDCARD, (NodeName("A", 0, group=1),), MAC),  # type: ignore[arg-type]
            r"names\[0\].group must be a bool",
        ),
        (NodeStatusResponse(1, WILDCARD, (), MAC, statistics=bytes(70000)), "RDLENGTH"),
    ],
)
def test_encoding_refuses_what_does_not_fit(packet: Any, reason: str) -> None:
    with pytest.raises(LocalProtocolError, match=reason):
        encode_packet(packet)


def test_encoding_refuses_what_is_no_packet() -> None:
    with pytest.raises(LocalProtocolError, match="not a NetBIOS name service packet"):
        encode_packet(WILDCARD)  # type: ignore[arg-type]
