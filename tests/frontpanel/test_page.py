"""The front panel in chromium, on a real ``ipgwsim run --ui`` with a mixed lab.

A person's session at the page: every device with its model and LEDs; the IP6000's reset
button held with the mouse until three blinks, TFTP mode and the steady orange LED; the
documented recovery with the real ``gwload`` (``/setip``, then ``/cfg``) followed on the
panel; a login typed into the page's console; a power cycle from the switch; the IP0011,
which has no orange LED, in TFTP mode with its one pulse every 2 s; and the IP800's button
let go when the pointer leaves it. Every wait is on a condition of the page, none on a
clock of the test's.

The button is let go when the page shows it held 1.5 s, the start of Howto:Config or
Password Recovery's "ca. 1,5-2 sec": a person's medium press, whatever a loaded host adds
to it before the device sees the release (between 1 and 10 s: TFTP mode, at least three
blinks). The exact three blinks of a release at 1.8 s are test_virtual_time.py's, in
virtual time. A second test runs the LEDs at ``--speed 4``, where the device holds the
button by its own timer.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import urllib.request
from pathlib import Path

import pytest
from playwright.async_api import Locator, Page, expect

from ipgwsim.firmware.config import with_admin_password
from ipgwsim.testing.browser import chromium_page, console_text, type_line, ui_runtime
from ipgwsim.testing.loopback import Ports, free_loopback_ip, run
from ipgwsim.testing.processes import GWLOAD, finished, ipgwsim

pytestmark = [pytest.mark.integration, pytest.mark.requires("chromium")]

SPEED = 1.0
#: How long the button is held, in device seconds (as the page shows it).
HOLD = 1.5
BROADCAST = "127.255.255.255"
LAB = {"ip6000-1": "IP6000", "ip0011-1": "IP0011", "ip800-1": "IP800"}
#: A medium press (Reference7:Bootcode functionality): 1 s up to 10 s, TFTP mode.
MEDIUM = (1.0, 10.0)
PASSWORD = "panel-" + "4711"

expect.set_options(timeout=30_000)


def device(page: Page, name: str) -> Locator:
    return page.locator(f'[data-device="{name}"]')


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
        """([name, count]) => new Promise((resolve, reject) => {
            const led = document.querySelector(
                `[data-device="${name}"] [data-element="ready-led"]`);
            const seen = [];
            const watcher = new MutationObserver(() => {
                if (led.dataset.lit === "1") seen.push(window.ipgwsimPanel.deviceNow());
                if (seen.length === count) { watcher.disconnect(); resolve(seen); }
            });
            // Not all pulses in 20 s (of real time): they say how many there were.
            setTimeout(() => {
                watcher.disconnect();
                reject(new Error(`${seen.length} of ${count} pulses in 20 s: ${seen}`));
            }, 20000);
            watcher.observe(led, { attributes: true, attributeFilter: ["data-lit"] });
        })""",
        [name, count],
    )
    return times


async def gwload(*args: str) -> str:
    rc, out, err = await finished(*GWLOAD, *args, timeout=120)
    assert rc == 0, out + err
    return out


async def every_device_with_its_model_and_leds(page: Page) -> None:
    await expect(page.locator("section.device")).to_have_count(len(LAB))
    for name, model in LAB.items():
        panel = device(page, name)
        await expect(part(panel, "model")).to_have_text(model)
        ready = part(panel, "ready-led")
        # All run their firmware: steady green, lit.
        await expect(ready).to_have_attribute("data-led", "steady green")
        await expect(ready).to_have_attribute("data-colour", "green")
        await expect(ready).to_have_attribute("data-lit", "1")
        await expect(part(panel, "mode")).to_have_text("running firmware")
        # The interface LEDs of the profile: ETH0 and ETH1.
        interfaces = panel.locator('[data-element="led"]')
        await expect(interfaces).to_have_count(2)
        await expect(interfaces.first).to_have_attribute("data-led-name", "ETH0")
    # The IP0011 has no orange LED; the IP6000 has.
    colours = await part(device(page, "ip0011-1"), "ready-led").get_attribute("data-colours")
    assert colours == "green red"
    colours = await part(device(page, "ip6000-1"), "ready-led").get_attribute("data-colours")
    assert colours == "green orange red"


async def let_go_after_a_medium_press(panel: Locator) -> None:
    """The button of ``panel`` was let go after a medium press (held 1 to 10 s, three
    blinks or more, a person's pace): the device is in TFTP mode."""
    hold = part(panel, "hold")
    await expect(hold).to_have_attribute("data-released", "1")
    held = float(await hold.get_attribute("data-held") or "nan")
    assert MEDIUM[0] <= held < MEDIUM[1], held
    await expect(part(panel, "mode")).to_have_text("TFTP mode")
    assert int(await part(panel, "blinks").get_attribute("data-count") or "0") >= 3


async def hold_the_button_with_the_mouse(page: Page) -> None:
    gw = device(page, "ip6000-1")
    await part(gw, "button").hover()
    await page.mouse.down()
    await expect(part(gw, "ready-led")).to_have_attribute(
        "data-led", "blinking while the button is held"
    )
    await hold_until(page, gw, HOLD)
    await page.mouse.up()
    await let_go_after_a_medium_press(gw)
    await expect(part(gw, "blinks")).to_have_text(re.compile(r"^\d+ blinks$"))
    ready = part(gw, "ready-led")
    await expect(ready).to_have_attribute("data-led", "steady orange")
    await expect(ready).to_have_attribute("data-colour", "orange")
    await expect(ready).to_have_attribute("data-lit", "1")
    await expect(part(gw, "timeline")).to_contain_text("mode: TFTP mode")


async def recover_with_gwload(page: Page, tmp_path: Path, ip: str, port: int) -> None:
    """Howto:Config or Password Recovery with the real gwload: an address and the config
    out, then the config back with a known password, which restarts the device."""
    gw = device(page, "ip6000-1")
    where = ("/port", str(port), "/bcast", BROADCAST)
    saved = tmp_path / "cfg.txt"
    await gwload("/gwtype", "6000", "/i", ip, "/setip", "/getcfg", str(saved), *where)
    await expect(part(gw, "ip")).to_have_text(ip)
    await expect(part(gw, "mode")).to_have_text("TFTP mode")
    edited = tmp_path / "config.txt"
    text = saved.read_text(encoding="utf-8")
    edited.write_text(with_admin_password(text, "admin", PASSWORD), newline="")
    await gwload("/gwtype", "6000", "/i", ip, "/setip", "/cfg", str(edited), *where)
    await expect(part(gw, "mode")).to_have_text("running firmware")
    await expect(part(gw, "ready-led")).to_have_attribute("data-led", "steady green")
    await expect(part(gw, "web").locator("a")).to_have_attribute("href", re.compile("^http://"))
    # The flash view follows: the ring holds the generations written since.
    flash = part(gw, "flash")
    await expect(flash.locator('[data-part="generation"]').first).to_be_visible()
    await expect(flash.locator('[data-part="ring-text"]')).to_contain_text("generations")


async def log_in_on_the_console(page: Page) -> None:
    await type_line(page, "ip6000-1", "", "login: ")
    await type_line(page, "ip6000-1", "admin", "password: ")
    await type_line(page, "ip6000-1", PASSWORD, "IP6000> ")
    shown = await type_line(page, "ip6000-1", "config show", "IP6000> ")
    assert "config change CMD0" in shown, shown
    assert PASSWORD not in await console_text(page, "ip6000-1")  # not echoed


async def power_cycle_from_the_switch(page: Page) -> None:
    gw = device(page, "ip6000-1")
    switch = part(gw, "power")
    await switch.click()
    await expect(part(gw, "mode")).to_have_text("off")
    await expect(switch).to_have_attribute("aria-checked", "false")
    await expect(part(gw, "ready-led")).to_have_attribute("data-lit", "0")
    await switch.click()
    await expect(switch).to_have_attribute("aria-checked", "true")
    await expect(part(gw, "mode")).to_have_text("running firmware")
    await expect(part(gw, "ready-led")).to_have_attribute("data-led", "steady green")


async def x11_pulse_every_2_s(page: Page) -> None:
    """The IP0011's button held from the keyboard: in TFTP mode, with no orange LED, its
    ready LED lights once every 2 device seconds."""
    x11 = device(page, "ip0011-1")
    await part(x11, "button").focus()
    await page.keyboard.down("Enter")
    await hold_until(page, x11, HOLD)
    await page.keyboard.up("Enter")
    await let_go_after_a_medium_press(x11)
    ready = part(x11, "ready-led")
    await expect(ready).to_have_attribute("data-led", "one blink every 2 s")
    await expect(ready).to_have_attribute("data-pattern", "flashing")
    await expect(ready).to_have_attribute("data-colour", "green")
    assert float(await ready.get_attribute("data-real-period") or "nan") == 2 / SPEED
    await every_2_s(page, "ip0011-1")


async def every_2_s(page: Page, name: str) -> None:
    """The ready LED of ``name`` on the page lights once every 2 device seconds."""
    # Lit every 2 device seconds: each gap between two pulses the page drew is 2 s, or a
    # multiple of it where a loaded host drew no frame in a pulse's 0.2 s (a rhythm of 1 s
    # or 3 s would be 1 s off either way).
    times = await pulse_times(page, name, 4)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    for gap in gaps:
        periods = round(gap / 2.0)
        assert periods >= 1, times
        assert abs(gap - 2.0 * periods) < 0.4, times


async def pointer_leaving_lets_go(page: Page) -> None:
    """The mouse held down but moved off the button lets it go, the mouse still down: a
    short press, after which the IP800 runs its firmware again, or (a loaded host let a
    second pass first) a medium one, after which it is in TFTP mode."""
    ip800 = device(page, "ip800-1")
    button = part(ip800, "button")
    await button.hover()
    await page.mouse.down()
    await expect(part(ip800, "blinks")).to_have_attribute("data-count", "1")
    box = await part(ip800, "model").bounding_box()
    assert box is not None
    await page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    await expect(part(ip800, "hold")).to_have_attribute("data-released", "1")
    await expect(ip800).to_have_attribute("data-button", "up")
    held = float(await part(ip800, "hold").get_attribute("data-held") or "nan")
    assert 0 <= held < MEDIUM[1], held
    await page.mouse.up()
    if held < MEDIUM[0]:
        await expect(part(ip800, "ready-led")).to_have_attribute("data-led", "steady green")
        await expect(part(ip800, "mode")).to_have_text("running firmware")
    else:
        await expect(part(ip800, "mode")).to_have_text("TFTP mode")


@pytest.mark.usefixtures("private_registry")
def test_a_person_at_the_front_panel(tmp_path: Path, ports: Ports) -> None:
    port = ports.udp()

    async def main() -> None:
        async with (
            ui_runtime(
                tmp_path / "state", list(LAB.values()), port=port, http_port=ports.tcp(),
                speed=SPEED,
            ) as (_, url),
            chromium_page(tmp_path / "chromium") as page,
        ):  # fmt: skip
            await page.goto(url)
            await every_device_with_its_model_and_leds(page)
            # What gwload needs to reach them.
            await expect(page.locator("#network")).to_have_text(
                f"loopback, gwload /port {port} /bcast {BROADCAST}"
            )
            await hold_the_button_with_the_mouse(page)
            await recover_with_gwload(page, tmp_path, free_loopback_ip(port), port)
            await log_in_on_the_console(page)
            await power_cycle_from_the_switch(page)
            await x11_pulse_every_2_s(page)
            await pointer_leaving_lets_go(page)

    run(main(), timeout=240)


@pytest.mark.usefixtures("private_registry")
def test_the_page_runs_the_leds_at_the_runtimes_speed(tmp_path: Path, ports: Ports) -> None:
    """At --speed 4 the IP0011's pulse every 2 device seconds comes every 0.5 s of real
    time; the button is held by the runtime's own timer (ipgwsim press --hold).

    The page's device clock keeps up with the runtime's: read between two readings of
    /v1/status's clock after the pulses (seconds of real time with no event to correct
    it), it lies between them, give or take a device second; a page that ran the LEDs at
    another speed would be seconds off."""
    state = tmp_path / "state"

    async def main() -> None:
        async with (
            ui_runtime(state, ["IP0011"], port=ports.udp(), http_port=ports.tcp(), speed=4)
            as (_, url),
            chromium_page(tmp_path / "chromium") as page,
        ):  # fmt: skip
            await page.goto(url)
            await expect(page.locator("#clock-speed")).to_have_text("speed 4")
            rc, _, err = await ipgwsim("press", "ip0011-1", "--hold", "1.8", "--state", str(state))
            assert rc == 0, err
            x11 = device(page, "ip0011-1")
            ready = part(x11, "ready-led")
            await expect(ready).to_have_attribute("data-led", "one blink every 2 s")
            await expect(ready).to_have_attribute("data-period", "2")
            await expect(ready).to_have_attribute("data-real-period", "0.5")
            await every_2_s(page, "ip0011-1")
            before = await runtime_now(url)
            shown: float = await page.evaluate("window.ipgwsimPanel.deviceNow()")
            after = await runtime_now(url)
            assert before - 1.0 <= shown <= after + 1.0, (before, shown, after)

    run(main(), timeout=120)


async def runtime_now(url: str) -> float:
    """The runtime's device clock, from /v1/status through the UI port."""

    def get() -> float:
        with urllib.request.urlopen(f"{url}v1/status", timeout=30) as resp:
            return float(json.load(resp)["clock"]["now"])

    return await asyncio.to_thread(get)
