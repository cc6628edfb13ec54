"""Where the firmware's console is typed at: the pty, or one TCP connection.

A device's serial console is one line, the pty (owner-only, mode 0600): one
:class:`~ipgwsim.firmware.ConsoleSession` per firmware start, printed to the pty only,
which lasts until ``logout``, a restart or the firmware stopping, as on a real device,
where pulling the cable logs nobody out. DECISION: each TCP connection
(:mod:`ipgwsim.runtime.consoletcp`) is a terminal of its own: it gets its own session,
which starts at ``login: `` and ends with the connection. A session's echo, prompts and
command output go to its own terminal only; the device's time-stamped lines (boot code,
firmware, LED and mode changes) go to every terminal, as a real device's messages go to
whoever is attached.

:class:`Terminals` keeps them: the pty's first, then one per open connection. What a
terminal types goes to ``type_at(terminal, data)`` (the host feeds it to the session in
device time); what a session prints goes to the terminal's ``write``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ipgwsim.firmware import ConsoleSession

if TYPE_CHECKING:
    from ipgwsim.firmware.running import Firmware

__all__ = ["Terminal", "Terminals"]


class Terminal:
    """One place the console is typed at, with its own session (None: no firmware runs)."""

    def __init__(self, owner: Terminals, write: Callable[[bytes], None]) -> None:
        self._owner = owner
        #: Where this terminal's session prints (the pty, or one connection).
        self.write = write
        self.session: ConsoleSession | None = None
        #: The session's ``login: `` is still to be printed (after the firmware's start lines).
        self.greet = False
        self.closed = False

    def feed(self, data: bytes) -> None:
        """What was typed here: to this terminal's session, if one runs."""
        if not self.closed:
            self._owner.type_at(self, data)

    def close(self) -> None:
        """The connection ended: its session ends with it (a login never outlives it)."""
        if not self.closed:
            self.closed = True
            self.session = None
            self._owner.remove(self)

    def start(self, firmware: Firmware | None, *, greet: bool) -> None:
        """A new session on ``firmware`` (None: none); ``greet``: print ``login: `` later."""
        self.session = ConsoleSession(firmware) if firmware is not None else None
        self.greet = greet and self.session is not None


class Terminals:
    """The pty's terminal (:attr:`pty`) and one per open TCP connection."""

    def __init__(
        self,
        pty_write: Callable[[bytes], None],
        type_at: Callable[[Terminal, bytes], None],
    ) -> None:
        self.type_at = type_at
        #: The device's serial line.
        self.pty = Terminal(self, pty_write)
        self._all: list[Terminal] = [self.pty]

    def all(self) -> list[Terminal]:
        """Every terminal, the pty's first."""
        return list(self._all)

    def open(self, write: Callable[[bytes], None]) -> Terminal:
        """A new connection: its own session at ``login: `` (printed now) if firmware runs."""
        terminal = Terminal(self, write)
        running = self.pty.session
        terminal.start(running.firmware if running is not None else None, greet=False)
        if terminal.session is not None:
            write(terminal.session.start())
        self._all.append(terminal)
        return terminal

    def remove(self, terminal: Terminal) -> None:
        if terminal in self._all and terminal is not self.pty:
            self._all.remove(terminal)

    def follow(self, firmware: Firmware | None, *, started: bool) -> None:
        """A firmware started (every terminal gets a new session, greeted after its start
        lines) or the running one is gone (every session ends)."""
        for terminal in self._all:
            if started:
                terminal.start(firmware, greet=True)
            elif terminal.session is not None and terminal.session.firmware is not firmware:
                terminal.start(None, greet=False)

    def greet(self) -> None:
        """Print ``login: `` where a new session waits for it."""
        for terminal in list(self._all):
            if terminal.greet and terminal.session is not None:
                terminal.greet = False
                terminal.write(terminal.session.start())
