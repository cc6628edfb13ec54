"""Command execution of the running firmware: one line as the console or ``/!cmd`` runs it.

:func:`execute` returns the text a user sees, CRLF lines; a refused command is one line
``error: ...`` and changes nothing. Commands that change something and have nothing to
report return an empty text. See ``firmware/README.md`` (Running firmware) for every
command and its output.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ipgwsim.firmware.config import Config, ConfigValueError
from ipgwsim.firmware.configlang import (
    Command,
    ConfigActivate,
    ConfigChange,
    ConfigReset,
    ConfigShow,
    ConfigSyntaxError,
    ConfigWrite,
    ModCmd,
    VarsCommand,
    parse_line,
)
from ipgwsim.flash.credentials import AUTH_VAR, AdminCredentials, CredentialsError
from ipgwsim.flash.errors import FlashError, PowerLost
from ipgwsim.flash.kvlog import MAX_KEY as MAX_VAR_NAME
from ipgwsim.flash.ring import ConfigTextError
from ipgwsim.flash.vars import VarFlags

if TYPE_CHECKING:
    from ipgwsim.firmware.running import Firmware

__all__ = [
    "FINAL_COMMANDS",
    "IDLE_RESET_OUTPUT",
    "RESET_OUTPUT",
    "SECRET_PARAMS",
    "UPDATE_MODULES",
    "CommandError",
    "check_command",
    "describe_error",
    "execute",
    "mask_secrets",
    "parse_vars_create",
    "run_final_command",
]

#: Parameters whose values are passwords: never shown in an error or on the console.
SECRET_PARAMS = frozenset({("CMD0", "user"), ("CONF", "pwd")})
_SECRET_IN_LINE = re.compile(r"(/(?:user|pwd)[ \t]+)(?!/)\S+")
_COMMAND_WORDS = ("config", "mod", "vars")
#: The final commands of update scripts (innovaphone IP DECT manual pp.111-112), also typed
#: as commands: ``reset`` now, ``ireset`` when idle (no CONF call up), ``resetn``/``iresetn``
#: only if a change needs it, ``ser`` nothing.
FINAL_COMMANDS = ("reset", "ireset", "resetn", "iresetn", "ser")
#: What :func:`run_final_command` says when it restarts the device.
RESET_OUTPUT = "reset\r\n"
#: What ``ireset`` says while a call is up: the restart follows when the last one ends.
IDLE_RESET_OUTPUT = "reset when idle\r\n"
#: The update-server modules: ``mod cmd UP0|UP1 ...`` go to ``Firmware.update``
#: (:mod:`ipgwsim.firmware.update`).
UPDATE_MODULES = ("UP0", "UP1")


class CommandError(Exception):
    """A command refused; ``str()`` is what follows ``error: ``."""


def mask_secrets(text: str) -> str:
    """``text`` with the value after every ``/user`` and ``/pwd`` replaced by ``***``."""
    return _SECRET_IN_LINE.sub(r"\1***", text)


def describe_error(exc: ConfigSyntaxError | ConfigValueError, *, echo: bool = True) -> str:
    """``line N: ...`` for a user, with no password in it.

    ``echo=False`` leaves the line's text out of a syntax error (the console at start).
    """
    if isinstance(exc, ConfigSyntaxError):
        if not echo:
            return f"line {exc.line_number}: {exc.reason}"
        return f"line {exc.line_number}: {mask_secrets(exc.line_text)}: {exc.reason}"
    prefix = "" if exc.line is None else f"line {exc.line}: "
    value = "" if exc.value is None else f" {exc.value}"
    if (exc.module, exc.param) in SECRET_PARAMS:
        value = " ***"
    return f"{prefix}{exc.module} /{exc.param}{value}: {exc.reason}"


def run_final_command(firmware: Firmware, word: str, reason: str) -> str:
    """Act on a final command; the text a user sees. ``ireset``/``iresetn`` wait until no
    call is up (``reset when idle``); ``reset``/``resetn`` restart at once."""
    if word == "ser":
        return ""
    when_idle = word.startswith("i")
    if not firmware.request_reset(
        f"{word} ({reason})", only_if_required=word.endswith("n"), when_idle=when_idle
    ):
        return "no reset required\r\n"
    return RESET_OUTPUT if firmware.reset_pending else IDLE_RESET_OUTPUT


def execute(firmware: Firmware, line: str) -> str:
    """Run one command line on ``firmware``; :class:`~ipgwsim.flash.PowerLost` goes up.

    Once a reset is requested nothing more runs: the device is restarting.
    """
    if firmware.reset_pending:
        return "error: the device is restarting\r\n"
    word = line.strip()
    if word in FINAL_COMMANDS:
        return run_final_command(firmware, word, "command")
    try:
        command = parse_line(line, 1)
    except ConfigSyntaxError as exc:
        words = exc.line_text.split()
        if words and words[0] not in _COMMAND_WORDS:
            return f"error: unknown command: {mask_secrets(exc.line_text)}\r\n"
        return f"error: {describe_error(exc)}\r\n"
    if command is None:
        return ""
    try:
        return _run(firmware, command)
    except PowerLost:
        raise
    except CommandError as exc:
        return f"error: {exc}\r\n"
    except (FlashError, ConfigTextError, ValueError) as exc:
        # A limit of the flash stores (a key too long, no space): refused, said why.
        return f"error: {exc}\r\n"


def _run(firmware: Firmware, command: Command) -> str:
    if isinstance(command, ConfigChange):
        try:
            firmware.edited.apply(command)  # atomic: a bad value changes nothing
        except ConfigValueError as exc:
            raise CommandError(describe_error(exc.at_line(1))) from None
        return ""
    if isinstance(command, ConfigShow):
        return firmware.edited.render()
    if isinstance(command, ConfigWrite):
        return firmware.write_config()
    if isinstance(command, ConfigActivate):
        return firmware.activate_config()
    if isinstance(command, ConfigReset):
        firmware.edited = firmware.active.copy()
        return ""
    if isinstance(command, VarsCommand):
        return _vars(firmware, command)
    return _mod_cmd(firmware, command)


def _unknown(command: Command) -> CommandError:
    return CommandError(f"unknown command: {mask_secrets(command.render())}")


# -- vars ------------------------------------------------------------------------------------


def parse_vars_create(command: VarsCommand) -> tuple[str, VarFlags, bytes]:
    """``vars create NAME FLAGS [HEX]`` checked: ``(name, flags, value)`` or CommandError."""
    args = command.args
    if len(args) not in (2, 3):
        raise CommandError("usage: vars create NAME FLAGS HEX")
    name, letters = args[0], args[1]
    try:
        flags = VarFlags.from_letters(letters) | VarFlags.PERSISTENT
        value = bytes.fromhex(args[2]) if len(args) == 3 else b""
    except ValueError as exc:
        raise CommandError(f"vars create {name}: {exc}") from None
    if not name.isascii() or not 0 < len(name) <= MAX_VAR_NAME:
        raise CommandError(f"vars create: a var name is 1 to {MAX_VAR_NAME} ASCII characters")
    if name == AUTH_VAR:
        _check_auth(flags, value)
    return name, flags, value


def _vars(firmware: Firmware, command: VarsCommand) -> str:
    _, store = firmware.require_flash()
    args = command.args
    if command.verb == "create":
        name, flags, value = parse_vars_create(command)
        try:
            store.set(name, value, flags)
        except ValueError as exc:
            raise CommandError(f"vars create: {exc}") from None
        firmware.flash_changed(f"var {name} stored")
        return ""
    if len(args) != 1:
        raise CommandError(f"usage: vars {command.verb} NAME")
    name = args[0]
    if command.verb == "del":
        if not store.delete(name):
            raise CommandError(f"no var {name}")
        firmware.flash_changed(f"var {name} deleted")
        return ""
    var = store.get(name)
    if var is None:
        raise CommandError(f"no var {name}")
    shown = "(crypted)" if VarFlags.CRYPTED in var.flags else var.value.hex()
    return f"{name} {var.flags.letters()} {shown}".rstrip() + "\r\n"


def _check_auth(flags: VarFlags, value: bytes) -> None:
    """Only a readable, crypted credentials record goes into ``CMD0/AUTH``."""
    if VarFlags.CRYPTED not in flags:
        raise CommandError(f"vars create {AUTH_VAR}: the admin credentials are crypted (flag c)")
    try:
        AdminCredentials.decode(value)
    except CredentialsError as exc:
        raise CommandError(f"vars create {AUTH_VAR}: {exc}") from None


# -- mod cmd -----------------------------------------------------------------------------------


def check_command(command: Command) -> None:
    """Raise :class:`CommandError` unless the firmware knows ``command`` and its arguments.

    What can be checked without running it (an update script is checked as a whole before
    any line runs): config values, ``vars`` arguments, known ``mod cmd`` forms. The update
    modules' own commands (``UP0``, ``UP1``) are checked by
    :func:`ipgwsim.firmware.updatescript.parse_update_command`, not here.
    """
    if isinstance(command, ConfigChange):
        try:
            Config().apply(command)  # checks the values of change and add
        except ConfigValueError as exc:
            raise CommandError(describe_error(exc)) from None
    elif isinstance(command, VarsCommand):
        if command.verb == "create":
            parse_vars_create(command)
        elif len(command.args) != 1:
            raise CommandError(f"usage: vars {command.verb} NAME")
    elif isinstance(command, ModCmd):
        if command.module in UPDATE_MODULES:
            raise CommandError(f"{command.module} commands are the update client's")
        _check_mod_cmd(command)


def _check_mod_cmd(command: ModCmd) -> None:
    args = command.args
    if command.module == "FLASHMAN0" and args in (("info", "state"), ("reset", "ldap")):
        return
    if command.module == "FLASHDIR0":
        if args == ("list",):
            return
        if args[:1] == ("add-item",):
            parse_add_item(command)
            return
    raise _unknown(command)


def parse_add_item(command: ModCmd) -> tuple[str, bytes]:
    """``mod cmd FLASHDIR0 add-item KEY VALUE...`` checked: ``(key, value)`` or CommandError."""
    args = command.args
    if len(args) < 3:
        raise CommandError("usage: mod cmd FLASHDIR0 add-item KEY VALUE")
    key, value = args[1], " ".join(args[2:]).encode("utf-8")
    if len(key.encode("utf-8")) > MAX_VAR_NAME:
        raise CommandError(f"add-item: a key has at most {MAX_VAR_NAME} bytes")
    return key, value


def _mod_cmd(firmware: Firmware, command: ModCmd) -> str:
    args = command.args
    if command.module in UPDATE_MODULES:
        return firmware.update.command(command.module, args)
    _check_mod_cmd(command)
    if command.module == "FLASHMAN0":
        if args == ("info", "state"):
            return _info_state(firmware)
        firmware.flashdir().reset()  # reset ldap
        firmware.flash_changed("flash directory cleared")
        return ""
    if args == ("list",):  # FLASHDIR0
        items = firmware.flashdir().items()
        return "".join(
            f"{key} {data.decode('utf-8', 'backslashreplace')}\r\n" for key, data in items
        )
    key, value = parse_add_item(command)
    firmware.flashdir().add_item(key, value)
    firmware.flash_changed(f"flash directory item {key} stored")
    return ""


def _info_state(firmware: Firmware) -> str:
    return "".join(firmware.flashman().info_state_lines())
