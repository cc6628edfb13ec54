"""The gwload control message codec against the contract's tables (gwload-protocol.md §3)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from ipaddress import IPv4Address
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipgwsim.proto.errors import LocalProtocolError, RemoteProtocolError
from ipgwsim.proto.gwload import (
    ANY_GWTYPE,
    ANY_MAC,
    VERSION,
    Ack,
    DeviceState,
    Discover,
    Go,
    Hello,
    MalformedMessage,
    Message,
    Nak,
    NakCode,
    Opcode,
    Reset,
    SetIp,
    UnknownOpcode,
    encode_message,
    format_mac,
    is_gwload,
    parse_mac,
    parse_message,
)
from ipgwsim.testing import strategies

MAC = b"\x00\x90\x33\x06\x14\xb3"

# ---------------------------------------------------------------- golden bytes, by hand

DISCOVER = bytes.fromhex(
    "4701"  # opcode DISCOVER
    "01"  # version 1
    "00"  # flags
    "12345678"  # xid
    "000000000000"  # mac: any device
    "1770"  # gwtype 6000
    # empty body
)
HELLO = bytes.fromhex(
    "4702"  # opcode HELLO
    "01"  # version 1
    "00"  # flags
    "12345678"  # xid (echoed)
    "009033 0614b3"  # mac: the device's own
    "1770"  # gwtype 6000
    "c0a80001"  # ip 192.168.0.1
    "ffffff00"  # mask 255.255.255.0
    "02"  # state: TFTP mode after a long reset
    "0166"  # boot build 358
    "06 495036303030"  # model: "IP6000"
    "04 31323334"  # firmware build: "1234"
    "01 63"  # config file name: "c"
)
HELLO_NO_FIRMWARE = bytes.fromhex(
    "4702 01 00 00000001 009033 0614b3 0320"  # HELLO, xid 1, gwtype 800
    "00000000"  # ip: none
    "00000000"  # mask: none
    "03"  # state: defective firmware
    "0001"  # boot build 1
    "05 4950383030"  # model: "IP800"
    "00"  # firmware build: empty, none is valid
    "06 636f6e666967"  # config file name: "config"
)
SETIP = bytes.fromhex(
    "4703"  # opcode SETIP
    "01"  # version 1
    "00"  # flags
    "ffffffff"  # xid 2**32-1
    "009033 0614b3"  # mac: target
    "0000"  # gwtype: any
    "c0a80001"  # ip 192.168.0.1
    "ffffff00"  # mask 255.255.255.0
    "00000000"  # gateway: none
)
GO = bytes.fromhex(
    "4704 01 00"  # opcode GO, version 1, flags
    "00000000"  # xid 0
    "009033 0614b3"  # mac
    "1770"  # gwtype 6000
)
RESET = bytes.fromhex(
    "4705 01 00"  # opcode RESET, version 1, flags
    "00000007"  # xid 7
    "000000 000000"  # mac: any
    "0320"  # gwtype 800
)
ACK = bytes.fromhex(
    "4706 01 00"  # opcode ACK, version 1, flags
    "00000007"  # xid 7
    "009033 0614b3"  # mac
    "0320"  # gwtype 800
    "4704"  # acknowledged: GO
)
NAK = bytes.fromhex(
    "4707 01 00"  # opcode NAK, version 1, flags
    "12345678"  # xid
    "009033 0614b3"  # mac
    "0320"  # gwtype 800 (the device's)
    "0001"  # code 1: wrong gwtype
    "0c 77726f6e6720677774797065"  # text: "wrong gwtype"
)

GOLDEN: list[tuple[Message, bytes]] = [
    (Discover(xid=0x12345678, mac=ANY_MAC, gwtype=6000), DISCOVER),
    (
        Hello(
            xid=0x12345678,
            mac=MAC,
            gwtype=6000,
            ip=IPv4Address("192.168.0.1"),
            mask=IPv4Address("255.255.255.0"),
            state=DeviceState.AFTER_LONG_RESET,
            boot_build=358,
            model="IP6000",
            firmware_build="1234",
            config_name="c",
        ),
        HELLO,
    ),
    (
        Hello(
            xid=1,
            mac=MAC,
            gwtype=800,
            ip=IPv4Address("0.0.0.0"),
            mask=IPv4Address("0.0.0.0"),
            state=DeviceState.DEFECTIVE_FIRMWARE,
            boot_build=1,
            model="IP800",
            firmware_build="",
            config_name="config",
        ),
        HELLO_NO_FIRMWARE,
    ),
    (
        SetIp(
            xid=2**32 - 1,
            mac=MAC,
            gwtype=ANY_GWTYPE,
            ip=IPv4Address("192.168.0.1"),
            mask=IPv4Address("255.255.255.0"),
            gateway=IPv4Address("0.0.0.0"),
        ),
        SETIP,
    ),
    (Go(xid=0, mac=MAC, gwtype=6000), GO),
    (Reset(xid=7, mac=ANY_MAC, gwtype=800), RESET),
    (Ack(xid=7, mac=MAC, gwtype=800, acked=Opcode.GO), ACK),
    (Nak(xid=0x12345678, mac=MAC, gwtype=800, code=NakCode.WRONG_GWTYPE, text="wrong gwtype"), NAK),
]
GOLDEN_IDS = [f"{type(m).__name__}-{i}" for i, (m, _) in enumerate(GOLDEN)]


@pytest.mark.parametrize(("msg", "data"), GOLDEN, ids=GOLDEN_IDS)
def test_encode_gives_the_contract_bytes(msg: Message, data: bytes) -> None:
    assert encode_message(msg) == data


@pytest.mark.parametrize(("msg", "data"), GOLDEN, ids=GOLDEN_IDS)
def test_parse_reads_the_contract_bytes(msg: Message, data: bytes) -> None:
    parsed = parse_message(data)
    assert parsed == msg
    assert type(parsed) is type(msg)


def test_enum_values_match_the_contract() -> None:
    assert [int(o) for o in Opcode] == list(range(0x4701, 0x4708))
    assert {c.name: int(c) for c in NakCode} == {
        "WRONG_GWTYPE": 1,
        "BAD_ADDRESS": 2,
        "NOT_SUPPORTED": 3,
        "BUSY": 4,
        "NOTHING_TO_START": 5,
    }
    assert {s.name: int(s) for s in DeviceState} == {
        "TFTP_MODE": 1,
        "AFTER_LONG_RESET": 2,
        "DEFECTIVE_FIRMWARE": 3,
    }
    assert VERSION == 1
    assert bytes(6) == ANY_MAC
    assert ANY_GWTYPE == 0


def test_parsed_enumerated_fields_are_enum_members() -> None:
    hello = parse_message(HELLO)
    assert isinstance(hello, Hello)
    assert hello.state is DeviceState.AFTER_LONG_RESET
    ack = parse_message(ACK)
    assert isinstance(ack, Ack)
    assert ack.acked is Opcode.GO
    nak = parse_message(NAK)
    assert isinstance(nak, Nak)
    assert nak.code is NakCode.WRONG_GWTYPE


def test_unknown_enumerated_values_parse_to_plain_ints() -> None:
    hello = parse_message(HELLO[:24] + b"\x09" + HELLO[25:])
    assert isinstance(hello, Hello)
    assert hello.state == 9
    assert type(hello.state) is int
    nak = parse_message(NAK[:16] + b"\x01\x00" + NAK[18:])
    assert isinstance(nak, Nak)
    assert nak.code == 0x100
    assert type(nak.code) is int
    ack = parse_message(ACK[:16] + b"\x00\x01")  # acknowledges a TFTP opcode
    assert isinstance(ack, Ack)
    assert ack.acked == 1


# ---------------------------------------------------------------- round trips


@given(strategies.gwload_messages())
def test_round_trip(msg: Message) -> None:
    data = encode_message(msg)
    assert parse_message(data) == msg
    assert is_gwload(data)


@pytest.mark.parametrize(
    "strategy",
    [
        strategies.discovers,
        strategies.hellos,
        strategies.set_ips,
        strategies.gos,
        strategies.resets,
        strategies.acks,
        strategies.naks,
    ],
)
@given(data=st.data())
def test_round_trip_per_type(strategy: Callable[[], st.SearchStrategy[Message]], data: Any) -> None:
    msg = data.draw(strategy())
    encoded = encode_message(msg)
    parsed = parse_message(encoded)
    assert parsed == msg
    assert type(parsed) is type(msg)
    assert encoded[:2] == int(msg.OPCODE).to_bytes(2, "big")
    assert encoded[2] == VERSION


@given(strategies.gwload_messages(), st.binary(min_size=1, max_size=64))
def test_bytes_after_the_body_are_ignored(msg: Message, extra: bytes) -> None:
    assert parse_message(encode_message(msg) + extra) == msg


@pytest.mark.parametrize("flags", [0x01, 0x80, 0xFF])
def test_unknown_flag_bits_are_ignored_and_kept(flags: int) -> None:
    data = DISCOVER[:3] + bytes([flags]) + DISCOVER[4:]
    msg = parse_message(data)
    assert msg == Discover(xid=0x12345678, mac=ANY_MAC, gwtype=6000, flags=flags)
    assert encode_message(msg) == data


def parsed_or_malformed(data: bytes) -> Message | None:
    """The message ``data`` starts with, or None where it is malformed and says why."""
    try:
        return parse_message(data)
    except MalformedMessage as e:
        message = str(e)
        assert message
        return None


@given(st.binary(max_size=64))
def test_parse_either_succeeds_or_says_malformed(data: bytes) -> None:
    msg = parsed_or_malformed(data)
    if msg is not None:
        assert data.startswith(encode_message(msg))


@given(st.integers(0x4701, 0x4707), st.binary(max_size=48))
def test_random_bodies_either_parse_or_say_malformed(opcode: int, rest: bytes) -> None:
    data = opcode.to_bytes(2, "big") + b"\x01" + rest
    msg = parsed_or_malformed(data)
    if msg is not None:
        assert opcode == msg.OPCODE
        assert data.startswith(encode_message(msg))


# ---------------------------------------------------------------- malformed input


@pytest.mark.parametrize("size", [0, 1, 2, 3, 8, 15])
def test_too_short_for_the_header(size: int) -> None:
    with pytest.raises(MalformedMessage, match=rf"^too short for the header: {size} of 16 bytes$"):
        parse_message(DISCOVER[:size])


@pytest.mark.parametrize("version", [0, 2, 255])
def test_wrong_version(version: int) -> None:
    data = HELLO[:2] + bytes([version]) + HELLO[3:]
    with pytest.raises(MalformedMessage, match=rf"^wrong version {version}, expected 1$"):
        parse_message(data)


@pytest.mark.parametrize("opcode", [0x4708, 0x4742, 0x47FF])
def test_unknown_opcode_in_the_gwload_range(opcode: int) -> None:
    data = opcode.to_bytes(2, "big") + DISCOVER[2:]
    with pytest.raises(UnknownOpcode, match=rf"^unknown opcode 0x{opcode:04x}$") as info:
        parse_message(data)
    assert info.value.opcode == opcode
    assert isinstance(info.value, MalformedMessage)


@pytest.mark.parametrize("opcode", [0x0000, 0x0001, 0x0006, 0x4700, 0x4800, 0xFFFF])
def test_opcodes_outside_the_gwload_range(opcode: int) -> None:
    data = opcode.to_bytes(2, "big") + DISCOVER[2:]
    with pytest.raises(MalformedMessage, match=rf"^not a gwload message: opcode 0x{opcode:04x}"):
        parse_message(data)


def _cuts(data: bytes, fields: list[tuple[str, int]]) -> list[tuple[bytes, str]]:
    """Every truncation of ``data`` inside its body, with the field it cuts."""
    cases = []
    start = 16
    for name, size in fields:
        for end in range(start, start + size):
            cases.append((data[:end], name))
        start += size
    assert start == len(data)
    return cases


TRUNCATED = [
    *(
        ("HELLO", *case)
        for case in _cuts(
            HELLO,
            [
                ("ip", 4),
                ("mask", 4),
                ("state", 1),
                ("boot_build", 2),
                ("model", 7),
                ("firmware_build", 5),
                ("config_name", 2),
            ],
        )
    ),
    *(("SETIP", *case) for case in _cuts(SETIP, [("ip", 4), ("mask", 4), ("gateway", 4)])),
    *(("ACK", *case) for case in _cuts(ACK, [("acked", 2)])),
    *(("NAK", *case) for case in _cuts(NAK, [("code", 2), ("text", 13)])),
]


@pytest.mark.parametrize(("name", "data", "field"), TRUNCATED)
def test_body_too_short_names_the_field(name: str, data: bytes, field: str) -> None:
    with pytest.raises(
        MalformedMessage, match=rf"^{name} body too short for field {field}: message is"
    ):
        parse_message(data)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (HELLO[:28] + b"\xc9" + HELLO[29:], "model"),  # "IÉ6000"
        (HELLO[:35] + b"\x80" + HELLO[36:], "firmware_build"),
        (HELLO[:40] + b"\xff", "config_name"),
        (NAK[:19] + b"\xe4" + NAK[20:], "text"),
    ],
)
def test_string_not_ascii(data: bytes, field: str) -> None:
    with pytest.raises(MalformedMessage, match=rf"^string {field} is not ASCII: byte 0x"):
        parse_message(data)


def test_malformed_is_a_remote_protocol_error() -> None:
    assert issubclass(MalformedMessage, RemoteProtocolError)
    assert issubclass(UnknownOpcode, MalformedMessage)


# ---------------------------------------------------------------- encoding refuses


BASE_HELLO, BASE_ACK, BASE_NAK = GOLDEN[1][0], GOLDEN[-2][0], GOLDEN[-1][0]


def test_header_fields_may_be_positional() -> None:
    assert Ack(7, MAC, 800, acked=Opcode.GO) == GOLDEN[-2][0]
    assert Discover(1, ANY_MAC, 0, flags=3) == Discover(xid=1, mac=ANY_MAC, gwtype=0, flags=3)
    with pytest.raises(TypeError):
        Discover(1, ANY_MAC, 0, 3)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("msg", "changes", "field"),
    [
        (BASE_HELLO, {"xid": -1}, "xid"),
        (BASE_HELLO, {"xid": 2**32}, "xid"),
        (BASE_HELLO, {"xid": "1"}, "xid"),
        (BASE_HELLO, {"mac": bytes(5)}, "mac"),
        (BASE_HELLO, {"mac": bytes(7)}, "mac"),
        (BASE_HELLO, {"mac": "00:90:33:06:14:b3"}, "mac"),
        (BASE_HELLO, {"gwtype": 0x10000}, "gwtype"),
        (BASE_HELLO, {"flags": 0x100}, "flags"),
        (BASE_HELLO, {"ip": "192.168.0.1"}, "ip"),
        (BASE_HELLO, {"mask": 0xFFFFFF00}, "mask"),
        (BASE_HELLO, {"state": 256}, "state"),
        (BASE_HELLO, {"boot_build": -1}, "boot_build"),
        (BASE_HELLO, {"model": "x" * 256}, "model"),
        (BASE_HELLO, {"model": "IP6000é"}, "model"),
        (BASE_HELLO, {"firmware_build": b"1234"}, "firmware_build"),
        (BASE_HELLO, {"config_name": "\u00e7onfig"}, "config_name"),
        (BASE_ACK, {"acked": 0x10000}, "acked"),
        (BASE_NAK, {"code": -1}, "code"),
        (BASE_NAK, {"text": "ü" * 3}, "text"),
        (BASE_NAK, {"text": "t" * 300}, "text"),
    ],
)
def test_encode_refuses_what_does_not_fit(
    msg: Message, changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(LocalProtocolError, match=rf"^{field} "):
        encode_message(dataclasses.replace(msg, **changes))


def test_encode_takes_the_longest_string() -> None:
    msg = Nak(1, MAC, 800, code=NakCode.BUSY, text="t" * 255)
    data = encode_message(msg)
    assert data[18] == 255
    assert len(data) == 16 + 2 + 1 + 255
    assert parse_message(data) == msg


def test_encode_refuses_what_is_not_a_message() -> None:
    with pytest.raises(LocalProtocolError, match="not a gwload message"):
        encode_message("DISCOVER")  # type: ignore[arg-type]


# ---------------------------------------------------------------- gwload or TFTP


TFTP_PACKETS = [
    b"\x00\x01config\x00octet\x00",  # RRQ
    b"\x00\x02prot\x00octet\x00blksize\x001428\x00",  # WRQ
    b"\x00\x03\x00\x01" + b"x" * 512,  # DATA
    b"\x00\x04\x47\x01",  # ACK of block 0x4701
    b"\x00\x05\x00\x04illegal operation\x00",  # ERROR 4
    b"\x00\x06blksize\x001428\x00",  # OACK
]


@pytest.mark.parametrize("packet", TFTP_PACKETS)
def test_tftp_packets_are_not_gwload(packet: bytes) -> None:
    assert not is_gwload(packet)
    with pytest.raises(MalformedMessage, match=r"^not a gwload message"):
        parse_message(packet)


@given(st.integers(1, 6), st.binary(max_size=64))
def test_no_tftp_opcode_is_taken_for_gwload(opcode: int, rest: bytes) -> None:
    assert not is_gwload(opcode.to_bytes(2, "big") + rest)


@given(st.integers(0, 0xFFFF), st.binary(max_size=16))
def test_is_gwload_is_the_0x47_range(opcode: int, rest: bytes) -> None:
    assert is_gwload(opcode.to_bytes(2, "big") + rest) == (0x4701 <= opcode <= 0x47FF)


@pytest.mark.parametrize("data", [b"", b"\x47"])
def test_is_gwload_needs_two_bytes(data: bytes) -> None:
    assert not is_gwload(data)


# ---------------------------------------------------------------- MAC text


@pytest.mark.parametrize(
    "text",
    [
        "00:90:33:06:14:b3",
        "00:90:33:06:14:B3",
        "00-90-33-06-14-B3",
        "00-90-33-06-14-b3",
        "0090330614b3",
        "0090330614B3",
        " 00:90:33:06:14:b3\n",
    ],
)
def test_parse_mac(text: str) -> None:
    assert parse_mac(text) == MAC


@pytest.mark.parametrize(
    "text",
    [
        "",
        "00:90:33:06:14",
        "00:90:33:06:14:b3:00",
        "00:90-33:06:14:b3",
        "0:90:33:6:14:b3",
        "0090.3306.14b3",
        "00:90:33:06:14:g3",
        "0090330614b",
        "0090330614b3a",
        "00 90 33 06 14 b3",
    ],
)
def test_parse_mac_refuses(text: str) -> None:
    with pytest.raises(ValueError, match=r"^not a MAC address"):
        parse_mac(text)


def test_format_mac() -> None:
    assert format_mac(MAC) == "00:90:33:06:14:b3"
    assert format_mac(ANY_MAC) == "00:00:00:00:00:00"
    with pytest.raises(ValueError, match="6 bytes"):
        format_mac(bytes(5))


@given(strategies.macs())
def test_mac_text_round_trip(mac: bytes) -> None:
    text = format_mac(mac)
    assert parse_mac(text) == mac
    assert parse_mac(text.upper().replace(":", "-")) == mac
    assert parse_mac(text.replace(":", "")) == mac
