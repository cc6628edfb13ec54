"""One rendering of events: the JSON form the control socket sends and the line people
read, the same in ``run``'s console, ``watch``/``press`` and the ``demo``."""

from __future__ import annotations

import json
import typing

import pytest

from ipgwsim.events import (
    ButtonBlink,
    ConsoleOutput,
    Event,
    Led,
    LedChanged,
    Mode,
    ModeChanged,
    PoweredOff,
)
from ipgwsim.events.render import DEMO_LINES, LINES, describe, describe_fields, event_fields
from ipgwsim.runtime.control import event_json
from ipgwsim.tools.control_cmd import describe_event

SHOWN: list[tuple[Event, dict[str, object], str, str | None]] = [
    (
        LedChanged(Led.ORANGE),
        {"event": "led", "led": "steady orange"},
        "LED: steady orange",
        "ready LED: steady orange",
    ),
    (
        ModeChanged(Mode.TFTP_MODE, "reset button held 1.8 s"),
        {"event": "mode", "mode": "TFTP mode", "reason": "reset button held 1.8 s"},
        "mode: TFTP mode (reset button held 1.8 s)",
        "device: TFTP mode (reset button held 1.8 s)",
    ),
    (ButtonBlink(3), {"event": "blink", "count": 3}, "blink 3", "ready LED: blink 3"),
    (
        PoweredOff("switched off"),
        {"event": "power", "on": False, "cause": "switched off"},
        "power off: switched off",
        None,
    ),
]


@pytest.mark.parametrize(("event", "fields", "line", "demo"), SHOWN)
def test_each_shown_event_has_one_json_form_and_one_line(
    event: Event, fields: dict[str, object], line: str, demo: str | None
) -> None:
    assert event_fields(event) == fields
    assert describe(event) == line
    assert describe(event, DEMO_LINES) == demo
    # the far side of the control socket reads the same line from the JSON
    sent = json.loads(json.dumps(event_json("gw-1", event, 1.25)))
    assert sent == {"device": "gw-1", "time": 1.25, **fields}
    assert describe_fields(sent) == line
    assert describe_event(sent) == line


def test_other_events_are_named_but_get_no_line() -> None:
    event = ConsoleOutput("hello")
    assert event_fields(event) == {"event": "ConsoleOutput"}
    assert describe(event) is None
    assert describe_event(event_json("gw-1", event, 0.0)) == "ConsoleOutput"


def test_the_tables_cover_the_kinds_that_have_fields() -> None:
    kinds = {str(fields["event"]) for _, fields, _, _ in SHOWN}
    assert set(LINES) == kinds
    assert set(DEMO_LINES) <= kinds
    assert {type(e) for e, _, _, _ in SHOWN} <= set(typing.get_args(Event))
