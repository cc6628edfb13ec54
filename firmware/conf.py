"""The CONF interface: a SIP user agent registered to a PBX, taking calls into rooms.

A firmware service (sans-I/O, device time). It registers ``CONF /number`` at
``CONF /registrar`` (digest authentication with ``/user`` and ``/pwd``), answers INVITEs
for ``<number><room>#`` (firmware 8, ``/mode legacy``) or for the room the PBX's
Conference object hands over (firmware 9+, ``/mode pbx``) and puts each call into a room
of the :class:`~ipgwsim.firmware.media.Mixer`. SIP is ``ipgwsim.proto.sip``, SDP
``ipgwsim.proto.sdp``. See "CONF interface" in firmware/README.md for the choices made.
"""

from __future__ import annotations

import enum
import ipaddress
import random
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ipgwsim.firmware.media import Mixer
from ipgwsim.hw_profiles import ConferenceMode
from ipgwsim.proto.net import Address, Datagram
from ipgwsim.proto.sdp import (
    Negotiated,
    NotAcceptable,
    SdpError,
    SessionDescription,
    negotiate,
    parse_sdp,
    render_answer,
)
from ipgwsim.proto.sip import (
    BRANCH_MAGIC,
    T1,
    T2,
    DigestChallenge,
    MalformedSip,
    SipRequest,
    SipResponse,
    SipUri,
    authorization,
    make_response,
    parse_challenge,
    parse_message,
    parse_name_addr,
    parse_number,
    parse_uri,
)

if TYPE_CHECKING:
    from ipgwsim.firmware.context import ServiceContext

__all__ = [
    "ACK_GRACE",
    "ALLOW",
    "ANSWER_DELAY",
    "DEFAULT_EXPIRES",
    "DIGIT_TIMEOUT",
    "MAX_EXPIRES",
    "REFRESH_AT",
    "RTP_PORT_BASE",
    "RTP_TIMEOUT",
    "SIP_PORT",
    "Call",
    "CallState",
    "ConfInterface",
    "RegState",
    "Route",
    "legacy_route",
    "pbx_route",
    "retry_delay",
]

SIP_PORT = 5060
#: The first RTP port; call ``i`` of the channels uses ``RTP_PORT_BASE + 2 * i``.
RTP_PORT_BASE = 16384
DEFAULT_EXPIRES = 3600
#: The longest registration ``CONF /expires`` asks for: a day.
MAX_EXPIRES = 86400
#: What ``CONF /number`` may be: characters of a SIP URI's user part, no escapes.
_USER = re.compile(r"[A-Za-z0-9\-_.!~*'()&=+$,?/]+")
#: A registration is renewed at this share of the time the registrar granted.
REFRESH_AT = 0.85
#: Seconds between the INVITE and the 200 (a CANCEL can overtake it).
ANSWER_DELAY = 0.5
#: Seconds a call without ``#`` waits for RFC 2833 digits before staying in room 0.
DIGIT_TIMEOUT = 5.0
#: Timer F / H / J: how long a transaction lives (RFC 3261 17).
TRANSACTION_TIME = 64 * T1
#: Seconds a 200 may wait for its ACK before the call's channel may go to a new caller when
#: every channel is taken (DECISION: by then the 200 went out four times, at 0, 0.5, 1.5
#: and 3.5 s; a caller that has ACKed none of them is gone or hostile).
ACK_GRACE = 8 * T1
ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS"


#: The digits a room number is made of: ASCII only (``str.isdigit`` takes ``²`` and ``٣``).
_DIGITS = "0123456789"
#: Seconds without RTP after which a confirmed call is hung up (BYE): a caller that
#: vanished without a BYE would hold its channel for ever.
RTP_TIMEOUT = 60.0


def retry_delay(failures: int) -> float:
    """Seconds before registering again after ``failures`` (1, 2, ...) failed attempts."""
    return float(min(30 * 2 ** (failures - 1), 600))


class RegState(enum.Enum):
    #: No address on ETH0, or no usable ``/registrar``.
    IDLE = "idle"
    REGISTERING = "registering"
    REGISTERED = "registered"
    #: The last attempt failed; the next one is due at ``retry_at``.
    WAITING = "waiting"


class CallState(enum.Enum):
    #: 100 Trying sent; the 200 goes at ``answer_at``.
    ANSWERING = "answering"
    #: 200 sent, retransmitted until the ACK.
    ANSWERED = "answered"
    #: In the mixer.
    CONFIRMED = "confirmed"


@dataclass(frozen=True)
class Route:
    """Where a called user part leads: a room, and whether digits may still choose it."""

    room: int
    selecting: bool = False
    pending: str | None = None


def legacy_route(user: str, number: str) -> Route | None:
    """Firmware 8: ``<number><digit>#`` is room 0-9; ``<number>`` and ``<number><digit>``
    start in room 0 and wait for digits; anything else is None (404)."""
    if not user.startswith(number):
        return None
    rest = user[len(number) :]
    if rest == "":
        return Route(0, selecting=True)
    if len(rest) == 1 and rest in _DIGITS:
        return Route(0, selecting=True, pending=rest)
    if len(rest) == 2 and rest[0] in _DIGITS and rest[1] == "#":
        return Route(int(rest[0]))
    return None


def pbx_route(user: str, number: str) -> Route | None:
    """Firmware 9+: the digits after ``<number>`` (or the whole user part, as the Call
    Broadcast object sends the conference id alone) are the room; a final ``#`` is dropped;
    nothing is room 0; non-digits or more than 9 digits are None (404)."""
    rest = user[len(number) :] if user.startswith(number) else user
    rest = rest.removesuffix("#")
    if rest == "":
        return Route(0)
    if re.fullmatch(r"[0-9]{1,9}", rest):
        return Route(int(rest))
    return None


@dataclass
class _Resend:
    """A datagram sent again at T1, 2 T1, ... T2 (timers E, G) until ``deadline``."""

    datagram: Datagram
    next: float | None
    deadline: float
    interval: float = T1

    def due(self) -> float:
        return self.deadline if self.next is None else min(self.next, self.deadline)

    def again(self, now: float) -> Datagram | None:
        if self.next is None or now < self.next:
            return None
        self.interval = min(2 * self.interval, T2)
        self.next = now + self.interval
        return self.datagram


@dataclass(eq=False)
class Call:
    """One call of the bridge (a dialog and its media)."""

    call_id: str
    invite: SipRequest
    peer: Address
    caller: str
    local_tag: str
    rtp_port: int
    offer: SessionDescription
    media: Negotiated
    answer: bytes
    route: Route
    state: CallState = CallState.ANSWERING
    answer_at: float = 0.0
    ok: _Resend | None = None
    digit_deadline: float | None = None
    pending: str | None = None
    joined: bool = False
    #: The CSeq of the INVITE (or re-INVITE) whose 200 waits for its ACK.
    ack_cseq: int = 0
    bye_cseq: int = 0
    #: The INVITE's Record-Route values (validated), copied into the 200 and the BYE's Route.
    routes: tuple[str, ...] = ()
    #: When RTP from the caller last came (or the call was confirmed).
    heard_at: float = 0.0
    #: The address the INVITE came from.
    source: str = ""
    #: When the first 200 went out (None before).
    ok_at: float | None = None

    @property
    def room(self) -> int:
        return self.route.room


@dataclass
class _Client:
    """A request of ours (REGISTER, BYE) waiting for its final response."""

    request: SipRequest
    resend: _Resend


@dataclass
class _Registration:
    expires: int
    cseq: int = 0
    challenge: tuple[str, DigestChallenge] | None = None
    nc: int = 0
    auth_tries: int = 0
    failures: int = 0
    granted: int | None = None
    until: float | None = None


class ConfInterface:
    """The CONF interface of ``firmware`` (a :class:`~ipgwsim.firmware.services.Service`)."""

    answer_delay = ANSWER_DELAY

    def __init__(self, firmware: ServiceContext, now: float = 0.0) -> None:
        self.firmware = firmware
        active = firmware.active
        self.number = active.get("CONF", "number") or ""
        self.user = active.get("CONF", "user") or self.number
        self.password = active.get("CONF", "pwd")
        mode = active.get("CONF", "mode")
        if mode is None:
            mode = "legacy" if firmware.profile.conference.mode is ConferenceMode.LEGACY else "pbx"
        self.mode = mode
        self.channels = firmware.profile.conference.channels
        self.reg = _Registration(self._expires(active.get("CONF", "expires")))
        self.registrar = self._registrar(active.get("CONF", "registrar") or "")
        if not _USER.fullmatch(self.number):
            self.firmware.log_event(
                f"CONF: /number {self.number!r} cannot be a SIP user part: not registering"
            )
            self.registrar = None
        self._rng = random.Random(firmware.rng.getrandbits(64))
        self.mixer = Mixer(on_digit=self._digit, rng=random.Random(self._rng.getrandbits(64)))
        self.state = RegState.IDLE
        self.retry_at: float | None = None
        self.refresh_at: float | None = None
        self.calls: dict[str, Call] = {}
        #: Messages that did not parse, dropped.
        self.malformed = 0
        #: RTP datagrams from another source than the call's negotiated remote, dropped.
        self.foreign_rtp = 0
        #: Calls ended because handling their timers failed.
        self.failed_calls = 0
        self._by_port: dict[int, Call] = {}
        self._call_id = f"{self._hex(8)}@{firmware.serial}"
        self._from_tag = self._hex(4)
        self._ip: str | None = None
        self._outbox: list[Datagram] = []
        self._clients: dict[str, _Client] = {}
        self._answered: dict[tuple[str, str], _Resend] = {}
        #: Digits the mixer reported during a ``receive``: ``(call_id, key)``.
        self._digits: list[tuple[str, str]] = []
        self._now = now
        self.address_changed()

    # -- configuration ---------------------------------------------------------------------

    def _expires(self, value: str | None) -> int:
        if value is None:
            return DEFAULT_EXPIRES
        number = parse_number(value)
        if number is not None and 1 <= number <= MAX_EXPIRES:
            return number
        self.firmware.log_event(
            f"CONF: /expires {value!r} is not 1 to {MAX_EXPIRES} seconds; "
            f"asking for {DEFAULT_EXPIRES} s"
        )
        return DEFAULT_EXPIRES

    def _registrar(self, value: str) -> Address | None:
        host, _, port = value.partition(":")
        try:
            ipaddress.IPv4Address(host)
            number = int(port) if port else SIP_PORT
            if not 0 < number < 65536:
                raise ValueError
        except ValueError:
            self.firmware.log_event(
                f"CONF: /registrar {value!r} is not host[:port] with an IPv4 address "
                "(the firmware has no DNS): not registering"
            )
            return None
        return host, number

    @property
    def registered(self) -> bool:
        until = self.reg.until
        return self.state is RegState.REGISTERED and until is not None and self._now < until

    def _hex(self, size: int) -> str:
        return self._rng.randbytes(size).hex()

    @property
    def _aor(self) -> str:
        assert self.registrar is not None
        return f"sip:{self.number}@{self.registrar[0]}"

    @property
    def _contact(self) -> str:
        return f"<sip:{self.number}@{self._ip}:{SIP_PORT}>"

    # -- the Service protocol --------------------------------------------------------------

    def accepts(self, dst: Address) -> bool:
        return dst[0] == self._ip and (dst[1] == SIP_PORT or dst[1] in self._by_port)

    def receive_datagram(self, datagram: Datagram, now: float) -> None:
        """Take one datagram; never raises, whatever the bytes (they come from the network)."""
        self._now = max(self._now, now)
        if not self.accepts(datagram.dst):
            return
        if datagram.dst[1] != SIP_PORT:
            call = self._by_port[datagram.dst[1]]
            if datagram.src != call.media.remote:  # not the caller's: its digits move no one
                self.foreign_rtp += 1
                return
            if call.joined:
                call.heard_at = now
                self.mixer.receive(call.call_id, datagram.data, now)
                self._take_digits(now)
            return
        try:
            message = parse_message(datagram.data)
            if isinstance(message, SipResponse):
                self._response(message, now)
            else:
                self._request(message, datagram.src, now)
        except ValueError:  # MalformedSip, SdpError: also a header read later that is bad
            self.malformed += 1

    def datagrams_to_send(self) -> list[Datagram]:
        out, self._outbox = self._outbox, []
        return out

    def get_timer(self) -> float | None:
        times = [self.retry_at, self.refresh_at, self.mixer.next_tick()]
        times += [c.resend.due() for c in self._clients.values()]
        times += [r.due() for r in self._answered.values()]
        for call in self.calls.values():
            if call.state is CallState.ANSWERING:
                times.append(call.answer_at)
            if call.ok is not None:
                times.append(call.ok.due())
            times.append(call.digit_deadline)
            if call.state is CallState.CONFIRMED:
                times.append(call.heard_at + RTP_TIMEOUT)
        pending = [t for t in times if t is not None]
        return min(pending) if pending else None

    def handle_timer(self, now: float) -> None:
        self._now = max(self._now, now)
        due = [t for t in (self.retry_at, self.refresh_at) if t is not None]
        if due and now >= min(due):
            self._register(now)
        for branch, client in list(self._clients.items()):
            if now >= client.resend.deadline:
                del self._clients[branch]
                self._timeout(client.request, now)
            elif (datagram := client.resend.again(now)) is not None:
                self._outbox.append(datagram)
        for key, resend in list(self._answered.items()):
            if now >= resend.deadline:
                del self._answered[key]
            elif (datagram := resend.again(now)) is not None:
                self._outbox.append(datagram)
        for call in list(self.calls.values()):
            if call.call_id not in self.calls:
                continue
            try:
                self._call_timers(call, now)
            except Exception as error:  # one call's failure must not stop the others' audio
                self.failed_calls += 1
                self._end(call, f"failed: {error!r}")
        tick = self.mixer.next_tick()
        if tick is not None and now >= tick:
            self._outbox.extend(self.mixer.tick(now))

    def address_changed(self) -> None:
        """Open port 5060 on ETH0's new address and register; drop what the old one had."""
        address = self.firmware.address
        ip = None if address is None else address[0]
        if ip == self._ip:
            return
        if self._ip is not None:
            for call in list(self.calls.values()):
                self._end(call, "ETH0 lost its address")
            self.firmware.close_port((self._ip, SIP_PORT))
            self._outbox.clear()
            self._clients.clear()
            self._answered.clear()
        self._ip = ip
        self.state, self.retry_at, self.refresh_at, self.reg.until = RegState.IDLE, None, None, None
        if ip is None:
            return
        self.firmware.open_port((ip, SIP_PORT))
        if self.registrar is not None:
            host, port = self.registrar
            self.firmware.log_event(f"CONF: registering {self.number} at {host}:{port}")
            self._register(self.firmware.now)

    # -- sending ---------------------------------------------------------------------------

    def _send(self, message: SipRequest | SipResponse, dst: Address) -> Datagram:
        assert self._ip is not None
        datagram = Datagram(message.render(), (self._ip, SIP_PORT), dst)
        self._outbox.append(datagram)
        return datagram

    def _request_headers(self, method: str, cseq: int) -> tuple[tuple[str, str], ...]:
        branch = BRANCH_MAGIC + self._hex(8)
        return (
            ("Via", f"SIP/2.0/UDP {self._ip}:{SIP_PORT};branch={branch};rport"),
            ("Max-Forwards", "70"),
            ("CSeq", f"{cseq} {method}"),
        )

    def _start_client(self, request: SipRequest, dst: Address, now: float) -> None:
        datagram = self._send(request, dst)
        resend = _Resend(datagram, now + T1, now + TRANSACTION_TIME)
        self._clients[request.via.branch or ""] = _Client(request, resend)

    @property
    def _agent(self) -> str:
        return f"{self.firmware.profile.model}/{self.firmware.build} ipgwsim"

    # -- registration (UAC) ----------------------------------------------------------------

    def _register(self, now: float) -> None:
        self.retry_at = self.refresh_at = None
        if self.registrar is None or self._ip is None:
            return
        for branch, client in list(self._clients.items()):
            if client.request.method == "REGISTER":
                del self._clients[branch]
        reg = self.reg
        reg.cseq += 1
        host, port = self.registrar
        uri = f"sip:{host}" if port == SIP_PORT else f"sip:{host}:{port}"
        request = SipRequest(
            "REGISTER",
            uri,
            (
                *self._request_headers("REGISTER", reg.cseq),
                ("From", f"<{self._aor}>;tag={self._from_tag}"),
                ("To", f"<{self._aor}>"),
                ("Call-ID", self._call_id),
                ("Contact", self._contact),
                ("Expires", str(reg.expires)),
                ("Allow", ALLOW),
                ("User-Agent", self._agent),
            ),
        )
        if reg.challenge is not None and self.password is not None:
            header, challenge = reg.challenge
            reg.nc += 1
            value = authorization(
                challenge,
                username=self.user,
                password=self.password,
                method="REGISTER",
                uri=uri,
                cnonce=self._hex(8),
                nc=reg.nc,
            )
            request = request.with_header(header, value)
        if self.state is not RegState.REGISTERED:
            self.state = RegState.REGISTERING
        self._start_client(request, self.registrar, now)

    def _register_failed(self, why: str, now: float) -> None:
        reg = self.reg
        reg.failures += 1
        reg.auth_tries = 0
        delay = retry_delay(reg.failures)
        self.state = RegState.WAITING
        self.retry_at, self.refresh_at = now + delay, None
        self.firmware.log_event(f"CONF: {why}; registering again in {delay:.0f} s")

    def _register_response(self, response: SipResponse, now: float) -> None:
        reg = self.reg
        assert self.registrar is not None
        host = self.registrar[0]
        status = response.status
        if status in (401, 407):
            self._challenged(response, now)
        elif status == 423:
            minimum = response.int_header("Min-Expires")
            if minimum is None or minimum <= reg.expires:
                self._register_failed(f"registration refused by {host}: 423 without use", now)
                return
            reg.expires = minimum
            self._register(now)
        elif 200 <= status < 300:
            granted = self._granted(response)
            if granted <= 0:
                self._register_failed(f"registrar {host} granted no time", now)
                return
            renewed = self.state is RegState.REGISTERED
            reg.failures = reg.auth_tries = 0
            reg.granted, reg.until = granted, now + granted
            self.state = RegState.REGISTERED
            self.refresh_at = now + granted * REFRESH_AT
            what = "registration renewed" if renewed else f"registered as {self.number} at {host}"
            self.firmware.log_event(f"CONF: {what}, expires {granted} s")
        else:
            reason = f"{status} {response.reason}".strip()
            self._register_failed(f"registration refused by {host}: {reason}", now)

    def _challenged(self, response: SipResponse, now: float) -> None:
        reg = self.reg
        header = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
        challenges = []
        for value in response.header_values(header):
            try:
                challenges.append(parse_challenge(value))
            except MalformedSip:
                continue
        challenge = next((c for c in challenges if c.supported), None)
        host = self.registrar[0] if self.registrar else "?"
        if challenge is None:
            self._register_failed(f"registrar {host} sent no MD5 digest challenge", now)
        elif self.password is None:
            self._register_failed(
                f"registrar {host} asks for a password; CONF /pwd is not set", now
            )
        elif reg.auth_tries > 0 and not (challenge.stale and reg.auth_tries < 2):
            reason = f"{response.status} {response.reason}".strip()
            self._register_failed(
                f"registration refused by {host}: {reason} (wrong /user or /pwd?)", now
            )
        else:
            reg.auth_tries += 1
            answer = "Authorization" if response.status == 401 else "Proxy-Authorization"
            reg.challenge, reg.nc = (answer, challenge), 0
            self._register(now)

    def _granted(self, response: SipResponse) -> int:
        for contact in response.contacts:
            try:
                uri = contact.sip_uri()
            except MalformedSip:
                continue
            ours = uri.user == self.number and uri.host == self._ip
            value = contact.param("expires")
            number = None if value is None else parse_number(value)
            if ours and uri.port in (None, SIP_PORT) and number is not None:
                return number
        try:
            expires = response.expires
        except MalformedSip:
            expires = None
        return self.reg.expires if expires is None else expires

    def _response(self, response: SipResponse, now: float) -> None:
        client = self._clients.get(response.branch or "")
        if client is None:
            return
        if response.status < 200:
            client.resend.next, client.resend.interval = now + T2, T2
            return
        if client.request.method == "REGISTER":
            # a MalformedSip from a header read here leaves the transaction running
            self._register_response(response, now)
        self._clients.pop(response.branch or "", None)

    def _timeout(self, request: SipRequest, now: float) -> None:
        if request.method == "REGISTER" and self.registrar is not None:
            host, port = self.registrar
            self._register_failed(f"no answer from {host}:{port}", now)

    # -- requests (UAS) ----------------------------------------------------------------------

    @staticmethod
    def _key(request: SipRequest) -> str:
        branch = request.branch or ""
        if branch.startswith(BRANCH_MAGIC):
            return branch
        via = request.via
        return f"{request.call_id}|{request.cseq.number}|{request.from_.tag}|{via.host}:{via.port}"

    @staticmethod
    def _reply_to(request: SipRequest, src: Address) -> Address:
        """RFC 3261 18.2.2 and RFC 3581: the source address; its port only with ``rport``."""
        via = request.via
        return src if via.has_param("rport") else (src[0], via.port or SIP_PORT)

    def _answer(
        self,
        request: SipRequest,
        src: Address,
        status: int,
        *,
        to_tag: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
        body: bytes = b"",
        await_ack: bool = False,
    ) -> Datagram:
        """Send a response, kept for retransmitted requests (and resent until the ACK)."""
        tag = to_tag if to_tag is not None else self._hex(4)
        extra = (*headers, ("Server", self._agent))
        response = make_response(request, status, to_tag=tag, headers=extra, body=body)
        datagram = self._send(response, self._reply_to(request, src))
        if status >= 200 or request.method == "INVITE":
            retransmit = self._now + T1 if await_ack else None
            resend = _Resend(datagram, retransmit, self._now + TRANSACTION_TIME)
            self._answered[(self._key(request), request.method)] = resend
        return datagram

    def _request(self, request: SipRequest, src: Address, now: float) -> None:
        method = request.method
        if method == "ACK":
            self._ack(request, now)
            return
        cached = self._answered.get((self._key(request), method))
        if cached is not None:
            self._outbox.append(cached.datagram)
            return
        call = self.calls.get(request.call_id)
        to_tag = request.to.tag
        if method == "INVITE" and to_tag is None:
            self._invite(request, src, now)
        elif method == "INVITE":
            self._reinvite(request, src, call, to_tag, now)
        elif method == "BYE":
            if call is None or call.local_tag != to_tag:
                self._answer(request, src, 481)
                return
            self._answer(request, src, 200, to_tag=to_tag)
            self._end(call, "hung up")
        elif method == "CANCEL":
            self._cancel(request, src, now)
        elif method == "OPTIONS":
            accept = (("Allow", ALLOW), ("Accept", "application/sdp"))
            self._answer(request, src, 200, to_tag=to_tag, headers=accept)
        else:
            self._answer(request, src, 501, to_tag=to_tag, headers=(("Allow", ALLOW),))

    def _route(self, request: SipRequest) -> Route | None:
        try:
            uri = parse_uri(request.uri)
        except MalformedSip:
            return None
        user = uri.user_text or ""
        user = user.split(";", 1)[0]
        if self.mode == "pbx":
            return pbx_route(user, self.number)
        return legacy_route(user, self.number)

    def _invite(self, request: SipRequest, src: Address, now: float) -> None:
        caller = request.from_.uri
        called = request.uri
        route = self._route(request)
        if route is None:
            self.firmware.log_event(f"CONF: call from {caller} to {called}: no such room (404)")
            self._answer(request, src, 404, await_ack=True)
            return
        if request.call_id in self.calls:  # the same call again on another branch (8.2.2.2)
            self._answer(request, src, 482, await_ack=True)
            return
        unacknowledged: Call | None = None
        if len(self.calls) >= self.channels:
            unacknowledged = self._no_ack_for_long(src[0], now)
            if unacknowledged is None:
                self.firmware.log_event(
                    f"CONF: call from {caller} refused: all {self.channels} channels busy (486)"
                )
                self._answer(request, src, 486, await_ack=True)
                return
        if not request.body or request.content_type != "application/sdp":
            status = 488 if not request.body else 415
            headers = (("Accept", "application/sdp"),)
            self._answer(request, src, status, headers=headers, await_ack=True)
            return
        try:
            routes = tuple(request.header_values("Record-Route"))
            for route_value in routes:
                parse_uri(parse_name_addr(route_value).uri)
        except MalformedSip:
            self._answer(request, src, 400, await_ack=True)
            return
        try:
            offer = parse_sdp(request.body)
            media = negotiate(offer)
        except NotAcceptable:
            self._answer(request, src, 488, await_ack=True)
            return
        except (SdpError, ValueError):
            self._answer(request, src, 400, await_ack=True)
            return
        assert self._ip is not None
        if unacknowledged is not None:
            self._bye(unacknowledged, now)
            self._end(unacknowledged, f"no ACK: its channel went to a call from {src[0]}")
        self._answer(request, src, 100)  # before the call exists: if it fails, no call
        port = next(
            p
            for p in range(RTP_PORT_BASE, RTP_PORT_BASE + 2 * self.channels, 2)
            if p not in self._by_port
        )
        answer = render_answer(
            offer, media, ip=self._ip, port=port, session_id=self._rng.getrandbits(32)
        )
        call = Call(
            request.call_id,
            request,
            self._reply_to(request, src),
            caller,
            self._hex(4),
            port,
            offer,
            media,
            answer,
            route,
            answer_at=now + self.answer_delay,
            pending=route.pending,
            routes=routes,
            source=src[0],
        )
        self.calls[call.call_id] = call
        self._by_port[port] = call
        self.firmware.open_port((self._ip, port))
        self.firmware.log_event(f"CONF: call from {caller} to {called} for room {route.room}")

    def _ok(self, call: Call, request: SipRequest, now: float) -> None:
        """The 200 with the SDP answer, resent until the ACK (timer G, H); it copies the
        INVITE's Record-Route (RFC 3261 12.1.1)."""
        headers = (
            *(("Record-Route", r) for r in call.routes),
            ("Contact", self._contact),
            ("Allow", ALLOW),
            ("Content-Type", "application/sdp"),
        )
        datagram = self._answer(
            request, call.peer, 200, to_tag=call.local_tag, headers=headers, body=call.answer
        )
        call.ok = _Resend(datagram, now + T1, now + TRANSACTION_TIME)
        call.ack_cseq = request.cseq.number
        call.state = CallState.ANSWERED
        if call.ok_at is None:
            call.ok_at = now

    def _no_ack_for_long(self, source: str, now: float) -> Call | None:
        """The call whose channel a new INVITE from ``source`` may take when every channel
        is taken: the one whose first 200 has waited longest for its ACK, at least
        :data:`ACK_GRACE`; none while ``source`` itself has a call awaiting its ACK.

        DECISION (RFC 3261 13.3.1.4 ends a dialog without ACK only after 64*T1): a flood
        of INVITEs that are never ACKed would hold every channel for 32 s. So they hold
        them only until someone else calls, and the flooding address cannot take its own
        calls' channels over and over: it waits for its ACKs like everyone else.
        """
        waiting = [c for c in self.calls.values() if not c.joined]
        if any(c.source == source for c in waiting):
            return None
        stale = [
            c
            for c in waiting
            if c.state is CallState.ANSWERED and c.ok_at is not None and now - c.ok_at >= ACK_GRACE
        ]
        return min(stale, key=lambda c: c.ok_at or 0.0, default=None)

    def _reinvite(
        self, request: SipRequest, src: Address, call: Call | None, tag: str | None, now: float
    ) -> None:
        if call is None or call.local_tag != tag:
            self._answer(request, src, 481, to_tag=tag)
            return
        if call.state is not CallState.CONFIRMED:
            retry = (("Retry-After", "1"),)
            self._answer(request, src, 500, to_tag=tag, headers=retry, await_ack=True)
            return
        if request.body:
            try:
                media = negotiate(parse_sdp(request.body))
            except NotAcceptable:
                self._answer(request, src, 488, to_tag=tag, await_ack=True)
                return
            except (SdpError, ValueError):
                self._answer(request, src, 400, to_tag=tag, await_ack=True)
                return
            if media.payload_type != call.media.payload_type:
                self._answer(request, src, 488, to_tag=tag, await_ack=True)
                return
            if media.remote != call.media.remote and self._ip is not None:
                call.media = media
                self.mixer.join(
                    call.call_id,
                    call.room,
                    payload_type=media.payload_type,
                    local=(self._ip, call.rtp_port),
                    remote=media.remote,
                    now=now,
                )
        self._ok(call, request, now)

    def _ack(self, request: SipRequest, now: float) -> None:
        cached = self._answered.get((self._key(request), "INVITE"))
        if cached is not None and cached.next is not None:  # the ACK of a non-2xx final
            cached.next = None
            return
        call = self.calls.get(request.call_id)
        if call is None or call.state is not CallState.ANSWERED:
            return
        if request.cseq.number != call.ack_cseq:
            return
        call.ok = None
        call.state = CallState.CONFIRMED
        call.heard_at = now
        if call.joined or self._ip is None:
            return
        self.mixer.join(
            call.call_id,
            call.room,
            payload_type=call.media.payload_type,
            local=(self._ip, call.rtp_port),
            remote=call.media.remote,
            now=now,
        )
        call.joined = True
        if call.route.selecting:
            call.digit_deadline = now + DIGIT_TIMEOUT
        used = len(self.calls)
        self.firmware.log_event(
            f"CONF: {call.caller} joined room {call.room} ({used} of {self.channels} channels)"
        )

    def _cancel(self, request: SipRequest, src: Address, now: float) -> None:
        call = self.calls.get(request.call_id)
        if call is None or call.invite.branch != request.branch:
            self._answer(request, src, 481)
            return
        self._answer(request, src, 200, to_tag=call.local_tag)
        if call.state is CallState.ANSWERING:
            self._answer(call.invite, call.peer, 487, to_tag=call.local_tag, await_ack=True)
            self._end(call, "cancelled")

    # -- calls -----------------------------------------------------------------------------

    def _call_timers(self, call: Call, now: float) -> None:
        if call.state is CallState.ANSWERING and now >= call.answer_at:
            self._ok(call, call.invite, now)
        if call.ok is not None:
            if now >= call.ok.deadline:
                self._bye(call, now)
                self._end(call, "no ACK: hung up")
                return
            if (datagram := call.ok.again(now)) is not None:
                self._outbox.append(datagram)
        if call.digit_deadline is not None and now >= call.digit_deadline:
            call.digit_deadline, call.pending = None, None
        if call.state is CallState.CONFIRMED and now >= call.heard_at + RTP_TIMEOUT:
            self._bye(call, now)
            self._end(call, f"no RTP for {RTP_TIMEOUT:.0f} s: hung up")

    def _digit(self, call_id: str, digit: str) -> None:
        self._digits.append((call_id, digit))

    def _take_digits(self, now: float) -> None:
        digits, self._digits = self._digits, []
        for call_id, digit in digits:
            call = self.calls.get(call_id)
            if call is None or call.digit_deadline is None:
                continue
            if digit.isdigit():
                call.pending = digit
                call.digit_deadline = now + DIGIT_TIMEOUT
            elif digit == "*":
                call.pending = None
            elif digit == "#":
                call.digit_deadline = None
                room = int(call.pending) if call.pending is not None else call.room
                call.pending = None
                call.route = Route(room)
                self.mixer.move(call_id, room)
                self.firmware.log_event(f"CONF: {call.caller} moved to room {room}")

    def _bye(self, call: Call, now: float) -> None:
        """Hang up ``call`` (a BYE to the caller's Contact, or where its INVITE came from)."""
        invite = call.invite
        try:
            target = invite.contacts[0].uri if invite.contacts else invite.from_.uri
        except MalformedSip:
            target = invite.from_.uri
        routes = call.routes
        dst = call.peer
        try:
            next_hop: SipUri = parse_uri(parse_name_addr(routes[0]).uri if routes else target)
            ipaddress.IPv4Address(next_hop.host)
            dst = (next_hop.host, next_hop.port or SIP_PORT)
        except (MalformedSip, ValueError):
            pass
        call.bye_cseq += 1
        to = invite.header("From") or ""
        own = f"{invite.header('To')};tag={call.local_tag}"
        request = SipRequest(
            "BYE",
            target,
            (
                *self._request_headers("BYE", call.bye_cseq),
                ("From", own),
                ("To", to),
                ("Call-ID", call.call_id),
                *(("Route", r) for r in routes),
                ("User-Agent", self._agent),
            ),
        )
        self._start_client(request, dst, now)

    def _end(self, call: Call, why: str) -> None:
        self.calls.pop(call.call_id, None)
        self._by_port.pop(call.rtp_port, None)
        if call.joined:
            self.mixer.leave(call.call_id)
        if self._ip is not None:
            self.firmware.close_port((self._ip, call.rtp_port))
        self.firmware.log_event(f"CONF: call from {call.caller} in room {call.room} ended ({why})")
