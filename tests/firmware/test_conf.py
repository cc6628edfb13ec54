"""The CONF interface in a real firmware, against a small registrar and callers, in virtual time.

The registrar and the callers below are written with the project's codec
(``ipgwsim.proto.sip``, ``ipgwsim.proto.sdp``, ``ipgwsim.proto.rtp``); the media go
through the real :class:`~ipgwsim.firmware.media.Mixer`. The tests against kamailio and
sipp on loopback are the runtime's.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field

import numpy as np
import pytest

from ipgwsim.device import factory_flash
from ipgwsim.events import Event, PortClosed, PortOpened, ResetRequested
from ipgwsim.firmware import Firmware
from ipgwsim.firmware.conf import (
    ACK_GRACE,
    ANSWER_DELAY,
    DIGIT_TIMEOUT,
    REFRESH_AT,
    RTP_PORT_BASE,
    RTP_TIMEOUT,
    CallState,
    ConfInterface,
    RegState,
    legacy_route,
    pbx_route,
    retry_delay,
)
from ipgwsim.firmware.config import defaults
from ipgwsim.firmware.running import RESTART_MODULES
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.flash.ring import ConfigRing
from ipgwsim.hw_profiles import Profile, find_profile
from ipgwsim.proto.net import Address, Datagram
from ipgwsim.proto.rtp import (
    ALAW_DECODE,
    ALAW_ENCODE,
    RtpPacket,
    TelephoneEvent,
    encode_event,
    encode_packet,
    parse_packet,
)
from ipgwsim.proto.sdp import negotiate, parse_sdp
from ipgwsim.proto.sip import (
    MalformedSip,
    SipRequest,
    SipResponse,
    make_response,
    parse_message,
)
from ipgwsim.proto.sipdigest import digest_response, parse_auth_params
from ipgwsim.testing.firmware_node import FirmwareNode
from ipgwsim.testing.vnet import VirtualNetwork

IP6000 = find_profile("IP6000")
IP411 = find_profile("IP411")
SERIAL = "009033100abc"
DEVICE = "10.0.0.5"
REGISTRAR = "10.0.0.1"
CALLER = "10.0.0.20"
PASSWORD = "s3cret"
ETH0 = f"config change ETH0 /addr {DEVICE} /mask 255.255.255.0 /dhcp off\r\n"
CONF = f"config change CONF /number 87 /registrar {REGISTRAR} /user conf87 /pwd {PASSWORD}"


# -- a registrar, written with the codec ----------------------------------------------------


@dataclass
class Registrar:
    """Challenges every REGISTER without valid credentials (RFC 2617, qop=auth) and
    acknowledges the rest with ``granted`` seconds."""

    ip: str = REGISTRAR
    port: int = 5060
    password: str = PASSWORD
    granted: int | None = None
    min_expires: int | None = None
    silent: bool = False
    #: Issue a new nonce for each challenge and accept each nonce only once.
    one_time_nonces: bool = False
    received: list[tuple[float, SipRequest]] = field(default_factory=list)
    sent: list[tuple[float, SipResponse]] = field(default_factory=list)
    _nonces: list[str] = field(default_factory=list)
    _outbox: list[Datagram] = field(default_factory=list)

    def accepts(self, dst: Address) -> bool:
        return dst == (self.ip, self.port)

    def receive_datagram(self, datagram: Datagram, now: float) -> None:
        request = parse_message(datagram.data)
        assert isinstance(request, SipRequest)
        self.received.append((now, request))
        if self.silent:
            return
        expires = request.expires or 3600
        if self.min_expires is not None and expires < self.min_expires:
            response = make_response(
                request, 423, to_tag="r", headers=[("Min-Expires", str(self.min_expires))]
            )
        elif not self._authorized(request):
            nonce = f"nonce{len(self.received)}"
            self._nonces.append(nonce)
            challenge = f'Digest realm="{self.ip}", nonce="{nonce}", qop="auth", algorithm=MD5'
            response = make_response(
                request, 401, to_tag="r", headers=[("WWW-Authenticate", challenge)]
            )
        else:
            granted = self.granted if self.granted is not None else expires
            contact = f"{request.header('Contact')};expires={granted}"
            response = make_response(request, 200, to_tag="r", headers=[("Contact", contact)])
        self.sent.append((now, response))
        self._outbox.append(Datagram(response.render(), (self.ip, self.port), datagram.src))

    def _authorized(self, request: SipRequest) -> bool:
        value = request.header("Authorization")
        if value is None:
            return False
        _, p = parse_auth_params(value)
        if p["nonce"] not in self._nonces:
            return False
        expected = digest_response(
            username=p["username"],
            password=self.password,
            realm=p["realm"],
            nonce=p["nonce"],
            method=request.method,
            uri=p["uri"],
            qop=p.get("qop"),
            nc=p.get("nc"),
            cnonce=p.get("cnonce"),
        )
        if p["response"] != expected or p["username"] != "conf87" or p["realm"] != self.ip:
            return False
        if self.one_time_nonces:
            self._nonces.remove(p["nonce"])
        return True

    def datagrams_to_send(self) -> list[Datagram]:
        out, self._outbox = self._outbox, []
        return out

    def get_timer(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> None:
        return None

    def registers(self) -> list[SipRequest]:
        return [r for _, r in self.received]


# -- callers ----------------------------------------------------------------------------------


@dataclass
class Leg:
    """One call of a caller: its SIP identity, its media port and what it received."""

    call_id: str
    tag: str
    media_port: int
    user: str
    invite: SipRequest | None = None
    responses: list[tuple[float, SipResponse]] = field(default_factory=list)
    rtp: list[tuple[float, RtpPacket]] = field(default_factory=list)
    to_tag: str | None = None
    sequence: int = 0
    talking_until: float | None = None
    next_frame: float | None = None

    def statuses(self) -> list[int]:
        return [r.status for _, r in self.responses]

    def heard(self, since: float = 0.0) -> np.ndarray:
        payload = b"".join(p.payload for t, p in self.rtp if t >= since and p.payload_type == 8)
        return ALAW_DECODE[np.frombuffer(payload, dtype=np.uint8)]


TONE = ALAW_ENCODE[
    (8000 * np.sin(np.arange(160) * 2 * np.pi / 16)).astype(np.int16).view(np.uint16)
]


class Caller:
    """SIP phones at ``CALLER``: port 5062 for SIP, one RTP port per leg, talking a tone."""

    def __init__(self, ip: str = CALLER, port: int = 5062) -> None:
        self.ip = ip
        self.port = port
        self.legs: dict[str, Leg] = {}
        self.by_media: dict[int, Leg] = {}
        self.requests: list[tuple[float, SipRequest]] = []
        self.now = 0.0
        self._outbox: list[Datagram] = []
        self._ids = itertools.count(1)

    # the node

    def accepts(self, dst: Address) -> bool:
        return dst[0] == self.ip and (dst[1] == self.port or dst[1] in self.by_media)

    def receive_datagram(self, datagram: Datagram, now: float) -> None:
        self.now = now
        if datagram.dst[1] != self.port:
            self.by_media[datagram.dst[1]].rtp.append((now, parse_packet(datagram.data)))
            return
        message = parse_message(datagram.data)
        leg = self.legs.get(message.call_id)
        if isinstance(message, SipRequest):
            self.requests.append((now, message))
            self.send(make_response(message, 200))
            return
        assert leg is not None
        leg.responses.append((now, message))
        if message.to.tag is not None and message.cseq.method == "INVITE":
            leg.to_tag = message.to.tag

    def datagrams_to_send(self) -> list[Datagram]:
        out, self._outbox = self._outbox, []
        return out

    def get_timer(self) -> float | None:
        times = [leg.next_frame for leg in self.legs.values() if leg.next_frame is not None]
        return min(times) if times else None

    def handle_timer(self, now: float) -> None:
        self.now = now
        for leg in self.legs.values():
            if leg.next_frame is not None and now >= leg.next_frame:
                self.rtp(leg, TONE.tobytes())
                leg.next_frame += 0.02
                if leg.talking_until is not None and leg.next_frame > leg.talking_until:
                    leg.next_frame = None

    # what a test does

    def send(self, message: SipRequest | SipResponse, dst: Address = (DEVICE, 5060)) -> None:
        self._outbox.append(Datagram(message.render(), (self.ip, self.port), dst))

    def new_leg(self, user: str) -> Leg:
        n = next(self._ids)
        leg = Leg(f"call{n}@{self.ip}", f"t{n}", 40000 + 2 * n, user)
        self.legs[leg.call_id] = leg
        self.by_media[leg.media_port] = leg
        return leg

    def headers(
        self, leg: Leg, method: str, cseq: int, *, to_tag: bool
    ) -> tuple[tuple[str, str], ...]:
        to = f"<sip:{leg.user}@{DEVICE}>" + (f";tag={leg.to_tag}" if to_tag and leg.to_tag else "")
        return (
            (
                "Via",
                f"SIP/2.0/UDP {self.ip}:{self.port};branch=z9hG4bK{leg.tag}{method}{cseq};rport",
            ),
            ("Max-Forwards", "70"),
            ("From", f"<sip:caller@{self.ip}>;tag={leg.tag}"),
            ("To", to),
            ("Call-ID", leg.call_id),
            ("CSeq", f"{cseq} {method}"),
            ("Contact", f"<sip:caller@{self.ip}:{self.port}>"),
        )

    def sdp(self, leg: Leg, formats: str = "8 0 101") -> bytes:
        return (
            "v=0\r\n"
            f"o=- 1 1 IN IP4 {self.ip}\r\n"
            "s=-\r\n"
            f"c=IN IP4 {self.ip}\r\n"
            "t=0 0\r\n"
            f"m=audio {leg.media_port} RTP/AVP {formats}\r\n"
            "a=rtpmap:101 telephone-event/8000\r\n"
            "a=sendrecv\r\n"
        ).encode()

    def invite(self, user: str, *, formats: str = "8 0 101", uri: str | None = None) -> Leg:
        leg = self.new_leg(user.replace("%23", "#"))
        leg.invite = SipRequest(
            "INVITE",
            uri or f"sip:{user}@{DEVICE}",
            (*self.headers(leg, "INVITE", 1, to_tag=False), ("Content-Type", "application/sdp")),
            self.sdp(leg, formats),
        )
        self.send(leg.invite)
        return leg

    def ack(self, leg: Leg, cseq: int = 1) -> None:
        self.send(
            SipRequest("ACK", f"sip:87@{DEVICE}:5060", self.headers(leg, "ACK", cseq, to_tag=True))
        )

    def ack_failure(self, leg: Leg) -> None:
        """The ACK of a non-2xx final: the INVITE's branch (RFC 3261 17.1.1.3)."""
        assert leg.invite is not None
        headers = tuple(
            (n, v) if n != "CSeq" else (n, "1 ACK")
            for n, v in leg.invite.headers
            if n not in ("Content-Type", "Contact")
        )
        to = f"<sip:{leg.user}@{DEVICE}>;tag={leg.responses[-1][1].to.tag}"
        self.send(SipRequest("ACK", leg.invite.uri, headers).replacing_header("To", to))

    def bye(self, leg: Leg) -> None:
        self.send(
            SipRequest("BYE", f"sip:87@{DEVICE}:5060", self.headers(leg, "BYE", 2, to_tag=True))
        )

    def cancel(self, leg: Leg) -> None:
        assert leg.invite is not None
        headers = tuple(
            (n, v) if n != "CSeq" else (n, "1 CANCEL")
            for n, v in leg.invite.headers
            if n not in ("Content-Type", "Contact")
        )
        self.send(SipRequest("CANCEL", leg.invite.uri, headers))

    def rtp(
        self, leg: Leg, payload: bytes, payload_type: int = 8, timestamp: int | None = None
    ) -> None:
        leg.sequence += 1
        packet = RtpPacket(
            payload_type=payload_type,
            sequence=leg.sequence,
            timestamp=timestamp if timestamp is not None else leg.sequence * 160,
            ssrc=leg.media_port,
            payload=payload,
        )
        self._outbox.append(
            Datagram(encode_packet(packet), (self.ip, leg.media_port), answer_of(leg))
        )

    def talk(self, leg: Leg, seconds: float) -> None:
        leg.next_frame = self.now
        leg.talking_until = self.now + seconds

    def digit(self, leg: Leg, key: str) -> None:
        event = "0123456789*#".index(key)
        self.rtp(
            leg,
            encode_event(TelephoneEvent(event=event, end=True, duration=800)),
            101,
            999 + leg.sequence,
        )


def answer_of(leg: Leg) -> Address:
    ok = next(r for _, r in leg.responses if r.status == 200 and r.cseq.method == "INVITE")
    return negotiate(parse_sdp(ok.body)).remote


# -- the bench ---------------------------------------------------------------------------------


class Bench:
    """A firmware with ETH0 fixed and a CONF config, a registrar and a caller on one network."""

    def __init__(
        self,
        conf: str = CONF,
        *,
        profile: Profile = IP6000,
        registrar: Registrar | None = None,
        eth0: str = ETH0,
    ) -> None:
        flash = factory_flash(profile)
        ConfigRing(PartitionTable(flash, profile)["config"]).write(
            defaults(profile).render() + eth0 + conf + "\r\n"
        )
        self.firmware = Firmware(
            profile,
            profile.firmware.build,
            partitions=PartitionTable(flash, profile),
            rng=random.Random(1),
            serial=SERIAL,
        )
        self.net = VirtualNetwork()
        self.registrar = registrar if registrar is not None else Registrar()
        self.caller = Caller()
        self.node = FirmwareNode(self.firmware, self.net)
        self.net.attach(self.registrar)
        self.net.attach(self.node)
        self.net.attach(self.caller)

    @property
    def conf(self) -> ConfInterface:
        return self.node.service(ConfInterface)

    def console(self) -> list[str]:
        return self.node.console()

    def conf_lines(self) -> list[str]:
        return [line for line in self.console() if line.startswith("CONF:")]

    def ports(self) -> list[Event]:
        return [e for _, e in self.node.of_type(PortOpened | PortClosed)]

    def registered(self, timeout: float = 60.0) -> None:
        assert self.net.run_until(lambda: self.conf.state is RegState.REGISTERED, timeout)

    def answered(self, leg: Leg, timeout: float = 2.0) -> SipResponse:
        assert self.net.run_until(lambda: 200 in leg.statuses(), timeout), leg.statuses()
        return next(r for _, r in leg.responses if r.status == 200)

    def connect(self, user: str = "870#") -> Leg:
        leg = self.caller.invite(user)
        self.answered(leg)
        self.caller.ack(leg)
        self.net.run(self.net.now + 0.01)
        assert self.conf.calls[leg.call_id].state is CallState.CONFIRMED
        return leg


@pytest.fixture
def bench() -> Bench:
    b = Bench()
    b.registered()
    return b


# -- registration ---------------------------------------------------------------------------


def test_register_with_a_digest_challenge() -> None:
    b = Bench()
    b.registered()
    first, second = b.registrar.registers()
    assert [r.status for _, r in b.registrar.sent] == [401, 200]
    for r in (first, second):
        assert r.uri == f"sip:{REGISTRAR}"
        assert r.header("From") is not None
        assert r.from_.uri == r.to.uri == f"sip:87@{REGISTRAR}"
        assert r.from_.tag is not None
        assert [c.uri for c in r.contacts] == [f"sip:87@{DEVICE}:5060"]
        assert r.expires == 3600
        assert (r.via.host, r.via.port) == (DEVICE, 5060)
        assert r.via.has_param("rport")
    assert first.header("Authorization") is None
    assert second.call_id == first.call_id
    assert second.from_.tag == first.from_.tag
    assert (first.cseq.number, second.cseq.number) == (1, 2)
    assert second.branch != first.branch
    _, auth = parse_auth_params(second.header("Authorization") or "")
    assert (auth["username"], auth["realm"], auth["uri"], auth["qop"], auth["nc"]) == (
        "conf87",
        REGISTRAR,
        f"sip:{REGISTRAR}",
        "auth",
        "00000001",
    )
    # from the device's port 5060 to the registrar's
    sent = [d.datagram for d in b.net.log if d.datagram.dst == (REGISTRAR, 5060)]
    assert {d.src for d in sent} == {(DEVICE, 5060)}
    assert PortOpened((DEVICE, 5060)) in b.ports()
    assert b.conf_lines() == [
        f"CONF: registering 87 at {REGISTRAR}:5060",
        f"CONF: registered as 87 at {REGISTRAR}, expires 3600 s",
    ]
    assert b.conf.registered
    assert b.conf.reg.granted == 3600
    assert b.conf.reg.until == pytest.approx(3600, abs=0.1)


def test_reregisters_at_85_percent_of_the_granted_time() -> None:
    b = Bench(registrar=Registrar(granted=600))
    b.registered()
    b.net.run(2000.0)
    times = [t for t, r in b.registrar.received]
    granted = [t for t, r in b.registrar.sent if r.status == 200]
    gaps = [later - earlier for earlier, later in itertools.pairwise(granted)]
    assert len(gaps) == 3
    for gap in gaps:
        assert 0.8 * 600 <= gap <= 0.9 * 600
        assert gap == pytest.approx(REFRESH_AT * 600, abs=0.01)
    # the renewals reuse the nonce with the next nc: one REGISTER each, no new challenge
    assert [r.status for _, r in b.registrar.sent] == [401, 200, 200, 200, 200]
    ncs = [
        parse_auth_params(r.header("Authorization") or "")[1]["nc"]
        for r in b.registrar.registers()[1:]
    ]
    assert ncs == ["00000001", "00000002", "00000003", "00000004"]
    assert [r.cseq.number for r in b.registrar.registers()] == [1, 2, 3, 4, 5]
    assert len(times) == 5
    assert b.conf_lines().count("CONF: registration renewed, expires 600 s") == 3
    assert b.conf.registered


def test_a_new_challenge_at_renewal_is_answered() -> None:
    b = Bench(CONF + " /expires 120", registrar=Registrar(one_time_nonces=True))
    b.registered()
    b.net.run(300.0)
    assert [r.status for _, r in b.registrar.sent] == [401, 200, 401, 200, 401, 200]
    assert all(r.expires == 120 for r in b.registrar.registers())
    assert b.conf.registered


def test_silent_registrar_retransmissions_and_backoff() -> None:
    b = Bench(registrar=Registrar(silent=True))
    b.net.run(200.0)
    times = [t for t, _ in b.registrar.received]
    first_round = [t for t in times if t < 32.0]
    # timer E: 0.5, 1, 2, 4, 4, ... s between retransmissions, the same request
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(first_round)]
    assert gaps[:4] == [0.5, 1.0, 2.0, 4.0]
    assert set(gaps[4:]) == {4.0}
    assert len({r.render() for r in b.registrar.registers()[: len(first_round)]}) == 1
    # timer F (32 s) ends it; the next attempt after 30 s, then 60 s
    starts = sorted({r.cseq.number: t for t, r in reversed(b.registrar.received)}.values())
    assert starts[1] == pytest.approx(32.0 + 30.0, abs=0.01)
    assert starts[2] == pytest.approx(starts[1] + 32.0 + 60.0, abs=0.01)
    assert f"CONF: no answer from {REGISTRAR}:5060; registering again in 30 s" in b.conf_lines()
    assert b.conf.state is RegState.WAITING
    assert [retry_delay(n) for n in range(1, 8)] == [30, 60, 120, 240, 480, 600, 600]


def test_a_wrong_password_is_refused_and_tried_again_later() -> None:
    b = Bench(registrar=Registrar(password="other"))
    b.net.run(20.0)
    assert [r.status for _, r in b.registrar.sent] == [401, 401]
    assert b.conf_lines()[-1] == (
        f"CONF: registration refused by {REGISTRAR}: 401 Unauthorized (wrong /user or /pwd?); "
        "registering again in 30 s"
    )
    b.net.run(100.0)
    times = [round(t) for t, r in b.registrar.sent]
    assert times == [0, 0, 30, 30, 90, 90]  # after 30 s, then 60 s
    assert not b.conf.registered


def test_interval_too_brief_takes_min_expires() -> None:
    conf = CONF + " /expires 60"
    b = Bench(conf, registrar=Registrar(min_expires=300))
    b.registered()
    assert [r.status for _, r in b.registrar.sent] == [423, 401, 200]
    assert [r.expires for r in b.registrar.registers()] == [60, 300, 300]
    assert b.conf.reg.granted == 300


def test_bad_registrar_and_no_address() -> None:
    b = Bench("config change CONF /number 87 /registrar pbx.example.com")
    b.net.run(10.0)
    assert b.registrar.received == []
    assert b.conf_lines() == [
        "CONF: /registrar 'pbx.example.com' is not host[:port] with an IPv4 address "
        "(the firmware has no DNS): not registering"
    ]
    # calls are still taken
    leg = b.caller.invite("870#")
    b.answered(leg)
    no_address = Bench(eth0="")
    no_address.net.run(10.0)
    assert no_address.conf.state is RegState.IDLE
    assert no_address.registrar.received == []
    assert no_address.ports() == []
    assert not Bench("config change CONF /number 87").firmware.services


# -- calls ------------------------------------------------------------------------------------


def test_invite_to_870_hash_is_answered_with_sdp_and_joins_room_0(bench: Bench) -> None:
    start = bench.net.now
    leg = bench.caller.invite("870#")
    bench.net.run(start + 0.01)
    assert leg.statuses() == [100]
    ok = bench.answered(leg)
    assert leg.responses[-1][0] == pytest.approx(start + ANSWER_DELAY, abs=0.01)
    assert ok.to.tag is not None
    assert [c.uri for c in ok.contacts] == [f"sip:87@{DEVICE}:5060"]
    assert ok.content_type == "application/sdp"
    media = negotiate(parse_sdp(ok.body))
    assert (media.payload_type, media.event_type, media.remote) == (8, 101, (DEVICE, RTP_PORT_BASE))
    assert PortOpened((DEVICE, RTP_PORT_BASE)) in bench.ports()
    # the 200 is sent again (timer G: 0.5, 1, 2 s) until the ACK
    bench.net.run(start + ANSWER_DELAY + 3.6)
    times = [t - start for t, r in leg.responses if r.status == 200]
    assert [round(t, 2) for t in times] == [0.5, 1.0, 2.0, 4.0]
    assert bench.conf.mixer.rooms() == {}
    bench.caller.ack(leg)
    bench.net.run(bench.net.now + 10)
    assert len([r for _, r in leg.responses if r.status == 200]) == 4
    assert bench.conf.mixer.rooms() == {0: [leg.call_id]}
    assert bench.conf_lines()[-2:] == [
        f"CONF: call from sip:caller@{CALLER} to sip:870#@{DEVICE} for room 0",
        f"CONF: sip:caller@{CALLER} joined room 0 (1 of 60 channels)",
    ]


def test_rtp_flows_through_the_mixer_two_in_room_0_one_in_room_2(bench: Bench) -> None:
    a = bench.connect("870#")
    b = bench.connect("870%23")
    c = bench.connect("872#")
    assert bench.conf.mixer.rooms() == {0: [a.call_id, b.call_id], 2: [c.call_id]}
    assert {call.rtp_port for call in bench.conf.calls.values()} == {16384, 16386, 16388}
    start = bench.net.now
    bench.caller.talk(a, 1.0)
    bench.net.run(start + 1.0)
    # everyone gets 20 ms packets from its own port, each PCMA
    for leg in (a, b, c):
        packets = [p for t, p in leg.rtp if t >= start]
        assert 45 <= len(packets) <= 51
        assert {p.payload_type for p in packets} == {8}
        assert all(len(p.payload) == 160 for p in packets)
    sources = {d.datagram.src for d in bench.net.log if d.datagram.dst == (CALLER, b.media_port)}
    assert sources == {(DEVICE, answer_of(b)[1])}
    # b hears a's tone; a does not hear itself; room 2 hears nothing
    assert np.abs(b.heard(start + 0.2)).max() > 5000
    assert np.abs(a.heard(start + 0.2)).max() < 100
    assert np.abs(c.heard(start + 0.2)).max() < 100
    assert bench.conf.mixer.dropped == 0


def test_bye_ends_the_call(bench: Bench) -> None:
    leg = bench.connect()
    other = bench.connect("870#")
    bench.caller.bye(leg)
    bench.net.run(bench.net.now + 0.1)
    bye_ok = leg.responses[-1][1]
    assert (bye_ok.status, bye_ok.cseq.method) == (200, "BYE")
    assert bench.conf.mixer.rooms() == {0: [other.call_id]}
    assert leg.call_id not in bench.conf.calls
    assert PortClosed((DEVICE, RTP_PORT_BASE)) in bench.ports()
    count = len(leg.rtp)
    bench.net.run(bench.net.now + 1.0)
    assert len(leg.rtp) == count
    assert (
        bench.conf_lines()[-1] == f"CONF: call from sip:caller@{CALLER} in room 0 ended (hung up)"
    )
    # a BYE for a call that is gone: 481
    bench.caller.bye(leg)
    bench.net.run(bench.net.now + 0.1)
    assert leg.statuses()[-1] == 200  # the retransmitted BYE gets the same answer
    stranger = bench.caller.new_leg("870#")
    stranger.to_tag = "nope"
    bench.caller.bye(stranger)
    bench.net.run(bench.net.now + 0.1)
    assert stranger.statuses() == [481]


def test_cancel_before_the_200(bench: Bench) -> None:
    leg = bench.caller.invite("870#")
    bench.net.run(bench.net.now + 0.1)
    bench.caller.cancel(leg)
    bench.net.run(bench.net.now + 2.0)
    finals = [(r.status, r.cseq.method) for _, r in leg.responses]
    assert finals[:3] == [(100, "INVITE"), (200, "CANCEL"), (487, "INVITE")]
    assert (200, "INVITE") not in finals
    # the 487 is sent again until the ACK
    assert finals.count((487, "INVITE")) >= 2
    assert leg.responses[1][1].to.tag == leg.responses[2][1].to.tag
    bench.caller.ack_failure(leg)
    bench.net.run(bench.net.now + 0.01)
    count = len(leg.responses)
    bench.net.run(bench.net.now + 30)
    assert len(leg.responses) == count
    assert bench.conf.calls == {}
    assert PortClosed((DEVICE, RTP_PORT_BASE)) in bench.ports()
    assert bench.conf_lines()[-1].endswith("ended (cancelled)")
    # a CANCEL that matches no INVITE: 481
    stray = bench.caller.invite("870#")
    assert stray.invite is not None
    stray.invite = stray.invite.replacing_header("Call-ID", "unknown@x")
    stray.call_id = "unknown@x"
    bench.caller.legs["unknown@x"] = stray
    bench.caller.cancel(stray)
    bench.net.run(bench.net.now + 0.1)
    assert (stray.responses[-1][1].status, stray.responses[-1][1].cseq.method) == (481, "CANCEL")
    # a CANCEL after the 200: answered, no effect
    late = bench.connect()
    bench.caller.cancel(late)
    bench.net.run(bench.net.now + 0.1)
    assert (late.responses[-1][1].status, late.responses[-1][1].cseq.method) == (200, "CANCEL")
    assert late.call_id in bench.conf.calls  # answered already: no effect


def test_the_channel_limit_refuses_the_sixth_call_on_an_ip411() -> None:
    conf = CONF + " /mode legacy"
    b = Bench(conf, profile=IP411)
    b.registered()
    legs = [b.connect(f"87{n % 3}#") for n in range(5)]
    assert sum(len(v) for v in b.conf.mixer.rooms().values()) == 5
    sixth = b.caller.invite("870#")
    b.net.run(b.net.now + 1.0)
    assert sixth.statuses()[0] == 486
    assert sixth.responses[0][1].reason == "Busy Here"
    assert sixth.call_id not in b.conf.calls
    assert (
        "CONF: call from sip:caller@10.0.0.20 refused: all 5 channels busy (486)" in b.conf_lines()
    )
    # the five go on undisturbed
    start = b.net.now
    b.caller.talk(legs[0], 0.5)
    b.net.run(start + 0.5)
    for leg in legs:
        assert len([p for t, p in leg.rtp if t >= start]) >= 20
    assert np.abs(legs[3].heard(start + 0.2)).max() > 5000  # 870# and 870# (n=0, n=3)
    # one leaves: a new call fits
    b.caller.bye(legs[1])
    b.net.run(b.net.now + 0.1)
    seventh = b.connect("879#")
    assert b.conf.calls[seventh.call_id].room == 9


def test_invites_never_acked_from_one_address_do_not_keep_others_out() -> None:
    """60 INVITEs without ACK from one address take all 5 channels; a caller from another
    address still gets one once a 200 has waited ACK_GRACE, and the flood gets no more."""
    conf = CONF + " /mode legacy"
    b = Bench(conf, profile=IP411)
    b.registered()
    flood = Caller("10.0.0.66")
    flood._ids = itertools.count(1001)  # branches and tags of its own
    b.net.attach(flood)
    legs = [flood.invite("870#") for _ in range(60)]
    b.net.run(b.net.now + 1.0)
    held = [leg for leg in legs if 200 in leg.statuses()]
    assert len(held) == 5
    assert all(leg.statuses()[0] == 486 for leg in legs if leg not in held)
    b.net.run(b.net.now + ACK_GRACE)
    caller = b.connect("871#")  # from CALLER: a channel awaiting its ACK is given to it
    assert b.conf.calls[caller.call_id].room == 1
    (bye,) = [r for _, r in flood.requests if r.method == "BYE"]
    assert bye.call_id == held[0].call_id  # the oldest 200 waiting
    assert held[0].call_id not in b.conf.calls
    assert any(
        line.endswith(f"ended (no ACK: its channel went to a call from {CALLER})")
        for line in b.conf_lines()
    )
    again = flood.invite("870#")  # its own calls await their ACKs: no channel for it
    b.net.run(b.net.now + 1.0)
    assert again.statuses()[0] == 486
    second = b.connect("872#")  # another caller is served the same way
    assert b.conf.calls[second.call_id].room == 2
    assert b.conf.calls[caller.call_id].state is CallState.CONFIRMED  # never taken over
    assert len(b.conf.calls) == 5


@pytest.mark.parametrize("user", ["99", "8", "8700#", "87x#", "87#", "871#2", "88"])
def test_a_wrong_number_gets_404(bench: Bench, user: str) -> None:
    leg = bench.caller.invite(user)
    bench.net.run(bench.net.now + 1.0)
    assert leg.statuses()[0] == 404
    bench.caller.ack_failure(leg)
    bench.net.run(bench.net.now + 0.01)
    count = len(leg.responses)
    bench.net.run(bench.net.now + 10.0)
    assert len(leg.responses) == count
    assert bench.conf.calls == {}


def test_malformed_sip_is_dropped_and_nothing_else_is_affected(bench: Bench) -> None:
    leg = bench.connect()
    sent_before = len(bench.net.log)
    garbage = [
        b"",
        b"hello\r\n\r\n",
        b"\xff" * 100,
        b"INVITE sip:870#@10.0.0.5 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.20:5062\r\n\r\n",
        leg.invite.render().replace(b"Call-ID", b"Call-Id-Not"),  # type: ignore[union-attr]
    ]
    for data in garbage:
        with pytest.raises(MalformedSip):
            parse_message(data)
        bench.caller._outbox.append(Datagram(data, (CALLER, 5062), (DEVICE, 5060)))
    bench.net.run(bench.net.now + 0.001)
    replies = [d for d in bench.net.log[sent_before:] if d.datagram.src == (DEVICE, 5060)]
    assert replies == []
    assert bench.conf.malformed == len(garbage)
    assert bench.conf.mixer.rooms() == {0: [leg.call_id]}
    bench.caller.bye(leg)
    bench.net.run(bench.net.now + 0.1)
    assert leg.statuses()[-1] == 200


def test_options_unknown_methods_and_no_common_codec(bench: Bench) -> None:
    leg = bench.caller.new_leg("87")
    options = SipRequest(
        "OPTIONS", f"sip:87@{DEVICE}", bench.caller.headers(leg, "OPTIONS", 1, to_tag=False)
    )
    bench.caller.send(options)
    message = SipRequest(
        "MESSAGE", f"sip:87@{DEVICE}", bench.caller.headers(leg, "MESSAGE", 2, to_tag=False)
    )
    bench.caller.send(message)
    bench.net.run(bench.net.now + 0.1)
    ok, not_implemented = (r for _, r in leg.responses)
    assert (ok.status, ok.header("Allow"), ok.header("Accept")) == (
        200,
        "INVITE, ACK, BYE, CANCEL, OPTIONS",
        "application/sdp",
    )
    assert ok.to.tag is not None
    assert (not_implemented.status, not_implemented.header("Allow")) == (501, ok.header("Allow"))
    g729 = bench.caller.invite("870#", formats="18")
    bench.net.run(bench.net.now + 1)
    assert g729.statuses()[0] == 488
    assert bench.conf.calls == {}


def test_retransmitted_invite_and_reinvite(bench: Bench) -> None:
    leg = bench.caller.invite("870#")
    bench.net.run(bench.net.now + 0.1)
    assert leg.invite is not None
    bench.caller.send(leg.invite)  # a retransmission: the same 100, no second call
    bench.net.run(bench.net.now + 0.1)
    assert leg.statuses() == [100, 100]
    assert len(bench.conf.calls) == 1
    ok = bench.answered(leg)
    bench.caller.ack(leg)
    bench.caller.send(leg.invite)  # late: the 200 again
    bench.net.run(bench.net.now + 0.1)
    assert leg.statuses()[-1] == 200
    reinvite = SipRequest(
        "INVITE",
        f"sip:87@{DEVICE}:5060",
        (*bench.caller.headers(leg, "INVITE", 2, to_tag=True), ("Content-Type", "application/sdp")),
        bench.caller.sdp(leg),
    )
    bench.caller.send(reinvite)
    bench.net.run(bench.net.now + 0.1)
    again = leg.responses[-1][1]
    assert (again.status, again.cseq.number) == (200, 2)
    assert again.body == ok.body
    bench.caller.ack(leg, cseq=2)
    bench.net.run(bench.net.now + 5)
    assert leg.statuses().count(200) == 3
    assert bench.conf.mixer.rooms() == {0: [leg.call_id]}


def test_no_ack_hangs_up_with_a_bye(bench: Bench) -> None:
    leg = bench.caller.invite("870#")
    start = bench.net.now
    bench.net.run(start + 40)
    oks = [t - start for t, r in leg.responses if r.status == 200]
    # at 0.5 s, then timer G: 1, 2, 4, 8, 12, ... 32 s; timer H ends it at 32.5 s
    assert [round(t, 2) for t in oks] == [
        0.5,
        1.0,
        2.0,
        4.0,
        8.0,
        12.0,
        16.0,
        20.0,
        24.0,
        28.0,
        32.0,
    ]
    (bye_time, bye), *_ = bench.caller.requests
    assert bye.method == "BYE"
    assert bye_time - start == pytest.approx(ANSWER_DELAY + 32, abs=0.01)
    assert bye.call_id == leg.call_id
    assert bye.to.tag == leg.tag
    assert bye.from_.tag == leg.to_tag
    assert bye.uri == f"sip:caller@{CALLER}:5062"
    assert bench.conf.calls == {}
    assert bench.conf_lines()[-1].endswith("ended (no ACK: hung up)")


def test_digits_choose_the_room_when_the_number_has_no_hash(bench: Bench) -> None:
    leg = bench.connect("87")
    other = bench.connect("874")
    assert bench.conf.mixer.rooms() == {0: [leg.call_id, other.call_id]}
    bench.caller.digit(leg, "3")
    bench.caller.digit(leg, "#")
    bench.caller.digit(other, "#")  # takes the digit it dialled
    bench.net.run(bench.net.now + 0.1)
    assert bench.conf.mixer.rooms() == {3: [leg.call_id], 4: [other.call_id]}
    assert f"CONF: sip:caller@{CALLER} moved to room 3" in bench.conf_lines()
    # after the timeout, digits no longer move a call
    late = bench.connect("875")
    bench.net.run(bench.net.now + DIGIT_TIMEOUT + 0.1)
    bench.caller.digit(late, "#")
    bench.net.run(bench.net.now + 0.1)
    assert bench.conf.calls[late.call_id].room == 0


def test_pbx_mode_rooms() -> None:
    b = Bench(CONF + " /mode pbx")
    b.registered()
    for user, room in [("8712", 12), ("87", 0), ("5", 5), ("870#", 0)]:
        leg = b.connect(user)
        assert b.conf.calls[leg.call_id].room == room
    wrong = b.caller.invite("87abc")
    b.net.run(b.net.now + 1)
    assert wrong.statuses()[0] == 404


def test_the_profiles_mode_is_the_default() -> None:
    ip411 = Bench(profile=IP411)
    assert ip411.conf.mode == "pbx"
    assert Bench().conf.mode == "legacy"


def test_routes() -> None:
    assert legacy_route("870#", "87") is not None
    assert [legacy_route(u, "87") for u in ("870#", "879#")] == [
        legacy_route("870#", "87"),
        legacy_route("879#", "87"),
    ]
    assert legacy_route("879#", "87").room == 9  # type: ignore[union-attr]
    route = legacy_route("875", "87")
    assert route is not None
    assert (route.room, route.selecting, route.pending) == (0, True, "5")
    assert legacy_route("87", "87") is not None
    for bad in ("8", "99", "87##", "8712#", "87a#"):
        assert legacy_route(bad, "87") is None
    assert pbx_route("871234", "87").room == 1234  # type: ignore[union-attr]
    assert pbx_route("1234567890", "87") is None
    assert pbx_route("", "87").room == 0  # type: ignore[union-attr]


def test_address_changes_end_calls_and_move_the_registration(bench: Bench) -> None:
    leg = bench.connect()
    bench.firmware.drop_address("test")
    bench.net.run(bench.net.now + 0.1)
    assert bench.conf.calls == {}
    assert bench.conf.mixer.rooms() == {}
    assert bench.ports()[-2:] == [PortClosed((DEVICE, RTP_PORT_BASE)), PortClosed((DEVICE, 5060))]
    assert bench.conf.state is RegState.IDLE
    assert bench.conf_lines()[-1].endswith("ended (ETH0 lost its address)")
    assert not bench.firmware.accepts((DEVICE, 5060))
    count = len(leg.rtp)
    bench.net.run(bench.net.now + 1)
    assert len(leg.rtp) == count
    bench.firmware.set_address("10.0.0.6", "255.255.255.0", how="test")
    bench.registered()
    assert bench.ports()[-1] == PortOpened(("10.0.0.6", 5060))
    last = bench.registrar.registers()[-1]
    assert [c.uri for c in last.contacts] == ["sip:87@10.0.0.6:5060"]
    assert (last.via.host, last.via.port) == ("10.0.0.6", 5060)


def test_headers_that_break_later_are_dropped_too() -> None:
    b = Bench(registrar=Registrar(granted=60))
    b.registered()
    sent = len(b.registrar.received)
    # a 200 whose Contact does not parse: dropped, the REGISTER is sent again
    original = b.registrar.receive_datagram

    def bad_contact(datagram: Datagram, now: float) -> None:
        original(datagram, now)
        for i, out in enumerate(b.registrar._outbox):
            b.registrar._outbox[i] = out._replace(
                data=out.data.replace(b"Contact: <sip:87", b"Contact: <<sip:87")
            )

    b.registrar.receive_datagram = bad_contact  # type: ignore[method-assign]
    b.net.run(b.net.now + 60 * REFRESH_AT + 1)
    assert b.conf.malformed >= 1
    assert len(b.registrar.received) > sent + 1  # retransmitted
    assert b.conf.state is RegState.REGISTERED  # still, until it expires
    b.registrar.receive_datagram = original  # type: ignore[method-assign]
    b.net.run(b.net.now + 5)
    assert b.conf_lines()[-1] == "CONF: registration renewed, expires 60 s"
    assert b.conf.refresh_at is not None


# -- hostile input (review findings) --------------------------------------------------------


def hostile_invite(bench: Bench, user: str = "871#", **edit: tuple[bytes, bytes]) -> Leg:
    """An INVITE from a new leg, its rendered bytes changed by ``edit`` (old → new)."""
    leg = bench.caller.new_leg(user)
    leg.invite = SipRequest(
        "INVITE",
        f"sip:{user}@{DEVICE}",
        (
            *bench.caller.headers(leg, "INVITE", 1, to_tag=False),
            ("Content-Type", "application/sdp"),
        ),
        bench.caller.sdp(leg),
    )
    data = leg.invite.render()
    for old, new in edit.values():
        data = data.replace(old, new)
    bench.caller._outbox.append(Datagram(data, (CALLER, 5062), (DEVICE, 5060)))
    return leg


def test_a_second_bad_to_header_gets_no_call_and_the_audio_goes_on(bench: Bench) -> None:
    leg = bench.connect()
    bench.caller.talk(leg, 10)
    leg2 = bench.connect("872#")
    bad = hostile_invite(bench, to=(b"CSeq:", b"To: <<garbage\r\nCSeq:"))
    start = bench.net.now
    bench.net.run(start + 3)
    assert bad.call_id not in bench.conf.calls
    assert bad.responses == []
    assert bench.conf.malformed == 1
    assert len(bench.conf.calls) == 2
    assert len([t for t, _ in leg2.rtp if t > start + 1]) > 50  # the mixer still ticks


def test_a_failing_call_is_ended_and_the_others_keep_their_audio(bench: Bench) -> None:
    leg = bench.connect()
    bench.caller.talk(leg, 10)
    leg2 = bench.connect("872#")
    answering = bench.caller.invite("873#")
    bench.net.run(bench.net.now + 0.01)
    call = bench.conf.calls[answering.call_id]
    call.invite = call.invite.replacing_header("To", "<<garbage")  # breaks the 200
    start = bench.net.now
    bench.net.run(start + 3)
    assert answering.call_id not in bench.conf.calls
    assert bench.conf.failed_calls == 1
    assert len(bench.conf.calls) == 2
    assert len([t for t, _ in leg2.rtp if t > start + 1]) > 50


def test_record_route_is_copied_into_the_200_and_the_bye(bench: Bench) -> None:
    rr = b"Record-Route: <sip:10.0.0.1;lr>\r\nCSeq:"
    leg = hostile_invite(bench, rr=(b"CSeq:", rr))
    ok = bench.answered(leg)
    assert ok.header_values("Record-Route") == ["<sip:10.0.0.1;lr>"]
    bad = hostile_invite(bench, "872#", rr=(b"CSeq:", b'Record-Route: <sip:"x>\r\nCSeq:'))
    bench.net.run(bench.net.now + 40)  # no ACK for either: timer H sends the BYE
    assert 400 in bad.statuses()
    assert bad.call_id not in bench.conf.calls
    byes = [r for r in bench.registrar.received if r[1].method == "BYE"]
    assert [r.header_values("Route") for _, r in byes] == [["<sip:10.0.0.1;lr>"]]
    assert bench.conf.calls == {}


@pytest.mark.parametrize(
    ("old", "new", "status"),
    [
        (b"m=audio 40002", b"m=audio " + b"9" * 5000, 400),
        (b"a=rtpmap:101", "a=rtpmap:\u00b2".encode(), 400),
        (b"c=IN IP4 10.0.0.20", b"c=IN IP4 caller.example.com", 488),
    ],
)
def test_hostile_sdp_numbers_and_host_names_are_refused(
    bench: Bench, old: bytes, new: bytes, status: int
) -> None:
    leg = hostile_invite(bench, sdp=(old, new), length=(b"Content-Length: ", b"X-Old: "))
    bench.net.run(bench.net.now + 1)
    assert set(leg.statuses()) == {status}  # resent until the ACK
    assert bench.conf.calls == {}


@pytest.mark.parametrize(
    "edit",
    [
        (b"10.0.0.20:5062;branch", b"10.0.0.20:" + b"5" * 5000 + b";branch"),
        (b"CSeq: 1 INVITE", b"CSeq: " + b"1" * 5000 + b" INVITE"),
        (b"Content-Length: ", b"Content-Length: " + b"0" * 5000),
        (b"CSeq: 1 INVITE", b"Expires: " + b"1" * 5000 + b"\r\nCSeq: 1 INVITE"),
        (b"CSeq: 1 INVITE", "CSeq: \u0661 INVITE".encode()),
    ],
)
def test_hostile_sip_numbers_are_dropped(bench: Bench, edit: tuple[bytes, bytes]) -> None:
    leg = hostile_invite(bench, edit=edit)
    bench.net.run(bench.net.now + 1)
    assert leg.responses == []
    assert bench.conf.malformed == 1


def test_legacy_routes_take_ascii_digits_only() -> None:
    assert legacy_route("87\u0663#", "87") is None
    assert legacy_route("87\u00b2", "87") is None
    assert pbx_route("87\u0663", "87") is None


def test_rtp_from_another_source_is_dropped_and_moves_no_one(bench: Bench) -> None:
    leg = bench.connect("87")
    good = answer_of(leg)
    for key in "2#":
        event = encode_event(TelephoneEvent(event="0123456789*#".index(key), end=True))
        packet = RtpPacket(payload_type=101, sequence=9, timestamp=9, ssrc=1, payload=event)
        bench.caller._outbox.append(Datagram(encode_packet(packet), (CALLER, 5999), good))
    bench.net.run(bench.net.now + 0.1)
    assert bench.conf.foreign_rtp == 2
    assert bench.conf.mixer.rooms() == {0: [leg.call_id]}


def test_conf_changes_need_a_restart() -> None:
    assert "CONF" in RESTART_MODULES


def test_address_change_registers_at_the_firmwares_time(bench: Bench) -> None:
    bench.firmware.drop_address("test")
    bench.net.run(bench.net.now + 100)  # no CONF timer runs meanwhile
    bench.firmware.now = bench.net.now  # the clock moved on (the console, another service)
    bench.firmware.set_address(DEVICE, "255.255.255.0", how="test")
    bench.net.run(bench.net.now + 0.1)
    assert bench.conf.state is RegState.REGISTERED


def test_a_call_without_rtp_is_hung_up(bench: Bench) -> None:
    leg = bench.connect()
    bench.caller.talk(leg, 5)
    start = bench.net.now
    bench.net.run(start + 5 + RTP_TIMEOUT - 1)
    assert leg.call_id in bench.conf.calls
    bench.net.run(start + 5 + RTP_TIMEOUT + 1)
    assert leg.call_id not in bench.conf.calls
    assert [r.method for _, r in bench.caller.requests] == ["BYE"]
    assert bench.conf_lines()[-1].endswith(f"ended (no RTP for {RTP_TIMEOUT:.0f} s: hung up)")


def test_ireset_waits_until_the_last_call_ends(bench: Bench) -> None:
    leg = bench.connect("870#")
    firmware = bench.firmware
    assert firmware.execute("ireset") == "reset when idle\r\n"
    assert not firmware.reset_pending
    assert not [e for _, e in bench.node.of_type(ResetRequested)]
    bench.caller.bye(leg)
    bench.net.run(bench.net.now + 1.0)
    (reset,) = [e for _, e in bench.node.of_type(ResetRequested)]
    assert isinstance(reset, ResetRequested)
    assert reset.reason == "ireset (command), now idle"
    assert firmware.execute("ireset") == "error: the device is restarting\r\n"


def test_reset_restarts_at_once_and_the_active_call_is_lost(bench: Bench) -> None:
    # Reference:Administration/Reset/Reset: "the device is immediately reset. All active
    # calls are lost." Unlike ireset above, reset does not wait for the call to end.
    leg = bench.connect("870#")
    assert leg.call_id in bench.conf.calls
    assert bench.firmware.execute("reset") == "reset\r\n"
    (reset,) = [e for _, e in bench.node.of_type(ResetRequested)]
    assert isinstance(reset, ResetRequested)
    assert reset.reason == "reset (command)"
    assert leg.call_id in bench.conf.calls  # still up when the device goes down
