"""How events are shown: one JSON form and one line for people, for every tool.

:func:`event_fields` is an event's JSON form (``{"event": "led", "led": "steady
orange"}``); the control socket sends it. :func:`describe_fields` turns such fields
into the line a person reads (``LED: steady orange``), so the runtime's console
(``run``), ``watch`` and ``press`` on the far side of the control socket, and the
``demo`` all word an event the same way; :func:`describe` does both steps. The words
are templates (:data:`LINES`); the demo tells its story with words of its own
(:data:`DEMO_LINES`), through the same code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ipgwsim.events import ButtonBlink, Event, LedChanged, ModeChanged, PoweredOff

#: The line for each kind of event (by its JSON ``event`` field); the fields fill it.
LINES: Mapping[str, str] = {
    "led": "LED: {led}",
    "mode": "mode: {mode} ({reason})",
    "blink": "blink {count}",
    "power": "power off: {cause}",
}

#: The demo's words for the same events (it says nothing of power).
DEMO_LINES: Mapping[str, str] = {
    "led": "ready LED: {led}",
    "mode": "device: {mode} ({reason})",
    "blink": "ready LED: blink {count}",
}


def event_fields(event: Event) -> dict[str, Any]:
    """An event as JSON fields: ``event`` (its kind) and what it says."""
    if isinstance(event, LedChanged):
        return {"event": "led", "led": event.led.value}
    if isinstance(event, ModeChanged):
        return {"event": "mode", "mode": event.mode.value, "reason": event.reason}
    if isinstance(event, ButtonBlink):
        return {"event": "blink", "count": event.count}
    if isinstance(event, PoweredOff):
        return {"event": "power", "on": False, "cause": event.cause}
    return {"event": type(event).__name__}


def describe_fields(fields: Mapping[str, Any], lines: Mapping[str, str] = LINES) -> str | None:
    """The line for an event's JSON fields (None: ``lines`` has none for its kind)."""
    template = lines.get(str(fields.get("event")))
    return None if template is None else template.format_map(fields)


def describe(event: Event, lines: Mapping[str, str] = LINES) -> str | None:
    """The line for an event (None: ``lines`` has none for its kind)."""
    return describe_fields(event_fields(event), lines)
