"""A state machine as a table: ``(state, input) -> Transition(action, next)``.

The firmware's state machines (the DHCP client, :mod:`~ipgwsim.firmware.dhcptable`; the
update client, :mod:`~ipgwsim.firmware.updatetable`; CONF's registration and calls,
:mod:`~ipgwsim.firmware.conftables`) are tables of enums: :func:`build_table` makes one
total from the rows that act, and :func:`render_table` shows it for people as
firmware/README.md and docs/update-server.md do (tests compare them). Each machine maps
its actions to methods in a dict of its own, checked complete.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import product
from typing import Generic, TypeVar

__all__ = ["DECIDES", "Transition", "build_table", "render_table"]

S = TypeVar("S", bound=enum.Enum)
I = TypeVar("I", bound=enum.Enum)  # noqa: E741
A = TypeVar("A", bound=enum.Enum)


@dataclass(frozen=True)
class Transition(Generic[A, S]):
    action: A
    #: The state afterwards; ``None`` when the action decides.
    next: S | None


def build_table(
    rows: Mapping[S, Mapping[I, Transition[A, S]]],
    states: type[S],
    inputs: type[I],
    ignore: A,
) -> dict[tuple[S, I], Transition[A, S]]:
    """Every pair of ``states`` and ``inputs``: the rows given, and ``ignore`` keeping the
    state for the others."""
    table: dict[tuple[S, I], Transition[A, S]] = {}
    for state, given in product(states, inputs):
        row = rows.get(state, {}).get(given)
        table[state, given] = row if row is not None else Transition(ignore, state)
    return table


#: How a row whose action decides the next state is shown.
DECIDES = "(the action decides)"


def render_table(table: Mapping[tuple[S, I], Transition[A, S]], ignore: A) -> str:
    """The rows of ``table`` that do something, as a Markdown table (firmware/README.md)."""
    lines = ["| state | input | action | next state |\n", "|---|---|---|---|\n"]
    for (state, given), row in table.items():
        if row.action is ignore:
            continue
        after = DECIDES if row.next is None else row.next.name
        lines.append(f"| {state.name} | {given.name} | {row.action.value} | {after} |\n")
    return "".join(lines)
