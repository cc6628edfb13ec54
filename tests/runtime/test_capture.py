"""The scapy gwload layers agree with the project's codec; captures read back as gwload/TFTP."""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
import logging
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from scapy.layers.inet import IP, UDP
from scapy.layers.tftp import TFTP, TFTP_ACK, TFTP_DATA, TFTP_ERROR, TFTP_RRQ, TFTP_WRQ
from scapy.packet import Padding, Raw
from scapy.utils import rdpcap

from ipgwsim.proto.gwload import (
    ANY_MAC,
    Ack,
    DeviceState,
    Discover,
    Go,
    Hello,
    Message,
    Nak,
    NakCode,
    Opcode,
    Reset,
    SetIp,
    encode_message,
    format_mac,
    parse_message,
)
from ipgwsim.proto.net import Datagram
from ipgwsim.runtime.capture import (
    GWLOAD,
    GWLOAD_ACK,
    GWLOAD_HELLO,
    GWLOAD_NAK,
    GWLOAD_SETIP,
    LINKTYPE_IPV4,
    Capture,
    install_layers,
)
from ipgwsim.testing.strategies import gwload_messages

MAC = bytes.fromhex("0090330614b3")
MAC_TEXT = "00:90:33:06:14:b3"
IPv4 = ipaddress.IPv4Address

_BODY_LAYERS: dict[Opcode, Any] = {
    Opcode.HELLO: GWLOAD_HELLO,
    Opcode.SETIP: GWLOAD_SETIP,
    Opcode.ACK: GWLOAD_ACK,
    Opcode.NAK: GWLOAD_NAK,
}
_HEADER_FIELDS = {"xid", "mac", "gwtype", "flags"}


def _scapy_value(value: Any) -> Any:
    """A codec field value as the scapy layer holds it."""
    if isinstance(value, IPv4):
        return str(value)
    if isinstance(value, str):
        return value.encode("ascii")
    if isinstance(value, enum.IntEnum):
        return int(value)
    return value


def _body_fields(msg: Message) -> dict[str, Any]:
    return {
        f.name: _scapy_value(getattr(msg, f.name))
        for f in dataclasses.fields(msg)
        if f.name not in _HEADER_FIELDS
    }


def _to_layers(msg: Message) -> Any:
    """``GWLOAD(...)/GWLOAD_<KIND>(...)`` with the field values of ``msg``."""
    header = GWLOAD(xid=msg.xid, mac=format_mac(msg.mac), gwtype=msg.gwtype, flags=msg.flags)
    body = _BODY_LAYERS.get(msg.OPCODE)
    if body is None:  # DISCOVER, GO, RESET: no body layer to set the opcode
        header.opcode = msg.OPCODE
        return header
    return header / body(**_body_fields(msg))  # the body layer sets the opcode


def _assert_dissects_as(packet: Any, msg: Message) -> None:
    """``packet`` (a dissected GWLOAD) carries the field values of ``msg``."""
    header = packet[GWLOAD]
    assert header.opcode == msg.OPCODE
    assert header.version == 1
    assert header.flags == msg.flags
    assert header.xid == msg.xid
    assert header.mac == format_mac(msg.mac)
    assert header.gwtype == msg.gwtype
    body_layer = _BODY_LAYERS.get(msg.OPCODE)
    if body_layer is None:
        assert isinstance(header.payload, Raw | Padding) or not header.payload
        return
    body = header[body_layer]
    for name, value in _body_fields(msg).items():
        assert getattr(body, name) == value, name
        if isinstance(value, bytes):
            assert getattr(body, f"{name}_len") == len(value)


# One message of every kind, with the scapy layers spelled out by hand.
EXAMPLES: list[tuple[Message, Any]] = [
    (
        Discover(xid=0x01020304, mac=ANY_MAC, gwtype=6000),
        GWLOAD(opcode=0x4701, xid=0x01020304, mac="00:00:00:00:00:00", gwtype=6000),
    ),
    (
        Hello(
            xid=7,
            mac=MAC,
            gwtype=6000,
            ip=IPv4("192.168.0.1"),
            mask=IPv4("255.255.255.0"),
            state=DeviceState.AFTER_LONG_RESET,
            boot_build=358,
            model="IP6000",
            firmware_build="10.00 sr12",
            config_name="config",
        ),
        GWLOAD(xid=7, mac=MAC_TEXT, gwtype=6000)
        / GWLOAD_HELLO(
            ip="192.168.0.1",
            mask="255.255.255.0",
            state=2,
            boot_build=358,
            model=b"IP6000",
            firmware_build=b"10.00 sr12",
            config_name=b"config",
        ),
    ),
    (
        SetIp(
            xid=0xFFFFFFFF,
            mac=MAC,
            gwtype=800,
            flags=0x80,
            ip=IPv4("10.0.0.2"),
            mask=IPv4("255.0.0.0"),
            gateway=IPv4("0.0.0.0"),
        ),
        GWLOAD(xid=0xFFFFFFFF, mac=MAC_TEXT, gwtype=800, flags=0x80)
        / GWLOAD_SETIP(ip="10.0.0.2", mask="255.0.0.0", gateway="0.0.0.0"),
    ),
    (Go(xid=9, mac=MAC, gwtype=0), GWLOAD(opcode="GO", xid=9, mac=MAC_TEXT)),
    (Reset(xid=10, mac=MAC, gwtype=0), GWLOAD(opcode="RESET", xid=10, mac=MAC_TEXT)),
    (
        Ack(xid=11, mac=MAC, gwtype=6000, acked=Opcode.RESET),
        GWLOAD(xid=11, mac=MAC_TEXT, gwtype=6000) / GWLOAD_ACK(acked="RESET"),
    ),
    (
        Nak(xid=12, mac=MAC, gwtype=6000, code=NakCode.NOTHING_TO_START, text="no firmware"),
        GWLOAD(xid=12, mac=MAC_TEXT, gwtype=6000)
        / GWLOAD_NAK(code="NOTHING_TO_START", text=b"no firmware"),
    ),
]


# --------------------------------------------------------------------------- agreement


@pytest.mark.parametrize(("msg", "layers"), EXAMPLES, ids=[type(m).__name__ for m, _ in EXAMPLES])
def test_built_layers_are_the_codec_bytes(msg: Message, layers: Any) -> None:
    assert bytes(layers) == encode_message(msg)
    assert parse_message(bytes(layers)) == msg


@pytest.mark.parametrize(("msg", "layers"), EXAMPLES, ids=[type(m).__name__ for m, _ in EXAMPLES])
def test_dissected_codec_bytes_carry_the_fields(msg: Message, layers: Any) -> None:
    data = encode_message(msg)
    packet = GWLOAD(data)
    _assert_dissects_as(packet, msg)
    assert bytes(packet) == data


def test_every_message_kind_has_an_example() -> None:
    assert {m.OPCODE for m, _ in EXAMPLES} == set(Opcode)


@given(gwload_messages())
def test_layers_built_from_any_message_are_the_codec_bytes(msg: Message) -> None:
    assert bytes(_to_layers(msg)) == encode_message(msg)


@given(gwload_messages())
def test_any_encoded_message_dissects_to_its_fields(msg: Message) -> None:
    data = encode_message(msg)
    packet = GWLOAD(data)
    _assert_dissects_as(packet, msg)
    assert bytes(packet) == data
    # The same through IP/UDP, to and from port 69.
    for sport, dport in ((40000, 69), (69, 40000)):
        wire = IP(
            bytes(
                IP(src="0.0.0.0", dst="255.255.255.255") / UDP(sport=sport, dport=dport) / Raw(data)
            )
        )
        _assert_dissects_as(wire, msg)


def test_bytes_after_the_body_are_padding() -> None:
    msg, _ = EXAMPLES[1]
    packet = GWLOAD(encode_message(msg) + b"later")
    _assert_dissects_as(packet, msg)
    assert packet[Padding].load == b"later"


def test_an_unknown_gwload_opcode_dissects_as_a_header_and_raw_bytes() -> None:
    data = struct.pack("!HBBI6sH", 0x47FF, 1, 0, 5, MAC, 0) + b"\x01\x02"
    packet = IP(bytes(IP() / UDP(sport=40000, dport=69) / Raw(data)))
    assert packet[GWLOAD].opcode == 0x47FF
    assert packet[Raw].load == b"\x01\x02"


def test_a_reply_answers_the_request_with_its_xid() -> None:
    discover, hello = EXAMPLES[0][1], EXAMPLES[1][1]
    assert not hello.answers(discover)  # xid 7 vs 0x01020304
    hello[GWLOAD].xid = discover.xid
    assert hello.answers(discover)
    assert not discover.answers(hello)


# --------------------------------------------------------------------------- port 69


@pytest.mark.parametrize(
    "tftp",
    [
        TFTP() / TFTP_RRQ(filename=b"config", mode=b"octet"),
        TFTP() / TFTP_WRQ(filename=b"prot", mode=b"octet"),
        TFTP() / TFTP_DATA(block=1) / Raw(b"config change"),
        TFTP() / TFTP_ACK(block=0),
        TFTP() / TFTP_ERROR(errorcode=4, errormsg=b"illegal operation"),
    ],
    ids=["RRQ", "WRQ", "DATA", "ACK", "ERROR"],
)
@pytest.mark.parametrize(("sport", "dport"), [(40000, 69), (69, 40000)], ids=["to", "from"])
def test_plain_tftp_on_port_69_still_dissects_as_tftp(tftp: Any, sport: int, dport: int) -> None:
    packet = IP(bytes(IP() / UDP(sport=sport, dport=dport) / tftp))
    assert not packet.haslayer(GWLOAD)
    assert packet[TFTP].op == tftp.op
    assert bytes(packet[TFTP]) == bytes(tftp)
    assert type(packet[TFTP].payload) is type(tftp.payload)


def test_gwload_bytes_on_another_port_are_not_dissected() -> None:
    data = encode_message(EXAMPLES[0][0])
    packet = IP(bytes(IP() / UDP(sport=40000, dport=40001) / Raw(data)))
    assert not packet.haslayer(GWLOAD)


def test_installing_a_configured_port_dissects_it_too() -> None:
    data = encode_message(EXAMPLES[0][0])
    install_layers(port=16969)
    packet = IP(bytes(IP() / UDP(sport=40000, dport=16969) / Raw(data)))
    _assert_dissects_as(packet, EXAMPLES[0][0])
    rrq = IP(bytes(IP() / UDP(sport=40000, dport=16969) / TFTP() / TFTP_RRQ(filename=b"c")))
    assert rrq[TFTP_RRQ].filename == b"c"
    install_layers()  # restore dport=69 for UDP()/GWLOAD()


def test_install_layers_is_idempotent() -> None:
    install_layers()
    udp, gwload = list(UDP.payload_guess), list(GWLOAD.payload_guess)
    install_layers()
    assert UDP.payload_guess == udp
    assert GWLOAD.payload_guess == gwload
    assert udp[0][1] is GWLOAD
    assert (UDP() / GWLOAD()).dport == 69
    assert (GWLOAD() / GWLOAD_SETIP()).opcode == Opcode.SETIP


# --------------------------------------------------------------------------- captures

CLIENT = ("192.168.0.10", 40000)
DEVICE_IP = "192.168.0.1"

DISCOVER = Discover(xid=1, mac=ANY_MAC, gwtype=6000)
HELLO_BEFORE = Hello(
    xid=1,
    mac=MAC,
    gwtype=6000,
    ip=IPv4("0.0.0.0"),
    mask=IPv4("0.0.0.0"),
    state=DeviceState.TFTP_MODE,
    boot_build=358,
    model="IP6000",
    firmware_build="",
    config_name="config",
)
SETIP = SetIp(
    xid=2,
    mac=MAC,
    gwtype=6000,
    ip=IPv4(DEVICE_IP),
    mask=IPv4("255.255.255.0"),
    gateway=IPv4("0.0.0.0"),
)
HELLO_AFTER = dataclasses.replace(
    HELLO_BEFORE, xid=2, ip=IPv4(DEVICE_IP), mask=IPv4("255.255.255.0")
)
GO = Go(xid=3, mac=MAC, gwtype=6000)
NAK = Nak(xid=3, mac=MAC, gwtype=6000, code=NakCode.NOTHING_TO_START, text="no firmware")

# (datagram, direction, when); the client's view of a session.
SESSION: list[tuple[Datagram, str, float]] = [
    (Datagram(encode_message(DISCOVER), CLIENT, ("255.255.255.255", 69)), "sent", 1000.0),
    (
        Datagram(encode_message(HELLO_BEFORE), ("0.0.0.0", 69), ("255.255.255.255", 40000)),
        "received",
        1000.25,
    ),
    (Datagram(encode_message(SETIP), CLIENT, ("255.255.255.255", 69)), "sent", 1000.5),
    (Datagram(encode_message(HELLO_AFTER), (DEVICE_IP, 69), CLIENT), "received", 1000.75),
    (
        Datagram(b"\x00\x01config\x00octet\x00", ("192.168.0.10", 40001), (DEVICE_IP, 69)),
        "sent",
        1001.0,
    ),
    (
        Datagram(b"\x00\x03\x00\x01config change", (DEVICE_IP, 69), ("192.168.0.10", 40001)),
        "received",
        1001.125,
    ),
    (Datagram(b"\x00\x04\x00\x01", ("192.168.0.10", 40001), (DEVICE_IP, 69)), "sent", 1001.25),
    (Datagram(encode_message(GO), CLIENT, (DEVICE_IP, 69)), "sent", 1002.0),
    (Datagram(encode_message(NAK), (DEVICE_IP, 69), CLIENT), "received", 1002.000001),
]


@pytest.fixture
def pcap(tmp_path: Path) -> Path:
    capture = Capture()
    for datagram, direction, when in SESSION:
        capture.record(datagram, direction, when)
    assert len(capture) == len(SESSION)
    path = tmp_path / "gwload.pcap"
    capture.write(path)
    return path


def test_the_file_is_a_raw_ipv4_pcap(pcap: Path) -> None:
    data = pcap.read_bytes()
    assert data[:4] in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4")
    order = "<" if data[:4] == b"\xd4\xc3\xb2\xa1" else ">"
    assert struct.unpack(order + "I", data[20:24])[0] == LINKTYPE_IPV4


def test_the_pcap_keeps_times_addresses_ports_and_payloads(pcap: Path) -> None:
    packets = rdpcap(str(pcap))
    assert len(packets) == len(SESSION)
    for packet, (datagram, _, when) in zip(packets, SESSION, strict=True):
        assert float(packet.time) == pytest.approx(when, abs=1e-6)
        assert (packet[IP].src, packet[UDP].sport) == datagram.src
        assert (packet[IP].dst, packet[UDP].dport) == datagram.dst
        assert bytes(packet[UDP].payload) == datagram.data


def test_the_pcap_shows_gwload_with_its_fields(pcap: Path) -> None:
    packets = rdpcap(str(pcap))
    discover, hello_before, setip, hello_after = packets[:4]

    assert discover[GWLOAD].opcode == Opcode.DISCOVER
    assert discover[GWLOAD].xid == 1
    assert discover[GWLOAD].mac == "00:00:00:00:00:00"
    assert discover[GWLOAD].gwtype == 6000

    assert hello_before[IP].src == "0.0.0.0"
    assert hello_before[GWLOAD].opcode == Opcode.HELLO
    assert hello_before[GWLOAD].mac == MAC_TEXT
    assert hello_before[GWLOAD_HELLO].ip == "0.0.0.0"
    assert hello_before[GWLOAD_HELLO].model == b"IP6000"
    assert hello_before[GWLOAD_HELLO].config_name == b"config"
    assert hello_before[GWLOAD_HELLO].state == DeviceState.TFTP_MODE
    assert hello_before[GWLOAD_HELLO].boot_build == 358

    assert setip[GWLOAD].opcode == Opcode.SETIP
    assert setip[GWLOAD].xid == 2
    assert setip[GWLOAD_SETIP].ip == DEVICE_IP
    assert setip[GWLOAD_SETIP].mask == "255.255.255.0"

    assert hello_after[GWLOAD_HELLO].ip == DEVICE_IP
    assert hello_after[GWLOAD].answers(setip[GWLOAD])

    for packet, (datagram, _, _) in zip(packets, SESSION, strict=True):
        if packet.haslayer(GWLOAD):
            _assert_dissects_as(packet, parse_message(datagram.data))
    assert packets[-1][GWLOAD_NAK].code == NakCode.NOTHING_TO_START
    assert packets[-1][GWLOAD_NAK].text == b"no firmware"
    assert "NOTHING_TO_START" in packets[-1][GWLOAD_NAK].sprintf("%GWLOAD_NAK.code%")


def test_the_pcap_shows_tftp_as_tftp(pcap: Path) -> None:
    rrq, data, ack = rdpcap(str(pcap))[4:7]
    for packet in (rrq, data, ack):
        assert not packet.haslayer(GWLOAD)
    assert rrq[TFTP_RRQ].filename == b"config"
    assert data[TFTP_DATA].block == 1
    assert data[Raw].load == b"config change"
    assert ack[TFTP_ACK].block == 1


def test_capture_packets_carry_the_direction() -> None:
    capture = Capture()
    for datagram, direction, when in SESSION[:2]:
        capture.record(datagram, direction, when)
    assert [r.direction for r in capture.records] == ["sent", "received"]
    assert [p.direction for p in capture.packets()] == [2, 1]


def test_an_empty_capture_writes_a_valid_pcap(tmp_path: Path) -> None:
    path = tmp_path / "empty.pcap"
    Capture().write(path)
    assert len(rdpcap(str(path))) == 0


@pytest.mark.parametrize(
    ("direction", "when"), [("in", 1.0), ("sent", -1.0), ("sent", float("nan"))]
)
def test_record_refuses_a_bad_direction_or_time(direction: str, when: float) -> None:
    with pytest.raises(ValueError, match=r"direction|when"):
        Capture().record(SESSION[0][0], direction, when)


def test_writing_does_not_warn(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    capture = Capture()
    capture.record(*SESSION[0])
    scapy_log = logging.getLogger("scapy")  # does not propagate to the root logger
    scapy_log.addHandler(caplog.handler)
    try:
        capture.write(tmp_path / "one.pcap")  # e.g. no "Inconsistent linktypes"
    finally:
        scapy_log.removeHandler(caplog.handler)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_capture_writes_a_pcapng_with_the_directions(tmp_path: Path) -> None:
    capture = Capture()
    for datagram, direction, when in SESSION:
        capture.record(datagram, direction, when)
    path = tmp_path / "gwload.pcapng"
    capture.write_pcapng(path, interface="gwload", description="gwload's own datagrams")
    packets = rdpcap(str(path))
    assert [p.direction for p in packets] == [
        2 if direction == "sent" else 1 for _, direction, _ in SESSION
    ]
    assert {p.sniffed_on for p in packets} == {"gwload"}
    for packet, (datagram, _, when) in zip(packets, SESSION, strict=True):
        assert float(packet.time) == pytest.approx(when, abs=1e-6)
        assert bytes(packet[UDP].payload) == datagram.data
    assert packets[1][GWLOAD_HELLO].model == b"IP6000"
