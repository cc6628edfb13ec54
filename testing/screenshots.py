"""The front panel's screenshots, for docs/front-panel.md::

    scripts/screenshots                               # into docs/images of the checkout
    python -m ipgwsim.testing.screenshots --out DIR

Starts ``ipgwsim run IP6000 IP0011 IP800 --ui 127.0.0.1:0`` (ports and a state directory
of its own, ``--speed 2``), opens the page in Debian's chromium and drives the lab as a
person would, taking a picture at each stage: the IP6000's reset button held with the
mouse, the IP6000 in TFTP mode, the IP6000 after the recovery with the real ``gwload``
(running firmware, its web server, a login on the page's console), the IP800's flash with
several config generations and a power cut in the middle of a ``config write``, the
IP0011 in TFTP mode (no orange LED: a pulse every 2 s), and the whole desk.
The IP800 gets a long reset first, so that its config sectors show wear. It writes
``front-panel-*.png`` and ``front-panel-manifest.json``: for each picture what it shows
and the ``data-element`` names visible in it (tests/frontpanel checks the manifest
against the page).

Needs Playwright (``ipgwsim[test]``), chromium, and ``gwload`` (this interpreter's).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ipgwsim.runtime.extras import extra_imports
from ipgwsim.testing.browser import chromium_page, rendered_elements, type_line, ui_runtime
from ipgwsim.testing.loopback import Ports, free_loopback_ip
from ipgwsim.testing.processes import GWLOAD, IPGWSIM, finished

with extra_imports(__name__):
    from playwright.async_api import Page

__all__ = ["MANIFEST", "main", "take"]

#: The manifest's file name, beside the pictures.
MANIFEST = "front-panel-manifest.json"
SPEED = 2.0
LAB = ("IP6000", "IP0011", "IP800")
BROADCAST = "127.255.255.255"
PASSWORD = "desk-0815"
#: A wait on the page that takes longer than this (ms) is a failure.
WAIT_MS = 60_000


class Shots:
    """The pictures taken so far, and what each shows."""

    def __init__(self, page: Page, out: Path) -> None:
        self.page = page
        self.out = out
        self.manifest: dict[str, dict[str, Any]] = {}

    async def take(self, name: str, shows: str, within: str | None = None) -> None:
        """Picture ``front-panel-NAME.png`` of the element ``within`` (a CSS selector;
        None: the whole page)."""
        file = f"front-panel-{name}.png"
        path = self.out / file
        if within is None:
            await self.page.screenshot(path=str(path), full_page=True)
            elements = await rendered_elements(self.page)
        else:
            await self.page.locator(within).screenshot(path=str(path))
            elements = await rendered_elements(self.page, within)
        self.manifest[file] = {"shows": shows, "elements": elements}
        print(f"screenshots: {path} ({', '.join(elements)})", flush=True)


def device(name: str, part: str = "") -> str:
    return f'[data-device="{name}"]{" " + part if part else ""}'


def element(name: str, part: str) -> str:
    return device(name, f'[data-element="{part}"]')


async def wait_for(page: Page, condition: str, arg: Any = None) -> None:
    await page.wait_for_function(condition, arg=arg, timeout=WAIT_MS, polling="raf")


async def text_is(page: Page, selector: str, text: str) -> None:
    await wait_for(
        page,
        "([s, t]) => { const n = document.querySelector(s); return n && n.textContent === t; }",
        [selector, text],
    )


async def attribute_is(page: Page, selector: str, name: str, value: str) -> None:
    await wait_for(
        page,
        "([s, a, v]) => {"
        "  const n = document.querySelector(s); return n && n.getAttribute(a) === v; }",
        [selector, name, value],
    )


async def hold_button(page: Page, name: str, held: float, shots: Shots | None = None) -> None:
    """Hold the reset button of ``name`` with the mouse for ``held`` device seconds (a
    picture of the faceplate at the second blink, with ``shots``)."""
    await page.locator(element(name, "button")).hover()
    await page.mouse.down()
    if shots is not None:
        await wait_for(
            page,
            "(s) => Number(document.querySelector(s).dataset.count) >= 2",
            element(name, "blinks"),
        )
        await shots.take(
            "held",
            "the IP6000's reset button held with the mouse: the hold time and the blinks",
            device(name, ".faceplate"),
        )
    await wait_for(
        page, "([s, h]) => Number(document.querySelector(s).dataset.held) >= h",
        [element(name, "hold"), held],
    )  # fmt: skip
    await page.mouse.up()
    await attribute_is(page, element(name, "hold"), "data-released", "1")


async def gwload(*args: str) -> None:
    rc, out, err = await finished(*GWLOAD, *args, timeout=120)
    if rc != 0:
        raise SystemExit(f"screenshots: gwload {' '.join(args)} failed ({rc}): {out}{err}")


async def ipgwsim(*args: str) -> None:
    rc, out, err = await finished(*IPGWSIM, *args, timeout=120)
    if rc != 0:
        raise SystemExit(f"screenshots: ipgwsim {' '.join(args)} failed ({rc}): {out}{err}")


async def recover(page: Page, work: Path, port: int) -> None:
    """The IP6000 through Howto:Config or Password Recovery with the real gwload."""
    from ipgwsim.firmware.config import with_admin_password  # noqa: PLC0415

    ip = free_loopback_ip(port)
    where = ("/port", str(port), "/bcast", BROADCAST)
    saved = work / "cfg.txt"
    await gwload("/gwtype", "6000", "/i", ip, "/setip", "/getcfg", str(saved), *where)
    edited = work / "config.txt"
    edited.write_text(
        with_admin_password(saved.read_text(encoding="utf-8"), "admin", PASSWORD), newline=""
    )
    await gwload("/gwtype", "6000", "/i", ip, "/setip", "/cfg", str(edited), *where)
    await text_is(page, element("ip6000-1", "mode"), "running firmware")
    link = element("ip6000-1", "web") + " a"
    await wait_for(page, "(s) => document.querySelector(s) !== null", link)


async def login(page: Page, name: str, password: str, prompt: str) -> None:
    await type_line(page, name, "", "login: ")
    await type_line(page, name, "admin", "password: ")
    await type_line(page, name, password, prompt)


async def generations_and_a_cut(page: Page, state: Path) -> None:
    """A long reset of the IP800 first (it erases the config's sectors: wear to see), then
    config generations typed on its console, a power cut in the middle of the next
    ``config write`` and the power back on from the switch."""
    await ipgwsim("press", "ip800-1", "--hold", "10.5", "--state", str(state))
    await text_is(page, element("ip800-1", "mode"), "TFTP mode")
    for on in ("off", "running firmware"):  # a power cycle starts the firmware again
        await page.locator(element("ip800-1", "power")).click()
        await text_is(page, element("ip800-1", "mode"), on)
    await login(page, "ip800-1", "ip800", "IP800> ")
    for number in (1, 2, 3):
        await type_line(page, "ip800-1", f"config change CMD0 /name desk-{number}", "IP800> ")
        await type_line(page, "ip800-1", "config write", "IP800> ")
    await ipgwsim("cut", "ip800-1", "--at-op", "1", "--state", str(state))
    await page.locator(element("ip800-1", "console") + " .term").click()
    await page.keyboard.type("config change CMD0 /name desk-cut")
    await page.keyboard.press("Enter")
    await page.keyboard.type("config write")
    await page.keyboard.press("Enter")
    await text_is(page, element("ip800-1", "mode"), "off")
    await page.locator(element("ip800-1", "power")).click()
    await text_is(page, element("ip800-1", "mode"), "running firmware")
    await attribute_is(page, element("ip800-1", "flash"), "data-cut", "1")


async def take(out: Path, work: Path) -> dict[str, dict[str, Any]]:
    """Drive a lab through every element of the page; the manifest of the pictures."""
    out.mkdir(parents=True, exist_ok=True)
    with Ports() as ports:
        port = ports.udp()
        state = work / "state"
        async with (
            ui_runtime(state, LAB, port=port, http_port=ports.tcp(), speed=SPEED) as (_, url),
            chromium_page(work / "chromium", width=1280, height=900) as page,
        ):
            await page.goto(url)
            await wait_for(page, "() => document.querySelectorAll('section.device').length === 3")
            await wait_for(page, "() => document.querySelectorAll('[data-part=ring]').length === 3")
            shots = Shots(page, out)

            await hold_button(page, "ip6000-1", 1.8, shots)
            await text_is(page, element("ip6000-1", "mode"), "TFTP mode")
            await shots.take(
                "tftp-mode",
                "the IP6000 in TFTP mode after a 1.8 s press: steady orange, three blinks",
                device("ip6000-1"),
            )

            await recover(page, work, port)
            await login(page, "ip6000-1", PASSWORD, "IP6000> ")
            await type_line(page, "ip6000-1", "config show", "IP6000> ")
            await shots.take(
                "firmware",
                "the IP6000 after the recovery with gwload: running firmware, its web "
                "server, a login on the page's console, the events so far",
                device("ip6000-1"),
            )

            await generations_and_a_cut(page, state)
            await shots.take(
                "flash",
                "the IP800's flash: config generations, the erased tail, wear, and the "
                "power cut that hit a config write",
                device("ip800-1"),
            )

            await hold_button(page, "ip0011-1", 1.8)
            await text_is(page, element("ip0011-1", "mode"), "TFTP mode")
            await attribute_is(page, element("ip0011-1", "ready-led"), "data-lit", "1")
            await shots.take(
                "x11-tftp-mode",
                "the IP0011 (no orange LED) in TFTP mode, its ready LED caught in its "
                "pulse every 2 s",
                device("ip0011-1", ".faceplate"),
            )

            await shots.take("desk", "the whole page: the three devices on the desk")
    manifest = dict(sorted(shots.manifest.items()))
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ipgwsim.testing.screenshots",
        description="Take the front panel's screenshots (docs/front-panel.md).",
    )
    parser.add_argument("--out", type=Path, default=Path("docs/images"), help="folder of the PNGs")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ipgwsim-screenshots-") as work:
        asyncio.run(asyncio.wait_for(take(args.out, Path(work)), 600))
    print(f"screenshots: {args.out / MANIFEST}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
