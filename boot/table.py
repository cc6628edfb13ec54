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


@dataclass(frozen=True)
class Transition:
    #: Name of the :class:`~ipgwsim.boot.bootcode.BootCode` method that acts.
    action: str
    #: The mode afterwards; ``None`` when the action decides.
    next: Mode | None


def _t(action: str, next_mode: Mode | None) -> Transition:
    return Transition(action, next_mode)


_IGNORE = "ignore"
_BUTTON_ROWS = {
    Input.PRESS: _t("hold", None),
    Input.RELEASE_SHORT: _t("button_restart", None),
    Input.RELEASE_MEDIUM: _t("enter_tftp_mode", None),
    Input.RELEASE_LONG: _t("clear_config", None),
}
_OFF_ROWS = {
    Input.POWER_OFF: _t("power_off", Mode.OFF),
    Input.POWER_LOST: _t("power_off", Mode.OFF),
}

_ROWS: dict[Mode, dict[Input, Transition]] = {
    Mode.OFF: {
        Input.POWER_ON: _t("power_on", None),
    },
    Mode.FIRMWARE: {
        **_BUTTON_ROWS,
        **_OFF_ROWS,
        Input.FIRMWARE_RESET: _t("firmware_restart", None),
    },
    Mode.TFTP_MODE: {
        **_BUTTON_ROWS,
        **_OFF_ROWS,
        Input.GO: _t("start_firmware", Mode.FIRMWARE),
        Input.RESET: _t("restart", None),
        Input.IMAGE_ACCEPTED: _t("program", Mode.PROGRAMMING),
    },
    # While it programs or clears, the boot code does not look at the button
    # (project decision, boot/README.md): an interrupted write is what power cuts are for.
    Mode.PROGRAMMING: {
        **_OFF_ROWS,
        Input.WORK_DONE: _t("programmed", Mode.TFTP_MODE),
    },
    Mode.CLEARING: {
        **_OFF_ROWS,
        Input.WORK_DONE: _t("cleared", Mode.TFTP_MODE),
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
