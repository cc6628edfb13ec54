"""The boot code's state machine as a table: ``(mode, input) -> transition``.

The table is total: every pair of :class:`~ipgwsim.events.Mode` and
:class:`Input` has a row, so nothing a device can be asked ends in a crash or an
undefined state. ``next`` is ``None`` where the action decides (power-on: the
firmware check picks running firmware, TFTP mode or a dead device).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from itertools import product

from ipgwsim.events import Mode


class Input(Enum):
    POWER_ON = "power on"
    POWER_OFF = "power off"
    #: A flash operation was hit by a power cut (the fault injector).
    POWER_LOST = "power lost"
    PRESS = "reset button pressed"
    RELEASE_SHORT = "reset button released: short"
    RELEASE_MEDIUM = "reset button released: medium"
    RELEASE_LONG = "reset button released: long"
    #: gwload GO: leave TFTP mode and start the firmware.
    GO = "gwload GO"
    #: gwload RESET: restart, then decide as after power-on.
    RESET = "gwload RESET"
    #: An uploaded image passed every check and is to be programmed.
    IMAGE_ACCEPTED = "image accepted"
    #: Programming or clearing has taken its time.
    WORK_DONE = "work done"
    #: The firmware restarts the device (``reset``, ``ireset``, an update script's final command).
    FIRMWARE_RESET = "firmware reset"


class Action(Enum):
    """What the boot code does on a transition: each is one method of
    :class:`~ipgwsim.boot.bootcode.BootCode` (``BootCode.actions``, checked complete)."""

    BUTTON_RESTART = "button_restart"
    CLEAR_CONFIG = "clear_config"
    CLEARED = "cleared"
    ENTER_TFTP_MODE = "enter_tftp_mode"
    FIRMWARE_RESTART = "firmware_restart"
    HOLD = "hold"
    IGNORE = "ignore"
    POWER_OFF = "power_off"
    POWER_ON = "power_on"
    PROGRAM = "program"
    PROGRAMMED = "programmed"
    RESTART = "restart"
    START_FIRMWARE = "start_firmware"


@dataclass(frozen=True)
class Transition:
    #: What acts (a :class:`~ipgwsim.boot.bootcode.BootCode` method).
    action: Action
    #: The mode afterwards; ``None`` when the action decides.
    next: Mode | None


def _t(action: Action, next_mode: Mode | None) -> Transition:
    return Transition(action, next_mode)


_IGNORE = Action.IGNORE
_BUTTON_ROWS = {
    Input.PRESS: _t(Action.HOLD, None),
    Input.RELEASE_SHORT: _t(Action.BUTTON_RESTART, None),
    Input.RELEASE_MEDIUM: _t(Action.ENTER_TFTP_MODE, None),
    Input.RELEASE_LONG: _t(Action.CLEAR_CONFIG, None),
}
_OFF_ROWS = {
    Input.POWER_OFF: _t(Action.POWER_OFF, Mode.OFF),
    Input.POWER_LOST: _t(Action.POWER_OFF, Mode.OFF),
}

_ROWS: dict[Mode, dict[Input, Transition]] = {
    Mode.OFF: {
        Input.POWER_ON: _t(Action.POWER_ON, None),
    },
    Mode.FIRMWARE: {
        **_BUTTON_ROWS,
        **_OFF_ROWS,
        Input.FIRMWARE_RESET: _t(Action.FIRMWARE_RESTART, None),
    },
    Mode.TFTP_MODE: {
        **_BUTTON_ROWS,
        **_OFF_ROWS,
        Input.GO: _t(Action.START_FIRMWARE, Mode.FIRMWARE),
        Input.RESET: _t(Action.RESTART, None),
        Input.IMAGE_ACCEPTED: _t(Action.PROGRAM, Mode.PROGRAMMING),
    },
    # While it programs or clears, the boot code does not look at the button
    # (project decision, boot/README.md): an interrupted write is what power cuts are for.
    Mode.PROGRAMMING: {
        **_OFF_ROWS,
        Input.WORK_DONE: _t(Action.PROGRAMMED, Mode.TFTP_MODE),
    },
    Mode.CLEARING: {
        **_OFF_ROWS,
        Input.WORK_DONE: _t(Action.CLEARED, Mode.TFTP_MODE),
    },
    Mode.DEAD: {
        **_OFF_ROWS,
    },
}


def _build() -> dict[tuple[Mode, Input], Transition]:
    table: dict[tuple[Mode, Input], Transition] = {}
    for mode, event in product(Mode, Input):
        row = _ROWS[mode].get(event)
        table[mode, event] = row if row is not None else _t(_IGNORE, mode)
    return table


#: Every (mode, input) pair; pairs not named above keep the mode and do nothing.
TABLE: dict[tuple[Mode, Input], Transition] = _build()
