"""The simple model :class:`~ipgwsim.testing.config_machine.ConfigMachine` checks a running
firmware against, and what the machine draws.

The config is a dict of modules, each an ordered dict of parameters (:data:`Modules`); a
change reaches the flash as a list of :data:`Effect` values in order (a new ring generation,
new admin credentials); :func:`apply_line` is the model of ``config change|add|rem``.
:func:`config_lines` draws such lines from :data:`VALUES` (small on purpose, so that lines
collide), :data:`cuts` the power cuts.
"""

from __future__ import annotations

from dataclasses import dataclass

from ipgwsim.flash.faults import CutMode
from ipgwsim.runtime.extras import extra_imports

with extra_imports(__name__):
    from hypothesis import strategies as st

__all__ = [
    "ADMIN_PAIRS",
    "SECRETS",
    "VALUES",
    "Credentials",
    "Cut",
    "Effect",
    "Line",
    "Modules",
    "NewCredentials",
    "NewGeneration",
    "admin_of",
    "apply_line",
    "config_lines",
    "cuts",
    "render_line",
    "storable",
    "without_admin",
]

#: The model's config: module -> ordered parameters (``None`` is a flag).
Modules = dict[str, dict[str, str | None]]
Credentials = tuple[str, str] | None


@dataclass(frozen=True)
class NewCredentials:
    """A flash effect: the crypted var ``CMD0/AUTH`` now holds ``pair``."""

    pair: tuple[str, str]


@dataclass(frozen=True)
class NewGeneration:
    """A flash effect: ``modules`` is the newest generation of the config ring."""

    modules: Modules


#: One flash change of a command; a command's effects reach the flash in list order.
Effect = NewCredentials | NewGeneration
#: A power cut: the flash operation (1 = the command's first), its mode, the bits or bytes
#: a torn operation keeps (None: drawn by the flash's fault injector).
Cut = tuple[int, CutMode, int | None]

#: The values the machine draws for each parameter, and whether the schema takes them
#: (``None`` is a flag). XYZ0 is a module the simulator does not know: anything goes there.
#: Small on purpose, so that lines collide and overwrite each other.
VALUES: dict[str, dict[str, list[tuple[str | None, bool]]]] = {
    "CMD0": {
        "name": [("gw1", True), ("gw2", True), (None, False)],
        "log": [("on", True), (None, False)],
        "user": [
            ("admin,pa,ss#w1", True),  # split at the first comma: the password has one
            ("a$b,xyzzy9", True),  # the schema takes it, the credentials record does not
            ("nocomma42", False),
            (",lonely77", False),
            ("op,", False),
            (None, False),
        ],
        "foo": [("1", True), (None, True)],
    },
    "ETH0": {
        "dhcp": [("auto", True), ("off", True), ("client", True), ("maybe", False), (None, False)],
        "addr": [("10.0.0.5", True), ("192.168.1.9", True), ("999.1.1.1", False)],
        "mask": [("255.255.255.0", True), ("255.0.255.0", False)],
        "foo": [("1", True)],
    },
    "UP1": {
        "url": [("http%3A%2F%2Fsrv%2F#h", True), (None, False)],
        "poll": [("5", True), ("5m", False)],
        "provision": [(None, True), ("yes", False)],
    },
    "CONF": {
        "mode": [("pbx", True), ("sip", False)],
        "user": [("alice,x", True)],  # CONF /user is no admin: never moved
        "pwd": [("c0nfpw9", True)],
    },
    "XYZ0": {
        "user": [("x,y", True)],
        "foo": [("1", True), (None, True), ("maybe", True)],
    },
}
#: Passwords in :data:`VALUES`: no output but ``config show`` may carry one.
SECRETS = ("s3cret", "hunter2", "pa,ss#w1", "xyzzy9", "nocomma42", "lonely77", "c0nfpw9")
#: The credentials lines draw from these (the user ``a$b`` cannot be stored).
ADMIN_PAIRS = [("admin", "s3cret"), ("op", "hunter2"), ("admin", "pa,ss#w1"), ("a$b", "xyzzy9")]

Line = tuple[str, str, tuple[tuple[str, str | None], ...]]


@st.composite
def config_lines(draw: st.DrawFn) -> Line:
    """``(verb, module, params)`` of a ``config change|add|rem`` line; the names of a line
    may repeat (a syntax error) and ``rem`` may carry values (an error too)."""
    verb = draw(st.sampled_from(["change", "change", "add", "add", "rem"]))
    module = draw(st.sampled_from(sorted(VALUES)))
    table = VALUES[module]
    names = draw(st.lists(st.sampled_from(sorted(table)), max_size=3))
    params: list[tuple[str, str | None]] = []
    for name in names:
        if verb == "rem":
            value = draw(st.sampled_from([None, None, None, "x"]))
        else:
            value = draw(st.sampled_from(table[name]))[0]
        params.append((name, value))
    return verb, module, tuple(params)


def _valid_value(module: str, name: str, value: str | None) -> bool:
    if (module, name) == ("CMD0", "user"):  # user,password: neither empty
        user, comma, password = (value or "").partition(",")
        return bool(user and comma and password)
    return any(v == value and ok for v, ok in VALUES[module][name])


def apply_line(modules: Modules, line: Line) -> Modules | None:
    """The model of ``config change|add|rem``: the new config, ``None`` if the line is refused."""
    verb, module, params = line
    names = [name for name, _ in params]
    if len(set(names)) != len(names):
        return None  # a parameter given twice: a syntax error
    if verb == "rem":
        if any(value is not None for _, value in params):
            return None  # rem names parameters only
    elif not all(_valid_value(module, name, value) for name, value in params):
        return None
    new = {m: dict(p) for m, p in modules.items()}
    if verb == "change":
        new[module] = dict(params)
    elif verb == "add":
        new.setdefault(module, {}).update(params)
    elif not params:
        new.pop(module, None)
    elif module in new:
        for name, _ in params:
            new[module].pop(name, None)
    return new


def render_line(line: Line, blank: str) -> str:
    verb, module, params = line
    words = ["config", verb, module]
    for name, value in params:
        words.append(f"/{name}")
        if value is not None:
            words.append(value)
    return blank.join(words)


def admin_of(modules: Modules) -> tuple[str, str] | None:
    """``CMD0 /user`` split at its first comma, or ``None``."""
    value = modules.get("CMD0", {}).get("user")
    if value is None:
        return None
    user, _, password = value.partition(",")
    return user, password


def storable(user: str) -> bool:
    """Whether a credentials record takes ``user`` (no ``$``, no ``,``, not empty)."""
    return bool(user) and "$" not in user and "," not in user


def without_admin(modules: Modules) -> Modules:
    new = {m: dict(p) for m, p in modules.items()}
    if "CMD0" in new:
        new["CMD0"].pop("user", None)
    return new


#: Mostly the first flash operations (a ring write is one program, a var one or two, more
#: when the vars compact); a torn operation keeps a random part, a few bits, or all of it
#: (it landed, then the power went).
cuts: st.SearchStrategy[Cut] = st.tuples(
    st.sampled_from([1, 1, 1, 2, 2, 3, 4]),
    st.sampled_from(CutMode),
    st.one_of(st.none(), st.integers(0, 64), st.just(1 << 20), st.just(1 << 20)),
)
