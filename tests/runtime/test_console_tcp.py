"""The device console on TCP: pyserial's ``socket://`` and ``rfc2217://`` (real runtime)."""

from __future__ import annotations

import asyncio
import socket
import struct
from pathlib import Path

import pytest
import serial

from ipgwsim.device import default_config as _factory_config
from ipgwsim.events import Mode
from ipgwsim.hw_profiles import find_profile as _find_profile
from ipgwsim.runtime.clock import ManualClock
from ipgwsim.runtime.consoletcp import ConsoleTcp
from ipgwsim.runtime.devicespec import DeviceSpec
from ipgwsim.runtime.errors import RuntimeSetupError
from ipgwsim.runtime.host import DeviceHost
from ipgwsim.runtime.runtime import Runtime
from ipgwsim.testing.loopback import Ports, read_to_the_end, run

#: The factory config (the firmware's defaults), as config show prints it.
FACTORY = _factory_config(_find_profile("IP6000"))


pytestmark = [
    pytest.mark.integration,
    # pyserial's RFC 2217 client starts its reader thread the old way.
    pytest.mark.filterwarnings("ignore:set(Daemon|Name)\\(\\) is deprecated:DeprecationWarning"),
]


async def _open(url: str) -> serial.SerialBase:
    """Open a pyserial URL (RFC 2217 negotiates here) without blocking the runtime's loop."""
    return await asyncio.to_thread(serial.serial_for_url, url, timeout=5)


async def _close(port: serial.SerialBase) -> None:
    await asyncio.to_thread(port.close)


async def _expect(port: serial.SerialBase, wanted: str) -> str:
    """Read until ``wanted`` (pyserial's timeout ends a console that stopped)."""
    data = await asyncio.to_thread(port.read_until, wanted.encode())
    text: str = data.decode("utf-8", "replace")
    assert text.endswith(wanted), f"the console stopped before {wanted!r}; got {text!r}"
    return text


async def _type(port: serial.SerialBase, text: str, wanted: str) -> str:
    await asyncio.to_thread(port.write, text.encode())
    return await _expect(port, wanted)


async def _login_and_show(port: serial.SerialBase) -> None:
    await _type(port, "\r", "login: ")
    await _type(port, "admin\r", "password: ")
    out = await _type(port, "ip6000\r", "IP6000> ")
    assert out.endswith("IP6000 firmware 08-6000.08\r\nIP6000> ")
    assert "ip6000\r" not in out  # the password is not echoed
    out = await _type(port, "config show\r", "IP6000> ")
    assert out == "config show\r\n" + FACTORY + "IP6000> "


def _runtime(tmp_path: Path, ports: Ports, clock: ManualClock) -> Runtime:
    """A runtime that serves the consoles on TCP (off by default)."""
    return Runtime(
        tmp_path / "state",
        port=ports.udp(),
        http_port=ports.tcp(),
        clock=clock,
        console_tcp=True,
    )


def _one(rt: Runtime) -> tuple[DeviceHost, ConsoleTcp]:
    (host,) = rt.add_devices("IP6000", 1)
    assert host.status().mode is Mode.FIRMWARE
    assert host.console_tcp is not None
    return host, host.console_tcp


async def _wait_for_clients(tcp: ConsoleTcp, count: int) -> None:
    """The server has accepted ``count`` clients (a connect may return before the accept).

    The accept runs on this event loop, which the loop below lets turn; the kernel
    reports the connection to nobody else. A real-time bound, as the client is a real
    socket (in another thread) whose pace nothing here sets.
    """
    async with asyncio.timeout(5):
        while tcp.clients != count:
            await asyncio.sleep(0)


def test_login_and_config_show_over_raw_tcp(tmp_path: Path, ports: Ports) -> None:
    async def main() -> None:
        clock = ManualClock()
        async with _runtime(tmp_path, ports, clock) as rt:
            _host, tcp = _one(rt)
            assert tcp.raw_url == f"socket://127.0.0.1:{tcp.raw_port}"
            port = await _open(tcp.raw_url)
            try:
                await _login_and_show(port)
            finally:
                await _close(port)
            assert rt.errors == []

    run(main(), timeout=60)


def test_login_and_config_show_over_rfc2217(tmp_path: Path, ports: Ports) -> None:
    async def main() -> None:
        clock = ManualClock()
        async with _runtime(tmp_path, ports, clock) as rt:
            host, tcp = _one(rt)
            port = await asyncio.wait_for(_open(tcp.rfc2217_url), 20)
            try:
                # The negotiated settings came back from the server.
                assert port.baudrate == 9600
                await asyncio.to_thread(setattr, port, "baudrate", 115200)
                await _login_and_show(port)
                # A 0xff byte of the output is escaped as Telnet IAC IAC and arrives once.
                (_pty, connection) = host.terminals.all()
                connection.write(b"\xff\xfe raw\r\n")
                data = await asyncio.to_thread(port.read_until, b"raw\r\n")
                assert data == b"\xff\xfe raw\r\n"
            finally:
                await _close(port)
            assert rt.errors == []

    run(main(), timeout=60)


def test_device_output_reaches_every_client_and_the_pty(tmp_path: Path, ports: Ports) -> None:
    async def main() -> None:
        clock = ManualClock()
        async with _runtime(tmp_path, ports, clock) as rt:
            host, tcp = _one(rt)
            raw = await _open(tcp.raw_url)
            rfc = await asyncio.wait_for(_open(tcp.rfc2217_url), 20)
            pty = serial.Serial(host.console.path, timeout=5)
            try:
                await _wait_for_clients(tcp, 2)
                released = rt.press("ip6000-1", 0.3)
                await clock.advance(0.3)
                await released
                for port in (raw, rfc, pty):
                    out = await _expect(port, "the defaults apply (user admin)\r\nlogin: ")
                    assert "[   0.000] LED: blinking" in out
            finally:
                pty.close()
                await _close(rfc)
                await _close(raw)
            assert rt.errors == []

    run(main(), timeout=60)


def test_a_client_going_away_does_not_disturb_the_device(tmp_path: Path, ports: Ports) -> None:
    async def main() -> None:
        clock = ManualClock()
        async with _runtime(tmp_path, ports, clock) as rt:
            host, tcp = _one(rt)
            # A client that connects and resets the connection at once.
            sock = socket.create_connection(("127.0.0.1", tcp.raw_port))
            await _wait_for_clients(tcp, 1)
            linger_zero = struct.pack("ii", 1, 0)  # close sends a reset
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger_zero)
            sock.close()
            await _wait_for_clients(tcp, 0)
            host.console.write("after the reset")
            # Another client logs in while one stays connected.
            idle = await _open(tcp.raw_url)
            port = await _open(tcp.raw_url)
            try:
                await _login_and_show(port)
            finally:
                await _close(port)
                await _close(idle)
            assert host.status().mode is Mode.FIRMWARE
            assert rt.errors == []

    run(main(), timeout=60)


def test_a_client_that_never_reads_is_cut_off(tmp_path: Path, ports: Ports) -> None:
    """A client that stops reading while the console floods: once 1 MiB waits for it, it
    is counted out and its connection is cut off (reset), not left open with the bytes."""

    async def main() -> None:
        clock = ManualClock()
        async with _runtime(tmp_path, ports, clock) as rt:
            host, tcp = _one(rt)
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", tcp.raw_port))
            sock.setblocking(False)
            try:
                await _wait_for_clients(tcp, 1)
                async with asyncio.timeout(30):
                    for count in range(100_000):
                        if not tcp.clients:
                            break
                        host.console.write("x" * 200)
                        if count % 20 == 0:
                            await asyncio.sleep(0)  # the connection's handler takes its turn
                assert tcp.clients == 0
                assert host.console_clients.count() == 0
                with pytest.raises(ConnectionResetError):
                    await read_to_the_end(sock)
            finally:
                sock.close()
            assert host.status().mode is Mode.FIRMWARE

    run(main(), timeout=60)


def test_each_connection_has_a_session_of_its_own(tmp_path: Path, ports: Ports) -> None:
    """One client logs in, runs commands and types a /user password; the other client and
    the pty, both at ``login: ``, see none of it."""

    async def main() -> None:
        clock = ManualClock()
        async with _runtime(tmp_path, ports, clock) as rt:
            host, tcp = _one(rt)
            first = await _open(tcp.raw_url)
            second = await _open(tcp.rfc2217_url)
            pty = serial.Serial(host.console.path, timeout=5)
            try:
                await _wait_for_clients(tcp, 2)
                await _login_and_show(first)
                out = await _type(first, "config change CMD0 /user admin,s3cret\r", "IP6000> ")
                assert out.startswith("config change CMD0 /user admin,s3cret\r\n")
                # Each reply follows all that was sent to that client before it: the
                # greeting at most (pyserial may have flushed it), then the reply.
                seen = await _type(second, "probe\r", "password: ")
                assert seen in ("probe\r\npassword: ", "login: probe\r\npassword: ")
                # The pty's session is at login: still (its greeting came before the open).
                assert await _type(pty, "probe\r", "password: ") == "probe\r\npassword: "
            finally:
                pty.close()
                await _close(second)
                await _close(first)
            assert rt.errors == []

    run(main(), timeout=60)


def test_a_connection_starts_at_login_and_its_session_ends_with_it(
    tmp_path: Path, ports: Ports
) -> None:
    async def main() -> None:
        clock = ManualClock()
        async with _runtime(tmp_path, ports, clock) as rt:
            _host, tcp = _one(rt)
            port = await _open(tcp.raw_url)
            try:
                await _login_and_show(port)
            finally:
                await _close(port)
            await _wait_for_clients(tcp, 0)
            # A plain TCP client again: greeted with login:, and not logged in.
            reader, writer = await asyncio.open_connection("127.0.0.1", tcp.raw_port)
            try:
                async with asyncio.timeout(5):
                    assert await reader.readuntil(b"login: ") == b"login: "
                    writer.write(b"config show\r")
                    out = await reader.readuntil(b"password: ")
                assert out == b"config show\r\npassword: "
            finally:
                writer.close()
                await writer.wait_closed()
            assert rt.errors == []

    run(main(), timeout=60)


def test_the_pty_session_is_not_shared_with_tcp(tmp_path: Path, ports: Ports) -> None:
    async def main() -> None:
        clock = ManualClock()
        async with _runtime(tmp_path, ports, clock) as rt:
            host, tcp = _one(rt)
            pty = serial.Serial(host.console.path, timeout=5)
            client = await _open(tcp.raw_url)
            try:
                await _login_and_show(pty)  # logged in on the serial line
                await _wait_for_clients(tcp, 1)
                out = await _type(client, "config show\r", "password: ")
                assert out.endswith("config show\r\npassword: ")  # a user name here
                assert FACTORY not in out
                assert await _type(pty, "\r", "IP6000> ") == "\r\nIP6000> "
            finally:
                await _close(client)
                pty.close()
            assert rt.errors == []

    run(main(), timeout=60)


def test_ports_from_a_base_and_everything_closed_at_stop(tmp_path: Path, ports: Ports) -> None:
    async def main() -> None:
        base = ports.tcp(4)  # four consecutive ports, held for the test (not guessed)
        rt = Runtime(
            tmp_path / "state",
            port=ports.udp(),
            http_port=ports.tcp(),
            clock=ManualClock(),
            console_tcp=True,
            console_port_base=base,
        )
        async with rt:
            first, second = rt.add_devices("IP6000", 2)
            assert first.console_tcp is not None
            assert second.console_tcp is not None
            assert (first.console_tcp.raw_port, first.console_tcp.rfc2217_port) == (base, base + 1)
            assert second.console_tcp.raw_port == base + 2
            assert second.console_tcp.rfc2217_port == base + 3
            client = await _open(first.console_tcp.raw_url)
            await _wait_for_clients(first.console_tcp, 1)
        # Stopped: the client sees the end, the ports are free again.
        with pytest.raises(serial.SerialException, match="disconnected"):
            await asyncio.to_thread(client.read, 4096)  # after its login: (if still unread)
        client.close()
        for port in range(base, base + 4):
            with socket.socket() as again:
                again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                again.bind(("127.0.0.1", port))

    run(main(), timeout=60)


def test_no_tcp_by_default_and_a_bad_base(tmp_path: Path, ports: Ports) -> None:
    async def main() -> None:
        async with Runtime(
            tmp_path / "state", port=ports.udp(), http_port=ports.tcp(), clock=ManualClock()
        ) as rt:
            (host,) = rt.add_devices("IP6000", 1)
            assert host.console_tcp is None
            with pytest.raises(RuntimeSetupError) as info:
                rt.add(DeviceSpec("IP6000", console_port=ports.tcp()))
            assert "needs console_tcp=True (the consoles on TCP are off by default)" in str(
                info.value
            )
            assert len(rt.devices) == 1

    run(main())
    with pytest.raises(RuntimeSetupError, match="console_port_base"):
        Runtime(tmp_path / "other", console_tcp=True, console_port_base=70000)
    with pytest.raises(RuntimeSetupError, match=r"console_port_base 7000 needs console_tcp=True"):
        Runtime(tmp_path / "other", console_port_base=7000)
