"""CONF's calls (the UAS side of RFC 3261): INVITE, ACK, re-INVITE, CANCEL, BYE, OPTIONS.

Each call is answered after :data:`ANSWER_DELAY` (a CANCEL can overtake it), its 200 is
resent until the ACK, then it joins its room of the
:class:`~ipgwsim.firmware.media.Mixer`; RFC 2833 digits may still choose the room. A call
hangs up (BYE) when its ACK or its RTP stops coming. A request in a call's dialog, its
timers and the bridge's decisions become one :class:`CallEvent` each, and the row of
:data:`~ipgwsim.firmware.conftables.CALL_TABLE` for it names the action (:data:`ACTIONS`)
and the next state. Sans-I/O: responses and requests go through
:class:`~ipgwsim.firmware.conftransactions.Transactions`, the time is passed in.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable
from dataclasses import dataclass

from ipgwsim.firmware.confregister import ALLOW
from ipgwsim.firmware.confroutes import Route, request_route
from ipgwsim.firmware.confrtp import RtpPorts
from ipgwsim.firmware.conftables import CALL_TABLE, CallAction, CallInput, CallState
from ipgwsim.firmware.conftransactions import (
    SIP_PORT,
    TRANSACTION_TIME,
    Resend,
    Transactions,
)
from ipgwsim.firmware.media import Mixer
from ipgwsim.proto.net import Address
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
    T1,
    MalformedSip,
    SipRequest,
    SipUri,
    parse_name_addr,
    parse_uri,
)

__all__ = [
    "ACK_GRACE",
    "ACTIONS",
    "ANSWER_DELAY",
    "DIGIT_TIMEOUT",
    "RTP_TIMEOUT",
    "Bridge",
    "Call",
    "CallEvent",
    "CallState",
]

#: Seconds between the INVITE and the 200 (a CANCEL can overtake it).
ANSWER_DELAY = 0.5
#: Seconds a call without ``#`` waits for RFC 2833 digits before staying in room 0.
DIGIT_TIMEOUT = 5.0
#: Seconds a 200 may wait for its ACK before the call's channel may go to a new caller when
#: every channel is taken (DECISION: by then the 200 went out four times, at 0, 0.5, 1.5
#: and 3.5 s; a caller that has ACKed none of them is gone or hostile).
ACK_GRACE = 8 * T1
#: Seconds without RTP after which a confirmed call is hung up (BYE): a caller that
#: vanished without a BYE would hold its channel for ever.
RTP_TIMEOUT = 60.0


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
    ok: Resend | None = None
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


class Bridge:
    """The calls of one CONF interface: ``channels`` at most, routed by ``mode``."""

    def __init__(
        self,
        sip: Transactions,
        *,
        number: str,
        mode: str,
        channels: int,
        answer_delay: float,
        mixer_rng: random.Random,
        rng: random.Random,
        log: Callable[[str], None],
        open_port: Callable[[Address], None],
        close_port: Callable[[Address], None],
    ) -> None:
        self.sip = sip
        self.number = number
        self.mode = mode
        self.channels = channels
        self.answer_delay = answer_delay
        self.mixer = Mixer(on_digit=self._digit, rng=mixer_rng)
        self.rtp = RtpPorts(self.mixer)
        self.calls: dict[str, Call] = {}
        #: Calls ended because handling their timers failed.
        self.failed_calls = 0
        self._rng = rng
        self._log = log
        self._open_port = open_port
        self._close_port = close_port
        #: Digits the mixer reported during a ``receive``: ``(call_id, key)``.
        self._digits: list[tuple[str, str]] = []

    def _hex(self, size: int) -> str:
        return self._rng.randbytes(size).hex()

    @property
    def _contact(self) -> str:
        return f"<sip:{self.number}@{self.sip.ip}:{SIP_PORT}>"

    # -- requests (UAS) ----------------------------------------------------------------------

    def request(self, request: SipRequest, src: Address, now: float) -> None:
        method = request.method
        if method == "ACK":
            self._ack(request, now)
            return
        cached = self.sip.cached(request)
        if cached is not None:
            self.sip.outbox.append(cached.datagram)
            return
        call = self.calls.get(request.call_id)
        to_tag = request.to.tag
        answer = self.sip.answer
        if method == "INVITE" and to_tag is None:
            self._invite(request, src, now)
        elif method == "INVITE":
            self._reinvite(request, src, call, to_tag, now)
        elif method == "BYE":
            if call is None or call.local_tag != to_tag:
                answer(request, src, 481)
                return
            self.step(call, CallEvent(CallInput.BYE, request, src), now)
        elif method == "CANCEL":
            self._cancel(request, src, now)
        elif method == "OPTIONS":
            accept = (("Allow", ALLOW), ("Accept", "application/sdp"))
            answer(request, src, 200, to_tag=to_tag, headers=accept)
        else:
            answer(request, src, 501, to_tag=to_tag, headers=(("Allow", ALLOW),))

    def _invite(self, request: SipRequest, src: Address, now: float) -> None:
        answer = self.sip.answer
        caller = request.from_.uri
        called = request.uri
        route = request_route(request, self.mode, self.number)
        if route is None:
            self._log(f"CONF: call from {caller} to {called}: no such room (404)")
            answer(request, src, 404, await_ack=True)
            return
        if request.call_id in self.calls:  # the same call again on another branch (8.2.2.2)
            answer(request, src, 482, await_ack=True)
            return
        unacknowledged: Call | None = None
        if len(self.calls) >= self.channels:
            unacknowledged = self._no_ack_for_long(src[0], now)
            if unacknowledged is None:
                self._log(
                    f"CONF: call from {caller} refused: all {self.channels} channels busy (486)"
                )
                answer(request, src, 486, await_ack=True)
                return
        if not request.body or request.content_type != "application/sdp":
            status = 488 if not request.body else 415
            headers = (("Accept", "application/sdp"),)
            answer(request, src, status, headers=headers, await_ack=True)
            return
        try:
            routes = tuple(request.header_values("Record-Route"))
            for route_value in routes:
                parse_uri(parse_name_addr(route_value).uri)
        except MalformedSip:
            answer(request, src, 400, await_ack=True)
            return
        try:
            offer = parse_sdp(request.body)
            media = negotiate(offer)
        except NotAcceptable:
            answer(request, src, 488, await_ack=True)
            return
        except (SdpError, ValueError):
            answer(request, src, 400, await_ack=True)
            return
        ip = self.sip.ip
        assert ip is not None
        if unacknowledged is not None:
            why = f"no ACK: its channel went to a call from {src[0]}"
            self.step(unacknowledged, CallEvent(CallInput.TAKEN_OVER, why=why), now)
        answer(request, src, 100)  # before the call exists: if it fails, no call
        port = self.rtp.free(self.channels)
        body = render_answer(offer, media, ip=ip, port=port, session_id=self._rng.getrandbits(32))
        call = Call(
            request.call_id,
            request,
            self.sip.reply_to(request, src),
            caller,
            self._hex(4),
            port,
            offer,
            media,
            body,
            route,
            answer_at=now + self.answer_delay,
            pending=route.pending,
            routes=routes,
            source=src[0],
        )
        self.calls[call.call_id] = call
        self.rtp.add(call)
        self._open_port((ip, port))
        self._log(f"CONF: call from {caller} to {called} for room {route.room}")

    def _ok(self, call: Call, request: SipRequest, now: float) -> None:
        """The 200 with the SDP answer, resent until the ACK (timer G, H); it copies the
        INVITE's Record-Route (RFC 3261 12.1.1)."""
        headers = (
            *(("Record-Route", r) for r in call.routes),
            ("Contact", self._contact),
            ("Allow", ALLOW),
            ("Content-Type", "application/sdp"),
        )
        datagram = self.sip.answer(
            request, call.peer, 200, to_tag=call.local_tag, headers=headers, body=call.answer
        )
        call.ok = Resend(datagram, now + T1, now + TRANSACTION_TIME)
        call.ack_cseq = request.cseq.number
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
            self.sip.answer(request, src, 481, to_tag=tag)
            return
        self.step(call, CallEvent(CallInput.RE_INVITE, request, src), now)

    def _join(self, call: Call, now: float) -> None:
        assert self.sip.ip is not None
        self.mixer.join(
            call.call_id,
            call.room,
            payload_type=call.media.payload_type,
            local=(self.sip.ip, call.rtp_port),
            remote=call.media.remote,
            now=now,
        )

    def _ack(self, request: SipRequest, now: float) -> None:
        cached = self.sip.cached(request, "INVITE")
        if cached is not None and cached.next is not None:  # the ACK of a non-2xx final
            cached.next = None
            return
        call = self.calls.get(request.call_id)
        if call is not None and request.cseq.number == call.ack_cseq:
            self.step(call, CallEvent(CallInput.ACK, request), now)

    def _cancel(self, request: SipRequest, src: Address, now: float) -> None:
        call = self.calls.get(request.call_id)
        if call is None or call.invite.branch != request.branch:
            self.sip.answer(request, src, 481)
            return
        self.step(call, CallEvent(CallInput.CANCEL, request, src), now)

    # -- timers and media --------------------------------------------------------------------

    def deadlines(self) -> list[float]:
        times: list[float | None] = []
        for call in self.calls.values():
            if call.state is CallState.ANSWERING:
                times.append(call.answer_at)
            if call.ok is not None:
                times.append(call.ok.due())
            times.append(call.digit_deadline)
            if call.state is CallState.CONFIRMED:
                times.append(call.heard_at + RTP_TIMEOUT)
        return [t for t in times if t is not None]

    def handle_timer(self, now: float) -> None:
        for call in list(self.calls.values()):
            if call.call_id not in self.calls:
                continue
            try:
                self._call_timers(call, now)
            except Exception as error:  # one call's failure must not stop the others' audio
                self.failed_calls += 1
                self.step(call, CallEvent(CallInput.FAILED, why=f"failed: {error!r}"), now)

    def _call_timers(self, call: Call, now: float) -> None:
        if call.state is CallState.ANSWERING and now >= call.answer_at:
            self.step(call, CallEvent(CallInput.ANSWER_DUE), now)
        if call.ok is not None:
            if now >= call.ok.deadline:
                self.step(call, CallEvent(CallInput.NO_ACK, why="no ACK: hung up"), now)
                return
            if call.ok.next is not None and now >= call.ok.next:
                self.step(call, CallEvent(CallInput.RESEND_DUE), now)
        if call.digit_deadline is not None and now >= call.digit_deadline:
            call.digit_deadline, call.pending = None, None
        if call.state is CallState.CONFIRMED and now >= call.heard_at + RTP_TIMEOUT:
            why = f"no RTP for {RTP_TIMEOUT:.0f} s: hung up"
            self.step(call, CallEvent(CallInput.RTP_SILENT, why=why), now)

    def _digit(self, call_id: str, digit: str) -> None:
        self._digits.append((call_id, digit))

    def take_digits(self, now: float) -> None:
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
                self._log(f"CONF: {call.caller} moved to room {room}")

    # -- ending ----------------------------------------------------------------------------

    def _send_bye(self, call: Call, now: float) -> None:
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
                *self.sip.request_headers("BYE", call.bye_cseq),
                ("From", own),
                ("To", to),
                ("Call-ID", call.call_id),
                *(("Route", r) for r in routes),
                ("User-Agent", self.sip.agent),
            ),
        )
        self.sip.start_client(request, dst, now)

    def end_all(self, why: str, now: float) -> None:
        """ETH0 lost or changed its address: every call ends, without a BYE."""
        for call in list(self.calls.values()):
            self.step(call, CallEvent(CallInput.ADDRESS_LOST, why=why), now)

    def _close(self, call: Call, why: str) -> None:
        self.calls.pop(call.call_id, None)
        self.rtp.remove(call)
        if call.joined:
            self.mixer.leave(call.call_id)
        if self.sip.ip is not None:
            self._close_port((self.sip.ip, call.rtp_port))
        self._log(f"CONF: call from {call.caller} in room {call.room} ended ({why})")

    # -- the table -------------------------------------------------------------------------

    def step(self, call: Call, event: CallEvent, now: float) -> None:
        """Run the row of :data:`~ipgwsim.firmware.conftables.CALL_TABLE` for ``event``."""
        transition = CALL_TABLE[call.state, event.input]
        decided = ACTIONS[transition.action](self, call, event, now)
        call.state = transition.next if transition.next is not None else decided

    # -- actions (named in the table) ------------------------------------------------------

    def _send_ok(self, call: Call, event: CallEvent, now: float) -> CallState:
        self._ok(call, call.invite, now)
        return CallState.ANSWERED

    def _resend_ok(self, call: Call, event: CallEvent, now: float) -> CallState:
        assert call.ok is not None
        if (datagram := call.ok.again(now)) is not None:
            self.sip.outbox.append(datagram)
        return call.state

    def _confirm(self, call: Call, event: CallEvent, now: float) -> CallState:
        call.ok = None
        call.heard_at = now
        if call.joined or self.sip.ip is None:
            return CallState.CONFIRMED
        self._join(call, now)
        call.joined = True
        if call.route.selecting:
            call.digit_deadline = now + DIGIT_TIMEOUT
        used = len(self.calls)
        self._log(
            f"CONF: {call.caller} joined room {call.room} ({used} of {self.channels} channels)"
        )
        return CallState.CONFIRMED

    def _answer_reinvite(self, call: Call, event: CallEvent, now: float) -> CallState:
        request, src = event.in_dialog()
        tag = call.local_tag
        answer = self.sip.answer
        if request.body:
            try:
                media = negotiate(parse_sdp(request.body))
            except NotAcceptable:
                answer(request, src, 488, to_tag=tag, await_ack=True)
                return call.state
            except (SdpError, ValueError):
                answer(request, src, 400, to_tag=tag, await_ack=True)
                return call.state
            if media.payload_type != call.media.payload_type:
                answer(request, src, 488, to_tag=tag, await_ack=True)
                return call.state
            if media.remote != call.media.remote and self.sip.ip is not None:
                call.media = media
                self._join(call, now)
        self._ok(call, request, now)
        return CallState.ANSWERED

    def _retry_reinvite(self, call: Call, event: CallEvent, now: float) -> CallState:
        request, src = event.in_dialog()
        retry = (("Retry-After", "1"),)
        self.sip.answer(request, src, 500, to_tag=call.local_tag, headers=retry, await_ack=True)
        return call.state

    def _cancel_call(self, call: Call, event: CallEvent, now: float) -> CallState:
        self._cancel_too_late(call, event, now)
        self.sip.answer(call.invite, call.peer, 487, to_tag=call.local_tag, await_ack=True)
        self._close(call, "cancelled")
        return CallState.ENDED

    def _cancel_too_late(self, call: Call, event: CallEvent, now: float) -> CallState:
        request, src = event.in_dialog()
        self.sip.answer(request, src, 200, to_tag=call.local_tag)
        return call.state

    def _hung_up(self, call: Call, event: CallEvent, now: float) -> CallState:
        request, src = event.in_dialog()
        self.sip.answer(request, src, 200, to_tag=call.local_tag)
        self._close(call, "hung up")
        return CallState.ENDED

    def _hang_up(self, call: Call, event: CallEvent, now: float) -> CallState:
        self._send_bye(call, now)
        self._close(call, event.why)
        return CallState.ENDED

    def _end(self, call: Call, event: CallEvent, now: float) -> CallState:
        self._close(call, event.why)
        return CallState.ENDED

    def _ignore(self, call: Call, event: CallEvent, now: float) -> CallState:
        return call.state


@dataclass(frozen=True)
class CallEvent:
    """One input of a call and what its action needs."""

    input: CallInput
    #: A request in the dialog (ACK, re-INVITE, CANCEL, BYE) and where it came from.
    request: SipRequest | None = None
    src: Address | None = None
    #: Why the call ends (NO_ACK, RTP_SILENT, TAKEN_OVER, ADDRESS_LOST, FAILED).
    why: str = ""

    def in_dialog(self) -> tuple[SipRequest, Address]:
        if self.request is None or self.src is None:
            raise ValueError(f"{self.input.name} names no request in the dialog")
        return self.request, self.src


#: The method each action of :data:`~ipgwsim.firmware.conftables.CALL_TABLE` runs.
ACTIONS: dict[CallAction, Callable[[Bridge, Call, CallEvent, float], CallState]] = {
    CallAction.SEND_OK: Bridge._send_ok,
    CallAction.RESEND_OK: Bridge._resend_ok,
    CallAction.JOIN: Bridge._confirm,
    CallAction.ANSWER_RE_INVITE: Bridge._answer_reinvite,
    CallAction.RETRY_RE_INVITE: Bridge._retry_reinvite,
    CallAction.CANCEL: Bridge._cancel_call,
    CallAction.CANCEL_TOO_LATE: Bridge._cancel_too_late,
    CallAction.HUNG_UP: Bridge._hung_up,
    CallAction.HANG_UP: Bridge._hang_up,
    CallAction.END: Bridge._end,
    CallAction.IGNORE: Bridge._ignore,
}
