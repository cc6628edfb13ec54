"""CONF's registration at the PBX (RFC 3261 10, digest authentication RFC 2617): the UAC side.

One REGISTER at a time on one Call-ID; a challenge is answered once (twice when the nonce
was stale); a refusal or no answer waits :func:`retry_delay` before the next attempt; the
binding is renewed at :data:`REFRESH_AT` of the time granted. Sans-I/O: requests go through
:class:`~ipgwsim.firmware.conftransactions.Transactions`, the time is passed in.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from ipgwsim.firmware.conftransactions import SIP_PORT, Transactions
from ipgwsim.proto.net import Address
from ipgwsim.proto.sip import MalformedSip, SipRequest, SipResponse, parse_number
from ipgwsim.proto.sipdigest import DigestChallenge, authorization, parse_challenge

__all__ = [
    "ALLOW",
    "DEFAULT_EXPIRES",
    "MAX_EXPIRES",
    "REFRESH_AT",
    "RegState",
    "Registration",
    "Registrations",
    "retry_delay",
]

DEFAULT_EXPIRES = 3600
#: The longest registration ``CONF /expires`` asks for: a day.
MAX_EXPIRES = 86400
#: A registration is renewed at this share of the time the registrar granted.
REFRESH_AT = 0.85
ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS"


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


@dataclass
class Registration:
    expires: int
    cseq: int = 0
    challenge: tuple[str, DigestChallenge] | None = None
    nc: int = 0
    auth_tries: int = 0
    failures: int = 0
    granted: int | None = None
    until: float | None = None


class Registrations:
    """The registration of ``number`` at ``registrar`` (None: never registers)."""

    def __init__(
        self,
        sip: Transactions,
        *,
        number: str,
        user: str,
        password: str | None,
        registrar: Address | None,
        expires: int,
        call_id: str,
        from_tag: str,
        hex: Callable[[int], str],
        log: Callable[[str], None],
    ) -> None:
        self.sip = sip
        self.number = number
        self.user = user
        self.password = password
        self.registrar = registrar
        self.reg = Registration(expires)
        self.state = RegState.IDLE
        self.retry_at: float | None = None
        self.refresh_at: float | None = None
        self._call_id = call_id
        self._from_tag = from_tag
        self._hex = hex
        self._log = log

    def registered(self, now: float) -> bool:
        until = self.reg.until
        return self.state is RegState.REGISTERED and until is not None and now < until

    @property
    def contact(self) -> str:
        return f"<sip:{self.number}@{self.sip.ip}:{SIP_PORT}>"

    @property
    def _aor(self) -> str:
        assert self.registrar is not None
        return f"sip:{self.number}@{self.registrar[0]}"

    def reset(self) -> None:
        """Back to the start (the address changed)."""
        self.state, self.retry_at, self.refresh_at, self.reg.until = RegState.IDLE, None, None, None

    def due(self) -> float | None:
        due = [t for t in (self.retry_at, self.refresh_at) if t is not None]
        return min(due) if due else None

    # -- requests --------------------------------------------------------------------------

    def register(self, now: float) -> None:
        self.retry_at = self.refresh_at = None
        if self.registrar is None or self.sip.ip is None:
            return
        self.sip.drop_clients("REGISTER")
        reg = self.reg
        reg.cseq += 1
        host, port = self.registrar
        uri = f"sip:{host}" if port == SIP_PORT else f"sip:{host}:{port}"
        request = SipRequest(
            "REGISTER",
            uri,
            (
                *self.sip.request_headers("REGISTER", reg.cseq),
                ("From", f"<{self._aor}>;tag={self._from_tag}"),
                ("To", f"<{self._aor}>"),
                ("Call-ID", self._call_id),
                ("Contact", self.contact),
                ("Expires", str(reg.expires)),
                ("Allow", ALLOW),
                ("User-Agent", self.sip.agent),
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
        self.sip.start_client(request, self.registrar, now)

    def failed(self, why: str, now: float) -> None:
        reg = self.reg
        reg.failures += 1
        reg.auth_tries = 0
        delay = retry_delay(reg.failures)
        self.state = RegState.WAITING
        self.retry_at, self.refresh_at = now + delay, None
        self._log(f"CONF: {why}; registering again in {delay:.0f} s")

    def timeout(self, now: float) -> None:
        if self.registrar is not None:
            host, port = self.registrar
            self.failed(f"no answer from {host}:{port}", now)

    # -- responses -------------------------------------------------------------------------

    def response(self, response: SipResponse, now: float) -> None:
        reg = self.reg
        assert self.registrar is not None
        host = self.registrar[0]
        status = response.status
        if status in (401, 407):
            self._challenged(response, now)
        elif status == 423:
            minimum = response.int_header("Min-Expires")
            if minimum is None or minimum <= reg.expires:
                self.failed(f"registration refused by {host}: 423 without use", now)
                return
            reg.expires = minimum
            self.register(now)
        elif 200 <= status < 300:
            granted = self._granted(response)
            if granted <= 0:
                self.failed(f"registrar {host} granted no time", now)
                return
            renewed = self.state is RegState.REGISTERED
            reg.failures = reg.auth_tries = 0
            reg.granted, reg.until = granted, now + granted
            self.state = RegState.REGISTERED
            self.refresh_at = now + granted * REFRESH_AT
            what = "registration renewed" if renewed else f"registered as {self.number} at {host}"
            self._log(f"CONF: {what}, expires {granted} s")
        else:
            reason = f"{status} {response.reason}".strip()
            self.failed(f"registration refused by {host}: {reason}", now)

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
            self.failed(f"registrar {host} sent no MD5 digest challenge", now)
        elif self.password is None:
            self.failed(f"registrar {host} asks for a password; CONF /pwd is not set", now)
        elif reg.auth_tries > 0 and not (challenge.stale and reg.auth_tries < 2):
            reason = f"{response.status} {response.reason}".strip()
            self.failed(f"registration refused by {host}: {reason} (wrong /user or /pwd?)", now)
        else:
            reg.auth_tries += 1
            answer = "Authorization" if response.status == 401 else "Proxy-Authorization"
            reg.challenge, reg.nc = (answer, challenge), 0
            self.register(now)

    def _granted(self, response: SipResponse) -> int:
        for contact in response.contacts:
            try:
                uri = contact.sip_uri()
            except MalformedSip:
                continue
            ours = uri.user == self.number and uri.host == self.sip.ip
            value = contact.param("expires")
            number = None if value is None else parse_number(value)
            if ours and uri.port in (None, SIP_PORT) and number is not None:
                return number
        try:
            expires = response.expires
        except MalformedSip:
            expires = None
        return self.reg.expires if expires is None else expires
