"""``serial.serial_for_url("ipgwsim://DEVICE?state=DIR")`` and the miniterm wrapper, against a
real ``ipgwsim run`` process on a private state directory (real pty, real sockets)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import serial

from ipgwsim.runtime.serialurl import register
from ipgwsim.testing.loopback import Ports, run
from ipgwsim.testing.processes import (
    IPGWSIM,
    ipgwsim,
    on_terminal,
    read_fd_until,
    read_line,
    running,
)

pytestmark = [
    pytest.mark.integration,
    # pyserial's RFC 2217 client starts its reader thread the old way.
    pytest.mark.filterwarnings("ignore:set(Daemon|Name)\\(\\) is deprecated:DeprecationWarning"),
]

#: How long to wait for an expected answer before failing (never slept).
WAIT = 30.0
MINITERM = [sys.executable, "-m", "ipgwsim.runtime.serialurl.miniterm"]


@asynccontextmanager
async def runtime(state: Path, ports: Ports, *console: str) -> AsyncIterator[None]:
    """``ipgwsim run IP6000`` on the test's ports and state directory until the block ends."""
    argv = [
        "run", "IP6000", "--state", str(state), "--port", str(ports.udp()),
        "--http-port", str(ports.tcp()), "--speed", "1000", *console,
    ]  # fmt: skip
    async with running(*IPGWSIM, *argv) as runner:
        summary = await read_line(runner.stdout)
        assert summary.startswith("ipgwsim: 1 x IP6000 on loopback"), summary
        yield


def log_in(port: serial.SerialBase) -> None:
    """The factory login of an IP6000 on an opened console; fails naming what came instead."""
    for typed, wanted in ((b"\r", b"login: "), (b"admin\r", b"password: "), (b"ip6000\r", b"> ")):
        port.write(typed)
        answer = port.read_until(wanted)
        assert answer.endswith(wanted), answer


def command(port: serial.SerialBase, line: bytes) -> bytes:
    """Type ``line`` at the prompt; what the device answers, up to its next prompt."""
    port.write(line + b"\r")
    answer = port.read_until(b"IP6000> ")
    assert answer.endswith(b"IP6000> "), answer
    return answer


def refused(url: str) -> str:
    """The one-line error of opening ``url``."""
    with pytest.raises(serial.SerialException) as caught:
        serial.serial_for_url(url, timeout=WAIT)
    text = str(caught.value)
    assert text
    assert "\n" not in text
    return text


@pytest.mark.usefixtures("private_registry")
def test_serial_for_url_opens_a_running_devices_console(tmp_path: Path, ports: Ports) -> None:
    state = tmp_path / "state"
    console_port = ports.tcp(2)

    async def main() -> None:
        async with runtime(state, ports, "--console-port", str(console_port)):
            # The pty, by name: log in, run a command, read its answer.
            with serial.serial_for_url(f"ipgwsim://ip6000-1?state={state}", timeout=WAIT) as tty:
                assert tty.port == str((state / "ip6000-1" / "console").resolve())
                log_in(tty)
                assert b"config change ETH0 /dhcp auto\r\n" in command(tty, b"config show")
            # By MAC, on the raw TCP port: a session of its own.
            url = f"ipgwsim://00-90-33-10-00-01?state={state}&tcp"
            with serial.serial_for_url(url, timeout=WAIT) as tcp:
                assert tcp.port == f"socket://127.0.0.1:{console_port}"
                log_in(tcp)
                assert b"  log out\r\n" in command(tcp, b"help")
            url = f"ipgwsim://009033100001?state={state}&rfc2217"
            with serial.serial_for_url(url, timeout=WAIT) as rfc:
                assert rfc.port == f"rfc2217://127.0.0.1:{console_port + 1}"
                log_in(rfc)

            assert refused(f"ipgwsim://ip6000-7?state={state}") == (
                "no device 'ip6000-7' in this runtime (devices: ip6000-1)"
            )
            rc, _, err = await ipgwsim("power", "ip6000-1", "off", "--state", str(state))
            assert rc == 0, err
            assert refused(f"ipgwsim://ip6000-1?state={state}") == (
                f"ip6000-1 is switched off: switch it on first "
                f"(ipgwsim power ip6000-1 on --state {state})"
            )

    run(main(), timeout=120)


def test_bad_urls_and_no_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "nothing"
    assert refused(f"ipgwsim://ip6000-1?state={state}") == (
        f"no ipgwsim runtime is running with state directory {state} (no control socket "
        f"{state}/control.sock): start one with `ipgwsim run MODEL --state {state}`"
    )
    monkeypatch.setenv("IPGWSIM_STATE", str(tmp_path / "default"))
    assert f"state directory {tmp_path / 'default'} " in refused("ipgwsim://ip6000-1")

    form = "(expected ipgwsim://DEVICE[?state=DIR][&tcp|&rfc2217])"
    assert refused("ipgwsim://?state=x") == f"no device name or MAC in 'ipgwsim://?state=x' {form}"
    assert refused("ipgwsim://a/b") == f"no device name or MAC in 'ipgwsim://a/b' {form}"
    assert refused("ipgwsim://a?speed=1") == (
        "unknown option 'speed' in 'ipgwsim://a?speed=1' (known: state=DIR, tcp, rfc2217)"
    )
    assert (
        refused("ipgwsim://a?tcp=yes") == "tcp takes no value, not 'yes', in 'ipgwsim://a?tcp=yes'"
    )
    assert refused("ipgwsim://a?tcp&rfc2217") == (
        "tcp and rfc2217 are both given in 'ipgwsim://a?tcp&rfc2217': choose one"
    )
    assert refused("ipgwsim://a?state=x&state=y") == (
        "state= is given twice in 'ipgwsim://a?state=x&state=y'"
    )
    assert refused("ipgwsim://a?state=") == "state= needs a directory in 'ipgwsim://a?state='"


def test_importing_registers_once_and_the_one_liner_registers_without_it(tmp_path: Path) -> None:
    packages = serial.protocol_handler_packages
    register()
    assert packages.count("ipgwsim.runtime.serialurl") == 1

    # A fresh interpreter that imports nothing of ipgwsim: pyserial knows no ipgwsim:// ...
    url = f"ipgwsim://ip6000-1?state={tmp_path}"
    opening = f"import serial\nserial.serial_for_url({url!r})"
    done = subprocess.run(
        [sys.executable, "-c", opening], capture_output=True, text=True, timeout=WAIT, check=False
    )
    assert "ValueError: invalid URL, protocol 'ipgwsim' not known" in done.stderr
    # ... until the documented line lists the package: then it is ipgwsim's handler that says
    # there is no runtime.
    one_liner = 'serial.protocol_handler_packages.append("ipgwsim.runtime.serialurl")'
    done = subprocess.run(
        [sys.executable, "-c", opening.replace("\n", f"\n{one_liner}\n", 1)],
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    assert "serial.serialutil.SerialException: no ipgwsim runtime is running" in done.stderr


@pytest.mark.usefixtures("private_registry")
def test_miniterm_wrapper_on_a_terminal(tmp_path: Path, ports: Ports) -> None:
    state = tmp_path / "state"

    async def main() -> None:
        async with runtime(state, ports, "--no-console-tcp"):
            assert refused(f"ipgwsim://ip6000-1?state={state}&tcp") == (
                "the console of ip6000-1 is not served on TCP: start the runtime with --console-tcp"
            )
            with on_terminal([*MINITERM, f"ipgwsim://ip6000-1?state={state}"], WAIT) as (
                child,
                master,
                _slave,
            ):
                seen = bytearray()
                banner = read_fd_until(master, b"Ctrl+H ---", seen)
                pts = (state / "ip6000-1" / "console").resolve()
                assert f"--- Miniterm on {pts}".encode() in banner
                assert b"--- Quit: Ctrl+]" in banner
                os.write(master, b"\r")
                read_fd_until(master, b"login: ", seen)
                os.write(master, b"admin\r")
                read_fd_until(master, b"password: ", seen)
                os.write(master, b"ip6000\r")
                assert b"IP6000 firmware " in read_fd_until(master, b"IP6000> ", seen)
                os.write(master, b"config show\r")
                answer = read_fd_until(master, b"IP6000> ", seen)
                assert b"config change ETH0 /dhcp auto" in answer
                os.write(master, b"\x1d")  # Ctrl-]
                assert child.wait(WAIT) == 0
                read_fd_until(master, b"--- exit ---", seen)

    run(main(), timeout=120)


def test_miniterm_wrapper_says_why_it_cannot_open(tmp_path: Path) -> None:
    url = f"ipgwsim://ip6000-1?state={tmp_path}"
    done = subprocess.run(
        [*MINITERM, url],
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 1
    assert done.stderr.splitlines()[0] == (
        f"could not open port {url!r}: no ipgwsim runtime is running with state directory "
        f"{tmp_path} (no control socket {tmp_path}/control.sock): start one with "
        f"`ipgwsim run MODEL --state {tmp_path}`"
    )


def test_a_broken_connection_or_a_reply_not_json_is_one_line(tmp_path: Path) -> None:
    """A control socket that closes without answering, one that answers with a line that
    is not HTTP, then one whose HTTP reply is not JSON: each open ends in one
    SerialException line, never a traceback."""
    state = tmp_path / "state"
    state.mkdir()
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(state / "control.sock"))
    server.listen()

    def serve() -> None:
        not_json = b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nnot json\n"
        for reply in (b"", b"not http\n", not_json):
            conn, _ = server.accept()
            with conn:
                conn.recv(4096)
                conn.sendall(reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        errors = []
        for _ in range(3):
            with pytest.raises(serial.SerialException) as caught:
                serial.serial_for_url(f"ipgwsim://ip6000-1?state={state}")
            errors.append(str(caught.value))
    finally:
        thread.join(10)
        server.close()
    sock = state / "control.sock"
    assert errors == [
        f"the runtime at {sock} closed the connection without answering",
        f"the runtime at {sock} answered with something that is not the control API's "
        "HTTP (BadStatusLine: not http)",
        f"the runtime at {sock} answered with something that is not the control API's "
        "JSON (HTTP 200: 'not json\\n')",
    ]
    assert all(error and "\n" not in error for error in errors)
