"""CONF's registration at the PBX (RFC 3261 10, digest authentication RFC 2617): the UAC side.

One REGISTER at a time on one Call-ID; a challenge is answered once (twice when the nonce
was stale); a refusal or no answer waits :func:`retry_delay` before the next attempt; the
binding is renewed at :data:`REFRESH_AT` of the time granted. ETH0's address, the timer and
the REGISTER's outcome become one :class:`RegEvent` each, and the row of
:data:`~ipgwsim.firmware.conftables.REG_TABLE` for it names the action (:data:`ACTIONS`) and
the next state. Sans-I/O: requests go through
:class:`~ipgwsim.firmware.conftransactions.Transactions`, the time is passed in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ipgwsim.firmware.conftables import REG_TABLE, RegAction, RegInput, RegState
from ipgwsim.firmware.conftransactions import SIP_PORT, Transactions
from ipgwsim.proto.net import Address
from ipgwsim.proto.sip import MalformedSip, SipRequest, SipResponse, parse_number
from ipgwsim.proto.sipdigest import DigestChallenge, authorization, parse_challenge

__all__ = [
    "ACTIONS",
    "ALLOW",
    "DEFAULT_EXPIRES",
    "MAX_EXPIRES",
    "REFRESH_AT",
    "RegEvent",
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

    def due(self) -> float | None:
        due = [t for t in (self.retry_at, self.refresh_at) if t is not None]
        return min(due) if due else None

    # -- inputs ----------------------------------------------------------------------------

    def handle(self, event: RegEvent, now: float) -> None:
        """Run the row of :data:`~ipgwsim.firmware.conftables.REG_TABLE` for ``event``."""
        transition = REG_TABLE[self.state, event.input]
        ACTIONS[transition.action](self, event, now)
        if transition.next is not None:
            self.state = transition.next

    def start(self, now: float) -> None:
        """ETH0 has an address: register (if ``/registrar`` is usable)."""
        if self.registrar is not None and self.sip.ip is not None:
            self.handle(RegEvent(RegInput.START), now)

    def stop(self, now: float) -> None:
        """ETH0's address went or changed: back to the start."""
        self.handle(RegEvent(RegInput.STOP), now)

    def timer(self, now: float) -> None:
        """The retry or renewal time, if it has come."""
        due = self.due()
        if due is not None and now >= due:
            self.handle(RegEvent(RegInput.DUE), now)

    def timeout(self, now: float) -> None:
        """The REGISTER got no final response in time."""
        if self.registrar is not None:
            host, port = self.registrar
            self.handle(RegEvent(RegInput.NO_ANSWER, f"no answer from {host}:{port}"), now)

    def response(self, response: SipResponse, now: float) -> None:
        """The REGISTER's final response. A header that does not parse raises
        :class:`MalformedSip` before anything changes."""
        self.handle(self._outcome(response), now)

    def _outcome(self, response: SipResponse) -> RegEvent:
        reg = self.reg
        assert self.registrar is not None
        host = self.registrar[0]
        status = response.status
        if status in (401, 407):
            return self._challenge(response, host)
        if status == 423:
            minimum = response.int_header("Min-Expires")
            if minimum is None or minimum <= reg.expires:
                return _refused(f"registration refused by {host}: 423 without use")
            return RegEvent(RegInput.TOO_BRIEF, seconds=minimum)
        if 200 <= status < 300:
            granted = self._granted(response)
            if granted <= 0:
                return _refused(f"registrar {host} granted no time")
            return RegEvent(RegInput.GRANTED, seconds=granted)
        reason = f"{status} {response.reason}".strip()
        return _refused(f"registration refused by {host}: {reason}")

    def _challenge(self, response: SipResponse, host: str) -> RegEvent:
        header = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
        challenges = []
        for value in response.header_values(header):
            try:
                challenges.append(parse_challenge(value))
            except MalformedSip:
                continue
        challenge = next((c for c in challenges if c.supported), None)
        tries = self.reg.auth_tries
        if challenge is None:
            return _refused(f"registrar {host} sent no MD5 digest challenge")
        if self.password is None:
            return _refused(f"registrar {host} asks for a password; CONF /pwd is not set")
        if tries > 0 and not (challenge.stale and tries < 2):
            reason = f"{response.status} {response.reason}".strip()
            return _refused(f"registration refused by {host}: {reason} (wrong /user or /pwd?)")
        answer = "Authorization" if response.status == 401 else "Proxy-Authorization"
        return RegEvent(RegInput.CHALLENGED, challenge=(answer, challenge))

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

    # -- actions (named in the table) ------------------------------------------------------

    def _register(self, event: RegEvent, now: float) -> None:
        self.retry_at = self.refresh_at = None
        assert self.registrar is not None
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
        self.sip.start_client(request, self.registrar, now)

    def _answer_challenge(self, event: RegEvent, now: float) -> None:
        reg = self.reg
        reg.auth_tries += 1
        reg.challenge, reg.nc = event.challenge, 0
        self._register(event, now)

    def _ask_longer(self, event: RegEvent, now: float) -> None:
        self.reg.expires = event.seconds
        self._register(event, now)

    def _bind(self, event: RegEvent, now: float) -> None:
        self._take(event.seconds, f"registered as {self.number} at {self._host}", now)

    def _renew(self, event: RegEvent, now: float) -> None:
        self._take(event.seconds, "registration renewed", now)

    def _take(self, granted: int, what: str, now: float) -> None:
        reg = self.reg
        reg.failures = reg.auth_tries = 0
        reg.granted, reg.until = granted, now + granted
        self.refresh_at = now + granted * REFRESH_AT
        self._log(f"CONF: {what}, expires {granted} s")

    def _fail(self, event: RegEvent, now: float) -> None:
        reg = self.reg
        reg.failures += 1
        reg.auth_tries = 0
        delay = retry_delay(reg.failures)
        self.retry_at, self.refresh_at = now + delay, None
        self._log(f"CONF: {event.why}; registering again in {delay:.0f} s")

    def _reset(self, event: RegEvent, now: float) -> None:
        self.retry_at, self.refresh_at, self.reg.until = None, None, None

    def _ignore(self, event: RegEvent, now: float) -> None:
        pass

    @property
    def _host(self) -> str:
        return self.registrar[0] if self.registrar is not None else "?"


def _refused(why: str) -> RegEvent:
    return RegEvent(RegInput.REFUSED, why)


@dataclass(frozen=True)
class RegEvent:
    """One input of the registration and what its action needs."""

    input: RegInput
    #: REFUSED, NO_ANSWER: what the console says.
    why: str = ""
    #: CHALLENGED: the header to answer with and the challenge.
    challenge: tuple[str, DigestChallenge] | None = None
    #: TOO_BRIEF: the ``Min-Expires``; GRANTED: the seconds granted.
    seconds: int = 0


#: The method each action of :data:`~ipgwsim.firmware.conftables.REG_TABLE` runs.
ACTIONS: dict[RegAction, Callable[[Registrations, RegEvent, float], None]] = {
    RegAction.REGISTER: Registrations._register,
    RegAction.ANSWER_CHALLENGE: Registrations._answer_challenge,
    RegAction.ASK_LONGER: Registrations._ask_longer,
    RegAction.BIND: Registrations._bind,
    RegAction.RENEW: Registrations._renew,
    RegAction.FAIL: Registrations._fail,
    RegAction.RESET: Registrations._reset,
    RegAction.IGNORE: Registrations._ignore,
}
