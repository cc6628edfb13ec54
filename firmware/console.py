"""The firmware's console: a login, then the command line (sans-I/O).

:class:`ConsoleSession` takes what a user types on the device's serial console, in chunks of
any size, and returns what the console prints back: the echo of typed characters (never of
the password), the prompts and the output of the commands, all with CRLF line ends.

- ``login: `` → ``password: `` (not echoed) → the password check (:meth:`Firmware.password_check`,
  if :attr:`Firmware.logins` lets it be made). On success the banner ``<model> firmware
  <build>`` and the prompt ``<name>> `` (``CMD0 /name`` of the active config, else the model);
  on failure ``login incorrect`` and ``login: `` again.
- DECISION (:mod:`ipgwsim.firmware.logins`): every console session's logins count together
  (source :data:`~ipgwsim.firmware.logins.CONSOLE`, the device's one serial line). From the
  third failure in a row a second line says how many there were and how long the console
  waits before it checks a password again (``3 failed logins in a row: wait 1 s``; then 2, 4,
  ... at most 60 s of device time). A password typed within the wait is not checked and does
  not count: ``login refused: 3 failed logins in a row from the console; wait 1 s`` and
  ``login: `` again. A successful login resets the count. The device's budget of checks
  (at most 8 at once, then 4 a second, with HTTP's) refuses in the same way
  (``login refused: too many password checks on this device ...``).
- The check is made in the caller's thread (the runtime's event loop): the wait bounds it to
  three checks, then one per wait, for all sessions of a device together; and the console is
  only reachable by the user who runs the runtime.
- In the command state every line goes to :meth:`Firmware.execute` and its output is
  printed; ``logout`` or ``exit`` go back to ``login: ``; an empty line prints the prompt.
  DECISION: ``help`` and ``?`` print :data:`HELP`, the commands the console knows with one
  line each (:func:`help_text`); anything after the word is ignored.
- CR, LF or CRLF end a line (a CRLF counts once, even split across two chunks).
  Backspace and DEL remove the last character; printable ASCII and tab are data; ESC
  sequences (arrow keys) and every other control character are ignored, and so are bytes
  beyond ASCII (the command language is ASCII). A line keeps at most :data:`MAX_LINE`
  characters; more are ignored (and not echoed).
- A :class:`~ipgwsim.flash.PowerLost` raised by a command goes up to the caller (the device
  is off then); what the chunk printed before it is in :meth:`ConsoleSession.flush`.
- After a command that restarts the device (``reset``), the rest of the chunk is dropped:
  the firmware it was typed to is gone.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from ipgwsim.firmware.logins import CONSOLE, PasswordCheck, Refused, delay

if TYPE_CHECKING:
    from ipgwsim.firmware.running import Firmware

__all__ = [
    "HELP",
    "LOGIN_PROMPT",
    "MAX_LINE",
    "PASSWORD_PROMPT",
    "ConsoleSession",
    "SessionState",
    "help_text",
]

LOGIN_PROMPT = "login: "
PASSWORD_PROMPT = "password: "
#: Characters a line keeps; typed characters beyond are ignored.
MAX_LINE = 4096
#: Words that end the command session.
LOGOUT_WORDS = frozenset({"logout", "exit"})
#: Words that print :data:`HELP`.
HELP_WORDS = frozenset({"help", "?"})

#: What ``help`` and ``?`` list: each command the console knows, and what it does.
HELP: tuple[tuple[str, str], ...] = (
    ("config change|add|rem MODULE /PARAM VALUE ...", "edit the config (config show: the edits)"),
    ("config show", "the edited config"),
    ("config write", "store the edited config in the flash as a new generation"),
    ("config activate", "run the edited config (a /user goes into the crypted var)"),
    ("config reset", "discard the edits"),
    ("vars create NAME FLAGS [HEX]", "set a var (flags p b c)"),
    ("vars read NAME", "show a var"),
    ("vars del NAME", "delete a var"),
    ("mod cmd FLASHMAN0 info state", "size, used and free bytes of each flash region"),
    ("mod cmd FLASHMAN0 reset ldap", "clear the flash directory"),
    ("mod cmd FLASHDIR0 add-item KEY VALUE", "store an item in the flash directory"),
    ("mod cmd FLASHDIR0 list", "the items of the flash directory"),
    ("mod cmd UP1 check|times|provision ...", "the update client's script commands"),
    ("mod cmd UP0 prot|boot|cfg|scfg URL ...", "load firmware, boot code or config, save it"),
    ("reset", "restart now"),
    ("ireset", "restart when no call is up"),
    ("resetn", "restart now if a change needs it"),
    ("iresetn", "restart when no call is up if a change needs it"),
    ("ser", "nothing (the update scripts' final command)"),
    ("help, ?", "this list"),
    ("logout, exit", "log out"),
)

_CR, _LF, _BS, _DEL, _ESC, _TAB = 0x0D, 0x0A, 0x08, 0x7F, 0x1B, 0x09


class SessionState(enum.Enum):
    """What a typed line means next."""

    LOGIN = "login"
    PASSWORD = "password"
    COMMAND = "command"


class _Escape(enum.Enum):
    NONE = 0
    ESC = 1  # after ESC
    SEQUENCE = 2  # after ESC [ or ESC O, until the final byte


class ConsoleSession:
    """One console session on a running ``firmware`` (see the module docstring)."""

    def __init__(self, firmware: Firmware) -> None:
        self.firmware = firmware
        self.state = SessionState.LOGIN
        #: The user who logged in (in the command state) or is typing the password.
        self.user: str | None = None
        self._now = firmware.now
        self._line: list[str] = []
        self._after_cr = False
        self._escape = _Escape.NONE
        self._out: list[str] = []

    @property
    def failures(self) -> int:
        """Failed logins in a row on the console (all its sessions)."""
        return self.firmware.logins.failures(CONSOLE)

    # -- what the console prints -------------------------------------------------------------

    @property
    def prompt(self) -> str:
        """The prompt of the current state (``<name>> `` in the command state)."""
        if self.state is SessionState.LOGIN:
            return LOGIN_PROMPT
        if self.state is SessionState.PASSWORD:
            return PASSWORD_PROMPT
        name = self.firmware.active.get("CMD0", "name")
        return f"{name or self.firmware.profile.model}> "

    def start(self) -> bytes:
        """What the console prints when the session starts: the login prompt."""
        return LOGIN_PROMPT.encode("ascii")

    def flush(self) -> bytes:
        """What was printed and not yet returned (after :meth:`feed` raised)."""
        text, self._out = "".join(self._out), []
        return text.encode("utf-8", "replace")

    def _print(self, text: str) -> None:
        self._out.append(text)

    # -- what the user types -------------------------------------------------------------------

    def feed(self, data: bytes, now: float | None = None) -> bytes:
        """Take typed bytes at device time ``now`` (None: the firmware's last input);
        return what the console prints back (module docstring)."""
        self._now = max(self.firmware.now, now if now is not None else self._now)
        for byte in data:
            if self.firmware.reset_pending:
                break  # the device restarts: what was typed after the reset goes nowhere
            self._byte(byte)
        return self.flush()

    def _byte(self, byte: int) -> None:
        after_cr, self._after_cr = self._after_cr, False
        if self._escape is not _Escape.NONE:
            self._escape_byte(byte)
        elif byte == _CR:
            self._after_cr = True
            self._end_line()
        elif byte == _LF:
            if not after_cr:
                self._end_line()
        elif byte in (_BS, _DEL):
            if self._line:
                self._line.pop()
                if self.state is not SessionState.PASSWORD:
                    self._print("\b \b")
        elif byte == _ESC:
            self._escape = _Escape.ESC
        elif (0x20 <= byte < 0x7F or byte == _TAB) and len(self._line) < MAX_LINE:
            char = chr(byte)
            self._line.append(char)
            if self.state is not SessionState.PASSWORD:
                self._print(char)
        # Any other control character, a byte beyond ASCII or a line too long: ignored.

    def _escape_byte(self, byte: int) -> None:
        if self._escape is _Escape.ESC:
            self._escape = _Escape.SEQUENCE if byte in b"[O" else _Escape.NONE
        elif 0x40 <= byte <= 0x7E or not 0x20 <= byte < 0x7F:
            self._escape = _Escape.NONE  # the final byte (or garbage) ends the sequence

    def _end_line(self) -> None:
        line, self._line = "".join(self._line), []
        self._print("\r\n")
        if self.state is SessionState.LOGIN:
            self._login(line.strip())
        elif self.state is SessionState.PASSWORD:
            self._password(line)
        else:
            self._command(line)

    def _login(self, user: str) -> None:
        if user:
            self.user = user
            self.state = SessionState.PASSWORD
        self._print(self.prompt)

    def _password(self, password: str) -> None:
        assert self.user is not None
        firmware = self.firmware
        check = firmware.password_check(self.user, password)
        admitted = firmware.logins.begin(CONSOLE, check, self._now)
        self.user = None
        self.state = SessionState.LOGIN
        if isinstance(admitted, Refused):
            self._print(f"login refused: {admitted.reason}; wait {admitted.seconds} s\r\n")
        elif admitted or self._verified(check):
            self.user = check.user
            self.state = SessionState.COMMAND
            self._print(f"{firmware.profile.model} firmware {firmware.build}\r\n")
        else:
            self._print("login incorrect\r\n")
            failures = self.failures
            if wait := delay(failures):
                self._print(f"{failures} failed logins in a row: wait {wait:g} s\r\n")
        self._print(self.prompt)

    def _verified(self, check: PasswordCheck) -> bool:
        ok = check.verify()
        self.firmware.logins.end(CONSOLE, check, ok)
        return ok

    def _command(self, line: str) -> None:
        command = line.strip()
        words = command.split()
        if command in LOGOUT_WORDS:
            self.user = None
            self.state = SessionState.LOGIN
        elif words and words[0] in HELP_WORDS:
            self._print(help_text())
        elif command:
            # PowerLost goes up: the device is off, the prompt never comes.
            output = self.firmware.execute(line)
            if output and not output.endswith("\n"):
                output += "\r\n"
            self._print(output)
            if self.firmware.reset_pending:
                return  # the device restarts: no prompt from this firmware
        self._print(self.prompt)


def help_text() -> str:
    """What ``help`` and ``?`` print: :data:`HELP` in two columns, CRLF lines."""
    width = max(len(command) for command, _ in HELP)
    return "".join(f"{command.ljust(width)}  {what}\r\n" for command, what in HELP)
