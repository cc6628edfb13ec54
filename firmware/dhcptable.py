"""The DHCP client's state machine as a table: ``(state, input) -> transition``.

RFC 2131 figure 5 without INIT-REBOOT (the firmware keeps no lease over a restart). The
table is total: every pair of :class:`DhcpState` and :class:`DhcpInput` has a row, those
not named here keep the state and do nothing (``IGNORE``). ``next`` is ``None`` where the
action decides (an OFFER or ACK that is not usable is ignored and said; the state stays).
The client (:mod:`ipgwsim.firmware.dhcp`) turns a datagram or its timer into one input
and runs the action its table names (``dhcp.ACTIONS``, checked complete).
"""

from __future__ import annotations

import enum

from ipgwsim.firmware.statetable import Transition, build_table

__all__ = ["TABLE", "DhcpAction", "DhcpInput", "DhcpState", "DhcpTransition"]


class DhcpState(enum.Enum):
    INIT = "init"
    SELECTING = "selecting"
    REQUESTING = "requesting"
    BOUND = "bound"
    RENEWING = "renewing"
    REBINDING = "rebinding"
    #: After :meth:`DhcpClient.release`: nothing more.
    STOPPED = "stopped"


class DhcpInput(enum.Enum):
    """What the client reacts to: an answer of a server (with this exchange's xid and the
    client's MAC), its timer, or the firmware."""

    OFFER = "OFFER"
    ACK = "ACK"
    NAK = "NAK"
    #: The timer before a lease: retransmission of DISCOVER or REQUEST, the wait after a NAK.
    TIMER = "timer"
    #: The timer in REQUESTING after the last REQUEST for an OFFER (``MAX_REQUESTS``).
    NO_ANSWER = "no answer"
    #: The timer of a lease, at or after T1 (before T2).
    T1 = "T1"
    #: The timer of a lease, at or after T2 (before its end).
    T2 = "T2"
    #: The timer of a lease, at its end.
    LEASE_END = "lease end"
    #: :meth:`DhcpClient.release`.
    RELEASE = "release"


class DhcpAction(enum.Enum):
    """What the client does on a transition: each is one method of
    :class:`~ipgwsim.firmware.dhcp.DhcpClient` (``dhcp.ACTIONS``)."""

    DISCOVER = "discover"
    RESEND_DISCOVER = "resend DISCOVER"
    TAKE_OFFER = "REQUEST a usable offer (REQUESTING)"
    RESEND_REQUEST = "resend REQUEST"
    GIVE_UP_OFFER = "give the offer up, discover"
    TAKE_ACK = "bind a usable lease (BOUND)"
    TAKE_NAK = "drop any lease, wait"
    RENEW = "REQUEST unicast to the server"
    REBIND = "REQUEST broadcast"
    LEASE_ENDED = "give the address up, discover"
    RELEASE = "RELEASE any lease, stop"
    IGNORE = "ignore"


#: A row of the table: the action, and the state afterwards (``None``: the action decides).
DhcpTransition = Transition[DhcpAction, DhcpState]


def _t(action: DhcpAction, state: DhcpState | None) -> DhcpTransition:
    return Transition(action, state)


_S = DhcpState
_I = DhcpInput
_A = DhcpAction

_LEASE_ANSWERS = {
    _I.ACK: _t(_A.TAKE_ACK, None),
    _I.NAK: _t(_A.TAKE_NAK, _S.INIT),
    _I.LEASE_END: _t(_A.LEASE_ENDED, _S.SELECTING),
}
_RELEASE = {_I.RELEASE: _t(_A.RELEASE, _S.STOPPED)}

_ROWS: dict[DhcpState, dict[DhcpInput, DhcpTransition]] = {
    _S.INIT: {
        _I.TIMER: _t(_A.DISCOVER, _S.SELECTING),
        **_RELEASE,
    },
    _S.SELECTING: {
        _I.OFFER: _t(_A.TAKE_OFFER, None),
        _I.TIMER: _t(_A.RESEND_DISCOVER, _S.SELECTING),
        **_RELEASE,
    },
    _S.REQUESTING: {
        _I.ACK: _t(_A.TAKE_ACK, None),
        _I.NAK: _t(_A.TAKE_NAK, _S.INIT),
        _I.TIMER: _t(_A.RESEND_REQUEST, _S.REQUESTING),
        _I.NO_ANSWER: _t(_A.GIVE_UP_OFFER, _S.SELECTING),
        **_RELEASE,
    },
    _S.BOUND: {
        _I.T1: _t(_A.RENEW, _S.RENEWING),
        _I.T2: _t(_A.REBIND, _S.REBINDING),  # T1 missed: straight to rebinding
        _I.LEASE_END: _t(_A.LEASE_ENDED, _S.SELECTING),
        **_RELEASE,
    },
    _S.RENEWING: {
        **_LEASE_ANSWERS,
        _I.T1: _t(_A.RESEND_REQUEST, _S.RENEWING),
        _I.T2: _t(_A.REBIND, _S.REBINDING),
        **_RELEASE,
    },
    _S.REBINDING: {
        **_LEASE_ANSWERS,
        _I.T1: _t(_A.RESEND_REQUEST, _S.REBINDING),
        _I.T2: _t(_A.RESEND_REQUEST, _S.REBINDING),
        **_RELEASE,
    },
    _S.STOPPED: {},
}


#: Every (state, input) pair; pairs not named above keep the state and do nothing.
TABLE: dict[tuple[DhcpState, DhcpInput], DhcpTransition] = build_table(
    _ROWS, DhcpState, DhcpInput, _A.IGNORE
)
