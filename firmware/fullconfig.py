"""The full configuration: ``/cfg.txt`` and ``mod cmd UP0 scfg`` save it, a load puts it back.

Text, CRLF lines, in this order (innovaphone's php-update-server: a full config holds, besides
``config change`` lines, ``vars create`` and ``mod cmd FLASHDIR0 add-item`` lines):

1. ``config change MODULE /p v ...``: the config as ``config show`` prints it, without
   ``CMD0 /user`` (a password goes out only as the crypted var);
2. ``vars create NAME FLAGS HEX``: every var, its flags as letters (``p``, ``pb``, ``pc``)
   and its stored bytes in hex (a crypted var as stored: the admin credentials record
   travels as it is, never as a password);
3. ``mod cmd FLASHDIR0 add-item KEY VALUE``: every flash directory item whose value is
   one line of printable ASCII without doubled, leading or trailing blanks (what
   ``add-item`` can store); any other item is left out and counted in a ``#`` comment.

:func:`load_full` takes such a text (a saved one, or a provisioning config of
``mod cmd UP0 cfg``): every line is checked before anything is written; then vars and
items are stored, and the config replaces the running one (written as the newest
generation and activated). A line that is not allowed refuses the whole load.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ipgwsim.firmware.commands import (
    CommandError,
    describe_error,
    parse_add_item,
    parse_vars_create,
)
from ipgwsim.firmware.config import Config, ConfigValueError
from ipgwsim.firmware.configlang import (
    ConfigActivate,
    ConfigChange,
    ConfigSyntaxError,
    ConfigWrite,
    ModCmd,
    VarsCommand,
    parse_text,
)
from ipgwsim.flash.credentials import AdminCredentials
from ipgwsim.flash.errors import NoSpace
from ipgwsim.flash.vars import VarFlags

if TYPE_CHECKING:
    from ipgwsim.firmware.running import Firmware

__all__ = ["UnreachableConfig", "load_full", "render_full"]


class UnreachableConfig(CommandError):
    """A load refused because the config has no ETH0 line: the device would start with no
    address, and so without its web server (nothing written)."""


def _item_line(key: str, data: bytes) -> str | None:
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return None
    words = text.split(" ")
    if not text or not text.isprintable() or "" in words or " " in key or not key.isprintable():
        return None
    return f"mod cmd FLASHDIR0 add-item {key} {text}"


def render_full(firmware: Firmware) -> str:
    """The full config of ``firmware`` (see the module docstring)."""
    shown = firmware.edited.copy()
    shown.take_user()  # a /user is never sent out in clear (the var carries it)
    lines = [line for line in shown.render().split("\r\n") if line]
    if firmware.vars is not None:
        for var in firmware.vars.all():
            letters = var.flags.letters() or "p"  # every var is in flash
            lines.append(f"vars create {var.name} {letters} {var.value.hex()}".rstrip())
    if firmware.partitions is not None:
        skipped = 0
        for key, data in firmware.flashdir().items():
            line = _item_line(key, data)
            if line is None:
                skipped += 1
            else:
                lines.append(line)
        if skipped:
            lines.append(f"# {skipped} flash directory items cannot be shown as add-item lines")
    return "".join(line + "\r\n" for line in lines)


def _check_before_writing(
    firmware: Firmware,
    config: Config,
    variables: list[tuple[str, VarFlags, bytes]],
    items: list[tuple[str, bytes]],
) -> None:
    """Everything that could refuse the load, before its first write (CommandError)."""
    shown = config.copy()
    pair = shown.take_user()
    if pair is not None:
        try:
            AdminCredentials.check_user(pair[0])
        except ValueError as exc:
            raise CommandError(f"CMD0 /user: {exc}") from None
    firmware.check_fits(shown)
    _, store = firmware.require_flash()
    try:
        store.log.check_fits({name.encode("ascii"): value for name, _, value in variables})
        if items:
            changes = {key.encode("utf-8"): data for key, data in items}
            firmware.flashdir().log.check_fits(changes)
    except (NoSpace, ValueError) as exc:
        raise CommandError(str(exc)) from None


def load_full(firmware: Firmware, text: str, *, require_eth0: bool = False) -> str:
    """Load a full config (see the module docstring); the text a user sees.

    Raises :class:`CommandError` (nothing written) for a line that is not understood or
    not allowed, with its line number. With ``require_eth0`` (the admin web server's
    upload), a config without any ETH0 line (an empty one too) raises
    :class:`UnreachableConfig`, nothing written.
    """
    try:
        lines = parse_text(text)
        config = Config.from_text(text)
    except ConfigSyntaxError as exc:
        raise CommandError(describe_error(exc)) from None
    except ConfigValueError as exc:
        raise CommandError(describe_error(exc)) from None
    _, store = firmware.require_flash()
    variables = []
    items = []
    for line in lines:
        command = line.command
        if isinstance(command, ConfigChange | ConfigWrite | ConfigActivate):
            continue
        if isinstance(command, VarsCommand) and command.verb == "create":
            try:
                variables.append(parse_vars_create(command))
            except CommandError as exc:
                raise CommandError(f"line {line.number}: {exc}") from None
            continue
        if (
            isinstance(command, ModCmd)
            and command.module == "FLASHDIR0"
            and command.args[:1] == ("add-item",)
        ):
            try:
                items.append(parse_add_item(command))
            except CommandError as exc:
                raise CommandError(f"line {line.number}: {exc}") from None
            continue
        raise CommandError(
            f"line {line.number}: {line.text.strip()}: not allowed in a config load "
            "(config change|add|rem, vars create and mod cmd FLASHDIR0 add-item are)"
        )
    _check_before_writing(firmware, config, variables, items)
    # Checked last: a config with errors gets those first.
    if require_eth0 and config.params("ETH0") is None:
        raise UnreachableConfig(
            "the config has no ETH0 line, so the device would start with no address and "
            "no web server; nothing loaded"
        )
    for name, flags, value in variables:
        store.set(name, value, flags)
    if variables:
        firmware.flash_changed(f"{len(variables)} vars stored")
    directory = firmware.flashdir() if items else None
    for key, data in items:
        assert directory is not None
        directory.add_item(key, data)
    if items:
        firmware.flash_changed(f"{len(items)} flash directory items stored")
    firmware.edited = config
    out = firmware.write_config()
    out += firmware.activate_config()
    return (
        f"config loaded: {len(config.modules)} modules, {len(variables)} vars, "
        f"{len(items)} flash directory items\r\n" + out
    )
