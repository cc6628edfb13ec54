"""The update client's state machine as a table: ``(state, input) -> transition``.

The client polls a script, runs it line by line and waits for the downloads and uploads
its lines ask for; typed ``mod cmd UP0|UP1`` lines run beside that in any state. A final
command that restarts the device ends it all. The table is total: every pair of
:class:`UpdateState` and :class:`UpdateInput` has a row, those not named here keep the
state and do nothing (``IGNORE``). ``next`` is ``None`` where the action decides (a
script that waits for a fetch, ends, or restarts the device). The client
(:mod:`ipgwsim.firmware.update`) runs the action each row names (``update.ACTIONS``,
checked complete).
"""

from __future__ import annotations

import enum

from ipgwsim.firmware.statetable import Transition, build_table

__all__ = ["TABLE", "UpdateAction", "UpdateInput", "UpdateState", "UpdateTransition"]


class UpdateState(enum.Enum):
    #: Waiting for the next poll (or for ``UP1 /url``).
    IDLE = "idle"
    #: The script is being fetched.
    FETCHING = "fetching"
    #: A script runs: it waits for a download or upload one of its lines asked for.
    RUNNING = "running"
    #: A final command restarted the device: nothing more happens.
    ENDED = "ended"


class UpdateInput(enum.Enum):
    #: The timer at the next poll.
    POLL_DUE = "poll due"
    #: The answer to the script's fetch (or its timeout).
    SCRIPT_ANSWER = "script answer"
    #: The answer to a fetch of a script's line (or its timeout).
    LINE_ANSWER = "line answer"
    #: A typed ``mod cmd UP0|UP1`` line.
    COMMAND = "command"
    #: The answer to a fetch of a typed command (or its timeout).
    COMMAND_ANSWER = "command answer"


class UpdateAction(enum.Enum):
    """What the client does on a transition: each is one method of
    :class:`~ipgwsim.firmware.update.UpdateClient` (``update.ACTIONS``)."""

    POLL = "fetch the script"
    RUN_SCRIPT = "run the script from its first line"
    CONTINUE_SCRIPT = "finish the line, run on"
    RUN_COMMAND = "run the command"
    CONTINUE_COMMAND = "finish the command"
    REFUSE_COMMAND = "refuse: the device restarts"
    IGNORE = "ignore"


#: A row of the table: the action, and the state afterwards (``None``: the action decides).
UpdateTransition = Transition[UpdateAction, UpdateState]


def _t(action: UpdateAction, state: UpdateState | None) -> UpdateTransition:
    return Transition(action, state)


_S = UpdateState
_I = UpdateInput
_A = UpdateAction

#: Typed commands run in every state but the end; one may restart the device.
_COMMANDS = {
    _I.COMMAND: _t(_A.RUN_COMMAND, None),
    _I.COMMAND_ANSWER: _t(_A.CONTINUE_COMMAND, None),
}

_ROWS: dict[UpdateState, dict[UpdateInput, UpdateTransition]] = {
    _S.IDLE: {
        _I.POLL_DUE: _t(_A.POLL, _S.FETCHING),
        **_COMMANDS,
    },
    _S.FETCHING: {
        _I.SCRIPT_ANSWER: _t(_A.RUN_SCRIPT, None),
        **_COMMANDS,
    },
    _S.RUNNING: {
        _I.LINE_ANSWER: _t(_A.CONTINUE_SCRIPT, None),
        **_COMMANDS,
    },
    _S.ENDED: {
        _I.COMMAND: _t(_A.REFUSE_COMMAND, _S.ENDED),
    },
}


#: Every (state, input) pair; pairs not named above keep the state and do nothing.
TABLE: dict[tuple[UpdateState, UpdateInput], UpdateTransition] = build_table(
    _ROWS, UpdateState, UpdateInput, _A.IGNORE
)
