"""What a runtime of thousands of devices needs: consoles without a pty, and devices of a
lab of one spec per device chosen and registered in one batch."""

from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path

import pytest

from ipgwsim.runtime import statedir
from ipgwsim.runtime.clock import ManualClock
from ipgwsim.runtime.console import Console
from ipgwsim.runtime.control import ControlClient
from ipgwsim.runtime.devicespec import DeviceSpec
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


# -- one batch for many specs ---------------------------------------------------------------


def test_many_specs_read_the_folders_once_and_register_once(
    tmp_path: Path, ports: Ports, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lab of one ``[[device]]`` per device: its folders are read once (not once per
    spec) and the registry entry is written once for all of them."""
    count = 30
    specs = [DeviceSpec("IP6000", name=f"d{n}") for n in range(1, count + 1)]
    registry = Registry(tmp_path / "registry")
    reads: list[Path] = []
    registers: list[int] = []
    read_instance = statedir.read_instance

    def counted_read(folder: Path) -> statedir.DeviceRecord:
        reads.append(folder)
        return read_instance(folder)

    register = registry.register

    def counted_register(entry: object) -> None:
        registers.append(1)
        register(entry)  # type: ignore[arg-type]

    monkeypatch.setattr(statedir, "read_instance", counted_read)
    monkeypatch.setattr(registry, "register", counted_register)

    async def start() -> list[str]:
        async with Runtime(
            tmp_path / "state",
            port=ports.udp(),
            http_port=ports.tcp(),
            clock=ManualClock(),
            console_pty=False,
            registry=registry,
        ) as rt:
            registers.clear()
            hosts = rt.add_many(specs)
            assert len(registers) == 1
            assert rt.entry is not None
            assert len(rt.entry.macs) == count
            return [h.mac for h in hosts]

    made = run(start())  # new folders
    assert len(set(made)) == count
    reads.clear()
    again = run(start())  # the same folders, saved
    assert again == made
    assert len(reads) == count  # each folder once


def test_a_spec_that_fails_stops_the_ones_after_it_only(tmp_path: Path, ports: Ports) -> None:
    specs = [
        DeviceSpec("IP6000", name="first"),
        DeviceSpec("IP6000", name="second"),
        DeviceSpec("IP9999", name="bad"),
        DeviceSpec("IP6000", name="after"),
    ]

    async def main() -> None:
        async with Runtime(
            tmp_path / "state",
            port=ports.udp(),
            http_port=ports.tcp(),
            clock=ManualClock(),
            console_pty=False,
            registry=Registry(tmp_path / "registry"),
        ) as rt:
            with pytest.raises(RuntimeSetupError, match="no hardware profile for 'IP9999'"):
                rt.add_many(specs)
            assert [h.name for h in rt.devices] == ["first", "second"]
            assert not (tmp_path / "state" / "after").exists()
            assert rt.entry is not None
            assert sorted(rt.entry.macs.values()) == ["first", "second"]
            # Unnamed specs of one batch never take the same saved folder twice.
            rt.add_many([DeviceSpec("IP800", 2), DeviceSpec("IP800", 1)])
            assert [h.name for h in rt.devices][2:] == ["ip800-1", "ip800-2", "ip800-3"]

    run(main())


# -- a big fleet added while the event loop turns -------------------------------------------


def test_adding_a_fleet_lets_the_event_loop_turn_between_chunks(
    tmp_path: Path, ports: Ports
) -> None:
    """The devices started first are served (here: another task runs) while the rest start,
    not only after the last one."""
    specs = [DeviceSpec("IP6000", name=f"d{n}") for n in range(1, 13)]

    async def main() -> None:
        async with Runtime(
            tmp_path / "state",
            port=ports.udp(),
            http_port=ports.tcp(),
            clock=ManualClock(),
            console_pty=False,
            registry=Registry(tmp_path / "registry"),
        ) as rt:
            seen: list[int] = []
            adding = asyncio.ensure_future(rt.add_many_turning(specs, every=5))
            while not adding.done():
                seen.append(len(rt.devices))
                await asyncio.sleep(0)
            hosts = await adding
            assert [h.name for h in hosts] == [f"d{n}" for n in range(1, 13)]
            assert {5, 10} <= set(seen)  # the loop turned after 5 and after 10
            with pytest.raises(ValueError, match="every must be 1 or more, not 0"):
                await rt.add_many_turning(specs, every=0)
            with pytest.raises(RuntimeSetupError, match="d1: named by device spec 1 and 2"):
                await rt.add_many_turning([DeviceSpec("IP6000", name="d1")] * 2)

    run(main())


def test_a_runtime_stopped_while_a_fleet_is_added_starts_no_more(
    tmp_path: Path, ports: Ports
) -> None:
    specs = [DeviceSpec("IP6000", name=f"d{n}") for n in range(1, 13)]

    async def main() -> None:
        registry = Registry(tmp_path / "registry")
        async with Runtime(
            tmp_path / "state",
            port=ports.udp(),
            http_port=ports.tcp(),
            clock=ManualClock(),
            console_pty=False,
            registry=registry,
        ) as rt:
            adding = asyncio.ensure_future(rt.add_many_turning(specs, every=5))
            while len(rt.devices) < 5:
                await asyncio.sleep(0)
            await rt.stop()
            with pytest.raises(RuntimeSetupError, match=r"stopped while devices were added \(5 "):
                await adding
            assert [h.name for h in rt.devices] == [f"d{n}" for n in range(1, 6)]
            assert not (tmp_path / "state" / "d6").exists()  # new ones left no folder

    run(main())
