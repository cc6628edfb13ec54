"""The front panel in chromium, on a real ``ipgwsim run --ui`` with a mixed lab.

A person's session at the page: every device with its model and LEDs; the IP6000's reset
button held with the mouse until three blinks, TFTP mode and the steady orange LED; the
documented recovery with the real ``gwload`` (``/setip``, then ``/cfg``) followed on the
panel; a login typed into the page's console; a power cycle from the switch; and the
IP0011, which has no orange LED, in TFTP mode with its one pulse every 2 s. Every wait
is on a condition of the page; the runtime runs at ``--speed 2``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Locator, Page, expect

from ipgwsim.firmware.config import with_admin_password
from ipgwsim.testing.browser import chromium_page, ui_runtime
from ipgwsim.testing.loopback import Ports, free_loopback_ip, run
from ipgwsim.testing.processes import GWLOAD, finished

pytestmark = [pytest.mark.integration, pytest.mark.requires("chromium")]

SPEED = 2.0
BROADCAST = "127.255.255.255"
LAB = {"ip6000-1": "IP6000", "ip0011-1": "IP0011", "ip800-1": "IP800"}
#: Blinks fall at 0, 1/14, 2/14 ... of long_s (10 s): the 3rd at 1.43 s, the 4th at 2.14 s.
THIRD_BLINK, FOURTH_BLINK = 2 * 10 / 14, 3 * 10 / 14
PASSWORD = "panel-" + "4711"

expect.set_options(timeout=30_000)


def part(panel: Locator, name: str) -> Locator:
    return panel.locator(f'[data-element="{name}"]')


async def hold_until(page: Page, panel: Locator, held: float) -> None:
    """Wait while the page shows the button held for less than ``held`` device seconds."""
    name = await panel.get_attribute("data-device")
    await page.wait_for_function(
        """([name, held]) => {
            const hold = document.querySelector(`[data-device="${name}"] [data-element="hold"]`);
            return Number(hold.dataset.held || "0") >= held;
        }""",
        arg=[name, held],
        polling="raf",
    )


async def pulse_times(page: Page, name: str, count: int) -> list[float]:
    """The device times at which the ready LED of ``name`` lights up, ``count`` times."""
    times: list[float] = await page.evaluate(
        """([name, count]) => new Promise((resolve) => {
            const led = document.querySelector(`[data-device="${name}"] [data-element="ready-led"]`);
            const seen = [];
            const watcher = new MutationObserver(() => {
                if (led.dataset.lit === "1") seen.push(window.ipgwsimPanel.deviceNow());
                if (seen.length === count) { watcher.disconnect(); resolve(seen); }
            });
            watcher.observe(led, { attributes: true, attributeFilter: ["data-lit"] });
        })""",
        [name, count],
    )
    return times


async def gwload(*args: str) -> str:
    rc, out, err = await finished(*GWLOAD, *args, timeout=120)
    assert rc == 0, out + err
    return out


@pytest.mark.usefixtures("private_registry")
def test_a_person_at_the_front_panel(tmp_path: Path, ports: Ports) -> None:
    port = ports.udp()
    ip = free_loopback_ip(port)
    where = ("/port", str(port), "/bcast", BROADCAST)

    async def main() -> None:
        async with (
            ui_runtime(
                tmp_path / "state", list(LAB.values()), port=port, http_port=ports.tcp(),
                speed=SPEED,
            ) as (_, url),
            chromium_page(tmp_path / "chromium") as page,
        ):  # fmt: skip
            await page.goto(url)

            # Every device, its model, its LEDs; all running firmware, so steady green.
            await expect(page.locator("section.device")).to_have_count(len(LAB))
            for name, model in LAB.items():
                panel = page.locator(f'[data-device="{name}"]')
                await expect(part(panel, "model")).to_have_text(model)
                ready = part(panel, "ready-led")
                await expect(ready).to_have_attribute("data-led", "steady green")
                await expect(ready).to_have_attribute("data-colour", "green")
                await expect(ready).to_have_attribute("data-lit", "1")
                await expect(part(panel, "mode")).to_have_text("running firmware")
            # The IP0011 has no orange LED: its ready LED lists green and red only.
            x11 = page.locator('[data-device="ip0011-1"]')
            assert "orange" not in (await part(x11, "ready-led").get_attribute("data-colours") or "")
            gw = page.locator('[data-device="ip6000-1"]')
            assert "orange" in (await part(gw, "ready-led").get_attribute("data-colours") or "")

            # The reset button, held with the mouse for 1.8 device seconds: three blinks.
            await part(gw, "button").hover()
            await page.mouse.down()
            await expect(part(gw, "ready-led")).to_have_attribute(
                "data-led", "blinking while the button is held"
            )
            await hold_until(page, gw, 1.8)
            await page.mouse.up()
            hold = part(gw, "hold")
            await expect(hold).to_have_attribute("data-released", "1")
            held = float(await hold.get_attribute("data-held") or "nan")
            assert THIRD_BLINK <= held < FOURTH_BLINK, held
            await expect(part(gw, "blinks")).to_have_attribute("data-count", "3")
            await expect(part(gw, "blinks")).to_have_text("3 blinks")
            await expect(part(gw, "mode")).to_have_text("TFTP mode")
            ready = part(gw, "ready-led")
            await expect(ready).to_have_attribute("data-led", "steady orange")
            await expect(ready).to_have_attribute("data-colour", "orange")
            await expect(ready).to_have_attribute("data-lit", "1")
            await expect(part(gw, "timeline")).to_contain_text("mode: TFTP mode")

            # The documented recovery, with the real gwload: an address, the config...
            saved = tmp_path / "cfg.txt"
            await gwload("/gwtype", "6000", "/i", ip, "/setip", "/getcfg", str(saved), *where)
            await expect(part(gw, "ip")).to_have_text(ip)
            await expect(part(gw, "mode")).to_have_text("TFTP mode")
            # ... and the config back with a known password, which restarts the device.
            edited = tmp_path / "config.txt"
            text = saved.read_text(encoding="utf-8")
            edited.write_text(with_admin_password(text, "admin", PASSWORD), newline="")
            await gwload("/gwtype", "6000", "/i", ip, "/setip", "/cfg", str(edited), *where)
            await expect(part(gw, "mode")).to_have_text("running firmware")
            await expect(part(gw, "ready-led")).to_have_attribute("data-led", "steady green")
            await expect(part(gw, "web").locator("a")).to_have_attribute("href", re.compile(r"^http://"))
            # The flash view follows: the ring holds the generation gwload sent.
            flash = part(gw, "flash")
            await expect(flash.locator('[data-part="generation"]').first).to_be_visible()
            await expect(flash.locator('[data-part="ring-text"]')).to_contain_text("generation")

            # A login typed into the page's console, with the password set above.
            console = part(gw, "console")
            screen = console.locator(".xterm-rows")
            await console.locator(".term").click()
            await page.keyboard.press("Enter")
            await expect(screen).to_contain_text("login:")
            await page.keyboard.type("admin")
            await page.keyboard.press("Enter")
            await expect(screen).to_contain_text("password:")
            await page.keyboard.type(PASSWORD)
            await page.keyboard.press("Enter")
            await expect(screen).to_contain_text("IP6000>")
            await page.keyboard.type("config show")
            await page.keyboard.press("Enter")
            await expect(screen).to_contain_text("config change CMD0")

            # A power cycle from the switch.
            switch = part(gw, "power")
            await switch.click()
            await expect(part(gw, "mode")).to_have_text("off")
            await expect(switch).to_have_attribute("aria-checked", "false")
            await expect(part(gw, "ready-led")).to_have_attribute("data-lit", "0")
            await switch.click()
            await expect(switch).to_have_attribute("aria-checked", "true")
            await expect(part(gw, "mode")).to_have_text("running firmware")
            await expect(part(gw, "ready-led")).to_have_attribute("data-led", "steady green")

            # The IP0011 in TFTP mode, its button held from the keyboard: no orange LED,
            # so one pulse every 2 s (device time) instead of steady orange.
            button = part(x11, "button")
            await button.focus()
            await page.keyboard.down("Enter")
            await hold_until(page, x11, 1.8)
            await page.keyboard.up("Enter")
            await expect(part(x11, "blinks")).to_have_attribute("data-count", "3")
            await expect(part(x11, "mode")).to_have_text("TFTP mode")
            ready = part(x11, "ready-led")
            await expect(ready).to_have_attribute("data-led", "one blink every 2 s")
            await expect(ready).to_have_attribute("data-pattern", "flashing")
            await expect(ready).to_have_attribute("data-colour", "green")
            assert float(await ready.get_attribute("data-real-period") or "nan") == 2 / SPEED
            times = await pulse_times(page, "ip0011-1", 3)
            gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
            assert all(abs(gap - 2.0) < 0.3 for gap in gaps), times

    run(main(), timeout=240)
