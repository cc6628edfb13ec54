"""The console session of the firmware: login, password, commands, line editing."""

from __future__ import annotations

import random

import pytest

from ipgwsim.device import default_config as _factory_config
from ipgwsim.device import factory_flash
from ipgwsim.firmware import ConsoleSession, Firmware
from ipgwsim.firmware.console import HELP, MAX_LINE, SessionState, help_text
from ipgwsim.flash.errors import PowerLost
from ipgwsim.flash.faults import CutMode, PowerCut
from ipgwsim.flash.nor import NorFlash
from ipgwsim.flash.partitions import PartitionTable
from ipgwsim.hw_profiles import find_profile
from ipgwsim.hw_profiles import find_profile as _find_profile

#: The factory config (the firmware's defaults), as config show prints it.
FACTORY = _factory_config(_find_profile("IP6000"))


PROFILE = find_profile("IP6000")
BANNER = f"IP6000 firmware {PROFILE.firmware.build}\r\n"


def _firmware(flash: NorFlash | None = None) -> Firmware:
    flash = flash if flash is not None else factory_flash(PROFILE)
    return Firmware(
        PROFILE,
        PROFILE.firmware.build,
        partitions=PartitionTable(flash, PROFILE),
        rng=random.Random(1),
    )


def _type(session: ConsoleSession, text: str) -> str:
    return session.feed(text.encode("ascii")).decode("ascii")


def _logged_in(firmware: Firmware | None = None) -> ConsoleSession:
    session = ConsoleSession(firmware if firmware is not None else _firmware())
    _type(session, "admin\r\nip6000\r\n")
    assert session.state is SessionState.COMMAND
    return session


def test_login_with_the_default_password() -> None:
    session = ConsoleSession(_firmware())
    assert session.start() == b"login: "
    assert _type(session, "admin\r\n") == "admin\r\npassword: "
    assert session.state is SessionState.PASSWORD
    # The password is not echoed; the line end is.
    assert _type(session, "ip6000\r\n") == "\r\n" + BANNER + "IP6000> "
    assert (session.state, session.user, session.failures) == (SessionState.COMMAND, "admin", 0)


def test_wrong_password_and_wrong_user() -> None:
    session = ConsoleSession(_firmware())
    assert _type(session, "admin\rnope\r") == "admin\r\npassword: \r\nlogin incorrect\r\nlogin: "
    assert (session.state, session.user, session.failures) == (SessionState.LOGIN, None, 1)
    assert _type(session, "root\nip6000\n").endswith("login incorrect\r\nlogin: ")
    # From the third failure in a row the count is said, and how long the console waits.
    assert _type(session, "admin\nx\n").endswith(
        "login incorrect\r\n3 failed logins in a row: wait 1 s\r\nlogin: "
    )
    assert session.failures == 3
    assert session.feed(b"admin\nip6000\n", 1.0).decode().endswith(BANNER + "IP6000> ")
    assert session.failures == 0


def _feed(session: ConsoleSession, text: str, now: float) -> str:
    return session.feed(text.encode("ascii"), now).decode("ascii")


def test_after_failed_logins_the_console_waits_longer_each_time_and_checks_nothing() -> None:
    firmware = _firmware()
    session = ConsoleSession(firmware)
    for _ in range(2):
        assert _feed(session, "admin\rnope\r", 10.0).endswith("login incorrect\r\nlogin: ")
    out = _feed(session, "admin\rnope\r", 10.0)
    assert out.endswith("login incorrect\r\n3 failed logins in a row: wait 1 s\r\nlogin: ")
    # The right password within the wait: not checked, and the count stays.
    out = _feed(session, "admin\rip6000\r", 10.5)
    assert out == (
        "admin\r\npassword: \r\n"
        "login refused: 3 failed logins in a row from the console; wait 1 s\r\nlogin: "
    )
    assert (session.state, session.failures) == (SessionState.LOGIN, 3)
    # After the wait it is checked; a fourth failure doubles the wait.
    out = _feed(session, "admin\rnope\r", 11.0)
    assert out.endswith("login incorrect\r\n4 failed logins in a row: wait 2 s\r\nlogin: ")
    # A new session of the same console does not start with a clean count.
    other = ConsoleSession(firmware)
    assert _feed(other, "admin\rip6000\r", 12.9).endswith("wait 1 s\r\nlogin: ")
    assert other.state is SessionState.LOGIN
    assert _feed(other, "admin\rip6000\r", 13.0).endswith(BANNER + "IP6000> ")
    assert session.failures == 0


def test_an_empty_login_asks_again() -> None:
    session = ConsoleSession(_firmware())
    assert _type(session, "\r\n  \r\n") == "\r\nlogin: " + "  \r\nlogin: "
    assert session.state is SessionState.LOGIN


def test_commands_and_their_output() -> None:
    session = _logged_in()
    assert _type(session, "config show\r\n") == ("config show\r\n" + FACTORY + "IP6000> ")
    out = _type(session, "mod cmd FLASHMAN0 info state\r\n")
    lines = out.split("\r\n")
    assert lines[0] == "mod cmd FLASHMAN0 info state"
    assert lines[1].split() == ["region", "size", "used", "free"]
    assert any(line.startswith("config ") for line in lines)
    assert any(line.startswith("total ") for line in lines)
    assert lines[-3].startswith("firmware ")
    assert lines[-2].startswith("ldap ")
    assert lines[-1] == "IP6000> "
    assert _type(session, "frob\n") == "frob\r\nerror: unknown command: frob\r\nIP6000> "
    # An empty line (or a comment, which prints nothing) just prompts again.
    assert _type(session, "\r\n") == "\r\nIP6000> "
    assert _type(session, "# note\r\n") == "# note\r\nIP6000> "


#: A line for each entry of the help (but the console's own words) that the firmware runs.
KNOWN = {
    "config change|add|rem MODULE /PARAM VALUE ...": "config change CMD0 /name lab-gw",
    "config show": "config show",
    "config write": "config write",
    "config activate": "config activate",
    "config reset": "config reset",
    "vars create NAME FLAGS [HEX]": "vars create TEST/X p 41",
    "vars read NAME": "vars read TEST/X",
    "vars del NAME": "vars del TEST/X",
    "mod cmd FLASHMAN0 info state": "mod cmd FLASHMAN0 info state",
    "mod cmd FLASHMAN0 reset ldap": "mod cmd FLASHMAN0 reset ldap",
    "mod cmd FLASHDIR0 add-item KEY VALUE": "mod cmd FLASHDIR0 add-item k v",
    "mod cmd FLASHDIR0 list": "mod cmd FLASHDIR0 list",
    "mod cmd UP1 check|times|provision ...": "mod cmd UP1 times /initial 0",
    "mod cmd UP0 prot|boot|cfg|scfg URL ...": "mod cmd UP0 scfg http://127.0.0.1:9/x",
    "reset": "reset",
    "ireset": "ireset",
    "resetn": "resetn",
    "iresetn": "iresetn",
    "ser": "ser",
}


def test_help_and_question_mark_list_the_commands_one_line_each() -> None:
    session = _logged_in()
    listing = help_text()
    assert _type(session, "help\r\n") == "help\r\n" + listing + "IP6000> "
    assert _type(session, " ? \r\n") == " ? \r\n" + listing + "IP6000> "
    assert _type(session, "help config\r\n") == "help config\r\n" + listing + "IP6000> "
    lines = listing.split("\r\n")
    assert lines[-1] == ""
    assert len(lines) - 1 == len(HELP)
    for (command, what), line in zip(HELP, lines, strict=False):
        # Two columns: the command, padded to the longest, then its one line.
        assert line.startswith(command)
        assert line.endswith(f"  {what}")
        assert line.index(what) == max(len(c) for c, _ in HELP) + 2
    # Every command listed is one the console runs (nothing listed is unknown).
    assert set(KNOWN) == {command for command, _ in HELP} - {"help, ?", "logout, exit"}
    for command, line in KNOWN.items():
        output = _firmware().execute(line)  # each on a fresh device (reset restarts it)
        assert "unknown command" not in output, (command, output)
    # A word that only starts like help is no help.
    assert _type(session, "helpme\r\n") == ("helpme\r\nerror: unknown command: helpme\r\nIP6000> ")


def test_help_is_only_for_who_logged_in() -> None:
    session = ConsoleSession(_firmware())
    assert _type(session, "help\r\n") == "help\r\npassword: "
    assert session.state is SessionState.PASSWORD


def test_the_prompt_follows_the_active_name() -> None:
    session = _logged_in()
    _type(session, "config change CMD0 /name lab-gw\r\n")
    assert session.prompt == "IP6000> "  # only edited yet
    assert _type(session, "config activate\r\n") == "config activate\r\nlab-gw> "


def test_no_password_in_what_a_command_prints() -> None:
    session = _logged_in()
    # A command line is echoed as typed (like any console); what it prints masks passwords.
    out = _type(session, "config frob CMD0 /user a,s3cret\r\n")
    echo, _, printed = out.partition("\r\n")
    assert echo == "config frob CMD0 /user a,s3cret"
    assert printed == (
        "error: line 1: config frob CMD0 /user ***: unknown config verb 'frob'\r\nIP6000> "
    )


def test_logout_and_exit() -> None:
    session = _logged_in()
    assert _type(session, "logout\r\n") == "logout\r\nlogin: "
    assert (session.state, session.user) == (SessionState.LOGIN, None)
    session = _logged_in()
    assert _type(session, "  exit \n") == "  exit \r\nlogin: "
    assert session.state is SessionState.LOGIN


def test_one_byte_at_a_time_and_crlf_split_across_chunks() -> None:
    session = ConsoleSession(_firmware())
    out = b"".join(session.feed(bytes([b])) for b in b"admin\r\nip6000\r\nconfig show\r\n")
    assert out.decode() == (
        "admin\r\npassword: \r\n" + BANNER + "IP6000> config show\r\n" + FACTORY + "IP6000> "
    )
    # The LF of a CRLF split between two chunks ends no second line.
    assert session.feed(b"\r") == b"\r\nIP6000> "
    assert session.feed(b"\n") == b""
    # But LF after LF, or CR after CR, are two lines.
    assert session.feed(b"\n\n") == b"\r\nIP6000> \r\nIP6000> "


def test_backspace_and_del_edit_the_line() -> None:
    session = ConsoleSession(_firmware())
    assert _type(session, "adx\bmin\r") == "adx\b \bmin\r\npassword: "
    assert session.user == "admin"
    # In the password nothing is echoed, the editing works all the same.
    assert _type(session, "ip60001\x7f\r") == "\r\n" + BANNER + "IP6000> "
    # Backspace on an empty line does nothing.
    out = _type(session, "\b\x7fconfig shox\x7fw\r")
    assert out.startswith("config shox\b \bw\r\nconfig change")


def test_control_characters_and_escape_sequences_are_ignored() -> None:
    session = _logged_in()
    typed = b"\x03\x07con\x1b[Afig\x1b[1;5C sh\x1bOAow\x00\xc3\xa4\r"
    assert session.feed(typed).decode() == ("config show\r\n" + FACTORY + "IP6000> ")
    # A tab is data (the command language takes it as a blank).
    assert _type(session, "config\tshow\r").endswith(FACTORY + "IP6000> ")


def test_a_line_keeps_at_most_max_line_characters() -> None:
    session = _logged_in()
    out = _type(session, "x" * (MAX_LINE + 10))
    assert out == "x" * MAX_LINE
    assert _type(session, "\r").startswith("\r\nerror: unknown command: xxx")


def test_a_power_cut_in_a_command_goes_up() -> None:
    flash = factory_flash(PROFILE)
    session = _logged_in(_firmware(flash))
    _type(session, "config change CMD0 /name cut\r\n")
    flash.faults.cut = PowerCut(flash.faults.count + 1, CutMode.ATOMIC)
    with pytest.raises(PowerLost):
        session.feed(b"config write\r\nconfig show\r\n")
    # What was printed before the cut is still there; nothing after it ran.
    assert session.flush() == b"config write\r\n"


def test_what_is_typed_after_a_reset_goes_nowhere() -> None:
    session = _logged_in()
    out = _type(session, "reset\r\nvars create AFTER/RESET p 41\r\nconfig write\r\n")
    assert out == "reset\r\nreset\r\n"
    firmware = session.firmware
    assert firmware.reset_pending
    assert firmware.vars is not None
    assert firmware.vars.get("AFTER/RESET") is None
    assert firmware.execute("config write") == "error: the device is restarting\r\n"
