"""The config language: golden parses of every line form, line ends, comments, errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipgwsim.firmware.configlang import (
    ChangeVerb,
    ConfigActivate,
    ConfigChange,
    ConfigReset,
    ConfigShow,
    ConfigSyntaxError,
    ConfigWrite,
    Line,
    ModCmd,
    VarsCommand,
    parse_line,
    parse_text,
)
from ipgwsim.testing.strategies import config_tokens

PASSWORD_SCRIPT = (
    "# reset password\r\n"
    "config change CMD0 /name mydevicehostname /log on /user admin,ip6000\r\n"
    "config write\r\n"
    "# encrypt it\r\n"
    "config activate\r\n"
    "# remove from visible config\r\n"
    "config change CMD0 /name mydevicehostname /log on \r\n"
    "# done\r\n"
)


@pytest.mark.parametrize(
    ("text", "command"),
    [
        (
            "config change CMD0 /name mydevicehostname /log on /user admin,ip6000",
            ConfigChange(
                "change",
                "CMD0",
                (("name", "mydevicehostname"), ("log", "on"), ("user", "admin,ip6000")),
            ),
        ),
        (
            "config add UP1 /url http%3A%2F%2Fsrv%2Fupdate%2F /no-dhcp",
            ConfigChange(
                "add", "UP1", (("url", "http%3A%2F%2Fsrv%2Fupdate%2F"), ("no-dhcp", None))
            ),
        ),
        ("config add UP1 /no-dhcp", ConfigChange("add", "UP1", (("no-dhcp", None),))),
        ("config add UP1 /poll 1", ConfigChange("add", "UP1", (("poll", "1"),))),
        ("config rem UP1 /provision", ConfigChange("rem", "UP1", (("provision", None),))),
        ("config rem UP1", ConfigChange("rem", "UP1")),
        ("config change GW-DECT", ConfigChange("change", "GW-DECT")),
        (
            "config change UP1 /a /b x /c",
            ConfigChange("change", "UP1", (("a", None), ("b", "x"), ("c", None))),
        ),
        (
            "config change UP1 /url http://10.0.0.1/update/#h/script.txt?mac=#m",
            ConfigChange(
                "change", "UP1", (("url", "http://10.0.0.1/update/#h/script.txt?mac=#m"),)
            ),
        ),
        ("config write", ConfigWrite()),
        ("config activate", ConfigActivate()),
        ("config show", ConfigShow()),
        ("config reset", ConfigReset()),
        ("mod cmd FLASHMAN0 info state", ModCmd("FLASHMAN0", ("info", "state"))),
        ("mod cmd UP1 check iresetn 7", ModCmd("UP1", ("check", "iresetn", "7"))),
        ("mod CMD FLASHMAN0 info", ModCmd("FLASHMAN0", ("info",))),
        ("mod cmd CPU", ModCmd("CPU")),
        (
            "mod cmd PHONE/USER-UI reg-edit-reg /id 2",
            ModCmd("PHONE/USER-UI", ("reg-edit-reg", "/id", "2")),
        ),
        ("vars read UPDATE/CHECK", VarsCommand("read", ("UPDATE/CHECK",))),
        ("vars create CMD0/AUTH pc abc", VarsCommand("create", ("CMD0/AUTH", "pc", "abc"))),
        ("vars del UPDATE/PROT", VarsCommand("del", ("UPDATE/PROT",))),
        ("  \tconfig   write \t ", ConfigWrite()),
    ],
)
def test_golden_parse(text: str, command: object) -> None:
    assert parse_line(text) == command
    for end in ("\r\n", "\n"):
        assert parse_line(text + end) == command


@pytest.mark.parametrize(
    "text", ["", "   ", "\t", "# comment", "   # indented comment", "#", "\r\n"]
)
def test_blank_and_comment_lines_are_none(text: str) -> None:
    assert parse_line(text) is None


def test_the_password_script() -> None:
    first = ConfigChange(
        "change", "CMD0", (("name", "mydevicehostname"), ("log", "on"), ("user", "admin,ip6000"))
    )
    last = ConfigChange("change", "CMD0", (("name", "mydevicehostname"), ("log", "on")))
    assert parse_text(PASSWORD_SCRIPT) == [
        Line(2, "config change CMD0 /name mydevicehostname /log on /user admin,ip6000", first),
        Line(3, "config write", ConfigWrite()),
        Line(5, "config activate", ConfigActivate()),
        Line(7, "config change CMD0 /name mydevicehostname /log on", last),
    ]


def test_lf_crlf_and_mixed_line_ends_parse_alike() -> None:
    crlf = parse_text(PASSWORD_SCRIPT)
    assert parse_text(PASSWORD_SCRIPT.replace("\r\n", "\n")) == crlf
    lines = PASSWORD_SCRIPT.split("\r\n")
    mixed = "".join(line + ("\n" if i % 2 else "\r\n") for i, line in enumerate(lines[:-1]))
    assert parse_text(mixed) == crlf


def test_text_without_final_line_end() -> None:
    assert parse_text("config write\nconfig activate") == [
        Line(1, "config write", ConfigWrite()),
        Line(2, "config activate", ConfigActivate()),
    ]
    assert parse_text("") == []


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("config frob", "unknown config verb 'frob'"),
        ("config", "config needs a verb (change, add, rem, write, activate, show, reset)"),
        ("config change", "config change needs a module name"),
        ("config add /url x", "config add needs a module name"),
        (
            "config change cmd0 /name x",
            "module name 'cmd0' is not upper-case ASCII letters, digits, '-' and '_'",
        ),
        ("config change CMD0 name x", "value 'name' has no parameter (parameters start with '/')"),
        ("config change CMD0 /name x y", "value 'y' has no parameter (parameters start with '/')"),
        ("config change CMD0 / x", "'/' without a parameter name"),
        ("config change CMD0 /name a /name b", "/name is given twice"),
        (
            "config rem UP1 /provision 1",
            "config rem takes parameter names only, /provision has a value",
        ),
        ("config write now", "config write takes no arguments"),
        ("config change CMD0 /name d\u00e9vice", "non-ASCII character U+00E9 at column 27"),
        ("config change CMD0 /name a\x07b", "control character U+0007 at column 27"),
        ("config change CMD0 /name a\x7fb", "control character U+007F at column 27"),
        ("config write\rconfig activate", "control character U+000D at column 13"),
        ("frob CMD0", "unknown command 'frob'"),
        ("Config write", "unknown command 'Config'"),
        ("mod", "mod needs 'cmd' and a module name"),
        ("mod show", "mod needs 'cmd' and a module name"),
        ("mod cmd", "mod cmd needs a module name"),
        ("mod cmd phone dial", "module path 'phone' is not MODULE or MODULE/SUB..."),
        ("vars", "vars needs a verb (create, del, read)"),
        ("vars write X", "unknown vars verb 'write'"),
    ],
)
def test_errors(text: str, reason: str) -> None:
    with pytest.raises(ConfigSyntaxError) as info:
        parse_line(text, 3)
    assert info.value.line_number == 3
    assert info.value.line_text == text
    assert info.value.reason == reason
    assert str(info.value) == f"line 3: {text}: {reason}"


def test_parse_text_stops_at_first_bad_line() -> None:
    text = "config write\r\n# fine\r\nconfig frob\r\nconfig show x\r\n"
    with pytest.raises(ConfigSyntaxError) as info:
        parse_text(text)
    assert (info.value.line_number, info.value.line_text) == (3, "config frob")
    assert str(info.value) == "line 3: config frob: unknown config verb 'frob'"


def test_bad_comment_characters_are_errors_too() -> None:
    with pytest.raises(ConfigSyntaxError, match="line 2: # caf\u00e9: non-ASCII"):
        parse_text("config write\n# caf\u00e9\n")


@pytest.mark.parametrize(
    "build",
    [
        lambda: ConfigChange("change", "cmd0"),
        lambda: ConfigChange("frob", "CMD0"),  # type: ignore[arg-type]
        lambda: ConfigChange("change", "CMD0", (("name", "a b"),)),
        lambda: ConfigChange("change", "CMD0", (("name", "/x"),)),
        lambda: ConfigChange("change", "CMD0", (("na me", "x"),)),
        lambda: ConfigChange("change", "CMD0", (("name", ""),)),
        lambda: ConfigChange("rem", "CMD0", (("name", "x"),)),
        lambda: ModCmd("FLASHMAN0", ("in fo",)),
        lambda: VarsCommand("write", ()),  # type: ignore[arg-type]
    ],
)
def test_nouns_refuse_what_does_not_render(build: object) -> None:
    with pytest.raises(ValueError, match=r"not|twice|only|starts with"):
        build()  # type: ignore[operator]


_NAMES = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1)
_MODULES = st.text(st.sampled_from("ABCXYZ019-_"), min_size=1, max_size=8)


@st.composite
def _changes(draw: st.DrawFn) -> ConfigChange:
    verb: ChangeVerb = draw(st.sampled_from(["change", "add", "rem"]))
    values = st.none() if verb == "rem" else st.none() | config_tokens()
    params = draw(st.lists(st.tuples(_NAMES, values), unique_by=lambda p: p[0], max_size=5))
    return ConfigChange(verb, draw(_MODULES), tuple(params))


@given(_changes())
def test_change_render_round_trip(change: ConfigChange) -> None:
    assert parse_line(change.render()) == change


@given(st.lists(config_tokens(), max_size=5), _MODULES)
def test_mod_cmd_and_vars_round_trip(args: list[str], module: str) -> None:
    assert parse_line(ModCmd(module, tuple(args)).render()) == ModCmd(module, tuple(args))
    command = VarsCommand("read", tuple(args))
    assert parse_line(command.render()) == command


@given(st.text(max_size=200))
def test_any_text_parses_or_raises_config_syntax_error(text: str) -> None:
    lines: list[Line] = []
    number: int | None = None
    try:
        lines = parse_text(text)
    except ConfigSyntaxError as exc:
        number = exc.line_number
    assert number is None or 1 <= number <= text.count("\n") + 1
    for line in lines:
        assert parse_line(line.command.render()) == line.command
