"""The page's reset button and its link to the runtime, in chromium on a real
``ipgwsim run --ui``: what a person meets when things do not go straight.

- A malformed ``#token=`` in the address: the page says so and works on (on loopback
  no token is needed).
- A second press starts afresh, and the reply to an older press's release does not let
  the newer press's button show "up".
- A button left held (by another page, or this page before a reload) is taken over by
  the next press in the page, and its release lets it go.
- The event stream refused: the page tries again after 1 s, 2 s, 4 s ... and is live
  again when the stream is back.

Every wait is on a condition of the page or of the runtime, none on a clock of the test's.
"""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from playwright.async_api import Locator, Page, Request, Route, expect

from ipgwsim.testing.browser import chromium_page, ui_runtime
from ipgwsim.testing.loopback import Ports, run

pytestmark = [pytest.mark.integration, pytest.mark.requires("chromium")]

NAME = "ip6000-1"
READY = re.compile("^(running firmware|TFTP mode)$")

expect.set_options(timeout=30_000)


def part(page: Page, name: str) -> Locator:
    return page.locator(f'[data-device="{NAME}"] [data-element="{name}"]')


def button_api(url: str, down: bool) -> tuple[int, dict[str, object]]:
    """POST /v1/devices/NAME/button through the UI port, as another client would."""
    request = urllib.request.Request(
        f"{url}v1/devices/{NAME}/button",
        data=json.dumps({"down": down}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.load(exc)


async def a_malformed_token_is_named(page: Page, url: str) -> None:
    await page.goto(f"{url}#token=%E0%A")
    await expect(page.locator("section.device")).to_have_count(1)
    await expect(page.locator("#page-error")).to_contain_text("malformed")
    assert "token" not in page.url, page.url
    # What the page shows of itself is read-only: no live state of its own.
    keys = await page.evaluate("Object.keys(window.ipgwsimPanel).sort()")
    assert keys == ["consoleText", "deviceNow"], keys


async def a_second_press_starts_afresh(page: Page) -> None:
    """The second press shows no release of the first; the first's release, answered
    after the second press began, leaves the second held."""
    await expect(part(page, "mode")).to_have_text(READY)
    panel = page.locator(f'[data-device="{NAME}"]')
    hold = part(page, "hold")
    await part(page, "button").hover()
    await page.mouse.down()
    await page.mouse.up()
    await expect(hold).to_have_attribute("data-released", "1")
    await expect(part(page, "mode")).to_have_text(READY)

    # The next release waits at the gate until the press after it was made.
    gate = asyncio.Event()
    second_press = asyncio.Event()
    presses = 0

    async def button(route: Route, request: Request) -> None:
        nonlocal presses
        body = request.post_data_json
        if body == {"down": False} and not gate.is_set():
            await gate.wait()
        elif body == {"down": True}:
            presses += 1
            if presses == 2:
                second_press.set()
        await route.continue_()

    await page.route(f"**/v1/devices/{NAME}/button", button)
    # From the keyboard: pressed, let go, pressed again at once.
    await part(page, "button").focus()
    await page.keyboard.down("Enter")
    await expect(panel).to_have_attribute("data-button", "down")
    await expect(hold).to_have_attribute("data-held", re.compile(r"^(?!0$)"))
    await page.keyboard.up("Enter")
    await page.keyboard.down("Enter")
    # Pressed again: nothing of the release before shows.
    assert await hold.get_attribute("data-released") is None
    gate.set()
    await asyncio.wait_for(second_press.wait(), 30)  # the release was answered
    await expect(panel).to_have_attribute("data-button", "down")
    assert await hold.get_attribute("data-released") is None
    await page.keyboard.up("Enter")
    await expect(hold).to_have_attribute("data-released", "1")
    await expect(panel).to_have_attribute("data-button", "up")
    await page.unroute(f"**/v1/devices/{NAME}/button")
    await expect(part(page, "mode")).to_have_text(READY)


async def a_button_left_held_is_taken_over(page: Page, url: str) -> None:
    status, doc = await asyncio.to_thread(button_api, url, True)
    assert status == 200, doc
    await part(page, "button").hover()
    await page.mouse.down()
    hold = part(page, "hold")
    await expect(hold).to_have_attribute("data-adopted", "1")
    await expect(page.locator(f'[data-device="{NAME}"]')).to_have_attribute("data-button", "down")
    await page.mouse.up()
    await expect(hold).to_have_attribute("data-released", "1")
    # The runtime let it go: a release from outside finds nothing held.
    status, doc = await asyncio.to_thread(button_api, url, False)
    assert status == 409, doc
    assert "is not held" in str(doc["error"]), doc


async def the_stream_is_followed_again(page: Page) -> None:
    async def refuse(route: Route) -> None:
        await route.fulfill(status=503, body="not now", content_type="text/plain")

    await page.route("**/v1/watch*", refuse)
    await page.reload()
    body = page.locator("body")
    for wait in ("1000", "2000", "4000"):
        await expect(body).to_have_attribute("data-retry-ms", wait)
    await expect(page.locator("#link-state")).to_have_attribute("data-state", "bad")
    await page.unroute("**/v1/watch*")
    await expect(page.locator("#link-state")).to_have_text("live")
    await expect(body).not_to_have_attribute("data-retry-ms", re.compile("."))


@pytest.mark.usefixtures("private_registry")
def test_the_button_and_the_link_when_things_go_wrong(tmp_path: Path, ports: Ports) -> None:
    async def main() -> None:
        async with (
            ui_runtime(
                tmp_path / "state", ["IP6000"], port=ports.udp(), http_port=ports.tcp(), speed=1
            )
            as (_, url),
            chromium_page(tmp_path / "chromium") as page,
        ):  # fmt: skip
            await a_malformed_token_is_named(page, url)
            await a_second_press_starts_afresh(page)
            await a_button_left_held_is_taken_over(page, url)
            await the_stream_is_followed_again(page)

    run(main(), timeout=180)
