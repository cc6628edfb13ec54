"""The firmware services' state tables: total, every action has its method, the docs show them.

The copies in the docs are compared with the tables here, so they cannot drift.
"""

from __future__ import annotations

from itertools import product
from pathlib import Path

import pytest

from ipgwsim.firmware import dhcp, update
from ipgwsim.firmware.dhcptable import TABLE as DHCP_TABLE
from ipgwsim.firmware.dhcptable import DhcpAction, DhcpInput, DhcpState
from ipgwsim.firmware.statetable import render_table
from ipgwsim.firmware.updatetable import TABLE as UPDATE_TABLE
from ipgwsim.firmware.updatetable import UpdateAction, UpdateInput, UpdateState

ROOT = Path(__file__).resolve().parents[2]


def test_dhcp_table_is_total_and_every_action_has_its_method() -> None:
    assert set(DHCP_TABLE) == set(product(DhcpState, DhcpInput))
    assert set(dhcp.ACTIONS) == set(DhcpAction)
    assert all(callable(method) for method in dhcp.ACTIONS.values())
    assert {t.action for t in DHCP_TABLE.values()} == set(DhcpAction)


def test_dhcp_ignored_pairs_keep_their_state() -> None:
    for (state, _given), transition in DHCP_TABLE.items():
        if transition.action is DhcpAction.IGNORE:
            assert transition.next is state


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


def test_update_table_is_total_and_every_action_has_its_method() -> None:
    assert set(UPDATE_TABLE) == set(product(UpdateState, UpdateInput))
    assert set(update.ACTIONS) == set(UpdateAction)
    assert all(callable(method) for method in update.ACTIONS.values())
    assert {t.action for t in UPDATE_TABLE.values()} == set(UpdateAction)


def test_update_ignored_pairs_keep_their_state() -> None:
    for (state, _given), transition in UPDATE_TABLE.items():
        if transition.action is UpdateAction.IGNORE:
            assert transition.next is state


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
