"""The config model of the firmware: modules and their parameters (sans-I/O).

A :class:`Config` maps module names to ordered parameters (``None`` is a flag). It changes
only through ``config change|add|rem`` commands (:mod:`ipgwsim.firmware.configlang`):

* ``config change MODULE ...`` sets the module's parameters to exactly the given ones
  (as a real device's config lines do: one line per module carries its whole set);
* ``config add MODULE ...`` sets or overwrites the given parameters and keeps the others;
* ``config rem MODULE /p ...`` removes the given parameters (missing ones are no error);
  ``config rem MODULE`` without parameters removes the whole module.

Parameters of the modules in :data:`SCHEMA` are checked (:class:`ConfigValueError`); unknown
modules and unknown parameters of known ones are kept as given and listed by
:meth:`Config.unknown`, since a real config has many modules the simulator does not model.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from ipgwsim.firmware.configlang import (
    ConfigChange,
    ConfigSyntaxError,
    Param,
    parse_text,
)
from ipgwsim.hw_profiles import Profile

__all__ = [
    "SCHEMA",
    "Config",
    "ConfigSyntaxError",
    "ConfigValueError",
    "ParamSpec",
    "defaults",
    "split_user",
    "with_admin_password",
]


class ConfigValueError(ValueError):
    """A parameter of a known module with a value it cannot take.

    ``str()`` is ``MODULE /param value: why``, prefixed by ``line N: `` when
    :meth:`Config.from_text` found it.
    """

    def __init__(
        self, module: str, param: str, value: str | None, reason: str, line: int | None = None
    ) -> None:
        shown = f"{module} /{param}" + ("" if value is None else f" {value}")
        prefix = "" if line is None else f"line {line}: "
        super().__init__(f"{prefix}{shown}: {reason}")
        self.module = module
        self.param = param
        self.value = value
        self.reason = reason
        self.line = line

    def at_line(self, line: int) -> ConfigValueError:
        """The same error, reported at ``line`` of a text."""
        return ConfigValueError(self.module, self.param, self.value, self.reason, line)


def _ipv4(value: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(value)
    except ValueError:
        raise ValueError("not an IPv4 address") from None


def _check_addr(value: str) -> None:
    _ipv4(value)


def _check_mask(value: str) -> None:
    try:
        bits = int(_ipv4(value))
    except ValueError:
        raise ValueError("not a netmask") from None
    zeros = ~bits & 0xFFFFFFFF
    if zeros & (zeros + 1):
        raise ValueError("not a netmask (its one bits are not contiguous)")


#: The longest polling interval ``UP1 /poll`` and ``/poll-fast`` take: a week, in minutes.
MAX_POLL_MINUTES = 7 * 24 * 60


def _check_minutes(value: str) -> None:
    if not (value.isascii() and value.isdigit()):
        raise ValueError("not a whole number of minutes")
    if int(value) > MAX_POLL_MINUTES:
        raise ValueError(f"more than {MAX_POLL_MINUTES} minutes (a week)")


#: The placeholders of update URLs: ``#h`` hardware id, ``#m`` serial, ``#i`` IP, ``#t`` type.
URL_PLACEHOLDER = re.compile(r"#([hmit])")


def decode_url(value: str) -> str:
    """``value`` URL-decoded when it is an encoded absolute URL (``http%3A%2F%2Fsrv%2F``)."""
    if "://" not in value:
        decoded = unquote(value)
        if "://" in decoded:
            return decoded
    return value


def check_url(value: str) -> None:
    """An absolute http(s) URL, plain or URL-encoded, with ``#m #h #i #t`` placeholders
    (read as the update client reads it: :func:`decode_url`, placeholders filled)."""
    probe = URL_PLACEHOLDER.sub("x", decode_url(value))
    try:
        parts = urlsplit(probe)
        _ = parts.port
    except ValueError as exc:
        raise ValueError(f"not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("not an absolute http:// or https:// URL")


def _one_of(*choices: str) -> Callable[[str], None]:
    def check(value: str) -> None:
        if value not in choices:
            raise ValueError(f"not one of {', '.join(choices)}")

    return check


def split_user(value: str) -> tuple[str, str]:
    """``user,password`` split at the first comma; :class:`ValueError` if either is empty."""
    user, comma, password = value.partition(",")
    if not comma:
        raise ValueError("not user,password")
    if not user:
        raise ValueError("the user is empty")
    if not password:
        raise ValueError("the password is empty")
    return user, password


def _check_user(value: str) -> None:
    split_user(value)


def _any(value: str) -> None:
    return None


@dataclass(frozen=True)
class ParamSpec:
    """One known parameter: a flag, or a value that ``check`` accepts (it raises ValueError)."""

    flag: bool = False
    check: Callable[[str], None] = _any


_ETH = {
    "addr": ParamSpec(check=_check_addr),
    "mask": ParamSpec(check=_check_mask),
    "dhcp": ParamSpec(check=_one_of("off", "client", "server", "auto")),
}
_UP = {
    "url": ParamSpec(check=check_url),
    "poll": ParamSpec(check=_check_minutes),
    "poll-fast": ParamSpec(check=_check_minutes),
    "no-dhcp": ParamSpec(flag=True),
    "provision": ParamSpec(flag=True),
}

#: The modules the simulator knows, and their parameters.
SCHEMA: Mapping[str, Mapping[str, ParamSpec]] = {
    "CMD0": {"name": ParamSpec(), "log": ParamSpec(), "user": ParamSpec(check=_check_user)},
    "ETH0": _ETH,
    "ETH1": _ETH,
    "UP0": _UP,
    "UP1": _UP,
    "CONF": {
        "number": ParamSpec(),
        "registrar": ParamSpec(),
        "user": ParamSpec(),
        "pwd": ParamSpec(),
        "mode": ParamSpec(check=_one_of("legacy", "pbx")),
        "expires": ParamSpec(),
    },
}


def _validate(module: str, params: tuple[Param, ...]) -> None:
    known = SCHEMA.get(module)
    if known is None:
        return
    for name, value in params:
        spec = known.get(name)
        if spec is None:
            continue
        if spec.flag:
            if value is not None:
                raise ConfigValueError(module, name, value, "is a flag and takes no value")
            continue
        if value is None:
            raise ConfigValueError(module, name, value, "needs a value")
        try:
            spec.check(value)
        except ValueError as exc:
            raise ConfigValueError(module, name, value, str(exc)) from None


class Config:
    """Modules and their ordered parameters; modules keep the order they first appeared in.

    Equality compares content (module and parameter order do not matter);
    ``Config.parse(c.render()) == c`` and renders are equal too.
    """

    def __init__(self, modules: Mapping[str, Mapping[str, str | None]] | None = None) -> None:
        self._modules: dict[str, dict[str, str | None]] = {}
        for module, params in (modules or {}).items():
            self.apply(ConfigChange("change", module, tuple(params.items())))

    # -- reading ---------------------------------------------------------------------------

    @property
    def modules(self) -> dict[str, dict[str, str | None]]:
        """A copy of the modules and their parameters."""
        return {module: dict(params) for module, params in self._modules.items()}

    def params(self, module: str) -> dict[str, str | None] | None:
        """A copy of ``module``'s parameters, ``None`` if the config does not have it."""
        params = self._modules.get(module)
        return None if params is None else dict(params)

    def get(self, module: str, param: str) -> str | None:
        """The value of ``/param`` of ``module``; ``None`` for a flag or if it is not set."""
        return self._modules.get(module, {}).get(param)

    def has(self, module: str, param: str) -> bool:
        """Whether ``module`` has ``/param`` (a flag or with a value)."""
        return param in self._modules.get(module, {})

    def __contains__(self, module: object) -> bool:
        return module in self._modules

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Config):
            return NotImplemented
        return self._modules == other._modules

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Config({self._modules!r})"

    def copy(self) -> Config:
        new = Config()
        new._modules = self.modules
        return new

    def unknown(self) -> list[tuple[str, str | None]]:
        """What the simulator does not model: ``(MODULE, None)`` for an unknown module,
        ``(MODULE, param)`` for an unknown parameter of a known one; in config order."""
        found: list[tuple[str, str | None]] = []
        for module, params in self._modules.items():
            known = SCHEMA.get(module)
            if known is None:
                found.append((module, None))
                continue
            found.extend((module, name) for name in params if name not in known)
        return found

    def render(self) -> str:
        """One ``config change MODULE /p v ...`` line per module, CRLF, in config order."""
        return "".join(
            ConfigChange("change", module, tuple(params.items())).render() + "\r\n"
            for module, params in self._modules.items()
        )

    # -- changing --------------------------------------------------------------------------

    def apply(self, change: ConfigChange) -> None:
        """Apply one ``config change|add|rem``; on :class:`ConfigValueError` nothing changes."""
        if change.verb != "rem":  # rem names parameters only
            _validate(change.module, change.params)
        if change.verb == "change":
            self._modules[change.module] = dict(change.params)
        elif change.verb == "add":
            self._modules.setdefault(change.module, {}).update(change.params)
        elif not change.params:
            self._modules.pop(change.module, None)
        elif change.module in self._modules:
            params = self._modules[change.module]
            for name, _ in change.params:
                params.pop(name, None)

    def apply_text(self, text: str) -> Config:
        """A new config: this one with every ``config change|add|rem`` line of ``text`` applied.

        Other commands (``config write``, ``mod cmd`` ...) are skipped: they are not config.
        All or nothing: on :class:`ConfigSyntaxError` or :class:`ConfigValueError` (with the
        line number) this config stays as it is, and no new one is returned.
        """
        new = self.copy()
        for line in parse_text(text):
            if isinstance(line.command, ConfigChange):
                try:
                    new.apply(line.command)
                except ConfigValueError as exc:
                    raise exc.at_line(line.number) from None
        return new

    @classmethod
    def from_text(cls, text: str) -> Config:
        """A config built from ``text`` (the config ring's text); see :meth:`apply_text`."""
        return cls().apply_text(text)

    @classmethod
    def parse(cls, text: str) -> Config:
        """The same as :meth:`from_text`: ``Config.parse(c.render()) == c``."""
        return cls.from_text(text)

    def take_user(self) -> tuple[str, str] | None:
        """Remove ``CMD0 /user`` and return ``(user, password)``, ``None`` if it is not set.

        What the firmware does at its first start, before it moves the pair into the
        crypted var.
        """
        cmd0 = self._modules.get("CMD0")
        if cmd0 is None or "user" not in cmd0:
            return None
        value = cmd0.pop("user")
        assert value is not None  # the schema makes /user a value
        return split_user(value)


def defaults(profile: Profile) -> Config:
    """The factory config of ``profile``: its name, ETH0 DHCP automatic, ETH1 at its default."""
    config = Config({"CMD0": {"name": profile.model}, "ETH0": {"dhcp": "auto"}})
    for eth in profile.ethernet:
        if eth.name == "ETH1":
            config.apply(
                ConfigChange(
                    "change", "ETH1", (("addr", eth.default_address), ("mask", eth.default_mask))
                )
            )
    return config


def with_admin_password(text: str, user: str, password: str) -> str:
    """``text`` with ``/user user,password`` on its CMD0 line, as Howto:Config or Password
    Recovery has it (``config change CMD0 /name ... /log on /user admin,ip6000``): what a person
    does to recover a device. The text comes back rendered by :class:`Config`.
    """
    config = Config.from_text(text)
    config.apply(ConfigChange("add", "CMD0", (("user", f"{user},{password}"),)))
    return config.render()
