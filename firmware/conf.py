"""The CONF interface: a SIP user agent registered to a PBX, taking calls into rooms.

A firmware service (sans-I/O, device time). It registers ``CONF /number`` at
``CONF /registrar`` (digest authentication with ``/user`` and ``/pwd``), answers INVITEs
for ``<number><room>#`` (firmware 8, ``/mode legacy``) or for the room the PBX's
Conference object hands over (firmware 9+, ``/mode pbx``) and puts each call into a room
of the :class:`~ipgwsim.firmware.media.Mixer`. SIP is ``ipgwsim.proto.sip``, SDP
``ipgwsim.proto.sdp``. See "CONF interface" in firmware/README.md for the choices made.

This module is the service: configuration and the Service protocol. Its jobs are
:mod:`~ipgwsim.firmware.conftransactions` (SIP transactions),
:mod:`~ipgwsim.firmware.confregister` (registration), :mod:`~ipgwsim.firmware.confcalls`
(calls), :mod:`~ipgwsim.firmware.confroutes` (rooms) and :mod:`~ipgwsim.firmware.confrtp`
(RTP demultiplexing); the registration and the calls run from the state tables of
:mod:`~ipgwsim.firmware.conftables`.
"""

from __future__ import annotations

import ipaddress
import random
import re
from typing import TYPE_CHECKING

from ipgwsim.firmware.confcalls import (
    ACK_GRACE,
    ANSWER_DELAY,
    DIGIT_TIMEOUT,
    RTP_TIMEOUT,
    Bridge,
    Call,
    CallState,
)
from ipgwsim.firmware.confregister import (
    ALLOW,
    DEFAULT_EXPIRES,
    MAX_EXPIRES,
    REFRESH_AT,
    Registration,
    Registrations,
    RegState,
    retry_delay,
)
from ipgwsim.firmware.confroutes import Route, legacy_route, pbx_route
from ipgwsim.firmware.confrtp import RTP_PORT_BASE
from ipgwsim.firmware.conftransactions import SIP_PORT, Transactions
from ipgwsim.firmware.media import Mixer
from ipgwsim.hw_profiles import ConferenceMode
from ipgwsim.proto.net import Address, Datagram
from ipgwsim.proto.sip import SipResponse, parse_message, parse_number

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

#: What ``CONF /number`` may be: characters of a SIP URI's user part, no escapes.
_USER = re.compile(r"[A-Za-z0-9\-_.!~*'()&=+$,?/]+")


class ConfInterface:
    """The CONF interface of the firmware whose ``context`` it is given (a
    :class:`~ipgwsim.firmware.services.Service`)."""

    answer_delay = ANSWER_DELAY

    def __init__(self, context: ServiceContext, now: float = 0.0) -> None:
        self.context = context
        active = context.active
        self.number = active.get("CONF", "number") or ""
        self.user = active.get("CONF", "user") or self.number
        self.password = active.get("CONF", "pwd")
        mode = active.get("CONF", "mode")
        if mode is None:
            mode = "legacy" if context.profile.conference.mode is ConferenceMode.LEGACY else "pbx"
        self.mode = mode
        self.channels = context.profile.conference.channels
        expires = self._expires(active.get("CONF", "expires"))
        registrar = self._registrar(active.get("CONF", "registrar") or "")
        if not _USER.fullmatch(self.number):
            self.context.log_event(
                f"CONF: /number {self.number!r} cannot be a SIP user part: not registering"
            )
            registrar = None
        self._rng = random.Random(context.rng.getrandbits(64))
        agent = f"{context.profile.model}/{context.build} ipgwsim"
        self.sip = Transactions(self._hex, agent, now)
        self.bridge = Bridge(
            self.sip,
            number=self.number,
            mode=self.mode,
            channels=self.channels,
            answer_delay=self.answer_delay,
            mixer_rng=random.Random(self._rng.getrandbits(64)),
            rng=self._rng,
            log=context.log_event,
            open_port=context.open_port,
            close_port=context.close_port,
        )
        self.registration = Registrations(
            self.sip,
            number=self.number,
            user=self.user,
            password=self.password,
            registrar=registrar,
            expires=expires,
            call_id=f"{self._hex(8)}@{context.serial}",
            from_tag=self._hex(4),
            hex=self._hex,
            log=context.log_event,
        )
        #: Messages that did not parse, dropped.
        self.malformed = 0
        self.address_changed()

    # -- configuration ---------------------------------------------------------------------

    def _expires(self, value: str | None) -> int:
        if value is None:
            return DEFAULT_EXPIRES
        number = parse_number(value)
        if number is not None and 1 <= number <= MAX_EXPIRES:
            return number
        self.context.log_event(
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
            self.context.log_event(
                f"CONF: /registrar {value!r} is not host[:port] with an IPv4 address "
                "(the firmware has no DNS): not registering"
            )
            return None
        return host, number

    def _hex(self, size: int) -> str:
        return self._rng.randbytes(size).hex()

    # -- what the parts hold ---------------------------------------------------------------

    @property
    def registrar(self) -> Address | None:
        return self.registration.registrar

    @property
    def reg(self) -> Registration:
        return self.registration.reg

    @property
    def state(self) -> RegState:
        return self.registration.state

    @property
    def retry_at(self) -> float | None:
        return self.registration.retry_at

    @property
    def refresh_at(self) -> float | None:
        return self.registration.refresh_at

    @property
    def registered(self) -> bool:
        return self.registration.registered(self.sip.now)

    @property
    def calls(self) -> dict[str, Call]:
        return self.bridge.calls

    @property
    def mixer(self) -> Mixer:
        return self.bridge.mixer

    @property
    def foreign_rtp(self) -> int:
        """RTP datagrams from another source than the call's negotiated remote, dropped."""
        return self.bridge.rtp.foreign

    @property
    def failed_calls(self) -> int:
        """Calls ended because handling their timers failed."""
        return self.bridge.failed_calls

    # -- the Service protocol --------------------------------------------------------------

    def accepts(self, dst: Address) -> bool:
        return dst[0] == self.sip.ip and (dst[1] == SIP_PORT or dst[1] in self.bridge.rtp)

    def receive_datagram(self, datagram: Datagram, now: float) -> None:
        """Take one datagram; never raises, whatever the bytes (they come from the network)."""
        self.sip.now = max(self.sip.now, now)
        if not self.accepts(datagram.dst):
            return
        if datagram.dst[1] != SIP_PORT:
            if self.bridge.rtp.deliver(datagram, now):
                self.bridge.take_digits(now)
            return
        try:
            message = parse_message(datagram.data)
            if isinstance(message, SipResponse):
                self._response(message, now)
            else:
                self.bridge.request(message, datagram.src, now)
        except ValueError:  # MalformedSip, SdpError: also a header read later that is bad
            self.malformed += 1

    def _response(self, response: SipResponse, now: float) -> None:
        client = self.sip.client_for(response, now)
        if client is None:
            return
        if client.request.method == "REGISTER":
            # a MalformedSip from a header read here leaves the transaction running
            self.registration.response(response, now)
        self.sip.finish(response)

    def datagrams_to_send(self) -> list[Datagram]:
        out, self.sip.outbox = self.sip.outbox, []
        return out

    def get_timer(self) -> float | None:
        times = [self.registration.due(), self.mixer.get_timer()]
        pending = [t for t in times if t is not None]
        pending += self.sip.deadlines() + self.bridge.deadlines()
        return min(pending) if pending else None

    def handle_timer(self, now: float) -> None:
        self.sip.now = max(self.sip.now, now)
        self.registration.timer(now)
        for request in self.sip.handle_timer(now):
            if request.method == "REGISTER":
                self.registration.timeout(now)
        self.bridge.handle_timer(now)
        tick = self.mixer.get_timer()
        if tick is not None and now >= tick:
            self.mixer.handle_timer(now)
            self.sip.outbox.extend(self.mixer.datagrams_to_send())

    def address_changed(self) -> None:
        """Open port 5060 on ETH0's new address and register; drop what the old one had."""
        address = self.context.address
        ip = None if address is None else address[0]
        if ip == self.sip.ip:
            return
        if self.sip.ip is not None:
            self.bridge.end_all("ETH0 lost its address", self.context.now)
            self.context.close_port((self.sip.ip, SIP_PORT))
            self.sip.clear()
        self.sip.ip = ip
        self.registration.stop(self.context.now)
        if ip is None:
            return
        self.context.open_port((ip, SIP_PORT))
        if self.registrar is not None:
            host, port = self.registrar
            self.context.log_event(f"CONF: registering {self.number} at {host}:{port}")
            self.registration.start(self.context.now)
