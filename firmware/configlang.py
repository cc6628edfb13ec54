"""The config language: config text and command lines, parsed into frozen nouns (sans-I/O).

One command per line (Howto:Config or Password Recovery,
php-update-server, Howto:Effect arbitrary Configuration Changes)::

    config change|add|rem MODULE /param value /flag ...
    config write | config activate | config show | config reset
    mod cmd MODULE[/SUB...] args...
    vars create|del|read args...

``#`` comment lines and blank lines are skipped; lines end in CRLF or LF (mixed is fine);
blanks (space, tab) around and between tokens do not matter. A token ``/name`` is a flag
(value ``None``) when the next token also starts with ``/`` or the line ends; otherwise the
next token is its value, kept exactly as given (innovaphone URL-encodes blanks in values).
``#`` inside a line is not a comment: ``#h`` and ``#m`` are URL placeholders.

:func:`parse_text` is all-or-nothing: it raises :class:`ConfigSyntaxError` for the first bad
line, so a caller applies nothing of a text that has one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ChangeVerb",
    "Command",
    "ConfigActivate",
    "ConfigChange",
    "ConfigReset",
    "ConfigShow",
    "ConfigSyntaxError",
    "ConfigWrite",
    "Line",
    "ModCmd",
    "Param",
    "VarsCommand",
    "VarsVerb",
    "check_module",
    "check_param",
    "parse_line",
    "parse_text",
]

#: A parameter: its name without the leading ``/`` and its value, ``None`` for a flag.
Param = tuple[str, str | None]

_MODULE = re.compile(r"[A-Z0-9_-]+")
_MOD_PATH = re.compile(r"[A-Z0-9_-]+(?:/[A-Z0-9_-]+)*")
_TOKEN = re.compile(r"[!-~]+")  # printable ASCII, no blank
_BLANKS = " \t"

ChangeVerb = Literal["change", "add", "rem"]
VarsVerb = Literal["create", "del", "read"]
_CHANGE_VERBS: tuple[ChangeVerb, ...] = ("change", "add", "rem")
_VARS_VERBS: tuple[VarsVerb, ...] = ("create", "del", "read")


def check_module(name: str) -> None:
    """Raise :class:`ValueError` unless ``name`` is a module name (``CMD0``, ``GW-DECT``)."""
    if not _MODULE.fullmatch(name):
        raise ValueError(
            f"module name {name!r} is not upper-case ASCII letters, digits, '-' and '_'"
        )


def check_param(name: str, value: str | None) -> None:
    """Raise :class:`ValueError` unless ``/name value`` renders as tokens that parse back."""
    if not _TOKEN.fullmatch(name):
        raise ValueError(f"parameter name {name!r} is not printable ASCII without blanks")
    if value is not None:
        if not _TOKEN.fullmatch(value):
            raise ValueError(f"/{name}: value {value!r} is not printable ASCII without blanks")
        if value.startswith("/"):
            raise ValueError(f"/{name}: value {value!r} starts with '/' (it would be a parameter)")


@dataclass(frozen=True)
class ConfigChange:
    """``config change|add|rem MODULE /param value /flag ...``.

    ``rem`` names parameters only (every value is ``None``).
    """

    verb: ChangeVerb
    module: str
    params: tuple[Param, ...] = ()

    def __post_init__(self) -> None:
        if self.verb not in _CHANGE_VERBS:
            raise ValueError(f"config verb {self.verb!r} is not one of {_CHANGE_VERBS}")
        check_module(self.module)
        seen: set[str] = set()
        for name, value in self.params:
            check_param(name, value)
            if name in seen:
                raise ValueError(f"/{name} is given twice")
            seen.add(name)
            if self.verb == "rem" and value is not None:
                raise ValueError(f"config rem takes parameter names only, /{name} has a value")

    def render(self) -> str:
        """The command line (no line end); ``parse_line(c.render()) == c``."""
        words = ["config", self.verb, self.module]
        for name, value in self.params:
            words.append(f"/{name}")
            if value is not None:
                words.append(value)
        return " ".join(words)


@dataclass(frozen=True)
class ConfigWrite:
    """``config write``: store the current config in flash (the config ring)."""

    def render(self) -> str:
        return "config write"


@dataclass(frozen=True)
class ConfigActivate:
    """``config activate``: make the stored config the running one."""

    def render(self) -> str:
        return "config activate"


@dataclass(frozen=True)
class ConfigShow:
    """``config show``: print the config, one ``config change`` line per module."""

    def render(self) -> str:
        return "config show"


@dataclass(frozen=True)
class ConfigReset:
    """``config reset``: discard the edits since the last activate (see firmware/README.md)."""

    def render(self) -> str:
        return "config reset"


@dataclass(frozen=True)
class ModCmd:
    """``mod cmd MODULE args...``; ``MODULE`` may name a sub-module (``PHONE/USER-UI``)."""

    module: str
    args: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _MOD_PATH.fullmatch(self.module):
            raise ValueError(f"module path {self.module!r} is not MODULE or MODULE/SUB...")
        for arg in self.args:
            if not _TOKEN.fullmatch(arg):
                raise ValueError(f"argument {arg!r} is not printable ASCII without blanks")

    def render(self) -> str:
        return " ".join(("mod", "cmd", self.module, *self.args))


@dataclass(frozen=True)
class VarsCommand:
    """``vars create|del|read args...``: parsed only, its arguments kept as tokens."""

    verb: VarsVerb
    args: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.verb not in _VARS_VERBS:
            raise ValueError(f"vars verb {self.verb!r} is not one of {_VARS_VERBS}")
        for arg in self.args:
            if not _TOKEN.fullmatch(arg):
                raise ValueError(f"argument {arg!r} is not printable ASCII without blanks")

    def render(self) -> str:
        return " ".join(("vars", self.verb, *self.args))


Command = (
    ConfigChange | ConfigWrite | ConfigActivate | ConfigShow | ConfigReset | ModCmd | VarsCommand
)


@dataclass(frozen=True)
class Line:
    """One command line of a text: its 1-based number, its text (blanks stripped), its command."""

    number: int
    text: str
    command: Command


class ConfigSyntaxError(ValueError):
    """A line that is not in the config language; ``str()`` is ``line N: TEXT: REASON``."""

    def __init__(self, line_number: int, line_text: str, reason: str) -> None:
        super().__init__(f"line {line_number}: {line_text}: {reason}")
        self.line_number = line_number
        self.line_text = line_text
        self.reason = reason


def _check_characters(text: str) -> str | None:
    """Why ``text`` cannot be a line (non-ASCII or control character), or ``None``."""
    for column, char in enumerate(text, start=1):
        code = ord(char)
        if code > 0x7E:
            kind = "control" if code == 0x7F else "non-ASCII"
            return f"{kind} character U+{code:04X} at column {column}"
        if code < 0x20 and char != "\t":
            return f"control character U+{code:04X} at column {column}"
    return None


def _params(tokens: list[str]) -> tuple[Param, ...]:
    params: list[Param] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if not token.startswith("/"):
            raise ValueError(f"value {token!r} has no parameter (parameters start with '/')")
        if token == "/":
            raise ValueError("'/' without a parameter name")
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if following is None or following.startswith("/"):
            params.append((token[1:], None))
            index += 1
        else:
            params.append((token[1:], following))
            index += 2
    return tuple(params)


def _parse_config(words: list[str]) -> Command:
    if not words:
        raise ValueError("config needs a verb (change, add, rem, write, activate, show, reset)")
    verb, rest = words[0], words[1:]
    simple: dict[str, Command] = {
        "write": ConfigWrite(),
        "activate": ConfigActivate(),
        "show": ConfigShow(),
        "reset": ConfigReset(),
    }
    if verb in simple:
        if rest:
            raise ValueError(f"config {verb} takes no arguments")
        return simple[verb]
    for change_verb in _CHANGE_VERBS:
        if verb == change_verb:
            if not rest or rest[0].startswith("/"):
                raise ValueError(f"config {verb} needs a module name")
            return ConfigChange(change_verb, rest[0], _params(rest[1:]))
    raise ValueError(f"unknown config verb {verb!r}")


def _parse_mod(words: list[str]) -> Command:
    if not words or words[0].lower() != "cmd":
        raise ValueError("mod needs 'cmd' and a module name")
    if len(words) < 2:
        raise ValueError("mod cmd needs a module name")
    return ModCmd(words[1], tuple(words[2:]))


def _parse_vars(words: list[str]) -> Command:
    if not words:
        raise ValueError("vars needs a verb (create, del, read)")
    for verb in _VARS_VERBS:
        if words[0] == verb:
            return VarsCommand(verb, tuple(words[1:]))
    raise ValueError(f"unknown vars verb {words[0]!r}")


def parse_line(text: str, number: int = 1) -> Command | None:
    """The command of one line, ``None`` for a blank or ``#`` comment line.

    ``text`` may still carry its line end (CR, LF or CRLF). Raises
    :class:`ConfigSyntaxError` naming ``number`` and the line.
    """
    if text.endswith("\n"):
        text = text[:-1]
    if text.endswith("\r"):
        text = text[:-1]
    stripped = text.strip(_BLANKS)
    reason = _check_characters(text)
    if reason is not None:
        raise ConfigSyntaxError(number, stripped, reason)
    if not stripped or stripped.startswith("#"):
        return None
    words = stripped.split()
    parsers = {"config": _parse_config, "mod": _parse_mod, "vars": _parse_vars}
    parser = parsers.get(words[0])
    try:
        if parser is None:
            raise ValueError(f"unknown command {words[0]!r}")
        return parser(words[1:])
    except ValueError as exc:
        raise ConfigSyntaxError(number, stripped, str(exc)) from None


def parse_text(text: str) -> list[Line]:
    """Every command line of ``text``, numbered from 1; blank and comment lines are left out.

    Raises :class:`ConfigSyntaxError` for the first bad line; nothing else is returned then.
    """
    lines: list[Line] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        command = parse_line(raw, number)
        if command is not None:
            lines.append(Line(number, raw.removesuffix("\r").strip(_BLANKS), command))
    return lines
