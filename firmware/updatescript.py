"""Update scripts, parsed (sans-I/O): what ``UP1`` fetches and the update client runs.

A script is text, CRLF or LF lines, ``#`` comment lines and blank lines skipped
(Reference9:Services/Update, the innovaphone IP DECT manual,
php-update-server). Every other line is one of:

- a command the firmware knows (``config ...``, ``vars ...``, ``mod cmd FLASHMAN0|FLASHDIR0
  ...``), run later through ``Firmware.execute``: :class:`Execute`;
- a final command on a line of its own (``reset``, ``ireset``, ``resetn``, ``iresetn``,
  ``ser``): :class:`Final`;
- an update command: ``mod cmd UP1 check|times|time|provision ...`` and ``mod cmd UP0
  prot|boot|cfg|scfg ...`` (:func:`parse_update_command`).

:func:`parse_script` checks the whole text first and raises :class:`ScriptError` for the
first line it cannot understand, so a caller runs all of a script or nothing of it.
The URLs a script names are expanded and completed here too (:func:`expand_url`,
:func:`with_file`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from ipgwsim.firmware.commands import (
    FINAL_COMMANDS,
    CommandError,
    check_command,
    mask_secrets,
)
from ipgwsim.firmware.config import URL_PLACEHOLDER, decode_url
from ipgwsim.firmware.configlang import ConfigSyntaxError, ModCmd, parse_line

__all__ = [
    "Check",
    "Execute",
    "Final",
    "Load",
    "Provision",
    "Save",
    "ScriptError",
    "ScriptLine",
    "Step",
    "Times",
    "expand_url",
    "parse_script",
    "parse_update_command",
    "script_name",
    "with_file",
    "with_query",
]

_BLANKS = " \t"


@dataclass(frozen=True)
class Execute:
    """A command line the firmware runs (``config write``, ``vars create ...``)."""

    text: str


@dataclass(frozen=True)
class Final:
    """A final command on a line of its own."""

    word: str


@dataclass(frozen=True)
class Check:
    """``mod cmd UP1 check FINAL SERIAL``: once per serial (var ``UPDATE/CHECK``)."""

    final: str
    serial: str


@dataclass(frozen=True)
class Times:
    """``mod cmd UP1 times [/allow h,h,...] [/initial N]`` (also written ``time``)."""

    #: The hours (0-23) a script may run in; None: every hour.
    allow: frozenset[int] | None = None
    #: Minutes after the start during which nothing runs; None: no such wait.
    initial: int | None = None


@dataclass(frozen=True)
class Provision:
    """``mod cmd UP1 provision N`` (innovaphone's update server): accepted, no effect."""

    value: int


@dataclass(frozen=True)
class Load:
    """``mod cmd UP0 prot|boot URL FINAL BUILD`` and ``mod cmd UP0 cfg URL [FINAL]``."""

    what: Literal["prot", "boot", "cfg"]
    url: str
    final: str
    #: The build serial of ``prot`` and ``boot``; None for ``cfg``.
    build: str | None = None


@dataclass(frozen=True)
class Save:
    """``mod cmd UP0 scfg URL [FINAL] [...]``: PUT the full config to ``URL``."""

    url: str
    final: str = "ser"
    #: The arguments after URL and FINAL (innovaphone's extended form): kept, not used.
    extra: tuple[str, ...] = ()


Step = Execute | Final | Check | Times | Provision | Load | Save


@dataclass(frozen=True)
class ScriptLine:
    """One line of a script that does something: its 1-based number, its text, its step."""

    number: int
    text: str
    step: Step


class ScriptError(ValueError):
    """A line of a script that is not understood; ``str()`` is ``line N: TEXT: REASON``."""

    def __init__(self, line_number: int, line_text: str, reason: str) -> None:
        super().__init__(f"line {line_number}: {mask_secrets(line_text)}: {reason}")
        self.line_number = line_number
        self.line_text = line_text
        self.reason = reason


def _final(word: str) -> str:
    if word not in FINAL_COMMANDS:
        raise CommandError(f"{word!r} is not a final command ({', '.join(FINAL_COMMANDS)})")
    return word


def _times(args: tuple[str, ...]) -> Times:
    allow: frozenset[int] | None = None
    initial: int | None = None
    rest = list(args)
    while rest:
        name = rest.pop(0)
        if name not in ("/allow", "/initial") or not rest:
            raise CommandError("usage: mod cmd UP1 times [/allow H,H,...] [/initial MINUTES]")
        value = rest.pop(0)
        if name == "/allow":
            if allow is not None:
                raise CommandError("/allow is given twice")
            hours = value.split(",")
            if not all(h.isascii() and h.isdigit() and int(h) < 24 for h in hours):
                raise CommandError(f"/allow {value}: not a list of hours 0-23")
            allow = frozenset(int(h) for h in hours)
        else:
            if initial is not None:
                raise CommandError("/initial is given twice")
            if not (value.isascii() and value.isdigit()):
                raise CommandError(f"/initial {value}: not a whole number of minutes")
            initial = int(value)
    return Times(allow, initial)


def parse_update_command(module: str, args: tuple[str, ...]) -> Step:
    """The step of ``mod cmd UP0|UP1 ARGS``; :class:`CommandError` says what is wrong."""
    verb, rest = (args[0], args[1:]) if args else ("", ())
    if module == "UP1":
        if verb == "check":
            if len(rest) != 2:
                raise CommandError("usage: mod cmd UP1 check FINAL SERIAL")
            return Check(_final(rest[0]), rest[1])
        if verb in ("times", "time"):
            return _times(rest)
        if verb == "provision":
            if len(rest) != 1 or not (rest[0].isascii() and rest[0].isdigit()):
                raise CommandError("usage: mod cmd UP1 provision N")
            return Provision(int(rest[0]))
    elif module == "UP0":
        if verb in ("prot", "boot"):
            if len(rest) != 3:
                raise CommandError(f"usage: mod cmd UP0 {verb} URL FINAL BUILD")
            what: Literal["prot", "boot"] = "prot" if verb == "prot" else "boot"
            return Load(what, rest[0], _final(rest[1]), rest[2])
        if verb == "cfg":
            if len(rest) not in (1, 2):
                raise CommandError("usage: mod cmd UP0 cfg URL [FINAL]")
            return Load("cfg", rest[0], _final(rest[1]) if len(rest) == 2 else "ser")
        if verb == "scfg":
            if not rest:
                raise CommandError("usage: mod cmd UP0 scfg URL [FINAL] [...]")
            if len(rest) >= 2 and rest[1] in FINAL_COMMANDS:
                return Save(rest[0], rest[1], rest[2:])
            return Save(rest[0], "ser", rest[1:])
    raise CommandError(f"unknown command: {ModCmd(module, args).render()}")


def _parse_line(number: int, text: str) -> Step | None:
    if text in FINAL_COMMANDS:
        return Final(text)
    try:
        command = parse_line(text, number)
    except ConfigSyntaxError as exc:
        raise ScriptError(number, text, exc.reason) from None
    if command is None:
        return None
    try:
        if isinstance(command, ModCmd) and command.module in ("UP0", "UP1"):
            return parse_update_command(command.module, command.args)
        check_command(command)
    except CommandError as exc:
        reason = str(exc)
        if reason.startswith("unknown command: "):
            reason = "unknown command"
        raise ScriptError(number, text, reason) from None
    return Execute(text)


def parse_script(text: str) -> list[ScriptLine]:
    """Every line of ``text`` that does something, numbered from 1.

    Raises :class:`ScriptError` for the first line that is not understood (bad syntax,
    a command or module the firmware does not know, a bad value or argument).
    """
    lines: list[ScriptLine] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        stripped = raw.removesuffix("\r").strip(_BLANKS)
        step = _parse_line(number, stripped)
        if step is not None:
            lines.append(ScriptLine(number, stripped, step))
    return lines


# -- URLs ------------------------------------------------------------------------------


def script_name(model: str) -> str:
    """The standard script name (``update-ip6000.htm``); DECISION: the model in lower case."""
    return f"update-{model.lower()}.htm"


def with_file(url: str, name: str) -> str:
    """``url`` with ``name`` appended when its path ends in ``/`` (or is empty)."""
    parts = urlsplit(url)
    if parts.path and not parts.path.endswith("/"):
        return url
    path = (parts.path or "/") + name
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


def expand_url(url: str, values: dict[str, str]) -> str:
    """``url`` decoded (:func:`decode_url`) with ``#h #m #i #t`` replaced from ``values``."""
    return URL_PLACEHOLDER.sub(lambda m: values[m.group(1)], decode_url(url))


def with_query(url: str, args: list[tuple[str, str]]) -> str:
    """``url`` with ``args`` added to its query."""
    parts = urlsplit(url)
    query = urlencode(args, quote_via=quote)
    query = f"{parts.query}&{query}" if parts.query else query
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
