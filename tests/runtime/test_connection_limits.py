"""Connection limits and timeouts of the devices' web servers (a real runtime, real sockets).

About 20,000 idle connections to one device's web port used up the runtime's file
descriptors: the control socket, TFTP and flash saves failed for every device, and asyncio
logged a traceback per failed accept. Now a device takes 16 HTTP connections; a new one
takes the place of the one that has waited longest for a request's head, and while all 16
have requests running the rest are answered 503 and closed at once; the runtime says so
once; a connection that does not send its request's head in time is closed.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import resource
import socket
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import serial

from ipgwsim.hw_profiles import find_profile
from ipgwsim.runtime.clock import ManualClock
from ipgwsim.runtime.connlimit import MAX_DEVICE_CONNECTIONS, ConnectionLimits
from ipgwsim.runtime.control import ControlClient
from ipgwsim.runtime.flashfile import load_flash
from ipgwsim.runtime.host import DeviceHost
from ipgwsim.runtime.runtime import Runtime
from ipgwsim.testing.flash import newest_generation
from ipgwsim.testing.loopback import Ports, run
from ipgwsim.testing.web import curl, short_press

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("private_registry")]

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]
FACTORY_IP = "127.168.0.1"
#: Bound (real seconds) on waits for the server, which sets the pace there.
BOUND = 10.0


async def until(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` (the server tells no one when it saw a close) within BOUND."""
    loop = asyncio.get_running_loop()
    end = loop.time() + BOUND
    while not condition():
        assert loop.time() < end, f"timed out after {BOUND:g} s waiting for {what}"
        await asyncio.sleep(0.01)


async def hold(port: int, count: int) -> list[Streams]:
    """``count`` idle connections to the device's web server (the server accepts them in
    order: a connection opened after them is accepted after them)."""
    return [await asyncio.open_connection(FACTORY_IP, port) for _ in range(count)]


#: A request whose body never comes: it runs (for the body timeout) and holds its connection.
STALLED = (
    b"PUT /upload/config HTTP/1.1\r\nHost: x\r\nAuthorization: Basic "
    + base64.b64encode(b"admin:ip6000")
    + b"\r\nContent-Length: 100\r\n\r\nconfig"
)


async def hold_busy(port: int, count: int, host: DeviceHost) -> list[Streams]:
    """``count`` connections whose requests run (their bodies never end)."""
    held = []
    for _ in range(count):
        reader, writer = await asyncio.open_connection(FACTORY_IP, port)
        writer.write(STALLED)
        held.append((reader, writer))
    web = host.web
    assert web is not None
    await until(lambda: web.connections == count and web.waiting == 0, "the requests to run")
    return held


async def refused(port: int) -> bytes:
    """Connect, send nothing, read what the server says until it closes."""
    reader, writer = await asyncio.open_connection(FACTORY_IP, port)
    try:
        return await asyncio.wait_for(reader.read(), BOUND)
    finally:
        writer.close()


def close_all(held: list[Streams]) -> None:
    for _, writer in held:
        writer.close()


@asynccontextmanager
async def served_device(
    tmp_path: Path, ports: Ports, limits: ConnectionLimits | None = None
) -> AsyncIterator[tuple[Runtime, DeviceHost, int, str]]:
    """One IP6000 in a runtime of the test's own (ports of its run), its web server up at the
    factory address after a short press: (runtime, device, web port, web URL)."""
    clock = ManualClock()
    http = ports.tcp()
    async with Runtime(
        tmp_path / "s", port=ports.udp(), clock=clock, http_port=http, connection_limits=limits
    ) as rt:
        (host,) = rt.add_devices("IP6000", 1)
        url = await short_press(rt, clock, host)
        yield rt, host, http, url


@pytest.mark.requires("curl")
def test_connections_over_the_device_limit_are_refused_and_the_runtime_still_answers(
    tmp_path: Path, ports: Ports
) -> None:
    async def main() -> None:
        async with served_device(tmp_path, ports) as (rt, host, http, url):
            held = await hold_busy(http, MAX_DEVICE_CONNECTIONS, host)
            try:
                for _ in range(20):
                    answer = await refused(http)
                    assert answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n"), answer
                    assert answer.endswith(
                        b"\r\n\r\n503 ip6000-1 has 16 HTTP connections open, its limit: "
                        b"try again later\r\n"
                    ), answer
                assert rt.connections is not None
                assert rt.connections.open(host.name, "HTTP") == MAX_DEVICE_CONNECTIONS

                # The control socket answers, and a write on the console is saved.
                client = ControlClient(rt.state.path, timeout=BOUND)
                status = await asyncio.to_thread(client.request, "status")
                assert [d["name"] for d in status["devices"]] == ["ip6000-1"]
                host.console.feed(b"admin\rip6000\rconfig change CMD0 /name held\rconfig write\r")
                await asyncio.sleep(0)  # one loop turn: the save scheduled by the write runs
                assert host.degraded is None
                saved = load_flash(host.record.flash_path)
                profile = find_profile("IP6000")
                assert newest_generation(saved, profile) == newest_generation(host.flash, profile)

                # Under the limit again, a request is served.
                close_all(held[:2])
                budget = rt.connections
                await until(
                    lambda: budget.open(host.name, "HTTP") < MAX_DEVICE_CONNECTIONS, "a close"
                )
                assert (await curl(f"{url}/CMD0/box_info.xml"))[0] == 200
            finally:
                close_all(held)

    run(main())


@pytest.mark.requires("curl")
def test_idle_connections_give_way_to_new_ones_oldest_first(tmp_path: Path, ports: Ports) -> None:
    async def main() -> None:
        async with served_device(tmp_path, ports) as (rt, host, http, url):
            held = await hold(http, MAX_DEVICE_CONNECTIONS)
            web = host.web
            assert web is not None
            await until(lambda: web.connections == MAX_DEVICE_CONNECTIONS, "the connections")
            try:
                # At the limit, every new request is served: it takes the place of the idle
                # connection that has waited longest, and the others stay.
                for n in range(3):
                    status, body = await curl(f"{url}/CMD0/box_info.xml")
                    assert status == 200, body
                    assert await asyncio.wait_for(held[n][0].read(), BOUND) == b""  # closed
                    held += await hold(http, 1)  # at the limit again
                    await until(lambda: web.connections == MAX_DEVICE_CONNECTIONS, "it")
                for reader, _ in held[3:]:
                    with pytest.raises(TimeoutError):
                        await asyncio.wait_for(reader.read(1), 0.05)  # open and silent
                assert rt.connections is not None
                assert rt.connections.open(host.name, "HTTP") <= MAX_DEVICE_CONNECTIONS
            finally:
                close_all(held)

    run(main())


def test_a_limit_reached_is_said_once_and_cleared_once(
    tmp_path: Path, ports: Ports, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        async with served_device(tmp_path, ports) as (rt, host, http, _):
            caplog.clear()
            held = await hold_busy(http, MAX_DEVICE_CONNECTIONS, host)
            try:
                for _ in range(200):
                    assert b" 503 " in await refused(http)
            finally:
                close_all(held)
            budget = rt.connections
            assert budget is not None
            await until(lambda: budget.total == 0, "the held connections to close")

        records = [
            r for r in caplog.records if r.name.startswith(("ipgwsim", "aiohttp", "asyncio"))
        ]
        assert all(r.exc_info is None for r in records), [r.getMessage() for r in records]
        said = [r.getMessage() for r in records if "limit" in r.getMessage()]
        assert said == [
            "ip6000-1: 16 HTTP connections are open, the limit per device: further ones are "
            "refused until fewer are open",
            "ip6000-1: HTTP connections below the limit again (200 refused meanwhile)",
        ]
        assert [r.levelno for r in records if "limit" in r.getMessage()] == [
            logging.WARNING,
            logging.INFO,
        ]

    caplog.set_level(logging.DEBUG)
    run(main())


def test_slow_or_silent_clients_are_closed_after_the_header_timeout(
    tmp_path: Path, ports: Ports
) -> None:
    async def main() -> None:
        limits = ConnectionLimits(header_timeout=1.0)
        async with served_device(tmp_path, ports, limits) as (rt, _, http, _):
            loop = asyncio.get_running_loop()
            opened = loop.time()
            silent = await asyncio.open_connection(FACTORY_IP, http)
            slow = await asyncio.open_connection(FACTORY_IP, http)
            idle = await asyncio.open_connection(FACTORY_IP, http)

            async def trickle() -> int:
                """Send a request's head a byte at a time, until the server closes."""
                reader, writer = slow
                sent = 0
                head = b"GET /CMD0/box_info.xml HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000
                while True:
                    writer.write(head[sent : sent + 1])
                    sent += 1
                    try:
                        data = await asyncio.wait_for(reader.read(1), 0.05)
                    except TimeoutError:
                        continue  # still open: the next byte
                    assert data == b"", data  # no answer: the head is not complete
                    return sent

            async def answered_then_idle() -> bytes:
                """One request answered on a keep-alive connection, then nothing."""
                reader, writer = idle
                writer.write(b"GET /CMD0/box_info.xml HTTP/1.1\r\nHost: x\r\n\r\n")
                return await asyncio.wait_for(reader.read(), BOUND)

            async def closed(streams: Streams) -> bytes:
                return await asyncio.wait_for(streams[0].read(), BOUND)

            sent, answer, nothing = await asyncio.wait_for(
                asyncio.gather(trickle(), answered_then_idle(), closed(silent)), BOUND
            )
            assert loop.time() - opened >= limits.header_timeout
            assert sent > 1  # the bytes kept coming, and did not keep it open
            assert re.match(rb"HTTP/1\.1 200 OK\r\n", answer), answer
            assert nothing == b""
            for _, writer in (silent, slow, idle):
                writer.close()
            budget = rt.connections
            assert budget is not None
            await until(lambda: budget.total == 0, "the connections to be counted out")

    run(main())


def test_a_body_that_does_not_arrive_in_time_is_answered_408(tmp_path: Path, ports: Ports) -> None:
    async def main() -> None:
        limits = ConnectionLimits(body_timeout=1.0)
        async with served_device(tmp_path, ports, limits) as (_, host, http, _):
            reader, writer = await asyncio.open_connection(FACTORY_IP, http)
            auth = base64.b64encode(b"admin:ip6000").decode()
            writer.write(
                f"PUT /upload/config HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n"
                "Content-Length: 1000\r\n\r\nconfig change CMD0 /name slow\r\n".encode()
            )
            answer = await asyncio.wait_for(reader.read(), BOUND)
            writer.close()
            assert re.match(rb"HTTP/1\.1 408 Request Timeout\r\n", answer), answer
            assert answer.endswith(b"\r\n\r\n408 the request's body did not arrive within 1 s\r\n")
            assert host.device.firmware is not None
            assert host.device.firmware.edited.get("CMD0", "name") == "IP6000"

    run(main())


#: The open-file limit of the runtime in the test below: the runtime needs about 14 to
#: run one device; it keeps a quarter (8) in reserve, so a flood of its web port meets
#: the reserve before the per-device limit.
NOFILE = 32


def _low_nofile() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))


@pytest.mark.requires("curl")
def test_a_flood_that_would_fill_the_descriptor_table_loses_nothing_acknowledged(
    tmp_path: Path, ports: Ports
) -> None:
    """A runtime with 32 descriptors, its web port flooded: the control socket answers,
    a ``config write`` acknowledged on the console is in the flash image at once (it
    survives even ``kill -9``: a restart loads that file)."""

    async def main() -> None:
        state, http = tmp_path / "s", ports.tcp()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ipgwsim.tools.cli", "run", "IP6000", "--state", str(state),
            "--port", str(ports.udp()), "--http-port", str(http), "--no-console-tcp",
            "--speed", "1000",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            preexec_fn=_low_nofile,
        )  # fmt: skip
        held: list[Streams] = []
        try:
            assert proc.stdout is not None
            assert (await asyncio.wait_for(proc.stdout.readline(), BOUND)).startswith(b"ipgwsim:")
            client = ControlClient(state, timeout=BOUND)
            await asyncio.to_thread(client.request, "press", device="ip6000-1", hold=0.3)
            # The web server starts after the restart; the runtime tells no one: poll.
            await until(lambda: _listening(FACTORY_IP, http), "the web server")

            answers: list[bytes] = []
            for _ in range(60):
                try:
                    connecting = asyncio.open_connection(FACTORY_IP, http)
                    streams = await asyncio.wait_for(connecting, 2)
                except TimeoutError:
                    answers.append(b"(the server accepts no more)")
                    break
                held.append(streams)
                try:
                    answers.append(await asyncio.wait_for(streams[0].read(200), 0.2))
                except TimeoutError:
                    answers.append(b"")  # accepted and waiting for a request
            # Meanwhile: the control socket answers; a write is saved when acknowledged.
            client = ControlClient(state, timeout=BOUND)
            (device,) = (await asyncio.to_thread(client.request, "status"))["devices"]
            assert device["degraded"] is None
            keeps = b"503 the runtime keeps its last 8 file descriptors for itself"
            assert any(keeps in answer for answer in answers), answers
            console = await asyncio.to_thread(client.request, "console", device="ip6000-1")
            with serial.Serial(console["pty"], timeout=BOUND) as port:
                typed = "\radmin\rip6000\rconfig change CMD0 /name held\rconfig write\r"
                await asyncio.to_thread(port.write, typed.encode())
                said = await asyncio.to_thread(port.read_until, b"config written as generation ")
                assert said.endswith(b"generation "), said
                number = await asyncio.to_thread(port.read_until, b"\r\n")
            acknowledged = int(number.strip())
            (device,) = (await asyncio.to_thread(client.request, "status"))["devices"]
            assert device["degraded"] is None
            assert device["mode"] == "running firmware"
        finally:
            for _, writer in held:
                writer.close()
            if proc.returncode is None:
                proc.kill()  # no save at the stop: what is on disk was saved before
                await proc.communicate()
        saved = load_flash(state / "ip6000-1" / "flash.img")
        assert newest_generation(saved, find_profile("IP6000")) == acknowledged

    run(main())


def _listening(ip: str, port: int) -> bool:
    try:
        with socket.create_connection((ip, port), timeout=1):
            return True
    except OSError:
        return False


def test_console_ports_take_16_clients_each(tmp_path: Path, ports: Ports) -> None:
    async def main() -> None:
        async with Runtime(
            tmp_path / "s",
            port=ports.udp(),
            clock=ManualClock(),
            http_port=ports.tcp(),
            console_tcp=True,
        ) as rt:
            (host,) = rt.add_devices("IP6000", 1)
            tcp = host.console_tcp
            assert tcp is not None
            for port, service in (
                (tcp.raw_port, "console"),
                (tcp.rfc2217_port, "RFC 2217 console"),
            ):
                held = [
                    await asyncio.open_connection("127.0.0.1", port)
                    for _ in range(MAX_DEVICE_CONNECTIONS)
                ]
                try:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    extra = await asyncio.wait_for(reader.read(), BOUND)  # closed at once
                    writer.close()
                    assert extra == b"" or extra[0] == 0xFF, extra  # only Telnet options
                    assert rt.connections is not None
                    assert rt.connections.open(host.name, service) == MAX_DEVICE_CONNECTIONS
                finally:
                    close_all(held)

    run(main())
