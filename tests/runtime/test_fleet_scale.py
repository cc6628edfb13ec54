"""What a runtime of thousands of devices needs: consoles without a pty."""

from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path

import pytest

from ipgwsim.runtime.clock import ManualClock
from ipgwsim.runtime.console import Console
from ipgwsim.runtime.control import ControlClient
from ipgwsim.runtime.errors import RuntimeSetupError
from ipgwsim.runtime.registry import Registry
from ipgwsim.runtime.runtime import Runtime
from ipgwsim.testing.loopback import Ports, run

pytestmark = pytest.mark.integration


def ptys_open() -> int:
    """The pty masters this process holds."""
    fds = Path("/proc/self/fd")
    count = 0
    for fd in fds.iterdir():
        try:
            if os.readlink(fd) == "/dev/ptmx":
                count += 1
        except OSError:
            continue
    return count


# -- consoles without a pty -----------------------------------------------------------------


def test_a_console_without_a_pty_keeps_its_lines_and_sinks() -> None:
    before = ptys_open()
    console = Console(lambda: 1.5, pty=False)
    assert console.path is None
    assert ptys_open() == before
    chunks: list[bytes] = []
    lines: list[str] = []
    console.sinks.append(chunks.append)
    console.line_sinks.append(lines.append)
    console.write_raw(b"login: ")
    console.write("starting firmware")
    assert console.tail() == ["[   1.500] starting firmware"]
    assert lines == ["[   1.500] starting firmware"]
    # After an open prompt the line starts on a line of its own, as on a pty.
    assert chunks == [b"login: ", b"\r\n[   1.500] starting firmware\r\n"]
    typed: list[bytes] = []
    console._on_input = typed.append
    console.feed(b"admin\r")
    assert typed == [b"admin\r"]
    console.close()
    assert console.closed
    console.write("after the close")
    assert console.tail() == ["[   1.500] starting firmware"]


def test_a_runtime_without_ptys_serves_every_console_by_the_api(
    tmp_path: Path, ports: Ports
) -> None:
    state = tmp_path / "state"
    before = ptys_open()

    async def main() -> None:
        clock = ManualClock()
        async with Runtime(
            state,
            port=ports.udp(),
            http_port=ports.tcp(),
            clock=clock,
            console_pty=False,
            registry=Registry(tmp_path / "registry"),
        ) as rt:
            hosts = rt.add_devices("IP6000", 3)
            await clock.advance(5)
            assert ptys_open() == before
            for host in hosts:
                assert host.console.path is None
                assert not (state / host.name / "console").exists()
                assert any("firmware" in line for line in host.console.tail())
            client = ControlClient(state)
            try:
                reply = await asyncio.to_thread(
                    client.request, "console", device="ip6000-2", lines=50
                )
            finally:
                client.close()
            assert reply["pty"] is None
            assert reply["lines"] == hosts[1].console.tail(50)

    run(main())


def test_a_console_whose_pty_cannot_be_opened_is_refused_in_one_line(
    tmp_path: Path, ports: Ports, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_pty() -> tuple[int, int]:
        raise OSError(errno.ENOSPC, "No space left on device")

    registry = Registry(tmp_path / "registry")

    async def main() -> None:
        async with Runtime(
            tmp_path / "state",
            port=ports.udp(),
            http_port=ports.tcp(),
            clock=ManualClock(),
            registry=registry,
        ) as rt:
            (first,) = rt.add_devices("IP6000", 1)
            monkeypatch.setattr(os, "openpty", no_pty)
            with pytest.raises(RuntimeSetupError) as info:
                rt.add_devices("IP6000", 2)
            message = str(info.value)
            assert "\n" not in message
            assert message.startswith("ip6000-2: cannot open a pty for its console: no pty left (")
            assert "kernel.pty.max = " in message
            assert "--no-console-pty" in message
            assert "console_pty = false" in message
            # Nothing is left of the devices that did not start.
            assert [h.name for h in rt.devices] == [first.name]
            assert not (tmp_path / "state" / "ip6000-2").exists()
            assert rt.entry is not None
            assert sorted(rt.entry.macs.values()) == [first.name]

    run(main())
