"""The DHCP codec: golden bytes written by hand, round trips, and scapy as an oracle."""

from __future__ import annotations

import contextlib
import dataclasses
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.dhcp import BOOTP, DHCP

from ipgwsim.proto.dhcp import (
    BROADCAST_FLAG,
    HEADER_SIZE,
    INFINITE_LEASE,
    MAGIC_COOKIE,
    MIN_SIZE,
    DhcpMessage,
    MalformedDhcpMessage,
    MessageType,
    Op,
    Option,
    client_id_for,
    encode_message,
    parse_message,
)
from ipgwsim.proto.errors import LocalProtocolError, RemoteProtocolError
from ipgwsim.testing.strategies import dhcp_messages as messages

MAC = bytes.fromhex("009033100abc")

# ---------------------------------------------------------------- golden bytes, by hand

#: The DISCOVER the firmware's client sends (RFC 2131 section 2 and 3, RFC 2132).
DISCOVER_BYTES = (
    bytes.fromhex(
        "01"  # op BOOTREQUEST
        "01"  # htype Ethernet
        "06"  # hlen
        "00"  # hops
        "12345678"  # xid
        "0000"  # secs
        "8000"  # flags: broadcast
        "00000000"  # ciaddr
        "00000000"  # yiaddr
        "00000000"  # siaddr
        "00000000"  # giaddr
        "009033100abc"  # chaddr: the MAC ...
    )
    + bytes(10)  # ... padded to 16 bytes
    + bytes(64)  # sname
    + bytes(128)  # file
    + bytes.fromhex(
        "63825363"  # magic cookie 99.130.83.99
        "350101"  # 53 message type: DISCOVER
        "0c0f"  # 12 hostname, 15 bytes:
    )
    + b"IP6000-10-0a-bc"
    + bytes.fromhex(
        "3709"  # 55 parameter request list, 9 codes:
        "0103060f1c2a333a3b"  # mask, router, DNS, domain, broadcast, NTP, lease, T1, T2
        "390205dc"  # 57 max message size 1500
        "3c10"  # 60 vendor class id, 16 bytes:
    )
    + b"1.3.6.1.4.1.6666"
    + bytes.fromhex(
        "3d07"  # 61 client id, 7 bytes:
        "01009033100abc"  # hardware type 1 (Ethernet), the MAC
        "ff"  # end
    )
)
DISCOVER = DhcpMessage(
    kind=MessageType.DISCOVER,
    xid=0x12345678,
    chaddr=MAC,
    flags=BROADCAST_FLAG,
    hostname="IP6000-10-0a-bc",
    parameters=(1, 3, 6, 15, 28, 42, 51, 58, 59),
    max_size=1500,
    vendor_class=b"1.3.6.1.4.1.6666",
    client_id=b"\x01" + MAC,
)

#: A NAK: short, so the encoder pads it with zeros to the BOOTP minimum of 300 bytes.
NAK_BYTES = (
    bytes.fromhex(
        "02"  # op BOOTREPLY
        "01"  # htype Ethernet
        "06"  # hlen
        "00"  # hops
        "cafebabe"  # xid
        "0000"  # secs
        "0000"  # flags
        "00000000"  # ciaddr
        "00000000"  # yiaddr
        "00000000"  # siaddr
        "00000000"  # giaddr
        "009033100abc"  # chaddr
    )
    + bytes(10 + 64 + 128)  # chaddr padding, sname, file
    + bytes.fromhex(
        "63825363"  # magic cookie
        "350106"  # 53 message type: NAK
        "36040a000001"  # 54 server id 10.0.0.1
        "3802"  # 56 message, 2 bytes:
    )
    + b"no"
    + b"\xff"  # end
    + bytes(300 - 240 - 14)  # zeros up to 300 bytes
)
NAK = DhcpMessage(
    kind=MessageType.NAK, xid=0xCAFEBABE, chaddr=MAC, server_id="10.0.0.1", message="no"
)


def test_discover_golden_bytes() -> None:
    assert len(DISCOVER_BYTES) == 303
    assert encode_message(DISCOVER) == DISCOVER_BYTES
    assert parse_message(DISCOVER_BYTES) == DISCOVER
    assert DISCOVER.op is Op.BOOTREQUEST
    assert DISCOVER.broadcast


def test_a_short_message_is_padded_to_300_bytes() -> None:
    assert len(NAK_BYTES) == MIN_SIZE
    assert encode_message(NAK) == NAK_BYTES
    assert parse_message(NAK_BYTES) == NAK
    assert NAK.op is Op.BOOTREPLY
    assert not NAK.broadcast


def test_client_id_for_ethernet() -> None:
    assert client_id_for(MAC) == bytes.fromhex("01009033100abc")


# ---------------------------------------------------------------- parsing choices


def _raw(
    kind: int = 2, *, op: int = 2, options: bytes = b"", sname: bytes = b"", file: bytes = b""
) -> bytes:
    """A message built by hand (xid 7, our MAC): the cookie, option 53, then ``options``."""
    header = bytes([op, 1, 6, 0]) + (7).to_bytes(4, "big") + bytes(4) + bytes(16)
    header += MAC.ljust(16, b"\0") + sname.ljust(64, b"\0") + file.ljust(128, b"\0")
    return header + MAGIC_COOKIE + bytes([53, 1, kind]) + options


def test_pads_are_skipped_end_is_optional_and_what_follows_end_is_ignored() -> None:
    data = _raw(options=b"\x00\x00\x01\x04\xff\xff\xff\x00\x00\xff\x03\x04\x01\x02\x03\x04")
    assert parse_message(data).mask == "255.255.255.0"
    assert parse_message(data).routers == ()
    no_end = _raw(options=b"\x36\x04\x0a\x00\x00\x01")
    assert parse_message(no_end).server_id == "10.0.0.1"


def test_unknown_options_are_kept_in_order_and_repeats_are_concatenated() -> None:
    routers = b"\x03\x04\x0a\x00\x00\x01\x03\x04\x0a\x00\x00\x02"
    data = _raw(options=b"\xe0\x02ab\x0f\x03dom\xe0\x01c" + routers)
    msg = parse_message(data)
    assert msg.other == ((224, b"abc"), (15, b"dom"))
    assert msg.routers == ("10.0.0.1", "10.0.0.2")  # RFC 3396
    assert msg.option(224) == b"abc"
    assert msg.option(Option.MESSAGE_TYPE) == b"\x02"
    assert msg.option(99) is None


def test_long_values_are_split_and_joined_again() -> None:
    dns = tuple(f"10.0.{i}.1" for i in range(70))  # 280 bytes: two options 6
    msg = dataclasses.replace(NAK, kind=MessageType.ACK, dns=dns, other=((250, bytes(600)),))
    data = encode_message(msg)
    assert data.count(b"\x06\xff") == 1
    assert parse_message(data) == msg


def test_option_overload_continues_in_file_then_sname() -> None:
    file = b"\x03\x04\x0a\x00\x00\x01\xff"
    sname = b"\x33\x04\x00\x00\x0e\x10\xff"
    data = _raw(options=b"\x34\x01\x03\xff", file=file, sname=sname)
    msg = parse_message(data)
    assert msg.routers == ("10.0.0.1",)
    assert msg.lease_time == 3600
    assert (msg.file, msg.sname) == (b"", b"")
    plain = parse_message(_raw(file=b"boot.bin", sname=b"srv"))
    assert (plain.file, plain.sname) == (b"boot.bin", b"srv")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "too short: 0 bytes"),
        (DISCOVER_BYTES[:239], "too short: 239 bytes"),
        (DISCOVER_BYTES[:236] + b"\x63\x82\x53\x64" + DISCOVER_BYTES[240:], "magic cookie"),
        (b"\x03" + DISCOVER_BYTES[1:], "op 3 is neither"),
        (DISCOVER_BYTES[:2] + b"\x11" + DISCOVER_BYTES[3:], "hlen 17"),
        (_raw(options=b"\x03\x08\x0a\x00"), "option 3 at byte 3 runs past the end"),
        (_raw(options=b"\x03"), "option 3 at byte 3 runs past the end"),
        (_raw()[:-3], "no option 53"),
        (_raw(9), "unknown DHCP message type 9"),
        (_raw(1), "a DISCOVER in a BOOTREPLY"),
        (_raw(2, op=1), "a OFFER in a BOOTREQUEST"),
        (_raw(options=b"\x35\x01\x02"), "option 53 (message type) is 2 bytes"),
        (_raw(options=b"\x01\x03\xff\xff\xff"), "option 1 (mask) must be an IPv4 address"),
        (_raw(options=b"\x06\x05\x01\x01\x01\x01\x01"), "option 6 (dns) must be IPv4 addresses"),
        (_raw(options=b"\x33\x02\x00\x01"), "option 51 (lease_time) must be a 32-bit"),
        (_raw(options=b"\x39\x01\x01"), "option 57 (max_size) must be a 16-bit"),
        (_raw(options=b"\x34\x01\x04"), "option 52 (overload) must be one byte 1, 2 or 3"),
        (
            _raw(options=b"\x34\x01\x01", file=bytes(126) + b"\x03\x09"),
            "file: option 3 at byte 126 runs past the end of the area (2 bytes left)",
        ),
    ],
)
def test_malformed_messages_say_why(data: bytes, reason: str) -> None:
    with pytest.raises(MalformedDhcpMessage, match=re.escape(reason)):
        parse_message(data)
    assert issubclass(MalformedDhcpMessage, RemoteProtocolError)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"xid": 1 << 32}, "xid must be an integer"),
        ({"secs": -1}, "secs must be an integer"),
        ({"chaddr": bytes(17)}, "chaddr must be at most 16 bytes"),
        ({"ciaddr": "10.0.0"}, "ciaddr must be an IPv4 address"),
        ({"sname": bytes(65)}, "sname must be at most 64 bytes"),
        ({"mask": "x"}, "mask must be an IPv4 address"),
        ({"routers": ["10.0.0.1"]}, "routers must be a tuple"),
        ({"lease_time": 1 << 32}, "lease_time must be an integer"),
        ({"hostname": "\u20ac"}, "hostname must be latin-1"),
        ({"parameters": (256,)}, "parameters must be an integer"),
        ({"client_id": "01"}, "client_id must be bytes"),
        ({"other": ((53, b"\x01"),)}, "option 53 cannot go in other"),
        ({"other": ((1, b"\xff\xff\xff\x00"),)}, "option 1 cannot go in other"),
        ({"other": ((200, b""), (200, b""))}, "option 200 is twice in other"),
        ({"other": ((200, "x"),)}, "option 200 in other must be bytes"),
        ({"kind": 1}, "kind must be a MessageType"),
    ],
)
def test_encoding_names_the_field_that_does_not_fit(change: dict[str, Any], reason: str) -> None:
    with pytest.raises(LocalProtocolError, match=re.escape(reason)):
        encode_message(dataclasses.replace(DISCOVER, **change))


# ---------------------------------------------------------------- round trips


@given(messages())
def test_round_trip(msg: DhcpMessage) -> None:
    data = encode_message(msg)
    assert len(data) >= MIN_SIZE
    assert parse_message(data) == msg
    assert encode_message(parse_message(data)) == data


@given(st.binary(max_size=400))
def test_garbage_raises_only_the_codec_error(data: bytes) -> None:
    with contextlib.suppress(MalformedDhcpMessage):
        parse_message(data)


@given(
    st.binary(min_size=HEADER_SIZE - 4, max_size=HEADER_SIZE - 4),
    st.sampled_from([b"", b"\x35\x01\x05", b"\x35\x01\x02", b"\x34\x01\x03"]),
    st.binary(max_size=120),
)
def test_garbage_behind_a_cookie_raises_only_the_codec_error(
    header: bytes, start: bytes, tail: bytes
) -> None:
    data = bytes([2, 1, 6]) + header[3:] + MAGIC_COOKIE + start + tail
    try:
        msg = parse_message(data)
    except MalformedDhcpMessage:
        return
    assert parse_message(encode_message(msg)) == msg


# ---------------------------------------------------------------- scapy as the oracle

_SCAPY_NAMES = {
    "mask": "subnet_mask",
    "routers": "router",
    "dns": "name_server",
    "hostname": "hostname",
    "requested_ip": "requested_addr",
    "lease_time": "lease_time",
    "server_id": "server_id",
    "parameters": "param_req_list",
    "message": "error_message",
    "max_size": "max_dhcp_size",
    "t1": "renewal_time",
    "t2": "rebinding_time",
    "vendor_class": "vendor_class_id",
    "client_id": "client_id",
}
_TEXT = {"hostname", "message"}
_LISTS = {"routers", "dns", "parameters"}


def _to_scapy(msg: DhcpMessage) -> Any:
    options: list[Any] = [("message-type", int(msg.kind))]
    for name, scapy_name in _SCAPY_NAMES.items():
        value = getattr(msg, name)
        if value is None or value == ():
            continue
        if name in _TEXT:
            value = value.encode("latin-1")
        if name == "parameters":
            options.append((scapy_name, list(value)))
        elif name in _LISTS:
            options.append((scapy_name, *value))
        else:
            options.append((scapy_name, value))
    options.extend(msg.other)
    options.append("end")
    return BOOTP(
        op=int(msg.op),
        htype=msg.htype,
        hlen=len(msg.chaddr),
        hops=msg.hops,
        xid=msg.xid,
        secs=msg.secs,
        flags=msg.flags,
        ciaddr=msg.ciaddr,
        yiaddr=msg.yiaddr,
        siaddr=msg.siaddr,
        giaddr=msg.giaddr,
        chaddr=msg.chaddr.ljust(16, b"\0"),
        sname=msg.sname,
        file=msg.file,
    ) / DHCP(options=options)


def _from_scapy(packet: Any) -> dict[str, Any]:
    """The fields scapy sees in a message, named as in :class:`DhcpMessage`."""
    by_scapy_name = {v: k for k, v in _SCAPY_NAMES.items()}
    fields: dict[str, Any] = {
        "op": int(packet.op),
        "htype": packet.htype,
        "hops": packet.hops,
        "xid": packet.xid,
        "secs": packet.secs,
        "flags": int(packet.flags),
        "ciaddr": packet.ciaddr,
        "yiaddr": packet.yiaddr,
        "siaddr": packet.siaddr,
        "giaddr": packet.giaddr,
        "chaddr": bytes(packet.chaddr)[: packet.hlen],
        "sname": bytes(packet.sname).rstrip(b"\0"),
        "file": bytes(packet.file).rstrip(b"\0"),
    }
    assert bytes(packet.options) == MAGIC_COOKIE
    other = []
    for option in packet[DHCP].options:
        if option in ("end", "pad"):
            continue
        name, *values = option
        if name == "message-type":
            fields["kind"] = values[0]
        elif name in by_scapy_name:
            ours = by_scapy_name[name]
            if ours in _TEXT:
                fields[ours] = values[0].decode("latin-1")
            elif ours == "parameters":
                fields[ours] = tuple(values[0])
            elif ours in _LISTS:
                fields[ours] = tuple(values)
            else:
                fields[ours] = values[0]
        else:
            other.append((name, values[0]))
    fields["other"] = tuple(other)
    return fields


def _our_fields(msg: DhcpMessage) -> dict[str, Any]:
    fields = {f.name: getattr(msg, f.name) for f in dataclasses.fields(msg)}
    fields["op"] = int(msg.op)
    fields["kind"] = int(msg.kind)
    return {k: v for k, v in fields.items() if v is not None and v != ()} | {"other": msg.other}


def _scapy_safe(msg: DhcpMessage) -> DhcpMessage:
    """Only what scapy decodes back to the same value: unknown options keep their bytes
    in scapy only for codes it has no name for."""
    unnamed = tuple((code, value) for code, value in msg.other if code >= 224)
    return dataclasses.replace(msg, other=unnamed)


def test_scapy_parses_our_discover() -> None:
    packet = BOOTP(encode_message(DISCOVER))
    assert packet.op == 1
    assert packet.xid == 0x12345678
    assert int(packet.flags) == BROADCAST_FLAG
    assert bytes(packet.chaddr)[:6] == MAC
    options: dict[str, Any] = dict(o for o in packet[DHCP].options if isinstance(o, tuple))
    assert options["message-type"] == 1
    assert options["hostname"] == b"IP6000-10-0a-bc"
    assert options["param_req_list"] == [1, 3, 6, 15, 28, 42, 51, 58, 59]
    assert options["max_dhcp_size"] == 1500
    assert options["vendor_class_id"] == b"1.3.6.1.4.1.6666"
    assert options["client_id"] == b"\x01" + MAC


def test_we_parse_a_scapy_offer() -> None:
    packet = BOOTP(
        op=2, xid=5, chaddr=MAC + bytes(10), yiaddr="10.0.0.50", siaddr="10.0.0.1", flags=0x8000
    ) / DHCP(
        options=[
            ("message-type", "offer"),
            ("server_id", "10.0.0.1"),
            ("subnet_mask", "255.255.255.0"),
            ("router", "10.0.0.1"),
            ("name_server", "10.0.0.1", "10.0.0.2"),
            ("lease_time", INFINITE_LEASE),
            ("renewal_time", 1800),
            ("rebinding_time", 3150),
            ("domain", b"example.net"),
            "end",
        ]
    )
    msg = parse_message(bytes(packet))
    assert msg == DhcpMessage(
        kind=MessageType.OFFER,
        xid=5,
        chaddr=MAC,
        flags=BROADCAST_FLAG,
        yiaddr="10.0.0.50",
        siaddr="10.0.0.1",
        server_id="10.0.0.1",
        mask="255.255.255.0",
        routers=("10.0.0.1",),
        dns=("10.0.0.1", "10.0.0.2"),
        lease_time=INFINITE_LEASE,
        t1=1800,
        t2=3150,
        other=((Option.DOMAIN_NAME, b"example.net"),),
    )


@given(messages(long_values=False).map(_scapy_safe))
def test_scapy_reads_what_we_build(msg: DhcpMessage) -> None:
    assert _from_scapy(BOOTP(encode_message(msg))) == _our_fields(msg)


@given(messages(long_values=False).map(_scapy_safe))
def test_we_read_what_scapy_builds(msg: DhcpMessage) -> None:
    assert parse_message(bytes(_to_scapy(msg))) == msg
