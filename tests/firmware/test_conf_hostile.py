"""Hostile datagrams through the firmware's ``receive_datagram``: the CONF interface never
raises, whatever the bytes, and keeps answering calls and mixing afterwards."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ipgwsim.device import factory_flash
from ipgwsim.firmware import Firmware
from ipgwsim.firmware.conf import ConfInterface
from ipgwsim.firmware.config import defaults
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.flash.ring import ConfigRing
from ipgwsim.hw_profiles import find_profile
from ipgwsim.proto.net import Datagram
from ipgwsim.proto.sdp import NotAcceptable, SdpError, negotiate, parse_sdp
from ipgwsim.proto.sip import SipResponse, parse_message

PROFILE = find_profile("IP6000")
DEVICE = "10.0.0.5"
CALLER = ("10.0.0.20", 5062)
CONFIG = (
    f"config change ETH0 /addr {DEVICE} /mask 255.255.255.0 /dhcp off\r\n"
    "config change CONF /number 87 /registrar 10.0.0.1 /user conf87 /pwd s3cret\r\n"
)


def invite(call_id: str, user: str = "870#") -> bytes:
    sdp = (
        "v=0\r\no=- 1 1 IN IP4 10.0.0.20\r\ns=-\r\nc=IN IP4 10.0.0.20\r\nt=0 0\r\n"
        "m=audio 40002 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
        "a=ptime:20\r\na=sendrecv\r\n"
    )
    return (
        f"INVITE sip:{user}@{DEVICE} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 10.0.0.20:5062;branch=z9hG4bK{call_id};rport\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:caller@10.0.0.20>;tag=t1\r\n"
        f"To: <sip:{user}@{DEVICE}>\r\n"
        f"Call-ID: {call_id}\r\n"
        "CSeq: 1 INVITE\r\n"
        "Contact: <sip:caller@10.0.0.20:5062>\r\n"
        "Record-Route: <sip:10.0.0.1;lr>\r\n"
        "Expires: 60\r\n"
        "Content-Type: application/sdp\r\n"
        f"Content-Length: {len(sdp)}\r\n\r\n{sdp}"
    ).encode()


def firmware() -> Firmware:
    flash = factory_flash(PROFILE)
    ConfigRing(PartitionTable(flash, PROFILE)["config"]).write(defaults(PROFILE).render() + CONFIG)
    return Firmware(
        PROFILE,
        PROFILE.firmware.build,
        partitions=PartitionTable(flash, PROFILE),
        rng=random.Random(1),
        serial="009033100abc",
    )


def run(fw: Firmware, until: float) -> list[Datagram]:
    out = fw.datagrams_to_send()
    while (due := fw.get_timer()) is not None and due <= until:
        fw.handle_timer(due)
        out += fw.datagrams_to_send()
    return out


HOSTILE = st.sampled_from(
    ["9" * 5000, "\u00b2", "\u0663", "<<garbage", '"', "", "-1", "caller.example.com", "%00"]
)


@st.composite
def mutated_invites(draw: st.DrawFn) -> bytes:
    """A good INVITE with one to three of its tokens replaced by hostile text, or with a
    line repeated, or random bytes."""
    kind = draw(st.sampled_from(["tokens", "repeat", "random"]))
    data = invite("fuzz@10.0.0.20", draw(st.sampled_from(["870#", "87", "87\u0663#"])))
    if kind == "random":
        return draw(st.binary(max_size=600))
    lines = data.split(b"\r\n")
    if kind == "repeat":
        index = draw(st.integers(1, len(lines) - 1))
        lines.insert(index, draw(st.sampled_from(lines[1:])))
        return b"\r\n".join(lines)
    text = data.decode()
    tokens = [t for t in set(text.replace("\r\n", " ").replace(":", " ").split(" ")) if t]
    for _ in range(draw(st.integers(1, 3))):
        text = text.replace(draw(st.sampled_from(sorted(tokens))), draw(HOSTILE), 1)
    return text.encode()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutated_invites(), min_size=1, max_size=4))
def test_receive_datagram_never_raises_and_the_service_still_ticks(data: list[bytes]) -> None:
    fw = firmware()
    conf = next(s for s in fw.services if isinstance(s, ConfInterface))
    now = 1.0
    fw.receive_datagram(Datagram(invite("good@10.0.0.20"), CALLER, (DEVICE, 5060)), now)
    for item in data:
        now += 0.01
        fw.receive_datagram(Datagram(item, CALLER, (DEVICE, 5060)), now)
        for port in (16384, 16386):  # RTP, from the caller and from elsewhere
            for src in ((CALLER[0], 40002), (CALLER[0], 5999)):
                fw.receive_datagram(Datagram(item, src, (DEVICE, port)), now)
    sent = run(fw, now + 2)
    oks = []
    for datagram in sent:
        if datagram.src == (DEVICE, 5060):
            message = parse_message(datagram.data)  # all we send parses
            if isinstance(message, SipResponse) and message.call_id == "good@10.0.0.20":
                oks.append(message.status)
    assert 200 in oks
    assert "good@10.0.0.20" in conf.calls
    fw.receive_datagram(Datagram(invite("late@10.0.0.20"), CALLER, (DEVICE, 5060)), now + 2)
    assert "late@10.0.0.20" in conf.calls
    assert run(fw, now + 3)  # the timers keep running: 200s resent, REGISTERs


def test_sdp_numbers_are_ascii_and_bounded() -> None:
    good = invite("x").split(b"\r\n\r\n", 1)[1]
    for old, new in [
        (b"m=audio 40002", b"m=audio " + b"9" * 5000),
        (b"m=audio 40002", "m=audio \u0664".encode()),
        (b"a=rtpmap:101", "a=rtpmap:\u00b2".encode()),
    ]:
        with pytest.raises(SdpError):
            parse_sdp(good.replace(old, new))
    assert parse_sdp(good.replace(b"a=ptime:20", "a=ptime:\u00b2".encode())).media[0].ptime is None
    with pytest.raises(NotAcceptable):
        negotiate(parse_sdp(good.replace(b"8 0 101", "\u0668 101".encode())))
    with pytest.raises(NotAcceptable):
        negotiate(parse_sdp(good.replace(b"c=IN IP4 10.0.0.20", b"c=IN IP4 caller.example")))
