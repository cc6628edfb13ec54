"""``ipgwsim console DEVICE --attach`` on a real terminal (a pty) and in a pipe, against a
real ``ipgwsim run`` process on a private state directory."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import termios
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ipgwsim.testing.loopback import Ports
from ipgwsim.testing.processes import on_terminal, read_fd_until

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "ipgwsim.tools.cli"]
#: How long to wait for an expected answer before failing (never slept).
WAIT = 30.0


@contextmanager
def runtime(
    state: Path, ports: Ports, tcp: bool = False, port: int | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """``ipgwsim run IP6000`` on the test's ports and state directory, until the block ends;
    ``tcp``: its console on TCP too (on a port the test holds); ``port``: its UDP port."""
    console = ["--console-port", str(ports.tcp(2))] if tcp else ["--no-console-tcp"]
    udp = port if port is not None else ports.udp()
    argv = [
        *CLI, "run", "IP6000", "--state", str(state), "--port", str(udp),
        "--http-port", str(ports.tcp()), "--speed", "1000", *console,
    ]  # fmt: skip
    runner = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert runner.stdout is not None
        summary = read_fd_until(runner.stdout.fileno(), b"\n", bytearray())
        assert summary.startswith(b"ipgwsim: 1 x IP6000 on loopback"), summary
        yield runner
    finally:
        if runner.poll() is None:
            runner.send_signal(signal.SIGTERM)
            runner.communicate(timeout=WAIT)


@contextmanager
def attached(state: Path, *extra: str) -> Iterator[tuple[subprocess.Popen[bytes], int, int]]:
    """``ipgwsim console ip6000-1 --attach`` with a pty as its terminal: (process, master,
    slave); the slave stays open here too, to read its settings."""
    with on_terminal(
        [*CLI, "console", "ip6000-1", "--attach", "--state", str(state), *extra], WAIT
    ) as terminal:
        yield terminal


def pipe_attach(state: Path, typed: bytes, *extra: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*CLI, "console", "ip6000-1", "--attach", "--state", str(state), *extra],
        input=typed,
        capture_output=True,
        timeout=WAIT,
        check=False,
    )


@pytest.mark.usefixtures("private_registry")
def test_attach_on_a_terminal_log_in_run_a_command_and_leave(tmp_path: Path, ports: Ports) -> None:
    state = tmp_path / "state"
    with runtime(state, ports) as runner, attached(state) as (child, master, slave):
        cooked = termios.tcgetattr(slave)
        seen = bytearray()
        banner = read_fd_until(master, b"press Enter for a prompt\r\n", seen)
        assert b"ipgwsim console: attached to ip6000-1 (/dev/pts/" in banner
        assert b"Ctrl-] leaves" in banner
        # Raw mode: no line editing, no echo, no signals from keys (Ctrl-C goes to the device).
        lflag = termios.tcgetattr(slave)[3]
        assert not lflag & (termios.ICANON | termios.ECHO | termios.ISIG)

        os.write(master, b"\r")
        read_fd_until(master, b"login: ", seen)
        os.write(master, b"admin\r")
        assert read_fd_until(master, b"password: ", seen).endswith(b"admin\r\npassword: ")
        os.write(master, b"ip6000\r")
        assert b"IP6000 firmware " in read_fd_until(master, b"IP6000> ", seen)
        os.write(master, b"\x03config show\r")  # Ctrl-C is data in raw mode; the device ignores it
        answer = read_fd_until(master, b"IP6000> ", seen)
        assert b"config change ETH0 /dhcp auto\r\n" in answer

        os.write(master, b"\x1d")  # Ctrl-]
        assert child.wait(WAIT) == 0
        assert b"ipgwsim console: left ip6000-1" in read_fd_until(master, b"left ip6000-1", seen)
        assert termios.tcgetattr(slave) == cooked  # the terminal is itself again

        # The runtime still runs, and leaving did not log out (a pulled cable): in a pipe,
        # the next attach finds the session at its prompt.
        assert runner.poll() is None
        done = pipe_attach(state, b"\rhelp\r")
        assert done.returncode == 0, done.stderr
        assert done.stderr == b""  # no banner in a pipe
        assert done.stdout.startswith(b"\r\nIP6000> help\r\nconfig change|add|rem MODULE")
        assert done.stdout.endswith(b"  log out\r\nIP6000> ")
        status = subprocess.run(
            [*CLI, "status", "--state", str(state)], capture_output=True, timeout=WAIT, check=False
        )
        assert b"ip6000-1" in status.stdout
        assert b"running firmware" in status.stdout


@pytest.mark.usefixtures("private_registry")
def test_attach_refusals_and_other_ways_out(tmp_path: Path, ports: Ports) -> None:
    state = tmp_path / "state"
    with runtime(state, ports) as runner:
        with attached(state) as (child, master, slave):
            cooked = termios.tcgetattr(slave)
            seen = bytearray()
            read_fd_until(master, b"press Enter for a prompt\r\n", seen)
            # The pty is one line: a second attach is refused, naming who holds it.
            second = pipe_attach(state, b"")
            assert second.returncode == 2
            assert second.stdout == b""
            assert second.stderr.decode() == (
                f"ipgwsim console: the console of ip6000-1 ({_pty(state)}) is attached by "
                f"another program: pid {child.pid} ({' '.join(CLI)} console ip6000-1 "
                f"--attach --state {state})\n"
            )
            # SIGTERM: the terminal is restored on the way out.
            child.send_signal(signal.SIGTERM)
            assert child.wait(WAIT) == 128 + signal.SIGTERM
            assert termios.tcgetattr(slave) == cooked

        # SIGHUP (what closing a terminal window sends): a quiet leave, status 0, the
        # terminal restored, nothing printed after the banner.
        with attached(state) as (child, master, slave):
            cooked = termios.tcgetattr(slave)
            seen = bytearray()
            read_fd_until(master, b"press Enter for a prompt\r\n", seen)
            child.send_signal(signal.SIGHUP)
            assert child.wait(WAIT) == 0
            assert termios.tcgetattr(slave) == cooked
            after = bytes(seen) + drain(master)
            assert b"Traceback" not in after, after
            assert after == b"", after

        # The terminal goes away (its window closed): the attach ends quietly, status 0.
        master, slave = pty.openpty()
        child = subprocess.Popen(
            [*CLI, "console", "ip6000-1", "--attach", "--state", str(state)],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
        )
        os.close(slave)
        read_fd_until(master, b"press Enter for a prompt\r\n", bytearray())
        os.close(master)
        assert child.wait(WAIT) == 0
        assert runner.poll() is None

        # --tcp when the runtime serves no TCP console: one line, exit 2.
        refused = pipe_attach(state, b"", "--tcp")
        assert (refused.returncode, refused.stdout) == (2, b"")
        assert refused.stderr == (
            b"ipgwsim console: the console of ip6000-1 is not served on TCP "
            b"(start the runtime with --console-tcp)\n"
        )

        # The runtime stops while attached: the console closes, exit 1, terminal restored.
        with attached(state) as (child, master, slave):
            cooked = termios.tcgetattr(slave)
            seen = bytearray()
            read_fd_until(master, b"press Enter for a prompt\r\n", seen)
            runner.send_signal(signal.SIGTERM)
            runner.communicate(timeout=WAIT)
            assert child.wait(WAIT) == 1
            assert b"the console of ip6000-1 closed" in read_fd_until(master, b"closed", seen)
            assert termios.tcgetattr(slave) == cooked


def drain(fd: int) -> bytes:
    """What is waiting on ``fd`` now (its writer has ended: nothing more will come)."""
    out = bytearray()
    while select.select([fd], [], [], 0)[0]:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the other side of the pty is closed
            break
        if not chunk:
            break
        out.extend(chunk)
    return bytes(out)


def _pty(state: Path) -> str:
    return os.path.realpath(state / "ip6000-1" / "console")


@pytest.mark.usefixtures("private_registry")
def test_attach_through_the_tcp_port_is_a_session_of_its_own(tmp_path: Path, ports: Ports) -> None:
    state = tmp_path / "state"
    with runtime(state, ports, tcp=True):
        done = pipe_attach(state, b"\radmin\rip6000\rconfig show\r", "--tcp")
        assert done.returncode == 0, done.stderr
        out = done.stdout.decode()
        assert "password: \r\nIP6000 firmware " in out
        assert out.endswith(
            "config change ETH0 /dhcp auto\r\nconfig change ETH1 /addr "
            "192.168.1.1 /mask 255.255.255.0\r\nIP6000> "
        )
        # Its session ended with the connection: the next one starts logged out.
        again = pipe_attach(state, b"\r", "--tcp")
        assert again.stdout.endswith(b"login: "), again.stdout
        # The pty's session is another one, still at its own login prompt.
        pty_side = pipe_attach(state, b"\r")
        assert pty_side.stdout == b"\r\nlogin: "


@pytest.mark.usefixtures("private_registry")
def test_the_console_in_tftp_mode_says_what_the_boot_code_does(
    tmp_path: Path, ports: Ports
) -> None:
    """Attached, press the button 1.8 s: the boot code's lines come; Enter prints its state."""
    state = tmp_path / "state"
    port = ports.udp()
    with runtime(state, ports, port=port), attached(state) as (child, master, _slave):
        seen = bytearray()
        read_fd_until(master, b"press Enter for a prompt\r\n", seen)
        press = subprocess.run(
            [*CLI, "press", "ip6000-1", "--hold", "1.8", "--state", str(state)],
            capture_output=True,
            timeout=WAIT,
            check=False,
        )
        assert press.returncode == 0, press.stderr
        entered = read_fd_until(master, b"mode: TFTP mode (reset button held 1.8 s)\r\n", seen)
        lines = [line.split("] ", 1)[1] for line in entered.decode().split("\r\n") if "] " in line]
        start = lines.index("restart (reset button held 1.8 s): TFTP mode, config kept")
        state_lines = [
            "innovaphone IP6000 boot code 145",
            "firmware check: 08-6000.08 ok",
            "TFTP mode: no IP address, waiting for gwload",
            f"TFTP mode: MAC 00:90:33:10:00:01, gwload and TFTP on UDP port {port}",
        ]
        assert lines[start + 1 : start + 5] == state_lines
        # The boot code has no command line: a typed line makes it print its state again.
        os.write(master, b"help\r")
        answer = read_fd_until(master, f"UDP port {port}\r\n".encode(), seen)
        assert [line.split("] ", 1)[1] for line in answer.decode().split("\r\n")[:-1]] == (
            state_lines
        )
        os.write(master, b"\x1d")
        assert child.wait(WAIT) == 0
