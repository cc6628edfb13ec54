"""The front panel on a runtime in virtual time: the IP6000's reset button held with the
mouse for exactly the 1.8 s of Howto:Config or Password Recovery.

The device's clock moves only when the test moves it (``Simulator(ui=...)``, virtual
time), so the press is as long as the test says, whatever the host's load: the mouse goes
down, the test lets 1.8 device seconds pass, the mouse comes up. The page shows the three
blinks as they come, the hold time the runtime measured, the steady orange LED and TFTP
mode; then the real ``gwload`` gives the device an address and its config back, and the
panel follows. (tests/frontpanel/test_page.py is the same session on ``ipgwsim run`` in
real time, at a person's pace.)
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import Locator, Page, expect

from ipgwsim.events import Led, Mode
from ipgwsim.firmware.config import with_admin_password
from ipgwsim.testing.browser import chromium_page
from ipgwsim.testing.loopback import free_loopback_ip, run
from ipgwsim.testing.processes import GWLOAD
from ipgwsim.testing.simulator import Simulator

pytestmark = [pytest.mark.integration, pytest.mark.requires("chromium")]

#: The press of Howto:Config or Password Recovery, in device seconds.
HOLD = 1.8

expect.set_options(timeout=30_000)


def part(page: Page, device: str, name: str) -> Locator:
    return page.locator(f'[data-device="{device}"] [data-element="{name}"]')


def test_the_button_held_for_exactly_1_8_device_seconds(tmp_path: Path) -> None:
    async def main() -> None:
        with Simulator(tmp_path / "state", ui="127.0.0.1:0") as sim:
            gw = sim.add("IP6000")
            assert sim.ui_url is not None
            async with chromium_page(tmp_path / "chromium") as page:
                await page.goto(sim.ui_url)
                ready, blinks = part(page, gw.name, "ready-led"), part(page, gw.name, "blinks")
                await expect(part(page, gw.name, "mode")).to_have_text("running firmware")
                clock = page.locator("#clock-speed")
                await expect(clock).to_have_text("a clock moved by its owner")

                pressed_at = sim.now()
                await part(page, gw.name, "button").hover()
                await page.mouse.down()
                await expect(ready).to_have_attribute(
                    "data-led", "blinking while the button is held"
                )
                await expect(blinks).to_have_attribute("data-count", "1")  # as it goes down
                await asyncio.to_thread(sim.advance, HOLD)
                await expect(blinks).to_have_attribute("data-count", "3")
                held_mode = gw.mode
                assert held_mode is Mode.FIRMWARE  # still held: nothing decided yet
                await page.mouse.up()

                hold = part(page, gw.name, "hold")
                await expect(hold).to_have_attribute("data-released", "1")
                await expect(hold).to_have_attribute("data-held", f"{HOLD:.3f}")
                await expect(hold).to_contain_text("released after 1.80 s")
                await expect(part(page, gw.name, "mode")).to_have_text("TFTP mode")
                await expect(ready).to_have_attribute("data-led", "steady orange")
                await expect(ready).to_have_attribute("data-colour", "orange")
                await expect(blinks).to_have_attribute("data-count", "3")
                assert gw.mode is Mode.TFTP_MODE
                assert sim.now() == pytest.approx(pressed_at + HOLD)

                ip = free_loopback_ip(sim.port)
                saved, edited = tmp_path / "cfg.txt", tmp_path / "new-cfg.txt"
                where = ("/port", str(sim.port), "/bcast", "127.255.255.255")
                got = await asyncio.to_thread(
                    sim.run, *GWLOAD, "/mac", gw.mac, "/i", ip, "/setip", "/getcfg",
                    str(saved), *where,
                )  # fmt: skip
                assert got.returncode == 0, got.stdout
                await expect(part(page, gw.name, "ip")).to_have_text(ip)
                text = saved.read_text(encoding="utf-8")
                edited.write_text(with_admin_password(text, "admin", "desk-1"), newline="")
                put = await asyncio.to_thread(
                    sim.run, *GWLOAD, "/mac", gw.mac, "/i", ip, "/setip", "/cfg",
                    str(edited), *where,
                )  # fmt: skip
                assert put.returncode == 0, put.stdout
                await asyncio.to_thread(gw.wait_for, Mode.FIRMWARE, led=Led.GREEN)
                await expect(part(page, gw.name, "mode")).to_have_text("running firmware")
                await expect(ready).to_have_attribute("data-led", "steady green")
            await asyncio.to_thread(gw.login, "admin", "desk-1")

    run(main())
