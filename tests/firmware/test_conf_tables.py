"""CONF's state tables: total, every action has its method, consistent, and the README's
copies are the code's."""

from __future__ import annotations

import enum
import re
from itertools import product
from pathlib import Path

import pytest

from ipgwsim.firmware import confcalls, confregister
from ipgwsim.firmware.conftables import (
    CALL_TABLE,
    REG_TABLE,
    CallAction,
    CallInput,
    CallState,
    RegAction,
    RegInput,
    RegState,
)
from ipgwsim.firmware.conftransactions import Transactions
from ipgwsim.firmware.statetable import DECIDES, Transition, build_table, render_table
from ipgwsim.proto.sip import MalformedSip, SipRequest, make_response, parse_message

README = Path(__file__).resolve().parents[2] / "firmware" / "README.md"


def readme_table(name: str) -> str:
    text = README.read_text(encoding="utf-8")
    found = re.search(rf"<!-- table: {name} -->\n(.*?)<!-- end of table -->", text, re.S)
    assert found is not None, f"firmware/README.md has no '<!-- table: {name} -->' block"
    return found.group(1)


@pytest.mark.parametrize(
    ("table", "states", "inputs", "actions", "methods"),
    [
        (REG_TABLE, RegState, RegInput, RegAction, confregister.ACTIONS),
        (CALL_TABLE, CallState, CallInput, CallAction, confcalls.ACTIONS),
    ],
    ids=["registration", "call"],
)
def test_table_is_total_and_every_action_has_its_method(
    table: dict[tuple[enum.Enum, enum.Enum], Transition[enum.Enum, enum.Enum]],
    states: type[enum.Enum],
    inputs: type[enum.Enum],
    actions: type[enum.Enum],
    methods: dict[enum.Enum, object],
) -> None:
    assert set(table) == set(product(states, inputs))
    assert set(methods) == set(actions)
    assert all(callable(method) for method in methods.values())
    assert {t.action for t in table.values()} == set(actions)  # no action is dead
    ignore = actions["IGNORE"]
    for (state, _given), row in table.items():
        if row.action is ignore:
            assert row.next is state


@pytest.mark.parametrize(
    ("name", "table", "ignore"),
    [("REG_TABLE", REG_TABLE, RegAction.IGNORE), ("CALL_TABLE", CALL_TABLE, CallAction.IGNORE)],
)
def test_the_readme_shows_the_tables_as_the_code_has_them(
    name: str,
    table: dict[tuple[enum.Enum, enum.Enum], Transition[enum.Enum, enum.Enum]],
    ignore: enum.Enum,
) -> None:
    rendered = render_table(table, ignore)
    assert readme_table(name) == rendered, (
        f"firmware/README.md does not show {name} as the code has it; it should read:\n{rendered}"
    )


def test_render_shows_what_acts_and_where_the_action_decides() -> None:
    rendered = render_table(CALL_TABLE, CallAction.IGNORE)
    assert "| ANSWERED | ACK | join the room in the mixer | CONFIRMED |\n" in rendered
    assert f"| CONFIRMED | RE_INVITE | {CallAction.ANSWER_RE_INVITE.value} | {DECIDES} |" in (
        rendered
    )
    assert "\n| ENDED |" not in rendered  # nothing acts on an ended call
    assert rendered.startswith("| state | input | action | next state |\n|---|---|---|---|\n")


class Light(enum.Enum):
    OFF = "off"
    ON = "on"


class Flick(enum.Enum):
    SWITCH = "switch"
    BLOW = "blow"


class Do(enum.Enum):
    TOGGLE = "toggle"
    CHECK = "check the fuse"
    IGNORE = "ignore"


def test_build_table_fills_what_the_rows_leave_out_with_ignore() -> None:
    rows = {
        Light.OFF: {Flick.SWITCH: Transition(Do.TOGGLE, Light.ON)},
        Light.ON: {
            Flick.SWITCH: Transition(Do.TOGGLE, Light.OFF),
            Flick.BLOW: Transition(Do.CHECK, None),
        },
    }
    table = build_table(rows, Light, Flick, Do.IGNORE)
    assert table == {
        (Light.OFF, Flick.SWITCH): Transition(Do.TOGGLE, Light.ON),
        (Light.OFF, Flick.BLOW): Transition(Do.IGNORE, Light.OFF),
        (Light.ON, Flick.SWITCH): Transition(Do.TOGGLE, Light.OFF),
        (Light.ON, Flick.BLOW): Transition(Do.CHECK, None),
    }
    assert render_table(table, Do.IGNORE) == (
        "| state | input | action | next state |\n"
        "|---|---|---|---|\n"
        "| OFF | SWITCH | toggle | ON |\n"
        "| ON | SWITCH | toggle | OFF |\n"
        f"| ON | BLOW | check the fuse | {DECIDES} |\n"
    )


# -- the registration ----------------------------------------------------------------------

#: Where a REGISTER may be under way (sent by START or DUE, or after a challenge or a 423).
UNDER_WAY = {RegState.REGISTERING, RegState.REGISTERED}
OUTCOMES = (
    RegInput.NO_ANSWER,
    RegInput.CHALLENGED,
    RegInput.TOO_BRIEF,
    RegInput.GRANTED,
    RegInput.REFUSED,
)


def test_stop_forgets_the_registration_from_every_state() -> None:
    for state in RegState:
        assert REG_TABLE[state, RegInput.STOP] == Transition(RegAction.RESET, RegState.IDLE)


def test_a_registers_outcome_acts_only_while_one_is_under_way() -> None:
    for state, given in product(RegState, OUTCOMES):
        acts = REG_TABLE[state, given].action is not RegAction.IGNORE
        assert acts == (state in UNDER_WAY), (state, given)


def test_every_failure_waits_and_every_grant_registers() -> None:
    for state in UNDER_WAY:
        for given in (RegInput.NO_ANSWER, RegInput.REFUSED):
            assert REG_TABLE[state, given] == Transition(RegAction.FAIL, RegState.WAITING)
        assert REG_TABLE[state, RegInput.GRANTED].next is RegState.REGISTERED
    # "registered as" the first time, "renewed" while the binding holds
    assert REG_TABLE[RegState.REGISTERING, RegInput.GRANTED].action is RegAction.BIND
    assert REG_TABLE[RegState.REGISTERED, RegInput.GRANTED].action is RegAction.RENEW


def test_the_registration_decides_every_next_state_itself() -> None:
    assert all(row.next is not None for row in REG_TABLE.values())


def test_only_idle_starts_and_only_timed_states_are_due() -> None:
    starting = {s for s in RegState if REG_TABLE[s, RegInput.START].action is RegAction.REGISTER}
    assert starting == {RegState.IDLE}
    due = {s for s in RegState if REG_TABLE[s, RegInput.DUE].action is RegAction.REGISTER}
    assert due == {RegState.REGISTERED, RegState.WAITING}


# -- a call --------------------------------------------------------------------------------

ENDINGS = (CallInput.BYE, CallInput.ADDRESS_LOST, CallInput.FAILED)


def test_an_ended_call_takes_nothing() -> None:
    for given in CallInput:
        assert CALL_TABLE[CallState.ENDED, given] == Transition(CallAction.IGNORE, CallState.ENDED)


def test_every_live_call_can_be_ended() -> None:
    for state, given in product(CallState, ENDINGS):
        if state is not CallState.ENDED:
            assert CALL_TABLE[state, given].next is CallState.ENDED, (state, given)


def test_the_call_follows_invite_200_ack() -> None:
    assert CALL_TABLE[CallState.ANSWERING, CallInput.ANSWER_DUE].next is CallState.ANSWERED
    assert CALL_TABLE[CallState.ANSWERED, CallInput.ACK].next is CallState.CONFIRMED
    # only a 200 waiting for its ACK is resent, hangs up without one, or yields its channel
    for given in (CallInput.ACK, CallInput.RESEND_DUE, CallInput.NO_ACK, CallInput.TAKEN_OVER):
        acting = {s for s in CallState if CALL_TABLE[s, given].action is not CallAction.IGNORE}
        assert acting == {CallState.ANSWERED}, given
    # a CANCEL ends a call only before its 200 (RFC 3261 9.2)
    assert CALL_TABLE[CallState.ANSWERING, CallInput.CANCEL].next is CallState.ENDED
    for state in (CallState.ANSWERED, CallState.CONFIRMED):
        assert CALL_TABLE[state, CallInput.CANCEL] == Transition(CallAction.CANCEL_TOO_LATE, state)


def test_a_reinvite_is_answered_only_once_the_call_is_confirmed() -> None:
    for state in (CallState.ANSWERING, CallState.ANSWERED):
        assert CALL_TABLE[state, CallInput.RE_INVITE] == Transition(
            CallAction.RETRY_RE_INVITE, state
        )
    decided = [key for key, row in CALL_TABLE.items() if row.next is None]
    assert decided == [(CallState.CONFIRMED, CallInput.RE_INVITE)]


def test_a_call_event_without_its_request_says_so() -> None:
    event = confcalls.CallEvent(CallInput.BYE)
    with pytest.raises(ValueError, match="BYE names no request in the dialog"):
        event.in_dialog()


# -- the registration, driven through its table without a firmware -------------------------


class RegBench:
    """A :class:`~ipgwsim.firmware.confregister.Registrations` on its own transactions."""

    def __init__(self, password: str | None = "pw") -> None:
        counter = iter(range(1, 1_000_000))
        self.sip = Transactions(lambda size: f"{next(counter):0{2 * size}x}", "test agent")
        self.sip.ip = "10.0.0.5"
        self.lines: list[str] = []
        self.reg = confregister.Registrations(
            self.sip,
            number="87",
            user="87",
            password=password,
            registrar=("10.0.0.1", 5060),
            expires=3600,
            call_id="c1@test",
            from_tag="f1",
            hex=lambda size: "ab" * size,
            log=self.lines.append,
        )

    def state(self) -> RegState:
        """The state now (a call, so that a type checker does not keep an earlier one)."""
        return self.reg.state

    def sent(self) -> SipRequest:
        """The REGISTER last sent (the outbox is emptied)."""
        out, self.sip.outbox = self.sip.outbox, []
        assert out, "nothing was sent"
        request = parse_message(out[-1].data)
        assert isinstance(request, SipRequest)
        assert request.method == "REGISTER"
        return request

    def answer(self, request: SipRequest, status: int, *headers: tuple[str, str]) -> None:
        response = make_response(request, status, to_tag="t", headers=headers)
        self.reg.response(parse_message(response.render()), 0.0)  # type: ignore[arg-type]


def test_the_registration_walks_its_table() -> None:
    bench = RegBench()
    reg = bench.reg
    reg.start(10.0)
    assert bench.state() is RegState.REGISTERING
    first = bench.sent()
    challenge = 'Digest realm="10.0.0.1", nonce="n1", algorithm=MD5'
    bench.answer(first, 401, ("WWW-Authenticate", challenge))
    assert bench.state() is RegState.REGISTERING  # CHALLENGED: answered at once
    second = bench.sent()
    assert second.header("Authorization") is not None
    assert second.cseq.number == first.cseq.number + 1
    bench.answer(second, 200, ("Expires", "100"))
    assert bench.state() is RegState.REGISTERED
    assert reg.refresh_at == pytest.approx(100 * confregister.REFRESH_AT)
    assert bench.lines[-1] == "CONF: registered as 87 at 10.0.0.1, expires 100 s"
    reg.timer(84.0)  # not yet due
    assert bench.sip.outbox == []
    reg.timer(85.0)  # DUE: the renewal goes out in REGISTERED
    assert bench.state() is RegState.REGISTERED
    renewal = bench.sent()
    reg.timeout(117.0)  # NO_ANSWER
    assert bench.state() is RegState.WAITING
    assert reg.retry_at == 117.0 + confregister.retry_delay(1)
    assert bench.lines[-1] == "CONF: no answer from 10.0.0.1:5060; registering again in 30 s"
    bench.answer(renewal, 200)  # an outcome while none is under way: ignored
    assert bench.state() is RegState.WAITING
    reg.timer(147.0)
    assert bench.state() is RegState.REGISTERING
    reg.stop(148.0)
    assert (bench.state(), reg.due()) == (RegState.IDLE, None)  # no retry, no renewal


def test_a_refusal_waits_and_a_header_that_breaks_changes_nothing() -> None:
    bench = RegBench(password=None)
    reg = bench.reg
    reg.start(0.0)
    request = bench.sent()
    with pytest.raises(MalformedSip):
        bench.answer(request, 200, ("Contact", "<<sip:87@10.0.0.5>"))
    assert bench.state() is RegState.REGISTERING
    bench.answer(request, 401, ("WWW-Authenticate", 'Digest realm="r", nonce="n"'))
    assert bench.state() is RegState.WAITING
    assert bench.lines[-1] == (
        "CONF: registrar 10.0.0.1 asks for a password; CONF /pwd is not set; "
        "registering again in 30 s"
    )
