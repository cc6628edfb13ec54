"""Logging in on a device's pty console and running commands there (pyserial, real runtime)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import serial

from ipgwsim.device import default_config as _factory_config
from ipgwsim.events import Mode
from ipgwsim.firmware.console import SessionState
from ipgwsim.flash.faults import CutMode
from ipgwsim.hw_profiles import find_profile as _find_profile
from ipgwsim.runtime.clock import ManualClock
from ipgwsim.runtime.host import DeviceHost
from ipgwsim.runtime.runtime import Runtime
from ipgwsim.testing.loopback import Ports, run

#: The factory config (the firmware's defaults), as config show prints it.
FACTORY = _factory_config(_find_profile("IP6000"))


pytestmark = pytest.mark.integration


async def _expect(port: serial.Serial, wanted: str) -> str:
    """Read until ``wanted`` (pyserial's timeout ends a console that stopped)."""
    data = await asyncio.to_thread(port.read_until, wanted.encode())
    text: str = data.decode("utf-8", "replace")
    assert text.endswith(wanted), f"the console stopped before {wanted!r}; got {text!r}"
    return text


async def _type(port: serial.Serial, text: str, wanted: str) -> str:
    """Type ``text`` and read what the console prints until ``wanted``."""
    await asyncio.to_thread(port.write, text.encode())
    return await _expect(port, wanted)


async def _login(port: serial.Serial, password: str = "ip6000") -> str:
    # Opening the port flushed the first prompt: an empty line asks again.
    await _type(port, "\r", "login: ")
    await _type(port, "admin\r", "password: ")
    return await _type(port, password + "\r", "> ")


def _one(rt: Runtime) -> DeviceHost:
    (host,) = rt.add_devices("IP6000", 1)
    assert host.status().mode is Mode.FIRMWARE
    assert host.session is not None
    return host


def test_login_config_show_and_the_prompt_after_activate(tmp_path: Path, ports: Ports) -> None:
    async def main() -> None:
        clock = ManualClock()
        async with Runtime(
            tmp_path / "state", port=ports.udp(), http_port=ports.tcp(), clock=clock
        ) as rt:
            host = _one(rt)
            # The prompt came after the firmware's start lines.
            assert host.console.tail(1)[0].endswith(
                "admin: no stored credentials, the defaults apply (user admin)"
            )
            with serial.Serial(host.console.path, timeout=5) as port:
                out = await _login(port)
                assert out.endswith("IP6000 firmware 08-6000.08\r\nIP6000> ")
                assert "ip6000" not in out  # the password is not echoed

                out = await _type(port, "config show\r", "IP6000> ")
                assert out == "config show\r\n" + FACTORY + "IP6000> "

                await _type(port, "config change CMD0 /name lab-gw\r", "IP6000> ")
                out = await _type(port, "config write\r", "IP6000> ")
                assert out == "config write\r\nconfig written as generation 2\r\nIP6000> "
                out = await _type(port, "config activate\r", "lab-gw> ")
                assert out == "config activate\r\nlab-gw> "
                out = await _type(port, "config show\r", "lab-gw> ")
                assert "config change CMD0 /name lab-gw\r\n" in out

                # logout, then a restart by a short press: a new session, a new prompt.
                await _type(port, "logout\r", "login: ")
                await _login(port)
                released = rt.press("ip6000-1", 0.3)
                await clock.advance(0.3)
                await released
                out = await _expect(port, "login: ")
                assert out.startswith("\r\n[   0.000] LED: blinking")  # after the open prompt
                assert "[   0.300] config: generation 2 loaded, 3 modules\r\n" in out
                assert out.endswith("the defaults apply (user admin)\r\nlogin: ")
                assert host.session is not None
                assert host.session.state is SessionState.LOGIN
                # The written config runs after the restart.
                await _type(port, "admin\r", "password: ")
                await _type(port, "ip6000\r", "lab-gw> ")
            assert rt.errors == []
            assert host.console.dropped == 0

    run(main())


def test_wrong_password(tmp_path: Path, ports: Ports) -> None:
    async def main() -> None:
        clock = ManualClock()
        async with Runtime(
            tmp_path / "state", port=ports.udp(), http_port=ports.tcp(), clock=clock
        ) as rt:
            host = _one(rt)
            with serial.Serial(host.console.path, timeout=5) as port:
                await _type(port, "\r", "login: ")
                await _type(port, "admin\r", "password: ")
                out = await _type(port, "wrong\r", "login: ")
                assert out == "\r\nlogin incorrect\r\nlogin: "
                assert host.session is not None
                assert host.session.failures == 1

    run(main())


def test_after_three_failed_logins_the_console_waits_in_device_time(
    tmp_path: Path, ports: Ports
) -> None:
    async def main() -> None:
        clock = ManualClock()
        async with Runtime(
            tmp_path / "state", port=ports.udp(), http_port=ports.tcp(), clock=clock
        ) as rt:
            host = _one(rt)
            with serial.Serial(host.console.path, timeout=5) as port:
                await _type(port, "\r", "login: ")
                for _ in range(3):
                    await _type(port, "admin\r", "password: ")
                    out = await _type(port, "wrong\r", "login: ")
                assert out == (
                    "\r\nlogin incorrect\r\n3 failed logins in a row: wait 1 s\r\nlogin: "
                )
                await clock.advance(0.5)
                await _type(port, "admin\r", "password: ")
                out = await _type(port, "ip6000\r", "login: ")
                assert out == (
                    "\r\nlogin refused: 3 failed logins in a row from the console; "
                    "wait 1 s\r\nlogin: "
                )
                await clock.advance(0.5)
                assert (await _login(port)).endswith("IP6000> ")

    run(main())


def test_a_power_cut_in_a_command_switches_the_device_off(tmp_path: Path, ports: Ports) -> None:
    async def main() -> None:
        clock = ManualClock()
        async with Runtime(
            tmp_path / "state", port=ports.udp(), http_port=ports.tcp(), clock=clock
        ) as rt:
            host = _one(rt)
            with serial.Serial(host.console.path, timeout=5) as port:
                await _login(port)
                await _type(port, "config change CMD0 /name cut\r", "IP6000> ")
                await asyncio.to_thread(port.reset_input_buffer)
                rt.cut("ip6000-1", 1, CutMode.ATOMIC)
                out = await _type(port, "config write\r", "power off: power cut at flash operation")
                # The armed cut's line starts on a line of its own after the open prompt.
                assert out.startswith("\r\n[   0.000] power cut armed at flash operation")
                assert "(atomic)\r\nconfig write\r\n[   0.000] LED: off\r\n" in out
                assert host.status().mode is Mode.OFF
                assert host.session is None
                # Switched on again: the old config runs and a new session asks for a login.
                rt.power("ip6000-1", True)
                await _expect(port, "login: ")
                await _type(port, "admin\r", "password: ")
                await _type(port, "ip6000\r", "IP6000> ")
            assert rt.errors == []

    run(main())


def test_typed_input_is_dropped_in_tftp_mode(tmp_path: Path, ports: Ports) -> None:
    async def main() -> None:
        clock = ManualClock()
        async with Runtime(
            tmp_path / "state", port=ports.udp(), http_port=ports.tcp(), clock=clock
        ) as rt:
            host = _one(rt)
            released = rt.press("ip6000-1", 1.8)
            await clock.advance(1.8)
            await released
            assert host.status().mode is Mode.TFTP_MODE
            assert host.session is None
            with serial.Serial(host.console.path, timeout=5) as port:
                # What the pty hands over while no firmware runs is not echoed.
                host._console_input(b"admin\r")
                host.console.write("marker")
                out = await _expect(port, "marker\r\n")
                assert "admin" not in out
                assert "login" not in out

    run(main())
