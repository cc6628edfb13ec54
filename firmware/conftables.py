"""CONF's two state machines as tables: ``(state, input) -> transition``.

The registration (:mod:`~ipgwsim.firmware.confregister`, RFC 3261 10) and each call
(:mod:`~ipgwsim.firmware.confcalls`, the UAS side of RFC 3261 13 to 15). Both tables are
total: every pair of state and input has a row, those not named here keep the state and
do nothing (``IGNORE``). ``next`` is ``None`` where the action decides. The service turns a
response, a request or its timer into one input and runs the action its table names
(``confregister.ACTIONS``, ``confcalls.ACTIONS``, checked complete);
:func:`~ipgwsim.firmware.statetable.render_table` shows a table as firmware/README.md does,
and a test checks that the README's copies are these.
"""

from __future__ import annotations

import enum

from ipgwsim.firmware.statetable import Transition, build_table

__all__ = [
    "CALL_TABLE",
    "REG_TABLE",
    "CallAction",
    "CallInput",
    "CallState",
    "RegAction",
    "RegInput",
    "RegState",
]

# -- the registration ----------------------------------------------------------------------


class RegState(enum.Enum):
    #: No address on ETH0, or no usable ``/registrar``.
    IDLE = "idle"
    REGISTERING = "registering"
    #: Registered; a renewal may be under way (the binding holds until it expires).
    REGISTERED = "registered"
    #: The last attempt failed; the next one is due at ``retry_at``.
    WAITING = "waiting"


class RegInput(enum.Enum):
    """What the registration reacts to: ETH0's address, its timer, the REGISTER's outcome."""

    #: ETH0 has an address and ``/registrar`` is usable.
    START = "start"
    #: ETH0's address went or changed: everything is forgotten.
    STOP = "stop"
    #: The timer: the retry after a failure, or the renewal.
    DUE = "due"
    #: The REGISTER's transaction ended without a final response (timer F).
    NO_ANSWER = "no answer"
    #: 401 or 407 with an MD5 digest challenge to answer (the first, or a stale nonce).
    CHALLENGED = "challenged"
    #: 423 with a ``Min-Expires`` above what was asked.
    TOO_BRIEF = "too brief"
    #: A 2xx granting some time.
    GRANTED = "granted"
    #: Any other final response, or a challenge that cannot be answered.
    REFUSED = "refused"


class RegAction(enum.Enum):
    """What the registration does: each is one method of
    :class:`~ipgwsim.firmware.confregister.Registrations` (``confregister.ACTIONS``)."""

    REGISTER = "send REGISTER"
    ANSWER_CHALLENGE = "send REGISTER with the challenge's answer"
    ASK_LONGER = "send REGISTER asking for Min-Expires"
    BIND = "take the time granted, renew at 85 %"
    RENEW = "take the time granted (renewed), renew at 85 %"
    FAIL = "say why, retry after retry_delay"
    RESET = "forget the registration"
    IGNORE = "ignore"


_RS, _RI, _RA = RegState, RegInput, RegAction


def _rt(action: RegAction, state: RegState | None) -> Transition[RegAction, RegState]:
    return Transition(action, state)


def _outcomes(
    state: RegState, granted: RegAction
) -> dict[RegInput, Transition[RegAction, RegState]]:
    """What a REGISTER's outcome does while one is under way in ``state``."""
    return {
        _RI.CHALLENGED: _rt(_RA.ANSWER_CHALLENGE, state),
        _RI.TOO_BRIEF: _rt(_RA.ASK_LONGER, state),
        _RI.GRANTED: _rt(granted, _RS.REGISTERED),
        _RI.REFUSED: _rt(_RA.FAIL, _RS.WAITING),
        _RI.NO_ANSWER: _rt(_RA.FAIL, _RS.WAITING),
    }


_STOP = {_RI.STOP: _rt(_RA.RESET, _RS.IDLE)}

_REG_ROWS: dict[RegState, dict[RegInput, Transition[RegAction, RegState]]] = {
    _RS.IDLE: {
        _RI.START: _rt(_RA.REGISTER, _RS.REGISTERING),
        **_STOP,
    },
    _RS.REGISTERING: {
        **_outcomes(_RS.REGISTERING, _RA.BIND),
        **_STOP,
    },
    # a renewal is sent in REGISTERED and the binding holds meanwhile
    _RS.REGISTERED: {
        _RI.DUE: _rt(_RA.REGISTER, _RS.REGISTERED),
        **_outcomes(_RS.REGISTERED, _RA.RENEW),
        **_STOP,
    },
    _RS.WAITING: {
        _RI.DUE: _rt(_RA.REGISTER, _RS.REGISTERING),
        **_STOP,
    },
}

#: Every (state, input) pair of the registration.
REG_TABLE: dict[tuple[RegState, RegInput], Transition[RegAction, RegState]] = build_table(
    _REG_ROWS, RegState, RegInput, RegAction.IGNORE
)


# -- a call --------------------------------------------------------------------------------


class CallState(enum.Enum):
    #: 100 Trying sent; the 200 goes at ``answer_at``.
    ANSWERING = "answering"
    #: 200 sent, retransmitted until the ACK.
    ANSWERED = "answered"
    #: In the mixer.
    CONFIRMED = "confirmed"
    #: Over: its channel, port and place in the mixer are given back.
    ENDED = "ended"


class CallInput(enum.Enum):
    """What a call reacts to: a request in its dialog, its timers, the bridge."""

    #: The answer delay has passed.
    ANSWER_DUE = "answer due"
    #: The ACK of the 200 (its CSeq).
    ACK = "ACK"
    #: Timer G: the 200 is due again.
    RESEND_DUE = "resend due"
    #: Timer H: the 200 got no ACK in time.
    NO_ACK = "no ACK"
    #: A re-INVITE in the dialog.
    RE_INVITE = "re-INVITE"
    #: A CANCEL of the INVITE (its branch).
    CANCEL = "CANCEL"
    #: A BYE in the dialog.
    BYE = "BYE"
    #: No RTP from the caller for ``RTP_TIMEOUT``.
    RTP_SILENT = "RTP silent"
    #: Its channel goes to a new caller (no ACK for ``ACK_GRACE``, every channel taken).
    TAKEN_OVER = "taken over"
    #: ETH0 lost or changed its address.
    ADDRESS_LOST = "address lost"
    #: Handling its timers failed.
    FAILED = "failed"


class CallAction(enum.Enum):
    """What a call does: each is one method of
    :class:`~ipgwsim.firmware.confcalls.Bridge` (``confcalls.ACTIONS``)."""

    SEND_OK = "send the 200 with the SDP answer"
    RESEND_OK = "send the 200 again"
    JOIN = "join the room in the mixer"
    ANSWER_RE_INVITE = "200 with the same SDP (ANSWERED), or 488/400 (CONFIRMED)"
    RETRY_RE_INVITE = "500 with Retry-After: 1"
    CANCEL = "200 to the CANCEL, 487 to the INVITE, end"
    CANCEL_TOO_LATE = "200 to the CANCEL"
    HUNG_UP = "200 to the BYE, end"
    HANG_UP = "send BYE, end"
    END = "end"
    IGNORE = "ignore"


_CS, _CI, _CA = CallState, CallInput, CallAction


def _ct(action: CallAction, state: CallState | None) -> Transition[CallAction, CallState]:
    return Transition(action, state)


_ANY_CALL = {
    _CI.BYE: _ct(_CA.HUNG_UP, _CS.ENDED),
    _CI.ADDRESS_LOST: _ct(_CA.END, _CS.ENDED),
    _CI.FAILED: _ct(_CA.END, _CS.ENDED),
}

_CALL_ROWS: dict[CallState, dict[CallInput, Transition[CallAction, CallState]]] = {
    _CS.ANSWERING: {
        _CI.ANSWER_DUE: _ct(_CA.SEND_OK, _CS.ANSWERED),
        _CI.RE_INVITE: _ct(_CA.RETRY_RE_INVITE, _CS.ANSWERING),
        _CI.CANCEL: _ct(_CA.CANCEL, _CS.ENDED),
        **_ANY_CALL,
    },
    _CS.ANSWERED: {
        _CI.ACK: _ct(_CA.JOIN, _CS.CONFIRMED),
        _CI.RESEND_DUE: _ct(_CA.RESEND_OK, _CS.ANSWERED),
        _CI.NO_ACK: _ct(_CA.HANG_UP, _CS.ENDED),
        _CI.TAKEN_OVER: _ct(_CA.HANG_UP, _CS.ENDED),
        _CI.RE_INVITE: _ct(_CA.RETRY_RE_INVITE, _CS.ANSWERED),
        _CI.CANCEL: _ct(_CA.CANCEL_TOO_LATE, _CS.ANSWERED),
        **_ANY_CALL,
    },
    _CS.CONFIRMED: {
        _CI.RE_INVITE: _ct(_CA.ANSWER_RE_INVITE, None),
        _CI.RTP_SILENT: _ct(_CA.HANG_UP, _CS.ENDED),
        _CI.CANCEL: _ct(_CA.CANCEL_TOO_LATE, _CS.CONFIRMED),
        **_ANY_CALL,
    },
    _CS.ENDED: {},
}

#: Every (state, input) pair of a call.
CALL_TABLE: dict[tuple[CallState, CallInput], Transition[CallAction, CallState]] = build_table(
    _CALL_ROWS, CallState, CallInput, CallAction.IGNORE
)
