"""The TFTP recovery of Howto:Config or Password Recovery, driven by labgrid.

Run with ``pytest --lg-env ip6000.yaml`` (README.md): labgrid's ``target`` fixture gives
the IP6000 of the environment; its console is labgrid's ``SerialDriver`` on a
``NetworkSerialPort`` (RFC 2217), its power and its reset button the drivers of
``ipgwsim_labgrid``. The standard tools do the rest, as a person would: ``gwload`` and
tftp-hpa's ``tftp``.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TARGET

from ipgwsim.firmware.config import with_admin_password
from ipgwsim.flash.dumptext import read_dump

PROMPT = "> "


def option(env, name: str) -> str:
    value = env.config.get_target_option(TARGET, name)
    assert value, f"the environment sets no option {name!r} for target {TARGET}"
    return str(value)


def run(*argv: str) -> str:
    """A command as a person runs it; its output (stdout and stderr), or a failure that
    shows it."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"{' '.join(argv)}: {done.stdout}{done.stderr}"
    return done.stdout + done.stderr


def gwload(env, *args: str) -> str:
    # gwload is installed beside the interpreter that runs the tests.
    program = shutil.which("gwload", path=str(Path(sys.executable).parent)) or "gwload"
    where = ("/port", option(env, "gwload_port"), "/bcast", option(env, "gwload_bcast"))
    return run(program, "/gwtype", "6000", *args, *where)


def login(console, user: str, password: str) -> int:
    """Log in on the console; 0 if the prompt came, 1 if the login was refused."""
    console.sendline("")
    console.expect("login: ")
    console.sendline(user)
    console.expect("password: ")
    console.sendline(password)
    index, _, _, _ = console.expect([PROMPT, "login incorrect"])
    return int(index)


def command(console, line: str) -> str:
    console.sendline(line)
    _, before, _, _ = console.expect(PROMPT)
    return before.decode(errors="replace")


@pytest.fixture
def console(target):
    """The console of the device, switched off and on first: it starts from power-up."""
    power = target.get_driver("PowerProtocol")
    console = target.get_driver("ConsoleProtocol")
    power.off()
    assert power.get() is False
    power.on()
    console.expect("firmware .* running")
    assert power.get() is True
    return console


def test_tftp_recovery_sets_a_new_password(env, target, console, tmp_path: Path) -> None:
    if shutil.which("tftp") is None:
        pytest.fail("the recovery needs tftp-hpa's tftp client (apt-get install tftp-hpa)")
    ip = option(env, "gateway_ip")
    lost = "lost-" + secrets.token_hex(3)
    recovered = "recovered-" + secrets.token_hex(3)

    # Its history: an admin sets a password on the console, saves it, restarts it...
    assert login(console, "admin", option(env, "factory_password")) == 0
    command(console, f"config change CMD0 /name lab /log on /user admin,{lost}")
    assert "config written" in command(console, "config write")
    command(console, "config activate")
    console.sendline("reset")
    console.expect("firmware .* running")
    # ... and nobody wrote it down: the factory password no longer logs in.
    assert login(console, "admin", option(env, "factory_password")) == 1

    # Hold the reset button about 1.8 s: three blinks, then TFTP mode (orange).
    button = target.get_driver("IpgwsimButtonDriver")
    reply = button.press()
    blinks = [e for e in reply["events"] if e["event"] == "blink"]
    assert (reply["mode"], reply["led"], len(blinks)) == ("TFTP mode", "steady orange", 3), reply

    # Give it an address, read its config with a standard TFTP client.
    gwload(env, "/i", ip, "/setip")
    dump = tmp_path / "config"
    out = run(
        "tftp", ip, option(env, "gwload_port"), "-m", "binary", "-c", "get", "config", str(dump)
    )
    assert "Error" not in out, out  # tftp-hpa exits 0 after a failed transfer
    newest = read_dump(dump.read_bytes()).newest
    assert newest is not None, f"no config in the {dump.stat().st_size} bytes read"
    assert "CMD0 /name lab" in newest.text

    # Set a known password and send the config back; the device restarts with it.
    edited = tmp_path / "config.txt"
    edited.write_text(with_admin_password(newest.text, "admin", recovered), newline="")
    gwload(env, "/i", ip, "/setip", "/cfg", str(edited))
    console.expect("firmware .* running", timeout=60)

    # The new password logs in on the console; the lost one does not.
    assert login(console, "admin", lost) == 1
    assert login(console, "admin", recovered) == 0
    assert "CMD0 /name lab" in command(console, "config show")
