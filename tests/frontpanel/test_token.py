"""Off loopback the page asks for the token, says why, and works with it: typed into its
field, or carried in the address's ``#token=`` fragment.

The runtime serves the panel on an address outside 127.0.0.0/8 in a network namespace of
the test's own (on the namespace's loopback interface), and the browser runs in that
namespace too: nothing leaves it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Page, expect
from pyroute2 import IPRoute

from ipgwsim.runtime.netlink import in_namespace
from ipgwsim.runtime.netlink import netlink_call as netlink
from ipgwsim.testing.browser import chromium_page, ui_runtime
from ipgwsim.testing.loopback import Ports, run
from ipgwsim.testing.netns import lab_namespace

pytestmark = [pytest.mark.integration, pytest.mark.requires("chromium", "netns")]

#: The namespace's own address (TEST-NET-1): not a loopback address, though on ``lo``.
ADDRESS = "192.0.2.1"

expect.set_options(timeout=30_000)


def address_in(namespace: str) -> None:
    def add() -> None:
        with IPRoute(netns=namespace) as ns:
            (index,) = ns.link_lookup(ifname="lo")
            ns.addr("add", index=index, address=ADDRESS, prefixlen=32)

    netlink(add)


async def panel_works(page: Page) -> None:
    """The device's panel is there and live: its console connected, the power switch
    obeyed and the page told of it by the event stream."""
    gw = page.locator('[data-device="ip6000-1"]')
    await expect(gw.locator('[data-element="mode"]')).to_have_text("running firmware")
    status = gw.locator(".console-status")
    await expect(status).to_have_attribute("data-state", "open")
    await gw.locator('[data-element="power"]').click()
    await expect(gw.locator('[data-element="mode"]')).to_have_text("off")
    await expect(gw.locator('[data-element="timeline"]')).to_contain_text("power off")
    await gw.locator('[data-element="power"]').click()
    await expect(gw.locator('[data-element="mode"]')).to_have_text("running firmware")


@pytest.mark.usefixtures("private_registry")
def test_off_loopback_the_page_asks_for_the_token(tmp_path: Path, ports: Ports) -> None:
    state = tmp_path / "state"

    async def main() -> None:
        async with (
            ui_runtime(
                state, ["IP6000"], port=ports.udp(), http_port=ports.tcp(), speed=5,
                ui=f"{ADDRESS}:0",
            ) as (_, url),
            chromium_page(tmp_path / "chromium") as page,
        ):  # fmt: skip
            assert url.startswith(f"http://{ADDRESS}:"), url
            token = (state / "ui-token").read_text(encoding="utf-8").strip()
            assert token

            # No token: the page loads, says why /v1 refused it, and asks.
            await page.goto(url)
            form = page.locator("#token-form")
            await expect(form).to_be_visible()
            why = page.locator("#token-why")
            await expect(why).to_contain_text("off loopback")
            await expect(why).to_contain_text(str(state / "ui-token"))
            await expect(page.locator("section.device")).to_have_count(0)

            # A wrong one is refused, and the page says so.
            await page.fill("#token-input", "not-the-token")
            await page.click("#token-form button")
            await expect(why).to_contain_text("the token is wrong")
            await expect(page.locator("section.device")).to_have_count(0)

            # The right one: the panel, live, its console on the WebSocket.
            await page.fill("#token-input", token)
            await page.click("#token-form button")
            await expect(form).to_be_hidden()
            await panel_works(page)
            stored = await page.evaluate("sessionStorage.getItem('ipgwsim-ui-token')")
            assert stored == token

            # A new tab has no token of its own: the address's fragment carries it, and
            # the page takes it out of the address bar.
            tab = await page.context.new_page()
            await tab.goto(f"{url}#token={token}")
            await expect(tab.locator("section.device")).to_have_count(1)
            await expect(tab.locator("#token-form")).to_be_hidden()
            assert not re.search("token", tab.url), tab.url
            await panel_works(tab)

    with lab_namespace() as namespace:
        address_in(namespace)
        with in_namespace(namespace):
            run(main(), timeout=180)
