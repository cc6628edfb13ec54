"""Golden bytes, round trips and malformed input of :mod:`ipgwsim.proto.tftp.packets`.

The golden bytes are written out by hand from RFC 1350 (opcodes, 2-byte
big-endian block numbers and error codes, NUL-terminated strings) and
RFC 2347 (option pairs after the mode; OACK opcode 6).
"""

from __future__ import annotations

import re

import pytest
from construct import Container
from hypothesis import given
from hypothesis import strategies as st

from ipgwsim.proto.errors import LocalProtocolError, RemoteProtocolError
from ipgwsim.proto.tftp.packets import (
    DATA_ACK_HEADER,
    Ack,
    Data,
    Error,
    ErrorCode,
    MalformedPacket,
    Opcode,
    OptionAck,
    Packet,
    PacketFormat,
    ReadRequest,
    WriteRequest,
    encode_ack,
    encode_data,
    encode_packet,
    error_packet,
    parse_packet,
)

GOLDEN: list[tuple[Packet, bytes]] = [
    (ReadRequest("config", "octet"), b"\x00\x01config\x00octet\x00"),
    (WriteRequest("boot.bin", "NetAscii"), b"\x00\x02boot.bin\x00NetAscii\x00"),
    (
        ReadRequest("c", "octet", {"blksize": "1468", "tsize": "0", "windowsize": "16"}),
        b"\x00\x01c\x00octet\x00blksize\x001468\x00tsize\x000\x00windowsize\x0016\x00",
    ),
    (
        WriteRequest("fw", "octet", {"timeout": "3", "tsize": "1048576"}),
        b"\x00\x02fw\x00octet\x00timeout\x003\x00tsize\x001048576\x00",
    ),
    (Data(1, b"hello"), b"\x00\x03\x00\x01hello"),
    (Data(0, b""), b"\x00\x03\x00\x00"),
    (Data(65535, b"\x00\xff"), b"\x00\x03\xff\xff\x00\xff"),
    (Ack(0), b"\x00\x04\x00\x00"),
    (Ack(258), b"\x00\x04\x01\x02"),
    (Error(ErrorCode.FILE_NOT_FOUND, "File not found"), b"\x00\x05\x00\x01File not found\x00"),
    (
        Error(ErrorCode.UNKNOWN_TID, "unknown transfer ID"),
        b"\x00\x05\x00\x05unknown transfer ID\x00",
    ),
    (Error(ErrorCode.OPTION_REFUSED, ""), b"\x00\x05\x00\x08\x00"),
    (Error(42, "vendor"), b"\x00\x05\x00\x2avendor\x00"),
    (
        OptionAck({"blksize": "8192", "tsize": "4096"}),
        b"\x00\x06blksize\x008192\x00tsize\x004096\x00",
    ),
    (OptionAck({}), b"\x00\x06"),
]


@pytest.mark.parametrize(("packet", "wire"), GOLDEN)
def test_golden_bytes(packet: Packet, wire: bytes) -> None:
    assert encode_packet(packet) == wire
    assert parse_packet(wire) == packet


def test_error_codes_follow_the_rfcs() -> None:
    assert [code.name for code in ErrorCode] == [
        "NOT_DEFINED",
        "FILE_NOT_FOUND",
        "ACCESS_VIOLATION",
        "DISK_FULL",
        "ILLEGAL_OPERATION",
        "UNKNOWN_TID",
        "FILE_EXISTS",
        "NO_SUCH_USER",
        "OPTION_REFUSED",
    ]
    assert [int(code) for code in ErrorCode] == list(range(9))
    assert [int(op) for op in Opcode] == [1, 2, 3, 4, 5, 6]


def test_parsed_error_code_is_the_enum_when_known() -> None:
    error = parse_packet(b"\x00\x05\x00\x03disk full\x00")
    assert isinstance(error, Error)
    assert error.code is ErrorCode.DISK_FULL
    other = parse_packet(b"\x00\x05\x01\x00x\x00")
    assert isinstance(other, Error)
    assert other.code == 256
    assert not isinstance(other.code, ErrorCode)


def test_option_names_keep_their_spelling() -> None:
    packet = parse_packet(b"\x00\x01f\x00OCTET\x00BlkSize\x00512\x00")
    assert packet == ReadRequest("f", "OCTET", {"BlkSize": "512"})


# -------------------- the struct fast path agrees with construct -------------


@given(block=st.integers(0, 65535), payload=st.binary(max_size=600))
def test_data_fast_path_agrees_with_construct(block: int, payload: bytes) -> None:
    declared = PacketFormat.build({"opcode": 3, "body": {"block": block, "payload": payload}})
    assert encode_data(block, payload) == declared
    assert encode_packet(Data(block, payload)) == declared
    parsed = PacketFormat.parse(declared)
    assert parse_packet(declared) == Data(parsed.body.block, parsed.body.payload)
    assert DATA_ACK_HEADER.unpack_from(declared) == (3, block)


@given(block=st.integers(0, 65535))
def test_ack_fast_path_agrees_with_construct(block: int) -> None:
    declared = PacketFormat.build({"opcode": 4, "body": {"block": block}})
    assert encode_ack(block) == declared
    assert encode_packet(Ack(block)) == declared
    assert parse_packet(declared) == Ack(PacketFormat.parse(declared).body.block)


def test_construct_declaration_parses_a_request() -> None:
    parsed = PacketFormat.parse(b"\x00\x01f\x00octet\x00tsize\x000\x00")
    assert parsed.opcode == 1
    assert parsed.body == Container(filename="f", mode="octet", options={"tsize": "0"})


# -------------------- Hypothesis round trips -------------------------------

_ascii = st.characters(min_codepoint=1, max_codepoint=127)
_text = st.text(_ascii, min_size=1, max_size=30)
_options = st.dictionaries(_text, st.text(_ascii, max_size=12), max_size=5).filter(
    lambda options: len({name.lower() for name in options}) == len(options)
)
_packets: st.SearchStrategy[Packet] = st.one_of(
    st.builds(ReadRequest, _text, _text, _options),
    st.builds(WriteRequest, _text, _text, _options),
    st.builds(Data, st.integers(0, 65535), st.binary(max_size=1500)),
    st.builds(Ack, st.integers(0, 65535)),
    st.builds(Error, st.integers(0, 65535), st.text(_ascii, max_size=60)),
    st.builds(OptionAck, _options),
)


@given(_packets)
def test_round_trip(packet: Packet) -> None:
    wire = encode_packet(packet)
    assert parse_packet(wire) == packet
    assert encode_packet(parse_packet(wire)) == wire


@given(st.binary(max_size=80))
def test_arbitrary_bytes_parse_or_raise_malformed(data: bytes) -> None:
    try:
        packet = parse_packet(data)
    except MalformedPacket as exc:
        message = str(exc)
    else:
        assert encode_packet(packet) == data or isinstance(packet, Error)
        return
    assert message


# -------------------- malformed packets ------------------------------------


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (b"", "packet too short: 0 byte(s)"),
        (b"\x00", "packet too short: 1 byte(s)"),
        (b"\x00\x07abc", "unknown opcode 7"),
        (b"\x01\x01abc", "unknown opcode 257"),
        (b"\x00\x03\x00", "DATA too short: 3 bytes"),
        (b"\x00\x04\x00", "ACK must be 4 bytes long, not 3"),
        (b"\x00\x04\x00\x01\x00", "ACK must be 4 bytes long, not 5"),
        (b"\x00\x01config", "RRQ: filename is not NUL-terminated"),
        (b"\x00\x01config\x00octet", "RRQ: mode is not NUL-terminated"),
        (b"\x00\x02\x00octet\x00", "WRQ: filename is empty"),
        (b"\x00\x02f\x00\x00", "WRQ: mode is empty"),
        (b"\x00\x01f\x00octet\x00blksize\x00", "RRQ: option 'blksize' has no value"),
        (b"\x00\x01f\x00octet\x00blksize\x00512", "RRQ: value of option 'blksize' is not NUL"),
        (b"\x00\x01f\x00octet\x00blksize", "RRQ: option name is not NUL-terminated"),
        (b"\x00\x01f\x00octet\x00\x00512\x00", "RRQ: empty option name"),
        (b"\x00\x01f\x00octet\x00a\x001\x00A\x002\x00", "RRQ: duplicate option 'A'"),
        (b"\x00\x01\xe4.bin\x00octet\x00", "RRQ: filename b'\\xe4.bin' is not ASCII"),
        (b"\x00\x01f\x00oct\xe9t\x00", "RRQ: mode b'oct\\xe9t' is not ASCII"),
        (b"\x00\x06blksize\x00\xff\x00", "OACK: value of option 'blksize' b'\\xff' is not ASCII"),
        (b"\x00\x06tsize\x00", "OACK: option 'tsize' has no value"),
        (b"\x00\x05\x00", "ERROR too short: 3 bytes"),
        (b"\x00\x05\x00\x01oops", "ERROR: error message is not NUL-terminated"),
        (b"\x00\x05\x00\x01oops\x00junk", "ERROR: unexpected bytes at the end"),
    ],
)
def test_malformed(wire: bytes, message: str) -> None:
    with pytest.raises(MalformedPacket, match="^" + re.escape(message)) as caught:
        parse_packet(wire)
    assert isinstance(caught.value, RemoteProtocolError)


def test_error_message_is_decoded_leniently() -> None:
    error = parse_packet(b"\x00\x05\x00\x00Datei \xfcberschrieben\x00")
    assert error == Error(0, "Datei \\xfcberschrieben")


@pytest.mark.parametrize(
    ("packet", "message"),
    [
        (ReadRequest("", "octet"), "cannot encode RRQ: filename is empty"),
        (ReadRequest("f\u00e4", "octet"), "cannot encode RRQ: filename 'fä' is not ASCII"),
        (WriteRequest("f", "oc\0tet"), "cannot encode WRQ: mode 'oc\\x00tet' contains NUL"),
        (ReadRequest("f", "octet", {"": "1"}), "cannot encode RRQ: empty option name"),
        (OptionAck({"a": "1", "A": "2"}), "cannot encode OACK: duplicate option 'A'"),
        (Data(65536, b""), "block number 65536 is out of range"),
        (Ack(-1), "block number -1 is out of range"),
        (Error(70000, "x"), "error code 70000 is out of range"),
    ],
)
def test_unencodable_packets_are_local_errors(packet: Packet, message: str) -> None:
    with pytest.raises(LocalProtocolError, match=re.escape(message)):
        encode_packet(packet)


def test_error_packet_escapes_what_cannot_be_sent() -> None:
    wire = error_packet(ErrorCode.DISK_FULL, "zu gro\u00df\0!")
    assert wire == b"\x00\x05\x00\x03zu gro\\xdf !\x00"
    assert parse_packet(wire) == Error(ErrorCode.DISK_FULL, "zu gro\\xdf !")
