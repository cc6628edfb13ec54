"""The sans-I/O parsers as fuzz targets: bytes in, a record or the parser's own error out.

A crash is any exception but the parser's documented error, or a record that does not
survive its own encoder (``parse(encode(parse(data))) == parse(data)``; SIP: its
``render()``). SDP: ``negotiate`` and ``render_answer`` run on every offer that parses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from ipgwsim.proto import dhcp, gwload, netbios, rtp, sdp, sip
from ipgwsim.proto.tftp import packets as tftp
from ipgwsim.testing.fuzz import Surface
from ipgwsim.testing.fuzz import seeds as seed
from ipgwsim.testing.fuzz.mutate import hostile

__all__ = ["SURFACES"]


def _explained(exc: Exception) -> None:
    """A parser's error says what is wrong: its text is never empty."""
    if not str(exc).strip():
        raise AssertionError(f"{type(exc).__name__} without a message")


def _round_trip(
    parse: Callable[[bytes], Any], encode: Callable[[Any], bytes], errors: type[Exception]
) -> Callable[[None, bytes], None]:
    def check(_: None, data: bytes) -> None:
        try:
            record = parse(data)
        except errors as exc:
            _explained(exc)
            return
        again = parse(encode(record))
        assert again == record, (record, again)

    return check


def _sip(_: None, data: bytes) -> None:
    try:
        message = sip.parse_message(data)
    except sip.MalformedSip as exc:
        _explained(exc)
        return
    for read in ("contacts", "expires", "content_type", "branch"):
        try:
            getattr(message, read)
        except sip.MalformedSip as exc:
            _explained(exc)
    # render() writes a Content-Length; apart from it, the message comes back as it was.
    again = sip.parse_message(message.render())
    length = "Content-Length"
    assert again.without_header(length) == message.without_header(length), (message, again)


def _sdp(_: None, data: bytes) -> None:
    try:
        offer = sdp.parse_sdp(data)
        chosen = sdp.negotiate(offer)
    except sdp.SdpError as exc:
        _explained(exc)
        return
    answer = sdp.render_answer(offer, chosen, ip=seed.DEVICE_IP, port=16384, session_id=1)
    sdp.parse_sdp(answer)  # what the device answers is SDP itself


def _rtp(_: None, data: bytes) -> None:
    try:
        packet = rtp.parse_packet(data)
    except rtp.MalformedRtp as exc:
        _explained(exc)
        return
    again = rtp.parse_packet(rtp.encode_packet(packet))
    assert again == packet, (packet, again)
    try:
        rtp.parse_event(packet.payload)
    except rtp.MalformedRtp as exc:
        _explained(exc)


def _bytes(_: bytes) -> bytes:
    return _


def _parser(
    name: str, entry: str, errors: str, seeds: st.SearchStrategy[bytes], check: Any
) -> Surface:
    return Surface(
        name=name,
        entry=entry,
        crash=f"an exception other than {errors}, or a record its encoder does not give back",
        inputs=hostile(seeds),
        check=check,
        from_bytes=_bytes,
    )


SURFACES = [
    _parser(
        "gwload-parser",
        "ipgwsim.proto.gwload.parse_message",
        "MalformedMessage",
        seed.gwload_bytes(),
        _round_trip(gwload.parse_message, gwload.encode_message, gwload.MalformedMessage),
    ),
    _parser(
        "tftp-parser",
        "ipgwsim.proto.tftp.packets.parse_packet",
        "MalformedPacket",
        seed.tftp_in_transfer(),
        _round_trip(tftp.parse_packet, tftp.encode_packet, tftp.MalformedPacket),
    ),
    _parser(
        "sip-parser", "ipgwsim.proto.sip.parse_message", "MalformedSip", seed.sip_bytes(), _sip
    ),
    _parser(
        "sdp-parser",
        "ipgwsim.proto.sdp.parse_sdp, negotiate, render_answer",
        "SdpError",
        st.builds(
            seed.sdp_body,
            st.sampled_from([seed.PEER_IP, "0.0.0.0", "caller.example"]),
            st.integers(0, 65535),
        ).map(str.encode),
        _sdp,
    ),
    _parser(
        "dhcp-parser",
        "ipgwsim.proto.dhcp.parse_message",
        "MalformedDhcpMessage",
        seed.dhcp_bytes(),
        _round_trip(dhcp.parse_message, dhcp.encode_message, dhcp.MalformedDhcpMessage),
    ),
    _parser(
        "netbios-parser",
        "ipgwsim.proto.netbios.parse_packet",
        "MalformedPacket",
        seed.netbios_bytes(),
        _round_trip(netbios.parse_packet, netbios.encode_packet, netbios.MalformedPacket),
    ),
    _parser(
        "rtp-parser",
        "ipgwsim.proto.rtp.parse_packet, parse_event",
        "MalformedRtp",
        seed.rtp_bytes(),
        _rtp,
    ),
]
