"""The firmware services' state tables: total, every action has its method, the docs show them.

The copies in the docs are compared with the tables here, so they cannot drift.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from itertools import product
from pathlib import Path
from typing import Any

import pytest

from ipgwsim.firmware import dhcp, update
from ipgwsim.firmware.dhcptable import TABLE as DHCP_TABLE
from ipgwsim.firmware.dhcptable import DhcpAction, DhcpInput, DhcpState
from ipgwsim.firmware.statetable import Transition, render_table
from ipgwsim.firmware.updatetable import TABLE as UPDATE_TABLE
from ipgwsim.firmware.updatetable import UpdateAction, UpdateInput, UpdateState

ROOT = Path(__file__).resolve().parents[2]


MACHINES = [
    pytest.param(DHCP_TABLE, DhcpState, DhcpInput, DhcpAction, dhcp.ACTIONS, id="dhcp"),
    pytest.param(UPDATE_TABLE, UpdateState, UpdateInput, UpdateAction, update.ACTIONS, id="update"),
]


@pytest.mark.parametrize(("table", "states", "inputs", "actions", "methods"), MACHINES)
def test_a_table_is_total_and_every_action_has_its_method(
    table: Mapping[tuple[enum.Enum, enum.Enum], Transition[Any, Any]],
    states: type[enum.Enum],
    inputs: type[enum.Enum],
    actions: type[enum.Enum],
    methods: Mapping[enum.Enum, Callable[..., object]],
) -> None:
    assert set(table) == set(product(states, inputs))
    assert set(methods) == set(actions)
    assert all(callable(method) for method in methods.values())
    assert {t.action for t in table.values()} == set(actions)
    for (state, _given), transition in table.items():
        if transition.action is actions["IGNORE"]:
            assert transition.next is state, "an ignored input keeps the state"


def test_dhcp_release_stops_from_everywhere_and_stopped_is_final() -> None:
    for state in DhcpState:
        row = DHCP_TABLE[state, DhcpInput.RELEASE]
        if state is DhcpState.STOPPED:
            assert row.action is DhcpAction.IGNORE
        else:
            assert (row.action, row.next) == (DhcpAction.RELEASE, DhcpState.STOPPED)
    for given in DhcpInput:
        assert DHCP_TABLE[DhcpState.STOPPED, given].action is DhcpAction.IGNORE


def test_dhcp_answers_only_where_rfc_2131_expects_them() -> None:
    takes_offer = {
        s for s in DhcpState if DHCP_TABLE[s, DhcpInput.OFFER].action is not DhcpAction.IGNORE
    }
    assert takes_offer == {DhcpState.SELECTING}
    for given in (DhcpInput.ACK, DhcpInput.NAK):
        acting = {s for s in DhcpState if DHCP_TABLE[s, given].action is not DhcpAction.IGNORE}
        assert acting == {DhcpState.REQUESTING, DhcpState.RENEWING, DhcpState.REBINDING}
    for state in (DhcpState.REQUESTING, DhcpState.RENEWING, DhcpState.REBINDING):
        assert DHCP_TABLE[state, DhcpInput.NAK].next is DhcpState.INIT


def test_update_ended_is_final_and_refuses_commands() -> None:
    for given in UpdateInput:
        row = UPDATE_TABLE[UpdateState.ENDED, given]
        assert row.next is UpdateState.ENDED
        expected = (
            UpdateAction.REFUSE_COMMAND if given is UpdateInput.COMMAND else UpdateAction.IGNORE
        )
        assert row.action is expected


def test_update_polls_only_when_idle_and_commands_run_in_every_other_state() -> None:
    polling = {
        s for s in UpdateState if UPDATE_TABLE[s, UpdateInput.POLL_DUE].action is UpdateAction.POLL
    }
    assert polling == {UpdateState.IDLE}
    for state in (UpdateState.IDLE, UpdateState.FETCHING, UpdateState.RUNNING):
        assert UPDATE_TABLE[state, UpdateInput.COMMAND].action is UpdateAction.RUN_COMMAND
        assert (
            UPDATE_TABLE[state, UpdateInput.COMMAND_ANSWER].action is UpdateAction.CONTINUE_COMMAND
        )


@pytest.mark.parametrize(
    ("doc", "rendered"),
    [
        ("firmware/README.md", render_table(DHCP_TABLE, DhcpAction.IGNORE)),
        ("docs/update-server.md", render_table(UPDATE_TABLE, UpdateAction.IGNORE)),
    ],
)
def test_the_docs_show_the_tables(doc: str, rendered: str) -> None:
    assert rendered in (ROOT / doc).read_text(encoding="utf-8"), (
        f"{doc} does not show the table as the code has it; it should read:\n{rendered}"
    )
