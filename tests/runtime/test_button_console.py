"""A device in a runtime on loopback: boot, the reset button, watch and the pty console."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import serial

from ipgwsim.events import ButtonBlink, Led, LedChanged, Mode, ModeChanged, PoweredOff
from ipgwsim.runtime.clock import ManualClock
from ipgwsim.runtime.runtime import Runtime
from ipgwsim.testing.loopback import Ports, run

pytestmark = pytest.mark.integration


@pytest.mark.usefixtures("private_registry")
def test_boots_to_firmware_and_a_medium_press_gives_tftp_mode(tmp_path: Path, ports: Ports) -> None:
    async def main() -> None:
        clock = ManualClock()
        async with Runtime(
            tmp_path / "state", port=ports.udp(), http_port=ports.tcp(), clock=clock
        ) as rt:
            (host,) = rt.add_devices("IP6000", 1)
            status = host.status()
            assert (status.name, status.mode, status.led) == ("ip6000-1", Mode.FIRMWARE, Led.GREEN)
            assert status.mac == "00:90:33:10:00:01"

            # pyserial opens the pty by its path (and flushes what is buffered).
            with serial.Serial(host.console.path, timeout=5) as port:
                with rt.watch() as watcher:
                    released = rt.press("ip6000-1", 1.8)
                    await clock.advance(1.8)
                    await asyncio.wait_for(released, 5)
                    seen = [event for _name, event in watcher.pending()]
                assert [e for e in seen if isinstance(e, ButtonBlink)] == [
                    ButtonBlink(1),
                    ButtonBlink(2),
                    ButtonBlink(3),
                ]
                assert seen[-2:] == [
                    LedChanged(Led.ORANGE),
                    ModeChanged(Mode.TFTP_MODE, "reset button held 1.8 s"),
                ]
                assert (host.status().mode, host.status().led) == (Mode.TFTP_MODE, Led.ORANGE)

                wanted = "mode: TFTP mode"
                text = b""
                while wanted.encode() not in text:
                    chunk = await asyncio.to_thread(port.read_until, b"\r\n")
                    assert chunk, f"the console stopped before {wanted!r}; got {text!r}"
                    text += chunk
            lines = text.decode().split("\r\n")
            assert "[   0.000] reset button pressed" in lines
            assert "[   1.429] blink 3" in lines
            assert "[   1.800] innovaphone IP6000 boot code 145" in lines
            assert "[   1.800] firmware check: 08-6000.08 ok" in lines
            assert "[   1.800] TFTP mode: no IP address, waiting for gwload" in lines
            assert "[   1.800] LED: steady orange" in lines
            # The console history keeps the same lines for the control API.
            assert host.console.tail()[-1] == "[   1.800] mode: TFTP mode (reset button held 1.8 s)"
            assert host.console.dropped == 0
            assert rt.errors == []

    run(main())


def test_console_keeps_working_when_nobody_reads(tmp_path: Path, ports: Ports) -> None:
    async def main() -> None:
        clock = ManualClock()
        async with Runtime(
            tmp_path / "state", port=ports.udp(), http_port=ports.tcp(), clock=clock
        ) as rt:
            (host,) = rt.add_devices("IP6000", 1)
            for number in range(5000):  # far more than a pty buffer holds
                host.console.write(f"line {number} " + "x" * 60)
            assert host.console.dropped > 0
            assert host.console.tail(1) == [f"[   0.000] line 4999 {'x' * 60}"]
            assert len(host.console.tail()) == 200
            # The device is still fine and its console still takes lines.
            await clock.advance(1.0)
            assert host.status().mode is Mode.FIRMWARE

    run(main())


@pytest.mark.usefixtures("private_registry")
def test_short_press_restarts_and_power_off_on(tmp_path: Path, ports: Ports) -> None:
    async def main() -> None:
        clock = ManualClock()
        async with Runtime(
            tmp_path / "state", port=ports.udp(), http_port=ports.tcp(), clock=clock
        ) as rt:
            rt.add_devices("IP6000", 1)
            with rt.watch("ip6000-1") as watcher:
                released = rt.press("00-90-33-10-00-01", 0.3)
                await clock.advance(0.3)
                await released
                rt.power("009033100001", False)
                assert rt.device("ip6000-1").status().mode is Mode.OFF
                rt.power("0090.3310.0001", True)
                events = [event for _name, event in watcher.pending()]
            assert events == [
                LedChanged(Led.COUNTING),
                ButtonBlink(1),  # the first blink as the button goes down
                LedChanged(Led.GREEN),  # released after 0.3 s: a short press, a restart
                LedChanged(Led.OFF),
                PoweredOff("switched off"),
                ModeChanged(Mode.OFF, "switched off"),
                LedChanged(Led.GREEN),
                ModeChanged(Mode.FIRMWARE, "firmware started"),
            ]
            lines = rt.device("ip6000-1").console.tail()
            assert any("power off: switched off" in line for line in lines)

    run(main())
